import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { Host, IpSession } from '@podnet/host';
import { Allocator, FileStore, parseRangeSets } from '@podnet/ipam';
import {
  type ClusterSource,
  ClusterStore,
  type Delta,
  DNS_KINDS,
  type DeltaBatch,
  dnsChanges,
  isEmptyPolicyChanges,
  isEmptyServiceChanges,
  kindsOf,
  type ObjectKind,
  overlayPeers,
  policyChanges,
  policyInput,
  serviceChanges,
  serviceInput,
} from '@podnet/cluster-state';
import { ManifestsSource } from '@podnet/cluster-state/sources';
import { DnsServer, newlySkipped } from '@podnet/dns';
import { type Compaction, HeapCompactor } from '@podnet/host/heap-compactor';
import { PolicySyncer } from '@podnet/netpol';
import { OverlayReconciler } from '@podnet/overlay-vxlan';
import { ServiceSyncer } from '@podnet/service-lb';
import { ApplyScheduler, type ApplySchedulerOptions } from './apply-scheduler.js';
import { AttachmentStore } from './attachments.js';
import { AgentFlows } from './flow-agent.js';
import { DnsProcess, dnsServerOptions, retireDnsProcess } from './dns-process.js';
import { AgentFqdnEgress } from './fqdn-egress.js';
import { warmUpEventPath } from './warm-up.js';
import { resolvePodCidrs } from './pod-cidrs.js';
import { CniService, type IpBatcher, LATENCY_BUCKETS, type PodNetwork } from './cni-service.js';
import type { AgentConfig } from './config.js';
import { writeConflist } from './conflist.js';
import { AgentError } from './errors.js';
import { type MetricFamily, renderMetrics, serveHttp } from './http.js';
import { ServiceHealthServers, serveProxyHealth } from './health-servers.js';
import { ProxyHealth } from './proxy-health.js';
import { planServiceHealth, serviceKeysOf } from './service-health.js';
import { createLogger, type Logger } from './log.js';
import { type HostPortMapping, planNodeBase, renderAgentNft, GATEWAY_DEVICE } from './plan.js';
import { podMtu } from './mtu.js';
import { serveCni } from './server.js';

const SPARE_IP_DELAY_MS = 25;

/** The Node label that names a node's zone (topology hints, `trafficDistribution`). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** The datapath components the agent keeps in line with the cluster, in apply order. */
export type AgentComponent = 'overlay' | 'services' | 'policies' | 'dns';
const COMPONENTS: readonly AgentComponent[] = ['overlay', 'services', 'policies', 'dns'];

/** The kinds each component's input is made from. */
const COMPONENT_KINDS: { readonly [C in AgentComponent]: readonly ObjectKind[] } = {
  overlay: ['Node'],
  services: ['Service', 'EndpointSlice'],
  policies: ['Namespace', 'Pod', 'Node', 'NetworkPolicy', 'ClusterNetworkPolicy'],
  dns: DNS_KINDS,
};

/** Options of {@link NodeAgent}. */
export interface NodeAgentOptions {
  readonly config: AgentConfig;
  readonly log?: Logger;
  /** Host tools in the node namespace (default: this process's namespace). */
  readonly host?: Host;
  /** A ready source (tests); default: built from `config.source`. */
  readonly source?: ClusterSource;
  /** Full resync and retry timing. */
  readonly sync?: ApplySchedulerOptions;
}

/**
 * The node agent: serves the CNI socket, keeps the node's pod network (gateway device, host
 * ports, masquerade), the overlay, and the conflist in line with the cluster source. Restarting
 * it adopts what the kernel and the state directory hold; nothing is flushed.
 */
export class NodeAgent {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly host: Host;
  readonly cni: CniService;
  private readonly attachments: AttachmentStore;
  private source?: ClusterSource;
  private network?: PodNetwork;
  /** The cluster as the source sees it: every package's input is projected from here. */
  readonly store: ClusterStore;
  private server?: Server;
  private http?: HttpServer;
  /** kube-proxy's health: `/healthz` and `/livez` (when configured), and the service checks. */
  readonly proxyHealth: ProxyHealth;
  private proxyHealthServer?: HttpServer;
  private serviceHealth?: ServiceHealthServers;
  /** The zone the service tables were compiled for (this node's Node label). */
  private zone?: string;
  private overlay?: OverlayReconciler;
  private services?: ServiceSyncer;
  private policies?: PolicySyncer;
  /** Flow records from the verdict logs (`flows.enabled: false`: none). */
  readonly flows?: AgentFlows;
  private dns?: DnsServer;
  private dnsProcess?: DnsProcess;
  /** Embedded DNS only: fills the FQDN egress sets from answers. */
  private fqdn?: AgentFqdnEgress;
  private dnsSkipped = new Set<string>();
  private readonly componentErrors = new Map<string, string>();
  /** Deltas not yet applied (coalesced while an apply runs). */
  private pendingDeltas: Delta[] = [];
  /** Components that must resync in full at their next apply. */
  private readonly needFull = new Set<AgentComponent>(COMPONENTS);
  private readonly scheduler: ApplyScheduler;
  private unsubscribe?: () => void;
  private readonly applyStats = { incremental: 0, full: 0, deltas: 0 };
  private nftQueue: Promise<void> = Promise.resolve();
  private lastNft = '';
  private conflistWritten = false;
  /** The event path ran once over after the first table loads (see {@link warmUpEventPath}). */
  private warmedUp = false;
  private readonly reconcileStats = { ok: 0, failed: 0, seconds: 0 };
  /** Collects a full resync's garbage right after it (see {@link HeapCompactor}). */
  private readonly heap = new HeapCompactor();
  /** Collects what the cold start left once everything is loaded, whatever its size. */
  private readonly startHeap = new HeapCompactor({ minGrowthBytes: 0 });
  private lastError?: string;
  private readonly nodeIp: IpSession;
  private spareIp?: IpSession;
  private stopped = false;
  /** Why the node has no pod network yet (logged once per change; /readyz and CNI ADD say it). */
  private podCidrWaiting?: string;

  constructor(private readonly options: NodeAgentOptions) {
    this.config = options.config;
    this.log = options.log ?? createLogger({ base: { node: options.config.nodeName } });
    this.host = options.host ?? new Host();
    this.nodeIp = new IpSession({ netns: this.host.netns });
    this.store = new ClusterStore();
    if (this.config.flows?.enabled !== false)
      this.flows = new AgentFlows(
        this.config.flows ?? {},
        this.config.nodeName,
        this.log,
        this.host.netns,
      );
    this.proxyHealth = new ProxyHealth(
      this.config.healthz?.timeoutMs ??
        2 * (options.sync?.maxFullSyncMs ?? this.config.sync?.maxFullSyncMs ?? 3_600_000),
    );
    this.scheduler = new ApplyScheduler(() => this.applyOnce(), {
      ...this.config.sync,
      ...options.sync,
    });
    mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    this.attachments = new AttachmentStore(join(this.config.stateDir, 'attachments'));
    this.cni = new CniService({
      host: this.host,
      attachments: this.attachments,
      log: this.log,
      dns: this.config.dns,
      networkPending: () => this.podCidrWaiting,
      network: () => this.network,
      hostPortsChanged: () => this.syncNft(),
      // a real host gets a long-lived ip for the host side of ADD/DEL; an injected one (tests
      // with a recording runner) keeps every call on its runner
      ...(options.host
        ? {}
        : {
            nodeIp: this.nodeIp,
            podIp: (name: string) => this.podIp(name),
          }),
    });
  }

  /**
   * An `ip` in pod namespace `name` for one ADD: the spare started after the previous ADD (its
   * fork already paid) when there is one, else a new one. The next spare starts after this turn.
   */
  private podIp(name: string): IpBatcher & { close(): void } {
    const spare = this.spareIp;
    this.spareIp = undefined;
    let session: IpSession;
    if (spare?.enter(name)) session = spare;
    else {
      spare?.close();
      session = new IpSession({ netns: { name } }).start();
    }
    return {
      batch: (lines) => session.batch(lines),
      close: () => {
        session.close();
        // a little after this ADD's answer: spawning forks this process, which takes a few
        // milliseconds of CPU that should not compete with the shim printing that answer
        setTimeout(() => this.ensureSpareIp(), SPARE_IP_DELAY_MS).unref();
      },
    };
  }

  private ensureSpareIp(): void {
    if (!this.spareIp && !this.stopped && !this.options.host) this.spareIp = IpSession.spare();
  }

  /** The HTTP server's bound port (useful with `http.port: 0`). */
  get httpPort(): number | undefined {
    const a = this.http?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  /** The bound port of kube-proxy's health server (`healthz` in the config), when it runs. */
  get healthzPort(): number | undefined {
    const a = this.proxyHealthServer?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  /** Starts everything; resolves once the CNI socket and the HTTP endpoint are up. */
  async start(): Promise<void> {
    this.log.info('agent starting', { pid: process.pid, source: this.config.source.kind });
    this.setSysctls();
    this.server = await serveCni({
      socketPath: this.config.socketPath,
      handlers: this.cni.handlers(),
      log: this.log,
      onRequest: (command, ok, seconds) => this.cni.record(command, ok, seconds),
    });
    this.http = await serveHttp(this.config.http.address, this.config.http.port, {
      healthy: () => this.server?.listening === true,
      notReady: () => this.notReady(),
      metrics: () => this.metrics(),
      ...(this.flows ? { routes: this.flows.routes } : {}),
    });
    if (this.config.healthz) {
      const { address, port } = this.config.healthz;
      this.proxyHealthServer = await serveProxyHealth(address, port, this.proxyHealth);
    }
    if (this.config.podCidrs) await this.enqueue();
    this.unsubscribe = this.store.subscribe((b) => this.onBatch(b));
    this.flows?.attach(this.store);
    const capture = this.flows?.start(); // alongside the source's first sync
    this.source = this.options.source ?? (await this.makeSource());
    await this.source.start(this.store);
    await capture;
    this.scheduler.startPeriodic(() => {
      for (const c of COMPONENTS) this.needFull.add(c);
    });
    this.ensureSpareIp();
    this.log.info('agent started', {
      socket: this.config.socketPath,
      httpPort: this.httpPort,
      ...(this.proxyHealthServer ? { healthzPort: this.healthzPort } : {}),
    });
  }

  /** Stops serving (kernel state and state dir stay as they are). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.source?.stop();
    this.unsubscribe?.();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http?.closeAllConnections();
    const phs = this.proxyHealthServer;
    await new Promise<void>((r) => (phs ? phs.close(() => r()) : r()));
    phs?.closeAllConnections();
    await this.serviceHealth?.close();
    await this.scheduler.stop();
    await this.policies?.close().catch(() => {});
    await this.flows?.stop().catch(() => {});
    this.services?.close();
    this.overlay?.close();
    await this.dns?.stop().catch(() => {});
    this.fqdn?.close();
    this.nodeIp.close();
    this.spareIp?.close();
    this.log.info('agent stopped');
  }

  /** Reasons the agent is not ready (empty when ready). */
  notReady(): string[] {
    const r: string[] = [];
    if (!this.source?.synced) r.push('cluster source not synced');
    if (!this.network) r.push(this.podCidrWaiting ?? 'no pod CIDR yet');
    if (!this.conflistWritten) r.push('conflist not written');
    if (this.lastError) r.push(`last reconcile failed: ${this.lastError}`);
    if (this.source?.synced && this.network) {
      const serving = this.dnsMode === 'embedded' ? this.dns?.synced : this.dnsProcess?.serving;
      if (!serving) r.push('cluster DNS not serving');
    }
    return r;
  }

  private async makeSource(): Promise<ClusterSource> {
    const src = this.config.source;
    if (src.kind === 'manifests') return new ManifestsSource({ dir: src.dir, log: this.log });
    // the API source (client-node's KubeConfig and Watch bundled in: ~0.16 s and ~23 MB to
    // load, ~0.75 s and ~72 MB for the whole package) only when the API is the source
    const { KubernetesSource } = await import('@podnet/cluster-state/kubernetes');
    return new KubernetesSource({
      kubeconfig: src.kubeconfig,
      log: this.log,
      ...(src.watchIdleMs === undefined ? {} : { watchIdleMs: src.watchIdleMs }),
    });
  }

  private setSysctls(): void {
    const write = (path: string, value: string) => {
      try {
        writeFileSync(path, value);
      } catch (e) {
        this.log.warn('cannot set sysctl', { path, error: String(e) });
      }
    };
    write('/proc/sys/net/ipv4/ip_forward', '1');
    if (this.config.clusterCidrs.some((c) => c.includes(':')))
      write('/proc/sys/net/ipv6/conf/all/forwarding', '1');
  }

  private onBatch(batch: DeltaBatch): void {
    // a relist's deltas are exact (the store diffed the new list against what it held), so they
    // are applied like any others: no full resync, nothing dropped and re-added
    for (const d of batch.deltas) this.pendingDeltas.push(d);
    this.noteHealthDeltas(batch);
    this.applyStats.deltas += batch.deltas.length;
    void this.enqueue();
  }

  /**
   * What kube-proxy's health and node facts take from a batch: Service and EndpointSlice changes
   * are queued (not programmed yet); this node's Node object decides whether the node is
   * eligible, and a change of its zone label resyncs the service tables in full (as kube-proxy
   * does on a node label change).
   */
  private noteHealthDeltas(batch: DeltaBatch): void {
    const now = Date.now();
    for (const d of batch.deltas) {
      if (d.kind === 'Service' || d.kind === 'EndpointSlice') this.proxyHealth.queued(now);
      else if (d.kind === 'Node' && d.key === this.config.nodeName) {
        const node = d.type === 'deleted' ? undefined : d.object;
        this.proxyHealth.syncNode(node);
        const zone = node?.metadata?.labels?.[ZONE_LABEL];
        if (this.services && zone !== this.zone) {
          this.log.info('node zone changed; service tables resync', {
            from: this.zone ?? null,
            to: zone ?? null,
          });
          this.zone = zone;
          this.services.setNode(this.serviceNode());
          this.needFull.add('services');
        }
      }
    }
  }

  /** service-lb's facts about this node (its zone from its Node label). */
  private serviceNode(): ConstructorParameters<typeof ServiceSyncer>[0]['node'] {
    return {
      name: this.config.nodeName,
      clusterCIDRs: [...this.config.clusterCidrs],
      serviceCIDRs: [...this.config.serviceCidrs],
      ...(this.zone === undefined ? {} : { zone: this.zone }),
    };
  }

  /**
   * The health check node ports after the service tables were programmed: all of them after a
   * full sync, else those of the Services the batch touched (directly or through a slice).
   */
  private async syncServiceHealth(full: boolean, batch: DeltaBatch): Promise<void> {
    this.proxyHealth.updated(Date.now());
    this.serviceHealth ??= new ServiceHealthServers({
      address: this.config.clusterCidrs.some((c) => c.includes(':')) ? '::' : '0.0.0.0',
      proxyHealthy: () => this.proxyHealth.healthy(Date.now()),
      log: this.log,
    });
    const slicesOf = (key: string) => this.store.slicesOf(key);
    const node = this.config.nodeName;
    if (full) {
      await this.serviceHealth.apply(planServiceHealth(this.store.list('Service'), slicesOf, node));
      return;
    }
    const scope = serviceKeysOf(batch.deltas);
    if (scope.size === 0) return;
    const services = [...scope].flatMap((k) => this.store.get('Service', k) ?? []);
    await this.serviceHealth.apply(planServiceHealth(services, slicesOf, node), scope);
  }

  /** The components whose input includes any of `kinds`. */
  private componentsOf(kinds: ReadonlySet<ObjectKind>): AgentComponent[] {
    return COMPONENTS.filter((c) => COMPONENT_KINDS[c].some((k) => kinds.has(k)));
  }

  /** Runs one apply soon (coalesced). */
  private enqueue(): Promise<void> {
    return this.scheduler.trigger();
  }

  private async applyOnce(): Promise<{ failed: boolean; full: boolean }> {
    const t0 = performance.now();
    try {
      const full = await this.reconcile();
      this.reconcileStats.ok++;
      this.lastError = undefined;
      return { failed: false, full };
    } catch (e) {
      this.reconcileStats.failed++;
      this.lastError = (e as Error).message;
      this.log.error('reconcile failed', { error: (e as Error).message });
      return { failed: true, full: false };
    } finally {
      this.reconcileStats.seconds += (performance.now() - t0) / 1000;
    }
  }

  /** After a full resync: its garbage, collected now (see {@link HeapCompactor}). */
  private compactHeap(): void {
    this.logCompaction('heap compacted after a full resync', this.heap.afterBulk());
  }

  private logCompaction(msg: string, c: Compaction | undefined): void {
    if (c)
      this.log.info(msg, {
        beforeMiB: Math.round(c.beforeBytes / 2 ** 20),
        afterMiB: Math.round(c.afterBytes / 2 ** 20),
        pauseMs: Math.round(c.ms),
      });
  }

  /** One apply; resolves true when it resynced something in full. */
  private async reconcile(): Promise<boolean> {
    if (!this.network) await this.setupNetwork();
    if (!this.network) return false;
    // podnet-dns lists the cluster itself: it starts as soon as its address is up, so that its
    // lists and zone build overlap the agent's own lists rather than the table loads (at 10,000
    // Services it took the CPU the services full sync waited for)
    if (this.dnsMode === 'process' && !this.source?.synced) await this.startDnsEarly();
    if (!this.source?.synced) return false;
    const deltas = this.pendingDeltas;
    this.pendingDeltas = [];
    const batch: DeltaBatch = { deltas, resync: [] };
    const touched = new Set(this.componentsOf(kindsOf(batch)));
    const failed: string[] = [];
    let fullRun = false;
    /** Runs one component's apply; resolves true when it resynced in full (and succeeded). */
    const step = async (
      name: AgentComponent,
      fn: (full: boolean) => Promise<void>,
    ): Promise<boolean> => {
      const full = this.needFull.has(name);
      if (!full && !touched.has(name)) return false;
      if (full) fullRun = true;
      this.needFull.delete(name);
      try {
        await fn(full);
        this.componentErrors.delete(name);
        if (full) this.applyStats.full++;
        else this.applyStats.incremental++;
        return full;
      } catch (e) {
        // the next apply of this component starts from a full resync
        this.needFull.add(name);
        const msg = (e as Error).message;
        if (this.componentErrors.get(name) !== msg)
          this.log.error(`${name} sync failed`, { error: msg });
        this.componentErrors.set(name, msg);
        failed.push(`${name}: ${msg}`);
        return false;
      }
    };
    // a full resync's garbage goes before the next component's resync adds its own (at 10,000
    // Services the two together set the agent's peak memory)
    const compactAfter = (full: boolean) => {
      if (full) this.compactHeap();
    };
    // podnet-dns lists the cluster itself: start it first, in parallel with the tables
    if (this.dnsMode === 'process')
      compactAfter(await step('dns', (full) => this.syncDns(full, batch)));
    compactAfter(await step('overlay', () => this.syncOverlay()));
    // services and policies are separate tables: the policies compile while the services'
    // nft process loads its transaction (a full services load is seconds of nft at 10,000
    // Services, with the agent idle), and one event touching both pays for the slower only.
    // When both resync in full, the services' compile garbage is collected before the policies
    // compile (once the services' nft runs), so that the two never add up in the peak
    const servicesFull = this.needFull.has('services');
    const tables = await Promise.all([
      step('services', async (full) => {
        await this.syncServices(full, batch);
        await this.syncServiceHealth(full, batch);
      }),
      step('policies', async (full) => {
        if (full && servicesFull) {
          await new Promise<void>((r) => setImmediate(r));
          this.compactHeap();
        }
        await this.syncPolicies(full, batch);
      }),
    ]);
    compactAfter(tables.includes(true));
    if (!this.warmedUp && this.services && this.policies) await this.warmUp();
    if (this.dnsMode === 'embedded')
      compactAfter(await step('dns', (full) => this.syncDns(full, batch)));
    if (failed.length > 0) throw new AgentError('DATAPATH_FAILED', failed.join('; '));
    return fullRun;
  }

  /** Runs the event path once over, off the kernel, so the first real event finds it compiled. */
  private async warmUp(): Promise<void> {
    this.warmedUp = true;
    try {
      const w = await warmUpEventPath({
        nodeName: this.config.nodeName,
        ...(this.flows ? { policyCompile: this.flows.compileOptions } : {}),
      });
      this.log.info('event path warmed up', { events: w.events, ms: Math.round(w.ms) });
    } catch (e) {
      // only a missed optimisation: the real events take the same code
      this.log.warn('event path warm-up failed', { error: (e as Error).message });
    }
    // what the cold start left (the later table's transaction text, the warm-up's objects) is
    // collected now, with every table loaded, rather than by V8 in the middle of the first
    // events (the compaction after a resync runs only past 64 MiB of growth)
    this.logCompaction('heap compacted after the first loads', this.startHeap.afterBulk());
    // the tables loaded after each session's own warm-up (the services' after the policies', the
    // DNS process's sets) made that session's next event slow in nft (~12 ms instead of ~4 for
    // the policies' first pod event, ~12 instead of ~6 for the services' first endpoint): it is
    // paid here, not by an event
    await this.policies?.warm();
    await this.services?.warm();
  }

  /**
   * Starts (or adopts) the DNS process before the source has synced; after a failure the first
   * full apply starts it again and reports what failed.
   */
  private async startDnsEarly(): Promise<void> {
    if (this.dnsProcess?.running) return;
    try {
      await this.syncDns(true, { deltas: [], resync: [] });
    } catch (e) {
      this.log.warn('cluster DNS process not started yet', { error: (e as Error).message });
    }
  }

  private families(): ('ip' | 'ip6')[] {
    const cidrs = this.network?.podCidrs ?? this.config.clusterCidrs;
    const fams: ('ip' | 'ip6')[] = [];
    if (cidrs.some((c) => !c.includes(':'))) fams.push('ip');
    if (cidrs.some((c) => c.includes(':'))) fams.push('ip6');
    return fams;
  }

  private async syncServices(full: boolean, batch: DeltaBatch): Promise<void> {
    if (!this.services) {
      this.zone = this.store.get('Node', this.config.nodeName)?.metadata?.labels?.[ZONE_LABEL];
      this.services = new ServiceSyncer({
        host: this.host,
        node: this.serviceNode(),
        families: this.families(),
        // partial syncs through one long-lived nft -i (a real host only: an injected one records)
        session: !this.options.host,
      });
    }
    let r: Awaited<ReturnType<ServiceSyncer['sync']>>;
    if (full) {
      this.services.requestFullSync();
      r = await this.services.sync(serviceInput(this.store));
    } else {
      const changes = serviceChanges(batch);
      if (isEmptyServiceChanges(changes)) return;
      r = await this.services.update(changes);
    }
    if (r.operations > 0) {
      this.log.info('services programmed', {
        operations: r.operations,
        full: r.full,
        invalid: r.invalid.length,
        ms: Math.round(r.durationSeconds * 10_000) / 10,
        nftMs: Math.round(r.applySeconds * 10_000) / 10,
      });
    }
    for (const bad of r.invalid)
      this.log.warn('service skipped', { object: bad.object, error: bad.error.message });
  }

  private async syncPolicies(full: boolean, batch: DeltaBatch): Promise<void> {
    if (!this.policies)
      this.policies = new PolicySyncer({
        host: this.host,
        nodeName: this.config.nodeName,
        ...this.flows?.compileOptions,
      });
    let r: Awaited<ReturnType<PolicySyncer['sync']>>;
    if (full) r = await this.policies.sync(policyInput(this.store));
    else {
      const changes = policyChanges(batch);
      if (isEmptyPolicyChanges(changes)) return;
      r = await this.policies.update(changes);
    }
    if (r.lines > 0)
      this.log.info('policies programmed', {
        lines: r.lines,
        full: r.full,
        invalid: r.invalid.length,
        ms: Math.round(r.durationSeconds * 10_000) / 10,
        nftMs: Math.round(r.applySeconds * 10_000) / 10,
      });
    for (const bad of r.invalid)
      this.log.warn('policy skipped', { object: bad.object, error: bad.error.message });
    if (full) this.fqdn?.replan(this.store);
    else this.fqdn?.replanFor(this.store, kindsOf(batch));
  }

  /** How cluster DNS is served (see {@link AgentConfig}`.dns.mode`). */
  get dnsMode(): 'process' | 'embedded' {
    return this.config.dns.mode ?? 'process';
  }

  private async syncDns(full: boolean, batch: DeltaBatch): Promise<void> {
    if (this.dnsMode === 'process') {
      // podnet-dns reads the cluster source itself: the agent only keeps it running
      if (this.dnsProcess?.running) return;
      if (this.dnsProcess)
        this.log.warn('cluster DNS process exited; starting it again', {
          log: this.dnsProcess.logTail(),
        });
      this.dnsProcess ??= new DnsProcess(this.config, this.log);
      const how = await this.dnsProcess.ensure();
      this.log.info('cluster DNS serving', {
        address: this.config.dns.ip,
        port: 53,
        process: how,
        pid: this.dnsProcess.running,
      });
      return;
    }
    if (!this.dns) {
      const dns = new DnsServer(dnsServerOptions(this.config.dns));
      this.fqdn = new AgentFqdnEgress(this.config.nodeName, {
        floorSeconds: this.config.dns.fqdnFloorSeconds,
        netns: this.host.netns,
      });
      this.fqdn.replan(this.store);
      dns.setAnswerHook(this.fqdn.writer);
      // a podnet-dns left from process mode holds the address and port
      if (await retireDnsProcess(this.config.stateDir))
        this.log.info('cluster DNS process stopped: DNS is embedded now');
      await dns.start({ address: this.config.dns.ip, port: 53 });
      this.dns = dns;
      this.log.info('cluster DNS serving', { address: this.config.dns.ip, port: 53 });
    }
    // the zone is patched per changed object (a full update at start and on a full resync)
    const skipped = full
      ? this.dns.update(this.store)
      : this.dns.update(this.store, dnsChanges(batch.deltas));
    const { fresh, now } = newlySkipped(skipped, this.dnsSkipped);
    for (const k of fresh)
      this.log.warn('object skipped by cluster DNS', {
        object: k.object,
        field: k.field,
        error: k.reason,
      });
    this.dnsSkipped = now;
  }

  private async setupNetwork(): Promise<void> {
    const resolved = resolvePodCidrs(this.config, this.store, this.source?.synced);
    if ('waiting' in resolved) {
      if (resolved.waiting !== this.podCidrWaiting && resolved.synced)
        this.log.warn('no pod CIDR', { node: this.config.nodeName, reason: resolved.waiting });
      this.podCidrWaiting = resolved.waiting;
      return;
    }
    const podCidrs = [...resolved.cidrs];
    const rangeSets = parseRangeSets(podCidrs.map((subnet) => [{ subnet }]));
    const allocator = new Allocator(
      { rangeSets },
      new FileStore({ dir: join(this.config.stateDir, 'ipam', 'podnet') }),
    );
    const gateways = rangeSets
      .map((s) => s[0]!.gateway)
      .filter((g): g is string => typeof g === 'string');
    const links = await this.host.ipJson<{ ifname: string; mtu: number }[]>(['link', 'show']);
    const uplink = links.find((l) => l.ifname === this.config.uplink);
    if (!uplink && !this.config.mtu) {
      throw new AgentError(
        'DATAPATH_FAILED',
        `uplink ${this.config.uplink} not found in the node namespace`,
      );
    }
    const mtu = this.config.mtu ?? podMtu(uplink!.mtu, this.config.nodeIps);
    await this.host.ipBatch(
      planNodeBase({
        gateways,
        dnsIp: this.config.dns.ip,
        deviceExists: links.some((l) => l.ifname === GATEWAY_DEVICE),
      }),
    );
    const network = { podCidrs, allocator, mtu };
    await this.syncNft(network);
    this.network = network;
    this.podCidrWaiting = undefined;
    if (writeConflist(this.config.cniConfDir, this.config.socketPath)) {
      this.log.info('conflist written', { dir: this.config.cniConfDir });
    }
    this.conflistWritten = true;
    this.log.info('pod network ready', { podCidrs, gateways, mtu });
  }

  private async syncOverlay(): Promise<void> {
    const net = this.network!;
    if (!this.overlay) {
      this.overlay = new OverlayReconciler(
        this.host,
        {
          nodeName: this.config.nodeName,
          uplink: this.config.uplink,
          nodeIPs: [...this.config.nodeIps],
          podCIDRs: [...net.podCidrs],
        },
        // long-lived ip/bridge processes (a real host only: an injected one records)
        { sessions: !this.options.host },
      );
    }
    const plan = await this.overlay.sync(overlayPeers(this.store, this.config.nodeName));
    if (plan.operations.length > 0)
      this.log.info('overlay programmed', { operations: plan.operations.length });
  }

  /** Re-renders the agent's nftables table (host ports, masquerade) when it changed. */
  syncNft(network?: PodNetwork): Promise<void> {
    const run = async () => {
      const net = network ?? this.network;
      if (!net) return;
      const hostPorts: HostPortMapping[] = this.attachments.list().flatMap((r) => r.hostPorts);
      const script = renderAgentNft({
        podCidrs: net.podCidrs,
        clusterCidrs: this.config.clusterCidrs,
        hostPorts,
      });
      if (script === this.lastNft) return;
      await this.host.nftApply(script);
      this.lastNft = script;
    };
    this.nftQueue = this.nftQueue.then(run, run);
    return this.nftQueue;
  }

  /** Prometheus text of the agent's metrics. */
  metrics(): string {
    const families: MetricFamily[] = [
      {
        name: 'podnet_agent_ready',
        help: 'Whether the agent is ready.',
        type: 'gauge',
        samples: [{ value: this.notReady().length === 0 ? 1 : 0 }],
      },
      {
        name: 'podnet_source_synced',
        help: 'Whether the cluster source has listed every kind.',
        type: 'gauge',
        samples: [{ value: this.source?.synced ? 1 : 0 }],
      },
      {
        name: 'podnet_attachments',
        help: 'Pod interfaces the agent manages.',
        type: 'gauge',
        samples: [{ value: this.attachments.list().length }],
      },
      {
        name: 'podnet_reconcile_total',
        help: 'Reconcile passes by result.',
        type: 'counter',
        samples: [
          { labels: { result: 'success' }, value: this.reconcileStats.ok },
          { labels: { result: 'error' }, value: this.reconcileStats.failed },
        ],
      },
      {
        name: 'podnet_reconcile_duration_seconds_total',
        help: 'Time spent reconciling.',
        type: 'counter',
        samples: [{ value: this.reconcileStats.seconds }],
      },
      {
        name: 'podnet_heap_compactions_total',
        help: 'Full garbage collections run right after a full resync.',
        type: 'counter',
        samples: [{ value: this.heap.stats.compactions + this.startHeap.stats.compactions }],
      },
      {
        name: 'podnet_heap_compaction_seconds_total',
        help: 'Time those collections paused the agent.',
        type: 'counter',
        samples: [{ value: this.heap.stats.seconds + this.startHeap.stats.seconds }],
      },
      {
        name: 'podnet_cni_requests_total',
        help: 'CNI requests served, by command and result.',
        type: 'counter',
        samples: [...this.cni.stats.requests].map(([k, value]) => {
          const [command, result] = k.split('|');
          return { labels: { command: command!, result: result! }, value };
        }),
      },
      {
        name: 'podnet_cni_request_duration_seconds',
        help: 'CNI request latency in the agent.',
        type: 'histogram',
        samples: [...this.cni.stats.durations].flatMap(([command, d]) => [
          ...LATENCY_BUCKETS.map((b, i) => ({
            suffix: '_bucket',
            labels: { command, le: String(b) },
            value: d.buckets[i]!,
          })),
          { suffix: '_bucket', labels: { command, le: '+Inf' }, value: d.count },
          { suffix: '_sum', labels: { command }, value: d.sum },
          { suffix: '_count', labels: { command }, value: d.count },
        ]),
      },
    ];
    const stats = this.source?.stats;
    if (stats) {
      families.push({
        name: 'podnet_source_events_total',
        help: 'Cluster source counters (lists, watch events, errors, restarts, files read, problems).',
        type: 'counter',
        samples: Object.entries(stats).map(([kind, value]) => ({ labels: { kind }, value })),
      });
    }
    families.push(
      {
        name: 'podnet_deltas_total',
        help: 'Object changes (added, updated, deleted) received from the cluster source.',
        type: 'counter',
        samples: [{ value: this.applyStats.deltas }],
      },
      {
        name: 'podnet_component_applies_total',
        help: 'Component applies by mode (incremental from deltas, or full resync).',
        type: 'counter',
        samples: [
          { labels: { mode: 'incremental' }, value: this.applyStats.incremental },
          { labels: { mode: 'full' }, value: this.applyStats.full },
        ],
      },
      {
        name: 'podnet_apply_retries_scheduled_total',
        help: 'Retries scheduled after failed applies (at most one pending, with backoff).',
        type: 'counter',
        samples: [{ value: this.scheduler.stats.retriesScheduled }],
      },
    );
    return [
      renderMetrics([...families, ...(this.flows?.metricFamilies() ?? [])]),
      this.services?.metricsText() ?? '',
      this.dns?.renderMetrics() ?? '',
    ].join('');
  }
}
