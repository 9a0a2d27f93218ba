import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type DnsAnswerHook, answerAddresses } from './answer-hook.js';
import {
  type DnsClient,
  DnsClientIndex,
  autopathCandidates,
  plainIp,
  sockaddrIp,
} from './autopath.js';
import {
  type CacheOptions,
  ResponseCache,
  partsOf,
  renderResponse,
  scanResponse,
} from './cache.js';
import { DnsError } from './errors.js';
import { Forwarder } from './forwarder.js';
import { DnsMetrics } from './metrics.js';
import {
  NATIVE_IN_SLOT,
  NATIVE_PEER_BYTES,
  NativeUdpSocket,
  type NativeUdpStats,
  type UdpPath,
  nativeUdpAvailable,
} from './native-udp.js';
import {
  type ParsedQuery,
  PreparedZone,
  buildResponse,
  type PreparedAnswer,
  errorResponse,
  parseQuery,
  udpLimit,
  writeOptAt,
} from './prepared.js';
import { type Upstream, parseResolvConf, parseUpstream } from './resolv-conf.js';
import { type SharedZoneTables, SharedZoneWriter } from './shared-zone.js';
import { type UdpWorkerStats, resolveUdpWorkers } from './udp-worker-protocol.js';
import { UdpWorkerPool, renderWorkerMetrics } from './udp-workers.js';
import { type DnsTcpLimits, type DnsTcpOptions, tcpLimits } from './tcp-limits.js';
import { type DnsTcpConnectionInfo, type DnsTcpStats, TcpDnsListener } from './tcp-server.js';
import type { ClusterDnsState, K8sPod, ZoneOptions } from './types.js';
import { type DnsObjectChanges, type DnsObjectSource, LiveZone } from './live-zone.js';
import { RCODES, TYPE_CODES, decodeMessage, encodeMessage, encodeQuery, readName } from './wire.js';
import {
  type DnsZone,
  type SkippedObject,
  authorityOf,
  compileZone,
  normalizeName,
} from './zone.js';

/** Options of a {@link DnsServer}. */
export interface DnsServerOptions extends Omit<ZoneOptions, 'serial'> {
  /** Upstream resolvers for names outside the zone: `IP`, `IP:port`, `[IPv6]:port`. */
  upstreams?: readonly (string | Upstream)[];
  /** Read upstreams from this resolv.conf when `upstreams` is not given (e.g. `/etc/resolv.conf`). */
  resolvConf?: string;
  /**
   * Resolvers per domain (kube-dns `stubDomains`, CoreDNS `forward ZONE ...`): a name in one of
   * these domains (the domain itself or below it) goes to that domain's resolvers instead of the
   * upstreams; the longest matching domain wins. Keys are domain names outside the cluster zone,
   * values `IP`, `IP:port` or `[IPv6]:port` entries.
   */
  stubDomains?: Readonly<Record<string, readonly (string | Upstream)[]>>;
  /** Forwarding cache options, or false for none. */
  cache?: CacheOptions | false;
  /** Per-upstream timeout in ms; default 2000. */
  forwardTimeoutMs?: number;
  /**
   * Limits of DNS over TCP: connections (global and per source address), the idle timeout, the
   * deadline of each message, and the answers and queries one connection may have waiting. See
   * {@link DnsTcpOptions} for each default.
   */
  tcp?: DnsTcpOptions;
  /**
   * Server-side search path (CoreDNS `autopath @kubernetes`), default false. A query from a pod
   * (known by its source address from the Pods of the last {@link DnsServer.update}) for the
   * first expansion of its search list (`<name>.<ns>.svc.<zone>`) that does not exist is answered
   * by walking the rest of the list on the server: a CNAME from the asked name to the first
   * expansion, or the bare name, that is not NXDOMAIN, followed by that name's records. Pods
   * whose search list is not known (host network, `dnsPolicy` other than `ClusterFirst`, any
   * `dnsConfig`) and unknown sources are answered as asked; names that exist are never rewritten.
   */
  autopath?: boolean;
  /**
   * The node's search domains the agent appends to pods' search lists after the cluster's three
   * (what the pods' resolv.conf says); autopath walks them too. Default none.
   */
  searchDomains?: readonly string[];
  /** Sees the addresses of answers before they are released (FQDN egress); see {@link DnsAnswerHook}. */
  answerHook?: DnsAnswerHook;
  /**
   * UDP worker threads: `auto` (one per CPU, as knotd's `udp-workers`) or a number; default 1
   * (no threads: the main thread serves UDP). With more than one, each worker opens its own
   * SO_REUSEPORT socket on the native path and answers from one shared copy of the prepared
   * zone; what it cannot answer (negative answers, forwarding, autopath, ExternalName, the
   * answer hook) goes to the main thread. On the dgram path (no native addon) UDP stays on one
   * socket on the main thread ({@link DnsServerAddress.udpWorkers} says 1).
   */
  udpWorkers?: number | 'auto';
}

/** Where to listen. UDP and TCP share `port` unless `udpPort`/`tcpPort` are given. */
export interface DnsListenOptions {
  /** Default `127.0.0.1`. */
  address?: string;
  /** Port for UDP and TCP; 0 (default) picks a free port for both. */
  port?: number;
  udpPort?: number;
  tcpPort?: number;
  /** Port of the HTTP endpoints (`/health`, `/ready`, `/metrics`); omitted: none. 0 picks one. */
  httpPort?: number;
  /** Address of the HTTP endpoints; default `address`. */
  httpAddress?: string;
  /**
   * How UDP is served: `native` (the batch fast path: recvmmsg/sendmmsg, one JavaScript call per
   * batch; fails with `BIND_FAILED` when the addon is not built), `dgram` (`node:dgram`, one
   * callback and one send per packet) or `auto` (default: native when built, unless the
   * environment has `PODNET_DNS_UDP=dgram`).
   */
  udp?: 'auto' | UdpPath;
  /** Most datagrams the native path reads per call (1-1024, default 64). */
  udpBatch?: number;
}

/** The addresses a started server listens on. */
export interface DnsServerAddress {
  address: string;
  /** The UDP port (equal to `tcpPort` unless they were set apart). */
  port: number;
  udpPort: number;
  tcpPort: number;
  httpPort?: number;
  /** How UDP is served. */
  udpPath: UdpPath;
  /** UDP worker threads serving the port (1: the main thread alone). */
  udpWorkers: number;
}

/** A bound UDP listener of either path. */
interface UdpListener {
  readonly port: number;
  readonly path: UdpPath;
  close(): Promise<void>;
}

const DEFAULT_UDP_BATCH = 64;
const MAX_UDP_BATCH = 1024;
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Cluster DNS over UDP and TCP: answers the zone from answers prepared at {@link update},
 * forwards other names to upstreams through a TTL-honouring cache, and serves health, ready
 * and Prometheus metrics over HTTP. SERVFAIL for zone names until the first `update`.
 */
export class DnsServer {
  private prepared: PreparedZone | null = null;
  private readonly zoneOptions: ZoneOptions;
  private readonly zoneName: string;
  private readonly forwarder: Forwarder | null;
  /** Stub domains' forwarders, longest domain first. */
  private readonly stubs: readonly { readonly domain: string; readonly forwarder: Forwarder }[];
  private readonly cache: ResponseCache | null;
  private readonly inflight = new Map<string, Promise<Uint8Array | null>>();
  /** Request counters and latency histogram. */
  readonly metrics = new DnsMetrics();
  private udp: UdpListener | null = null;
  private nativeUdp: NativeUdpSocket | null = null;
  /** Write position in the native output buffer during a batch. */
  private outPos = 0;
  /** Inside a native batch: answers are timed once, with the batch. */
  private batching = false;
  private batchStart = 0;
  private batchAnswered = 0;
  private tcp: TcpDnsListener | null = null;
  private readonly tcpLimits: DnsTcpLimits;
  private http: HttpServer | null = null;
  private bound: DnsServerAddress | null = null;
  private skipped: readonly SkippedObject[] = [];
  /** The zone kept per object, when the last update came from a {@link DnsObjectSource}. */
  private live: LiveZone | null = null;
  private readonly autopath: boolean;
  /** Pods by address (autopath, answer hook), rebuilt from the Pods of each update. */
  private readonly clients: DnsClientIndex;
  private hook: DnsAnswerHook | null;
  private readonly defaultTtl: number;
  /** Set when the last {@link answerQuery} answered on the prepared fast path. */
  private fastAnswered = false;
  /** UDP worker threads asked for (see {@link DnsServerOptions.udpWorkers}). */
  private readonly udpWorkerCount: number;
  /** The prepared answers in shared memory, kept only while workers may read them. */
  private shared: SharedZoneWriter | null = null;
  private sharedTables: SharedZoneTables | null = null;
  private workerPool: UdpWorkerPool | null = null;

  constructor(options: DnsServerOptions = {}) {
    this.zoneOptions = {
      zone: options.zone,
      ttl: options.ttl,
      pods: options.pods,
      endpointsFromPods: options.endpointsFromPods,
      nameservers: options.nameservers,
    };
    compileZone({}, this.zoneOptions);
    this.tcpLimits = tcpLimits(options.tcp);
    this.zoneName = normalizeName(options.zone ?? 'cluster.local');
    let upstreams: Upstream[] = [];
    if (options.upstreams) {
      upstreams = options.upstreams.map((u, i) => parseUpstream(u, `upstreams[${i}]`));
    } else if (options.resolvConf) {
      let text: string;
      try {
        text = readFileSync(options.resolvConf, 'utf8');
      } catch (cause) {
        throw new DnsError('INVALID_ARGUMENT', `resolvConf ${options.resolvConf} cannot be read`, {
          field: 'resolvConf',
          cause,
        });
      }
      upstreams = parseResolvConf(text);
    }
    this.forwarder = upstreams.length
      ? new Forwarder(upstreams, { timeoutMs: options.forwardTimeoutMs })
      : null;
    this.stubs = stubForwarders(options.stubDomains ?? {}, this.zoneName, options.forwardTimeoutMs);
    this.cache = options.cache === false ? null : new ResponseCache(options.cache ?? {});
    if (options.autopath !== undefined && typeof options.autopath !== 'boolean')
      throw new DnsError(
        'INVALID_ARGUMENT',
        `autopath must be true or false, got ${JSON.stringify(options.autopath)}`,
        { field: 'autopath', value: options.autopath },
      );
    this.autopath = options.autopath ?? false;
    const searchDomains = options.searchDomains ?? [];
    if (
      !Array.isArray(searchDomains) ||
      !searchDomains.every(
        (d) =>
          typeof d === 'string' &&
          normalizeName(d)
            .split('.')
            .every((l) => DOMAIN_LABEL.test(l)),
      )
    )
      throw new DnsError(
        'INVALID_ARGUMENT',
        `searchDomains must be a list of domain names, got ${JSON.stringify(searchDomains)}`,
        { field: 'searchDomains', value: searchDomains },
      );
    this.clients = new DnsClientIndex(this.zoneName, searchDomains);
    this.hook = options.answerHook ?? null;
    this.defaultTtl = options.ttl ?? 5;
    this.udpWorkerCount = resolveUdpWorkers(options.udpWorkers, availableParallelism());
    if (this.udpWorkerCount > 1) this.shared = new SharedZoneWriter();
  }

  /** Hands the workers the zone just prepared (a full build, or a patch of `names`). */
  private share(zone: DnsZone, names?: readonly string[]): void {
    const prepared = this.prepared;
    if (this.shared === null || prepared === null) return;
    this.sharedTables = names
      ? this.shared.patch(prepared, zone, names)
      : this.shared.full(prepared, zone);
    this.workerPool?.publish(this.sharedTables);
  }

  /**
   * Sets (or, with null, removes) the {@link DnsAnswerHook}: answers to the addresses it
   * watches are released only after it has seen them.
   */
  setAnswerHook(hook: DnsAnswerHook | null): void {
    const indexed = this.autopath || this.hook !== null;
    this.hook = hook;
    // the pods are indexed only while something needs them: catch up from a kept source
    const source = this.live?.current;
    if (hook && !indexed && source) this.clients.reset(source.list('Pod'));
  }

  /** Whether autopath is on (see {@link DnsServerOptions.autopath}). */
  get autopathEnabled(): boolean {
    return this.autopath;
  }

  /** The pod at `ip` as the server knows it from the last update (autopath, answer hook). */
  client(ip: string): DnsClient | undefined {
    return this.clients.get(ip);
  }

  private indexClients(pods: Iterable<K8sPod>): void {
    if (this.autopath || this.hook) this.clients.reset(pods);
  }

  /** True once {@link update} has been called with a full cluster state. */
  get synced(): boolean {
    return this.prepared !== null;
  }

  /** The upstream resolvers in use. */
  get upstreams(): readonly Upstream[] {
    return this.forwarder?.upstreams ?? [];
  }

  /** The stub domains in use and their resolvers. */
  get stubDomains(): Readonly<Record<string, readonly Upstream[]>> {
    return Object.fromEntries(this.stubs.map((s) => [s.domain, s.forwarder.upstreams]));
  }

  /**
   * Replaces the cluster state (a full sync): compiles and prepares every answer, then swaps
   * it in atomically. A malformed object does not hold back the rest: it (or only its bad port,
   * endpoint or endpoint address) is left out, and the list of what was left out is returned
   * (also kept as {@link skippedObjects} and counted in the `podnet_dns_skipped_objects` metric).
   *
   * Given a {@link DnsObjectSource} (such as `@podnet/cluster-state`'s `ClusterStore`) instead of
   * arrays, the server keeps the zone per object, and a later `update(source, changed)` with the
   * keys of the objects changed since the previous update patches it: only the names of those
   * objects (and of the objects whose records depend on them) are compiled and prepared again,
   * so one changed Service costs time proportional to that Service, not to the zone. The answers,
   * negative ones included, and the skipped objects are then exactly those a full update of the
   * same objects (in key order, as `ClusterStore.list` gives them) would give; the SOA serial
   * moves on with every update. `changed` is ignored (a full update is made) on the first update
   * from `source`, after an update from arrays or another source, and when a patch fails.
   */
  update(state: ClusterDnsState): readonly SkippedObject[];
  update(source: DnsObjectSource, changed?: DnsObjectChanges): readonly SkippedObject[];
  update(
    state: ClusterDnsState | DnsObjectSource,
    changed?: DnsObjectChanges,
  ): readonly SkippedObject[] {
    const serial = Math.floor(Date.now() / 1000);
    if (!isSource(state)) {
      this.live = null;
      const zone = compileZone(state, { ...this.zoneOptions, serial });
      this.prepared = new PreparedZone(zone);
      this.share(zone);
      this.indexClients(state.pods ?? []);
      this.metrics.zoneUpdates.full++;
      this.skipped = zone.skipped;
      return zone.skipped;
    }
    const live = this.live;
    const prepared = this.prepared;
    this.live = null;
    if (changed && live?.current === state && prepared) {
      try {
        // the pod keys are read once (they may be a one-shot iterable): the zone and the client
        // index both take them
        const pods = changed.pods === undefined ? undefined : [...changed.pods];
        const patch = live.patch(state, pods ? { ...changed, pods } : changed, serial);
        prepared.patch(patch.zone, patch.names);
        this.share(patch.zone, patch.names);
        this.live = live;
        if (pods && (this.autopath || this.hook))
          this.clients.patch(pods, (key) => state.get('Pod', key));
        this.metrics.zoneUpdates.patch++;
        this.skipped = patch.zone.skipped;
        return this.skipped;
      } catch {
        // the bookkeeping may be half updated: start again from the whole source
        this.metrics.zoneUpdates.patchFailed++;
      }
    }
    const next = new LiveZone(this.zoneOptions);
    const zone = next.build(state, serial);
    this.prepared = new PreparedZone(zone);
    this.share(zone);
    this.live = next;
    this.indexClients(state.list('Pod'));
    this.metrics.zoneUpdates.full++;
    this.skipped = zone.skipped;
    return zone.skipped;
  }

  /** What the current zone left out (see {@link update}); empty before the first sync. */
  get skippedObjects(): readonly SkippedObject[] {
    return this.skipped;
  }

  /** Number of names in the current zone (0 before the first sync). */
  get names(): number {
    return this.prepared?.names ?? 0;
  }

  /**
   * Answers one wire-format query as the listeners do (`transport` decides the size limit;
   * `source`, the sender's address, is what autopath and the answer hook know the pod by).
   * Resolves to the response bytes, or null when the packet is dropped.
   */
  async handle(
    msg: Uint8Array,
    transport: 'udp' | 'tcp' = 'udp',
    source?: string,
  ): Promise<Uint8Array | null> {
    const out = this.answer(msg, transport, allocBytes, source);
    return out instanceof Promise ? await out : out;
  }

  /**
   * Answers synchronously when it can. `msg` may be a view into a buffer reused by the next
   * batch: the paths that answer later work on a copy. `source` is the sender (text, or the
   * native path's sockaddr bytes, read before this returns). With an answer hook watching the
   * sender, the answer is released only after the hook has seen it.
   */
  private answer(
    msg: Uint8Array,
    transport: 'udp' | 'tcp',
    alloc: (size: number) => Uint8Array,
    source?: string | Uint8Array,
  ): Uint8Array | null | Promise<Uint8Array | null> {
    const hook = this.hook;
    if (hook === null || source === undefined)
      return this.answerQuery(msg, transport, alloc, this.autopath ? source : undefined, false);
    const ip = typeof source === 'string' ? plainIp(source) : sockaddrIp(source);
    this.fastAnswered = false;
    const out = this.answerQuery(msg, transport, alloc, ip, false);
    // the fast path answers only RRsets of the zone itself: nothing for the hook
    if (this.fastAnswered || ip === undefined || out === null || !hook.watches(ip)) return out;
    if (out instanceof Promise) return out.then((r) => r && this.runHook(hook, ip, r));
    return this.runHook(hook, ip, out.slice());
  }

  /**
   * Gives the hook the addresses of an answer whose chain leaves the cluster zone, named by the
   * first name on the chain outside the zone (so an autopath CNAME or an ExternalName Service
   * counts as the external name it leads to); answers inside the zone are released at once.
   */
  private async runHook(hook: DnsAnswerHook, ip: string, out: Uint8Array): Promise<Uint8Array> {
    let found: ReturnType<typeof answerAddresses>;
    try {
      found = answerAddresses(decodeMessage(out));
    } catch {
      return out;
    }
    const name = found?.names.find((n) => authorityOf(this.zoneName, n) === null);
    if (!found || name === undefined) return out;
    const pod = this.clients.get(ip);
    this.metrics.answerHookCalls++;
    try {
      await hook.onAnswer(
        pod ? { ip, namespace: pod.namespace, name: pod.name } : { ip },
        name,
        found.addrs,
        found.ttl,
      );
    } catch {
      this.metrics.answerHookErrors++;
    }
    return out;
  }

  /** {@link answer} without the hook; `internal` queries (autopath's walk) are not counted. */
  private answerQuery(
    msg: Uint8Array,
    transport: 'udp' | 'tcp',
    alloc: (size: number) => Uint8Array,
    source: string | Uint8Array | undefined,
    internal: boolean,
  ): Uint8Array | null | Promise<Uint8Array | null> {
    const started = internal ? -1 : this.batching ? this.batchStart : performance.now();
    const prepared = this.prepared;
    if (prepared !== null) {
      const fast = prepared.fastResponse(msg, transport === 'udp', alloc);
      if (fast !== null) {
        if (!internal) this.metrics.request(transport, prepared.fastQtype);
        this.fastAnswered = true;
        return this.done(fast, started);
      }
    }
    const parsed = parseQuery(msg);
    if (parsed.kind === 'drop') {
      if (!internal) this.metrics.dropped++;
      return null;
    }
    if (parsed.kind === 'reply') return this.done(parsed.response, started);
    const q = parsed.query;
    if (!internal) this.metrics.request(transport, q.qtype);
    const limit = transport === 'udp' ? udpLimit(q) : 65535;
    if (q.ednsVersion > 0) return this.done(badVers(msg, q), started);
    if (q.qclass !== 1) return this.done(simple(msg, q, RCODES.REFUSED), started);
    let apex: string | null;
    if (this.prepared) {
      const ans = this.prepared.lookup(q.key, q.qtype, q.questionEnd - 16);
      if (ans) {
        const target = q.qtype === TYPE_CODES.CNAME ? undefined : this.prepared.cnameTarget(q.key);
        if (target !== undefined) {
          if (authorityOf(this.zoneName, target) !== null)
            return this.done(this.followInZone(msg, q, ans, target, limit), started);
          if (this.forwarderFor(target))
            return this.chase(q, buildResponse(msg, q, ans, 65535), target, limit, started);
        }
        const out = buildResponse(msg, q, ans, limit, alloc);
        if (
          this.autopath &&
          source !== undefined &&
          ((out[3] as number) & 0xf) === RCODES.NXDOMAIN
        ) {
          const walk = this.autopathWalk(msg, q, out, source, limit, started);
          if (walk !== null) return walk;
        }
        return this.done(out, started);
      }
      apex = authorityOf(this.zoneName, q.key);
    } else {
      apex = authorityOf(this.zoneName, q.key);
      if (apex !== null) return this.done(simple(msg, q, RCODES.SERVFAIL), started);
    }
    if (!this.forwarderFor(q.key))
      return this.done(simple(msg, q, apex === null ? RCODES.REFUSED : RCODES.NXDOMAIN), started);
    const key = `${q.qtype}|${q.key}`;
    const hit = this.cache?.get(key);
    if (hit) {
      const out = this.cache?.respond(msg, q, hit, limit);
      if (out) {
        this.metrics.cacheHits++;
        return this.done(out, started);
      }
    }
    this.metrics.cacheMisses++;
    return this.forward(msg.slice(), q, key, limit, started);
  }

  private done(out: Uint8Array, started: number): Uint8Array {
    if (started < 0) return out;
    if (this.batching) {
      this.metrics.rcode((out[3] as number) & 0xf);
      this.batchAnswered++;
    } else {
      this.metrics.response((out[3] as number) & 0xf, (performance.now() - started) / 1000);
    }
    return out;
  }

  /**
   * Autopath: null when `q` is not the first search-path expansion of the pod at `source` (or
   * its search list is unknown); else the walk over the rest of the list. The first name that is
   * not NXDOMAIN gives the answer: a CNAME from the asked name to it, then its records (and its
   * rcode); when every name is NXDOMAIN, or a lookup fails, the original NXDOMAIN is the answer.
   */
  private autopathWalk(
    msg: Uint8Array,
    q: ParsedQuery,
    nxdomain: Uint8Array,
    source: string | Uint8Array,
    limit: number,
    started: number,
  ): Promise<Uint8Array> | null {
    // the sender's address is decoded only here, for NXDOMAIN answers
    const ip = typeof source === 'string' ? plainIp(source) : sockaddrIp(source);
    const search = ip === undefined ? undefined : this.clients.get(ip)?.search;
    if (!search) return null;
    const asked = readName(msg, 12).name;
    const names = autopathCandidates(asked, search);
    if (names === null) return null;
    return this.walk(nxdomain.slice(), asked, q.qtype, names, limit, started);
  }

  private async walk(
    nxdomain: Uint8Array,
    asked: string,
    qtype: number,
    names: readonly string[],
    limit: number,
    started: number,
  ): Promise<Uint8Array> {
    for (const name of names) {
      let res: Uint8Array | null;
      try {
        const probe = encodeQuery({ id: 0, name, type: qtype });
        const r = this.answerQuery(probe, 'tcp', allocBytes, undefined, true);
        res = r instanceof Promise ? await r : r;
      } catch {
        res = null;
      }
      if (res === null) break;
      const rcode = (res[3] as number) & 0xf;
      if (rcode === RCODES.NXDOMAIN) continue;
      if (rcode !== RCODES.NOERROR) break;
      let found: ReturnType<typeof decodeMessage>;
      const response = decodeMessage(nxdomain);
      try {
        found = decodeMessage(res);
      } catch {
        break;
      }
      const ttl = found.answers.length
        ? Math.min(...found.answers.map((r) => r.ttl))
        : this.defaultTtl;
      response.rcode = RCODES.NOERROR;
      response.aa = false;
      response.ra = true;
      response.answers = [{ name: asked, type: 'CNAME', ttl, data: name }, ...found.answers];
      response.authorities = found.answers.length === 0 ? found.authorities : [];
      response.additionals = found.additionals;
      let out = encodeMessage(response);
      if (out.length > limit)
        out = encodeMessage({
          ...response,
          tc: true,
          answers: [],
          authorities: [],
          additionals: [],
        });
      this.metrics.autopathAnswers++;
      return this.done(out, started);
    }
    return this.done(nxdomain, started);
  }

  private async forward(
    msg: Uint8Array,
    q: ParsedQuery,
    key: string,
    limit: number,
    started: number,
  ): Promise<Uint8Array | null> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchUpstream(q, key);
      this.inflight.set(key, pending);
      pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
    }
    const upstream = await pending;
    if (!upstream) return this.done(simple(msg, q, RCODES.SERVFAIL), started);
    const scanned = scanResponse(upstream);
    if (!scanned || scanned.questionEnd !== q.questionEnd)
      return this.done(simple(msg, q, RCODES.SERVFAIL), started);
    const cap = this.cache
      ? scanned.negative
        ? this.cache.maxNegativeTtl
        : this.cache.maxTtl
      : undefined;
    const out = renderResponse(msg, q, partsOf(scanned), limit, 0, cap);
    return this.done(out ?? simple(msg, q, RCODES.SERVFAIL), started);
  }

  /**
   * Follows an ExternalName CNAME to a name inside the cluster zone in the same answer (RFC 1034
   * §4.3.2; the Kubernetes DNS specification's ExternalName example): the CNAME, then the
   * target's records (following further in-zone CNAMEs, at most 8), with the target's rcode.
   */
  private followInZone(
    msg: Uint8Array,
    q: ParsedQuery,
    first: PreparedAnswer,
    target: string,
    limit: number,
  ): Uint8Array {
    const response = decodeMessage(buildResponse(msg, q, first, 65535));
    const seen = new Set([q.key]);
    let name = target;
    for (let hop = 0; hop < 8 && this.prepared; hop++) {
      const probe = encodeMessage({
        ...response,
        qr: false,
        questions: [{ name, type: q.qtype }],
        answers: [],
        authorities: [],
        additionals: [],
        edns: undefined,
      });
      const parsed = parseQuery(probe);
      if (parsed.kind !== 'query' || seen.has(parsed.query.key)) break;
      seen.add(parsed.query.key);
      const ans = this.prepared.lookup(parsed.query.key, q.qtype, parsed.query.questionEnd - 16);
      if (!ans) break;
      const part = decodeMessage(buildResponse(probe, parsed.query, ans, 65535));
      response.answers.push(...part.answers);
      response.additionals.push(...part.additionals);
      response.rcode = part.rcode;
      response.authorities = part.answers.length === 0 ? part.authorities : [];
      const next = this.prepared.cnameTarget(parsed.query.key);
      if (next === undefined || authorityOf(this.zoneName, next) === null) break;
      name = next;
    }
    let out = encodeMessage(response);
    if (out.length > limit)
      out = encodeMessage({ ...response, tc: true, answers: [], authorities: [], additionals: [] });
    return out;
  }

  /**
   * Follows an ExternalName CNAME outside the zone (as CoreDNS does): appends the target's
   * records, from the cache or the upstreams, to the CNAME answer.
   */
  private async chase(
    q: ParsedQuery,
    cnameResponse: Uint8Array,
    target: string,
    limit: number,
    started: number,
  ): Promise<Uint8Array | null> {
    const response = decodeMessage(cnameResponse);
    const probe = encodeMessage({
      ...response,
      qr: false,
      questions: [{ name: target, type: q.qtype }],
      answers: [],
      authorities: [],
      additionals: [],
      edns: undefined,
    });
    const parsed = parseQuery(probe);
    if (parsed.kind === 'query') {
      const key = `${q.qtype}|${parsed.query.key}`;
      const hit = this.cache?.get(key);
      let upstream: Uint8Array | null = null;
      if (hit) {
        this.metrics.cacheHits++;
        upstream = this.cache?.respond(probe, parsed.query, hit, 65535) ?? null;
      } else {
        this.metrics.cacheMisses++;
        let pending = this.inflight.get(key);
        if (!pending) {
          pending = this.fetchUpstream(parsed.query, key);
          this.inflight.set(key, pending);
          pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
        }
        upstream = await pending;
      }
      try {
        if (upstream) {
          const u = decodeMessage(upstream);
          response.answers.push(...u.answers);
          response.rcode = u.rcode;
          if (u.answers.length === 0) response.authorities = u.authorities;
        }
      } catch {
        // keep the bare CNAME
      }
    }
    let out = encodeMessage(response);
    if (out.length > limit)
      out = encodeMessage({ ...response, tc: true, answers: [], authorities: [], additionals: [] });
    return this.done(out, started);
  }

  /** The forwarder for `name`: its stub domain's (the longest that matches), else the upstreams'. */
  private forwarderFor(name: string): Forwarder | null {
    for (const stub of this.stubs) {
      const d = stub.domain;
      if (name === d || (name.endsWith(d) && name.charCodeAt(name.length - d.length - 1) === 0x2e))
        return stub.forwarder;
    }
    return this.forwarder;
  }

  private async fetchUpstream(q: ParsedQuery, key: string): Promise<Uint8Array | null> {
    const forwarder = this.forwarderFor(q.key);
    if (!forwarder) return null;
    this.metrics.forwardRequests++;
    try {
      const res = await forwarder.query(q.key, q.qtype);
      const scanned = scanResponse(res);
      if (scanned && this.cache) this.cache.set(key, scanned);
      return res;
    } catch {
      this.metrics.forwardErrors++;
      return null;
    }
  }

  /** Starts the UDP and TCP listeners (and HTTP endpoints when `httpPort` is given). */
  async start(options: DnsListenOptions = {}): Promise<DnsServerAddress> {
    if (this.udp) throw new DnsError('INVALID_ARGUMENT', 'server already started');
    const address = options.address ?? '127.0.0.1';
    if (!net.isIP(address))
      throw new DnsError(
        'INVALID_ARGUMENT',
        `address must be an IP address, got ${JSON.stringify(address)}`,
        { field: 'address', value: address },
      );
    const udpPort = options.udpPort ?? options.port ?? 0;
    const tcpPort = options.tcpPort ?? options.port ?? 0;
    for (const [field, v] of [
      ['udpPort', udpPort],
      ['tcpPort', tcpPort],
      ['httpPort', options.httpPort ?? 0],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 65535)
        throw new DnsError(
          'INVALID_ARGUMENT',
          `${field} must be 0-65535, got ${JSON.stringify(v)}`,
          { field, value: v },
        );
    }
    const batch = options.udpBatch ?? DEFAULT_UDP_BATCH;
    if (!Number.isInteger(batch) || batch < 1 || batch > MAX_UDP_BATCH)
      throw new DnsError(
        'INVALID_ARGUMENT',
        `udpBatch must be an integer 1-${MAX_UDP_BATCH}, got ${JSON.stringify(batch)}`,
        { field: 'udpBatch', value: batch },
      );
    const wanted = options.udp ?? 'auto';
    if (wanted !== 'auto' && wanted !== 'native' && wanted !== 'dgram')
      throw new DnsError(
        'INVALID_ARGUMENT',
        `udp must be auto, native or dgram, got ${JSON.stringify(wanted)}`,
        { field: 'udp', value: wanted },
      );
    if (wanted === 'native' && !nativeUdpAvailable())
      throw new DnsError(
        'BIND_FAILED',
        'udp: native was asked for but the native UDP fast path is not built (dist/dns-udp.node)',
        { field: 'udp', value: wanted },
      );
    const path: UdpPath =
      wanted === 'dgram' ||
      (wanted === 'auto' && (process.env.PODNET_DNS_UDP === 'dgram' || !nativeUdpAvailable()))
        ? 'dgram'
        : 'native';
    const shared = options.udpPort === undefined && options.tcpPort === undefined;
    // workers need the native path (SO_REUSEPORT); on dgram one socket on the main thread serves
    const workers = path === 'native' ? this.udpWorkerCount : 1;
    if (workers === 1) {
      this.shared = null;
      this.sharedTables = null;
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      let udp: UdpListener;
      try {
        udp =
          workers > 1
            ? await this.bindWorkerUdp(address, udpPort, batch, workers)
            : path === 'native'
              ? this.bindNativeUdp(address, udpPort, batch)
              : await this.bindUdp(address, udpPort);
      } catch (err) {
        lastError = err;
        if (workers > 1 && udpPort === 0) continue;
        throw err;
      }
      const port = udp.port;
      try {
        const tcp = await this.bindTcp(address, shared ? port : tcpPort);
        this.udp = udp;
        this.tcp = tcp;
        this.bound = {
          address,
          port,
          udpPort: port,
          tcpPort: tcp.port,
          udpPath: udp.path,
          udpWorkers: workers,
        };
        break;
      } catch (err) {
        await udp.close();
        lastError = err;
        if (!(shared && udpPort === 0)) break;
      }
    }
    if (!this.bound)
      throw new DnsError('BIND_FAILED', `cannot listen on ${address} UDP and TCP`, {
        cause: lastError,
      });
    if (options.httpPort !== undefined) {
      try {
        this.bound.httpPort = await this.startHttp(
          options.httpAddress ?? address,
          options.httpPort,
        );
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
    return { ...this.bound };
  }

  /** The addresses in use; throws `NOT_STARTED` before {@link start}. */
  address(): DnsServerAddress {
    if (!this.bound) throw new DnsError('NOT_STARTED', 'the server is not started');
    return { ...this.bound };
  }

  /** How UDP is served, or null before {@link start}. */
  get udpPath(): UdpPath | null {
    return this.udp?.path ?? null;
  }

  /**
   * Counters of the native UDP path (null on the dgram path or before {@link start}); with
   * workers, their sockets' counters summed.
   */
  udpStats(): NativeUdpStats | null {
    const pool = this.workerPool;
    if (pool) {
      const all = pool.stats();
      return {
        datagrams: all.reduce((n, w) => n + w.datagrams, 0),
        batches: all.reduce((n, w) => n + w.batches, 0),
        largestBatch: Math.max(0, ...all.map((w) => w.largestBatch)),
        sent: all.reduce((n, w) => n + w.sent, 0),
        sendErrors: all.reduce((n, w) => n + w.sendErrors, 0),
        truncated: all.reduce((n, w) => n + w.truncated, 0),
      };
    }
    return this.nativeUdp?.stats() ?? null;
  }

  /** Each UDP worker thread's counters (empty without workers or before {@link start}). */
  udpWorkerStats(): UdpWorkerStats[] {
    return this.workerPool?.stats() ?? [];
  }

  private async bindWorkerUdp(
    address: string,
    port: number,
    batch: number,
    workers: number,
  ): Promise<UdpListener> {
    let pool: UdpWorkerPool;
    const startedWith = this.sharedTables;
    try {
      pool = await UdpWorkerPool.start({
        workers,
        address,
        port,
        ipv6: net.isIPv6(address),
        batch,
        bufferBytes: UDP_BUFFER_BYTES,
        tables: this.sharedTables,
        rememberNxdomain: !this.autopath,
        answer: (msg, peer) => {
          try {
            return this.answer(msg, 'udp', allocBytes, peer);
          } catch {
            return servfailFor(msg);
          }
        },
      });
    } catch (err) {
      throw new DnsError(
        'BIND_FAILED',
        `cannot bind UDP ${address}:${port} in ${workers} workers`,
        {
          cause: err,
        },
      );
    }
    this.workerPool = pool;
    // an update while the workers were starting was not published to them
    if (this.sharedTables && this.sharedTables !== startedWith) pool.publish(this.sharedTables);
    return {
      port: pool.port,
      path: 'native',
      close: async () => {
        pool.foldInto(this.metrics);
        await pool.close();
        if (this.workerPool === pool) this.workerPool = null;
      },
    };
  }

  /** Counters and gauges of the TCP listener (null before {@link start}). */
  tcpStats(): DnsTcpStats | null {
    return this.tcp?.stats() ?? null;
  }

  /** The open TCP connections, with what each has waiting (empty before {@link start}). */
  tcpConnections(): DnsTcpConnectionInfo[] {
    return this.tcp?.connections() ?? [];
  }

  private bindNativeUdp(address: string, port: number, batch: number): UdpListener {
    let sock: NativeUdpSocket;
    try {
      sock = NativeUdpSocket.open(
        address,
        port,
        { ipv6: net.isIPv6(address), batch, bufferBytes: UDP_BUFFER_BYTES },
        (count, s) => this.onNativeBatch(count, s),
      );
    } catch (err) {
      throw new DnsError('BIND_FAILED', `cannot bind UDP ${address}:${port}`, { cause: err });
    }
    this.nativeUdp = sock;
    return {
      port: sock.port,
      path: 'native',
      close: async () => {
        sock.close();
        if (this.nativeUdp === sock) this.nativeUdp = null;
      },
    };
  }

  /** Bump allocator over the native output buffer; a fresh buffer when the batch's is full. */
  private readonly nativeAlloc = (size: number): Uint8Array => {
    const out = this.nativeUdp?.output;
    const at = this.outPos;
    if (out && at + size <= out.length) {
      this.outPos = at + size;
      return out.subarray(at, at + size);
    }
    return Buffer.allocUnsafe(size);
  };

  /**
   * One native batch: answers every datagram into the shared output buffer (sent with one
   * sendmmsg when this returns); answers that need an upstream are sent when they are ready.
   */
  private onNativeBatch(count: number, sock: NativeUdpSocket): void {
    const { input, meta, output } = sock;
    this.outPos = 0;
    this.batching = true;
    this.batchStart = performance.now();
    this.batchAnswered = 0;
    try {
      this.answerBatch(count, sock, input, meta, output);
    } finally {
      this.batching = false;
      this.metrics.observe((performance.now() - this.batchStart) / 1000, this.batchAnswered);
    }
  }

  private answerBatch(
    count: number,
    sock: NativeUdpSocket,
    input: Uint8Array,
    meta: Int32Array,
    output: Uint8Array,
  ): void {
    for (let i = 0; i < count; i++) {
      const m = i * 4;
      const len = meta[m] as number;
      if (len < 0) {
        this.metrics.dropped++;
        continue;
      }
      const msg = input.subarray(i * NATIVE_IN_SLOT, i * NATIVE_IN_SLOT + len);
      let out: Uint8Array | null | Promise<Uint8Array | null>;
      try {
        out = this.answer(
          msg,
          'udp',
          this.nativeAlloc,
          sock.peers.subarray(i * NATIVE_PEER_BYTES, (i + 1) * NATIVE_PEER_BYTES),
        );
      } catch {
        out = servfailFor(msg);
      }
      if (out === null) continue;
      if (out instanceof Promise) {
        const peer = sock.peer(i);
        out.then(
          (r) => r && sock.sendTo(r, peer),
          () => undefined,
        );
        continue;
      }
      if (out.buffer === output.buffer) {
        meta[m + 1] = out.byteOffset;
        meta[m + 2] = out.length;
      } else if (this.outPos + out.length <= output.length) {
        output.set(out, this.outPos);
        meta[m + 1] = this.outPos;
        meta[m + 2] = out.length;
        this.outPos += out.length;
      } else {
        sock.sendTo(out, sock.peers.subarray(i * NATIVE_PEER_BYTES, (i + 1) * NATIVE_PEER_BYTES));
      }
    }
  }

  private bindUdp(address: string, port: number): Promise<UdpListener> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({
        type: net.isIPv6(address) ? 'udp6' : 'udp4',
        lookup: literalLookup,
      });
      sock.once('error', (err) =>
        reject(new DnsError('BIND_FAILED', `cannot bind UDP ${address}:${port}`, { cause: err })),
      );
      sock.bind(port, address, () => {
        sock.removeAllListeners('error');
        sock.on('error', () => undefined);
        try {
          sock.setRecvBufferSize(4 * 1024 * 1024);
          sock.setSendBufferSize(4 * 1024 * 1024);
        } catch {
          // kernel limits apply
        }
        sock.on('message', (msg, rinfo) => this.onUdp(sock, msg, rinfo));
        resolve({
          port: sock.address().port,
          path: 'dgram',
          close: () => new Promise<void>((r) => sock.close(() => r())),
        });
      });
    });
  }

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let out: Uint8Array | null | Promise<Uint8Array | null>;
    try {
      out = this.answer(msg, 'udp', allocBytes, rinfo.address);
    } catch {
      out = servfailFor(msg);
    }
    if (out === null) return;
    if (out instanceof Promise) {
      out.then(
        (r) => r && sock.send(r, rinfo.port, rinfo.address),
        () => undefined,
      );
      return;
    }
    sock.send(out, rinfo.port, rinfo.address);
  }

  private bindTcp(address: string, port: number): Promise<TcpDnsListener> {
    return TcpDnsListener.listen(address, port, this.tcpLimits, this.answerTcp);
  }

  /** One TCP query: the answer, a promise of it, or null (the connection is closed). */
  private readonly answerTcp = (
    msg: Uint8Array,
    source: string,
  ): Uint8Array | null | Promise<Uint8Array | null> => {
    let out: Uint8Array | null | Promise<Uint8Array | null>;
    try {
      out = this.answer(msg, 'tcp', allocBytes, source);
    } catch {
      return servfailFor(msg);
    }
    if (out instanceof Promise) return out.catch(() => servfailFor(msg));
    return out;
  };

  private async startHttp(address: string, port: number): Promise<number> {
    // node:http (and its parser) only when the endpoints are asked for: ~1.5 MB resident
    const http = await import('node:http');
    return new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path === '/health') {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
        } else if (path === '/ready') {
          if (this.synced) res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
          else res.writeHead(503, { 'content-type': 'text/plain' }).end('not synced');
        } else if (path === '/metrics') {
          res
            .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
            .end(this.renderMetrics());
        } else {
          res.writeHead(404).end();
        }
      });
      server.once('error', (err) =>
        reject(new DnsError('BIND_FAILED', `cannot bind HTTP ${address}:${port}`, { cause: err })),
      );
      server.listen(port, address, () => {
        this.http = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** The Prometheus text exposition of {@link metrics}. */
  renderMetrics(): string {
    const pool = this.workerPool;
    pool?.foldInto(this.metrics);
    const workers = pool ? renderWorkerMetrics(pool.stats(), pool.restarts) : '';
    return `${this.metrics.render({
      synced: this.synced,
      names: this.names,
      cacheEntries: this.cache?.size ?? 0,
      udpPath: this.udpPath,
      udpBatches: this.udpStats(),
      tcp: this.tcpStats(),
      skippedObjects: this.synced ? this.skipped.length : 0,
    })}${workers}`;
  }

  /** Stops every listener and the forwarder; pending queries are dropped. */
  async stop(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    const httpServer = this.http;
    this.udp = null;
    this.tcp = null;
    this.http = null;
    this.bound = null;
    this.forwarder?.close();
    for (const stub of this.stubs) stub.forwarder.close();
    await Promise.all([
      udp?.close(),
      tcp?.close(),
      httpServer ? new Promise<void>((r) => httpServer.close(() => r())) : undefined,
    ]);
  }
}

/**
 * Replies go back to the literal address a query came from, so the per-send name lookup dgram
 * does (a `dns.lookup` and a tick for every packet) is replaced by a synchronous identity.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const given =
    typeof family === 'number' ? family : (family as { family?: unknown } | null)?.family;
  callback(null, address, typeof given === 'number' ? given : net.isIPv6(address) ? 6 : 4);
}

/** A header-only SERVFAIL for a packet whose handling threw, or null when it has no header. */
function servfailFor(msg: Uint8Array): Uint8Array | null {
  if (msg.length < 12) return null;
  return errorResponse(((msg[0] as number) << 8) | (msg[1] as number), 0, 0, RCODES.SERVFAIL);
}

const DOMAIN_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Validates stub domains and makes a forwarder per domain, longest domain first. */
function stubForwarders(
  stubDomains: Readonly<Record<string, readonly (string | Upstream)[]>>,
  zone: string,
  timeoutMs: number | undefined,
): { domain: string; forwarder: Forwarder }[] {
  const out: { domain: string; forwarder: Forwarder }[] = [];
  for (const [raw, servers] of Object.entries(stubDomains)) {
    const field = `stubDomains[${JSON.stringify(raw)}]`;
    const domain = normalizeName(raw);
    if (
      domain === '' ||
      domain.length > 253 ||
      !domain.split('.').every((l) => DOMAIN_LABEL.test(l))
    )
      throw new DnsError(
        'INVALID_ARGUMENT',
        `${field}: want a domain name, got ${JSON.stringify(raw)}`,
        {
          field,
        },
      );
    if (authorityOf(zone, domain) === zone)
      throw new DnsError(
        'INVALID_ARGUMENT',
        `${field}: ${domain} is inside the cluster zone ${zone}, which this server answers itself`,
        { field },
      );
    if (out.some((s) => s.domain === domain))
      throw new DnsError('INVALID_ARGUMENT', `${field}: ${domain} is given twice`, { field });
    if (!Array.isArray(servers) || servers.length === 0)
      throw new DnsError('INVALID_ARGUMENT', `${field}: want at least one resolver`, { field });
    const upstreams = servers.map((u, i) => parseUpstream(u, `${field}[${i}]`));
    out.push({ domain, forwarder: new Forwarder(upstreams, { timeoutMs }) });
  }
  return out.sort((a, b) => b.domain.length - a.domain.length);
}

function isSource(state: ClusterDnsState | DnsObjectSource): state is DnsObjectSource {
  const s = state as Partial<DnsObjectSource>;
  return typeof s.get === 'function' && typeof s.list === 'function';
}

/** False only for keys known to be none (an empty array or set, or none given). */
function allocBytes(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

function simple(msg: Uint8Array, q: ParsedQuery, rcode: number): Uint8Array {
  const edns = q.ednsSize >= 0;
  const out = new Uint8Array(q.questionEnd + (edns ? 11 : 0));
  out.set(msg.subarray(0, q.questionEnd));
  const flags = 0x8080 | q.echoFlags | rcode;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out.fill(0, 6, 12);
  out[5] = 1;
  if (edns) {
    out[11] = 1;
    writeOptAt(out, q.questionEnd, 0);
  }
  return out;
}

function badVers(msg: Uint8Array, q: ParsedQuery): Uint8Array {
  const out = simple(msg, q, 0);
  writeOptAt(out, q.questionEnd, 1);
  return out;
}
