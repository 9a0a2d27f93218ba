#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 --single-threaded
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type ClusterSource,
  ClusterStore,
  DNS_KINDS,
  type Delta,
  type SourceLogger,
  dnsChanges,
  policyInput,
  touchesDns,
} from '@podnet/cluster-state';
import { ManifestsSource } from '@podnet/cluster-state/sources';
import { DnsError } from '../errors.js';
import { DnsServer } from '../server.js';
import type { PodsMode } from '../types.js';
import { newlySkipped, type SkippedObject } from '../zone.js';
import { startFqdnEgress } from './fqdn-egress.js';
import { PARSE_WORKER_IDLE_MS, settleHeap, zoneCompactor } from '../memory.js';
import { releaseStartupPages } from '../working-set.js';

const USAGE = `usage: podnet-dns (--manifests DIR | --kubeconfig FILE | --in-cluster) [options]

Serves Kubernetes cluster DNS for the Namespaces, Services, EndpointSlices and Pods of
a directory of manifests (YAML or JSON, watched; a bad file is logged and skipped) or of
a Kubernetes API server (list/watch through @kubernetes/client-node, as CoreDNS does).

  --manifests DIR      directory of manifests
  --kubeconfig FILE    read the cluster from the API server of this kubeconfig
  --in-cluster         read the cluster from the API server, with the pod's service
                       account (or ~/.kube/config)
  --address IP         listen address (default 127.0.0.1)
  --port N             UDP and TCP port (default 53; 0 picks a free one)
  --http-port N        /health, /ready, /metrics port (default: none)
  --zone NAME          cluster domain (default cluster.local)
  --ttl N              record TTL in seconds (default 5)
  --pods MODE          disabled | insecure | verified (default insecure)
  --upstream ADDR      upstream resolver IP[:port]; repeatable
  --resolv-conf PATH   read upstreams from this file (when no --upstream)
  --stub-domain D=IP[,IP...]
                       resolvers for names in domain D (kube-dns stubDomains, CoreDNS
                       forward D ...); each IP may be IP:port or [IPv6]:port; repeatable
  --cache-size N       most forwarded answers cached (default 10000; 0: no cache)
  --udp PATH           auto | native | dgram: how UDP is served (default auto: the
                       native batch path when built, else node:dgram)
  --workers N|auto     UDP worker threads, each with its own SO_REUSEPORT socket on
                       the port, sharing one copy of the prepared answers (default
                       auto: one per CPU, as knotd; 1: no threads). Needs the native
                       path; on dgram one socket on the main thread serves UDP
  --autopath           answer a pod's first search-path expansion that does not exist
                       by walking its search path on the server (CoreDNS autopath)
  --search-domain D    a search domain the node agent appends to pods' search lists
                       (after the cluster's three); repeatable
  --fqdn-egress        enforce ClusterNetworkPolicy domainNames peers: watch the
                       policies and pods, and add each answer's addresses to the
                       policy sets before the pod gets it (needs @podnet/netpol and
                       nft; this process must run in the node's network namespace)
  --node-name NAME     with --fqdn-egress: only pods of this node (default: all)
  --netpol-table NAME  with --fqdn-egress: the policy table (default podnet_netpol)
  --fqdn-floor N       with --fqdn-egress: least seconds an address stays allowed
                       after a lookup (default 30)
  --no-watch           read the directory only at start and on SIGHUP
  --keep-startup-pages do not drop Node's startup-only code and read-only data pages
                       from the working set once up (they come back when used; needs
                       the native helper)
  --version            print the version

Prints one JSON line {"event":"listening",...} once serving, and {"event":"synced",...}
each time the zone changed ("update": "full" on the first sync and after a relist, "patch"
when only the changed objects' names were prepared again). Logs are JSON lines on stderr;
each object left out of the zone as malformed is logged once ("object skipped").`;

function fail(message: string): never {
  process.stderr.write(`podnet-dns: ${message}\n`);
  process.exit(2);
}

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    fail(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** `--stub-domain D=IP[,IP...]` flags as {@link DnsServer}'s `stubDomains`. */
function parseStubDomains(flags: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    const domain = flag.slice(0, eq);
    const servers = flag.slice(eq + 1).split(',');
    if (eq <= 0 || servers.some((x) => x === ''))
      fail(`--stub-domain must be DOMAIN=IP[,IP...], got ${JSON.stringify(flag)}`);
    if (out[domain]) fail(`--stub-domain ${domain} is given twice`);
    out[domain] = servers;
  }
  return out;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      options: {
        manifests: { type: 'string' },
        kubeconfig: { type: 'string' },
        'in-cluster': { type: 'boolean' },
        address: { type: 'string' },
        port: { type: 'string' },
        'http-port': { type: 'string' },
        zone: { type: 'string' },
        ttl: { type: 'string' },
        pods: { type: 'string' },
        upstream: { type: 'string', multiple: true },
        'resolv-conf': { type: 'string' },
        'stub-domain': { type: 'string', multiple: true },
        'cache-size': { type: 'string' },
        udp: { type: 'string' },
        workers: { type: 'string' },
        autopath: { type: 'boolean' },
        'search-domain': { type: 'string', multiple: true },
        'fqdn-egress': { type: 'boolean' },
        'node-name': { type: 'string' },
        'netpol-table': { type: 'string' },
        'fqdn-floor': { type: 'string' },
        'no-watch': { type: 'boolean' },
        'keep-startup-pages': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
    });
  try {
    args = parse();
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  const v = args.values;
  if (v.version) {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    process.stdout.write(`podnet-dns ${pkg.version} (Kubernetes DNS specification 1.1.0)\n`);
    return;
  }
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const modes = [v.manifests, v.kubeconfig, v['in-cluster']].filter((x) => x !== undefined);
  if (modes.length !== 1)
    fail(`give exactly one of --manifests, --kubeconfig, --in-cluster\n${USAGE}`);
  const udp = v.udp ?? 'auto';
  if (udp !== 'auto' && udp !== 'native' && udp !== 'dgram')
    fail(`--udp must be auto, native or dgram, got ${JSON.stringify(udp)}`);
  const workers = v.workers === undefined || v.workers === 'auto' ? 'auto' : Number(v.workers);
  if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 1))
    fail(`--workers must be auto or a positive integer, got ${JSON.stringify(v.workers)}`);
  const port = int(v.port, 'port', 53);
  const httpPort = v['http-port'] === undefined ? undefined : int(v['http-port'], 'http-port', 0);
  const cacheSize = int(v['cache-size'], 'cache-size', 10_000);
  const server = new DnsServer({
    zone: v.zone,
    ttl: int(v.ttl, 'ttl', 5),
    pods: v.pods as PodsMode | undefined,
    upstreams: v.upstream,
    resolvConf: v.upstream ? undefined : v['resolv-conf'],
    stubDomains: parseStubDomains(v['stub-domain'] ?? []),
    cache: cacheSize === 0 ? false : { maxEntries: cacheSize },
    autopath: v.autopath ?? false,
    searchDomains: v['search-domain'] ?? [],
    udpWorkers: workers,
    // the apex NS names ns.dns.<zone>; its address is the one this server listens on
    nameservers: ['0.0.0.0', '::', undefined].includes(v.address) ? [] : [v.address as string],
  });
  const log: SourceLogger = {
    info: (msg, fields) => logLine('info', msg, fields),
    warn: (msg, fields) => logLine('warn', msg, fields),
    error: (msg, fields) => logLine('error', msg, fields),
  };
  const heap = zoneCompactor();
  const store = new ClusterStore();
  let source: ClusterSource;
  if (v.manifests) {
    source = new ManifestsSource({
      dir: v.manifests,
      log,
      watch: !v['no-watch'],
      workerIdleMs: PARSE_WORKER_IDLE_MS,
    });
  } else {
    let mod: typeof import('@podnet/cluster-state/kubernetes');
    try {
      mod = await import('@podnet/cluster-state/kubernetes');
    } catch (err) {
      fail(
        `--kubeconfig/--in-cluster need @kubernetes/client-node 1.4 installed beside @podnet/dns (${(err as Error).message})`,
      );
    }
    const kinds = v['fqdn-egress'] ? [...DNS_KINDS, 'ClusterNetworkPolicy' as const] : DNS_KINDS;
    source = new mod.KubernetesSource({ kubeconfig: v.kubeconfig, log, kinds });
  }
  const fqdn = v['fqdn-egress']
    ? await startFqdnEgress({
        table: v['netpol-table'],
        nodeName: v['node-name'],
        floorSeconds: int(v['fqdn-floor'], 'fqdn-floor', 30),
      }).catch((err: Error) => fail(`--fqdn-egress: ${err.message}`))
    : null;
  if (fqdn) server.setAnswerHook(fqdn.hook);
  let timer: NodeJS.Timeout | undefined;
  // The deltas since the last zone update (all batches of the coalescing window), and whether
  // the next update must be a full one: the first sync, a relist, or after a failed update.
  let pending: Delta[] = [];
  let full = true;
  let logged = new Set<string>();
  const reload = (): void => {
    if (!source.synced) return;
    const patch = !full && server.synced;
    if (patch && pending.length === 0) return;
    const changes = patch ? dnsChanges(pending) : undefined;
    pending = [];
    full = false;
    try {
      const started = performance.now();
      const skipped = changes ? server.update(store, changes) : server.update(store);
      const ms = Math.round((performance.now() - started) * 100) / 100;
      logged = logSkipped(skipped, logged, log);
      process.stdout.write(
        `${JSON.stringify({ event: 'synced', names: server.names, update: changes ? 'patch' : 'full', ms })}\n`,
      );
      // a full build leaves tens of MB of garbage: collected now, while idle
      if (!changes) heap.afterBulk();
    } catch (err) {
      full = true;
      const e = err as DnsError;
      log.error('zone update failed', { code: e.code, field: e.field, error: e.message });
    }
  };
  // bursts of deltas are coalesced into one zone update
  const schedule = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      reload();
    }, 20);
  };
  store.subscribe((batch) => {
    if (fqdn?.affectedBy([...batch.deltas.map((d) => d.kind), ...batch.resync]))
      fqdn.replan(policyInput(store));
    if (batch.resync.some((k) => DNS_KINDS.includes(k))) full = true;
    for (const d of batch.deltas) if (DNS_KINDS.includes(d.kind)) pending.push(d);
    if (touchesDns(batch) || !server.synced) schedule();
  });
  await source.start(store);
  fqdn?.replan(policyInput(store));
  reload();
  const addr = await server.start({
    address: v.address ?? '127.0.0.1',
    port,
    httpPort,
    udp,
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', ...addr, upstreams: server.upstreams, stubDomains: server.stubDomains })}\n`,
  );
  // what starting up left behind goes once the manifests parse worker has ended (its last
  // message is held until then), and with it Node's startup-only pages of code and data
  setTimeout(() => {
    settleHeap();
    if (v['keep-startup-pages']) return;
    const released = releaseStartupPages();
    if (released)
      log.info('startup pages released', {
        mappings: released.mappings,
        releasedKb: released.releasedKb,
        ...(released.failed.length > 0 ? { failed: released.failed } : {}),
      });
  }, PARSE_WORKER_IDLE_MS + 500).unref();
  const asked = workers === 'auto' ? availableParallelism() : workers;
  if (asked > 1 && addr.udpWorkers === 1)
    log.warn('UDP workers need the native UDP path: one socket on the main thread serves UDP', {
      workers: v.workers ?? 'auto',
      udpPath: addr.udpPath,
    });
  process.on('SIGHUP', () => {
    if (source instanceof ManifestsSource) void source.rescan();
  });
  const shutdown = (): void => {
    clearTimeout(timer);
    void source
      .stop()
      .then(() => server.stop())
      .then(() => fqdn?.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/**
 * Logs each skipped object once, for as long as it stays skipped (its position in the state,
 * which moves as other objects come and go, is left out of what identifies it); returns what is
 * logged now.
 */
function logSkipped(
  skipped: readonly SkippedObject[],
  before: ReadonlySet<string>,
  log: SourceLogger,
): Set<string> {
  const { fresh, now } = newlySkipped(skipped, before);
  for (const s of fresh) log.warn('object skipped', { ...s });
  return now;
}

function logLine(level: string, msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(
    `${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`,
  );
}

main().catch((err: unknown) => {
  if (DnsError.isInstance(err))
    fail(
      `${err.code}: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ''}`,
    );
  fail(String((err as Error)?.stack ?? err));
});
