import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ClusterSnapshot, Pod } from '@podnet/cluster-state';
import { ExecRunner, Host } from '@podnet/host';
import { type AnyCniResult, compareVersions, loadConfLists } from '@podnet/cni-spec';
import type { AcceptedObject } from './accept-manifests.js';
import { writeAtomic } from './atomic-file.js';
import {
  emptyClusterObjects,
  keyOf,
  namespaceOf,
  nameOf,
  type PodPort,
  podPorts,
} from './cluster-objects.js';
import { firstConfList, nodeCniRuntime } from './cni-exec.js';
import { planEndpointSlice } from './endpoint-slices.js';
import { type ExternalRoute, reconcileExternalRoutes } from './external-routes.js';
import { type Explanation, explainFlow } from './explain.js';
import { ClusterError } from './errors.js';
import {
  clusterCidrsOf,
  externalIpsOf,
  type IpFamily,
  ipsByFamily,
  nodeIpsOf,
  ofFamily,
  planFamilies,
  podCidrsOf,
  resultIps,
  serviceCidrsOf,
  unbracket,
} from './ip-family.js';
import { planApply } from './plan-apply.js';
import {
  type ClusterOptions,
  type ClusterPlan,
  type NetworkMode,
  type NodePlan,
  planCluster,
  planReferenceMasquerade,
  planReferenceRoutes,
  planUnderlayBatches,
  referenceConflist,
} from './plan.js';
import { type DeletePodOptions, deletePodThrough } from './pod-delete.js';
import { containerProcesses, serverPorts } from './pod-processes.js';
import { NodePodman } from './podman.js';
import { writeManifestDir } from './manifest-dir.js';
import { renderCluster, renderManifests } from './render.js';
import { notFound, type RemovableKind, removeObject } from './delete-objects.js';
import { POD_SERVER_JS, PROBE_JS } from './scripts.js';
import { type ClusterState, type PodSandbox, parseState, STATE_VERSION } from './state.js';
import { type StateLockOptions, withClusterStateLock } from './state-lock.js';

/** The port of each agent's own HTTP endpoint (`/healthz`, `/readyz`, `/metrics`). */
export const AGENT_HTTP_PORT = 9098;

/** The port of kube-proxy's health server (`/healthz`, `/livez`) each agent serves. */
export const PROXY_HEALTHZ_PORT = 10256;

/** Where clusters keep their state (`<root>/<name>/state.json`). */
export const DEFAULT_RUN_ROOT = '/run/podnet-cluster';

/** Receives progress lines of long steps. */
export type ProgressFn = (message: string) => void;

export type { ClusterState, PodSandbox } from './state.js';
export type { DeletePodOptions } from './pod-delete.js';

/** The protocols a probe speaks. */
export type ProbeProtocol = 'tcp' | 'udp' | 'http';

/** One target of {@link Cluster.probeMany}: a pod, node, `external`, IP or DNS name, and a port. */
export interface ProbeTarget {
  to: string;
  port: number;
  proto?: ProbeProtocol;
  /**
   * 6: a pod, node or `external` is reached at its IPv6 address and a DNS name resolved to AAAA;
   * 4: IPv4 and A. Default: the cluster's primary family (an IP address is taken as it is).
   */
  family?: 4 | 6;
  /** The source port to send from (live explain traces the probe by it); default: any. */
  sport?: number;
}

/** The answer of {@link Cluster.probe}. */
export interface ProbeResult {
  ok: boolean;
  /** The address the target resolved to. */
  address?: string;
  /** What the server answered: `<pod name> <client address as seen by the server>`. */
  reply?: string;
  error?: string;
}

const NODE_ENV = (() => {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
})();

function findRepoFile(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * The node agent and CNI shim: built (`dist/bin/*.js`) when present, else their sources run through
 * tsx (override: PODNET_AGENT_JS, PODNET_CNI_PLUGIN_JS).
 */
export function podnetBinaries(): { agent?: string; plugin?: string } {
  return {
    agent:
      process.env.PODNET_AGENT_JS ??
      findRepoFile('examples/node-agent/dist/bin/podnet-agent.js') ??
      findRepoFile('examples/node-agent/src/bin/podnet-agent.ts'),
    plugin:
      process.env.PODNET_CNI_PLUGIN_JS ??
      findRepoFile('examples/cni-plugin/dist/bin/podnet.js') ??
      findRepoFile('examples/cni-plugin/src/bin/podnet.ts'),
  };
}

function pidAlive(pid: number | undefined): boolean {
  return pid !== undefined && pid > 0 && existsSync(`/proc/${pid}`);
}

/**
 * The argv that runs a Node entry: a built `.js` as is; a `.ts` source (development, e.g.
 * PODNET_AGENT_JS=examples/node-agent/src/bin/podnet-agent.ts) through tsx with the source condition.
 */
export function nodeEntryArgv(entry: string): string[] {
  const file = resolve(entry);
  if (!file.endsWith('.ts')) return [process.execPath, file];
  const tsx = findRepoFile('node_modules/tsx/dist/loader.mjs');
  if (!tsx) throw new ClusterError('NOT_FOUND', `running ${file} from source needs tsx installed`);
  return [process.execPath, '--conditions=source', '--import', pathToFileURL(tsx).href, file];
}

function spawnDetached(argv: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: NODE_ENV,
  });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined)
    throw new ClusterError('COMMAND_FAILED', `cannot start ${argv.join(' ')}`);
  return child.pid;
}

async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new ClusterError('TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Kills every process in a namespace and deletes it (best effort, synchronous-free). */
async function deleteNetns(runner: ExecRunner, name: string): Promise<void> {
  const pids = await runner.run({ argv: ['ip', 'netns', 'pids', name] });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {}
  }
  await runner.run({ argv: ['ip', 'netns', 'del', name] });
}

/** A namespace cluster on this machine: underlay, nodes, agents, pods, and the control plane. */
export class Cluster {
  private readonly runner = new ExecRunner({ env: NODE_ENV });
  private constructor(public state: ClusterState) {}

  get plan(): ClusterPlan {
    return this.state.plan;
  }

  /** Builds the underlay and the nodes and starts an agent per node (podnet mode). */
  static async up(
    options: Partial<ClusterOptions> & { runRoot?: string; progress?: ProgressFn } = {},
  ): Promise<Cluster> {
    const name = options.name ?? 'default';
    const bins = podnetBinaries();
    const network: NetworkMode =
      options.network ?? (bins.agent && bins.plugin ? 'podnet' : 'reference');
    const plan = planCluster({
      name,
      prefix: options.prefix ?? `pnc-${name}-`,
      nodes: options.nodes ?? 3,
      network,
      ...(options.ipFamily ? { ipFamily: options.ipFamily } : {}),
    });
    const runDir = join(options.runRoot ?? DEFAULT_RUN_ROOT, name);
    if (existsSync(join(runDir, 'state.json'))) {
      throw new ClusterError(
        'ALREADY_EXISTS',
        `cluster ${name} exists (${runDir}); run npx podnet down${name === 'default' ? '' : ` --name ${name}`} first`,
      );
    }
    if (network === 'podnet' && !(bins.agent && bins.plugin)) {
      throw new ClusterError(
        'NOT_FOUND',
        'network podnet needs the built node agent and CNI plugin (npm run build)',
      );
    }
    const cluster = new Cluster({
      version: STATE_VERSION,
      plan,
      runDir,
      agents: {},
      objects: emptyClusterObjects(),
      sandboxes: [],
    });
    const progress = options.progress ?? (() => {});
    try {
      await mkdir(runDir, { recursive: true });
      await cluster.save();
      progress(
        `underlay: switch, ${plan.nodes.length} nodes on ${plan.segments.length} segment(s), external host`,
      );
      await cluster.buildUnderlay();
      await writeFile(join(runDir, 'pod-server.js'), POD_SERVER_JS);
      await cluster.writeManifests();
      cluster.state.externalServerPid = await cluster.startServer(
        plan.externalNetns,
        'external',
        [
          { containerPort: 8080, protocol: 'TCP' },
          { containerPort: 8080, protocol: 'UDP' },
        ],
        join(runDir, 'external'),
      );
      if (network === 'podnet') await cluster.startAgents(bins.agent!, bins.plugin!, progress);
      else await cluster.setupReference(progress);
      await cluster.save();
      return cluster;
    } catch (e) {
      progress(`up failed, cleaning up: ${(e as Error).message}`);
      await cluster.down().catch(() => {});
      throw e;
    }
  }

  /** Loads a running cluster by name (a snapshot: see {@link Cluster.edit} to change it). */
  static async load(name = 'default', runRoot = DEFAULT_RUN_ROOT): Promise<Cluster> {
    return new Cluster(await readState(join(runRoot, name, 'state.json'), name));
  }

  /**
   * Runs a command that changes the cluster: takes the state lock (one such command at a time,
   * across processes), loads the cluster under it and runs `fn`, whose saves then cannot lose
   * another command's update. `fn` must not take the lock again (e.g. through
   * {@link Cluster.deletePod}).
   */
  static async edit<T>(
    name: string,
    runRoot: string,
    fn: (cluster: Cluster) => Promise<T>,
    lock: StateLockOptions = {},
  ): Promise<T> {
    const runDir = join(runRoot, name);
    if (!existsSync(runDir)) await Cluster.load(name, runRoot); // NOT_FOUND with its hint
    return withClusterStateLock(runDir, async () => fn(await Cluster.load(name, runRoot)), lock);
  }

  private async save(state: ClusterState = this.state): Promise<void> {
    await writeAtomic(join(state.runDir, 'state.json'), JSON.stringify(state, null, 2));
  }

  /**
   * Changes the state without losing a concurrent command's update: under the state lock, reads
   * `state.json` afresh, applies `change` to it (and to this object's state), writes the manifests
   * of the result and saves it.
   */
  private async updateState(change: (state: ClusterState) => void): Promise<void> {
    const runDir = this.state.runDir;
    await withClusterStateLock(runDir, async () => {
      const fresh = await readState(join(runDir, 'state.json'), this.plan.name);
      change(fresh);
      change(this.state);
      await this.writeManifests(fresh);
      await this.save(fresh);
    });
  }

  private host(netns: string): Host {
    return new Host({ runner: this.runner, netns: { name: netns } });
  }

  private nodeDir(node: string): string {
    return join(this.state.runDir, 'nodes', node);
  }

  private async addNetns(name: string): Promise<void> {
    const r = await this.runner.run({ argv: ['ip', 'netns', 'add', name] });
    if (r.code !== 0)
      throw new ClusterError('COMMAND_FAILED', `ip netns add ${name}: ${r.stderr.trim()}`);
  }

  private async buildUnderlay(): Promise<void> {
    const plan = this.plan;
    for (const ns of [plan.switchNetns, plan.externalNetns, ...plan.nodes.map((n) => n.netns)])
      await this.addNetns(ns);
    const sw = this.host(plan.switchNetns);
    const links = [
      ...plan.nodes.map((n) => ({ port: n.switchPort, ns: n.netns })),
      { port: 'sw-ext', ns: plan.externalNetns },
    ];
    await sw.ipBatch(
      links.map((l) => [
        'link',
        'add',
        l.port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        l.ns,
      ]),
    );
    const b = planUnderlayBatches(plan);
    await sw.ipBatch(b.switchLines);
    const v6 = planFamilies(plan).includes('IPv6');
    await this.sysctl(plan.switchNetns, 'net.ipv4.ip_forward=1');
    if (v6) await this.sysctl(plan.switchNetns, 'net.ipv6.conf.all.forwarding=1');
    for (const n of plan.nodes) {
      await this.host(n.netns).ipBatch(b.nodeLines[n.name]!);
      await this.sysctl(n.netns, 'net.ipv4.ip_forward=1');
      if (v6) await this.sysctl(n.netns, 'net.ipv6.conf.all.forwarding=1');
      await mkdir(join(this.nodeDir(n.name), 'cni', 'net.d'), { recursive: true });
    }
    await this.host(plan.externalNetns).ipBatch(b.externalLines);
  }

  private async sysctl(netns: string, kv: string): Promise<void> {
    const r = await this.runner.run({ argv: ['ip', 'netns', 'exec', netns, 'sysctl', '-qw', kv] });
    if (r.code !== 0)
      throw new ClusterError('COMMAND_FAILED', `sysctl ${kv} in ${netns}: ${r.stderr.trim()}`);
  }

  private async setupReference(progress: ProgressFn): Promise<void> {
    const plan = this.plan;
    progress('network: reference (Debian bridge + host-local + portmap, routed underlay)');
    const routes = planReferenceRoutes(plan);
    await this.host(plan.switchNetns).ipBatch(routes.switchLines);
    for (const n of plan.nodes) {
      await this.host(n.netns).ipBatch(routes.nodeLines[n.name]!);
      await this.host(n.netns).nftApply(planReferenceMasquerade(plan, n));
      await writeAtomic(
        join(this.nodeDir(n.name), 'cni', 'net.d', '10-reference.conflist'),
        JSON.stringify(referenceConflist(plan, n, join(this.nodeDir(n.name), 'ipam')), null, 2),
      );
    }
  }

  /** The CNI plugin directory of this cluster (podnet's shim first, then Debian's plugins). */
  cniBinDirs(): string[] {
    return this.plan.network === 'podnet'
      ? [join(this.state.runDir, 'cni-bin'), '/usr/lib/cni']
      : ['/usr/lib/cni'];
  }

  /** The CNI configuration directory of a node. */
  cniConfDir(node: string): string {
    return join(this.nodeDir(node), 'cni', 'net.d');
  }

  /** The network namespace path of a node. */
  nodeNetnsPath(node: string): string {
    return `/run/netns/${this.node(node).netns}`;
  }

  private async startAgents(
    agentJs: string,
    pluginJs: string,
    progress: ProgressFn,
  ): Promise<void> {
    const plan = this.plan;
    const binDir = join(this.state.runDir, 'cni-bin');
    await mkdir(binDir, { recursive: true });
    await writeFile(
      join(binDir, 'podnet'),
      `#!/bin/sh\nunset NODE_EXTRA_CA_CERTS NODE_OPTIONS\nexec ${nodeEntryArgv(pluginJs).join(' ')} "$@"\n`,
      { mode: 0o755 },
    );
    for (const n of plan.nodes) {
      const dir = this.nodeDir(n.name);
      const config = {
        nodeName: n.name,
        stateDir: join(dir, 'agent-state'),
        socketPath: join(dir, 'agent.sock'),
        cniConfDir: this.cniConfDir(n.name),
        source: { kind: 'manifests', dir: join(this.state.runDir, 'manifests') },
        clusterCidrs: clusterCidrsOf(plan),
        serviceCidrs: serviceCidrsOf(plan),
        uplink: 'eth0',
        nodeIps: nodeIpsOf(n),
        podCidrs: podCidrsOf(n),
        // one UDP thread per node's DNS: every node of this cluster shares the host's CPUs (the
        // default, one worker per CPU, would start a V8 isolate per CPU in every node)
        dns: { ip: plan.dnsIp, clusterDomain: plan.clusterDomain, workers: 1 },
        // the agent's own /healthz, /readyz, /metrics (as in the kind manifests), and kube-proxy's
        // health server on its conventional port
        http: { address: n.ip, port: AGENT_HTTP_PORT },
        healthz: { address: '0.0.0.0', port: PROXY_HEALTHZ_PORT },
      };
      await mkdir(config.stateDir, { recursive: true });
      await writeAtomic(join(dir, 'agent.json'), JSON.stringify(config, null, 2));
      await this.spawnAgent(n, agentJs);
    }
    await this.save();
    for (const n of plan.nodes) {
      progress(`agent on ${n.name}: waiting for its CNI conflist`);
      await waitUntil(
        async () => {
          if (!pidAlive(this.state.agents[n.name])) {
            const log = readFileSync(join(this.nodeDir(n.name), 'agent.log'), 'utf8').slice(-2000);
            throw new ClusterError('COMMAND_FAILED', `agent on ${n.name} exited:\n${log}`);
          }
          return firstConfList(this.cniConfDir(n.name)) !== undefined;
        },
        60_000,
        `the agent on ${n.name} to write its conflist`,
      );
    }
  }

  private async spawnAgent(n: NodePlan, agentJs: string): Promise<void> {
    const dir = this.nodeDir(n.name);
    const pid = spawnDetached(
      [
        'nsenter',
        `--net=/run/netns/${n.netns}`,
        '--',
        ...nodeEntryArgv(agentJs),
        '--config',
        join(dir, 'agent.json'),
      ],
      join(dir, 'agent.log'),
    );
    this.state.agents[n.name] = pid;
    await writeFile(join(dir, 'agent.pid'), String(pid));
  }

  /**
   * Stops a node's agent with `signal` (SIGTERM: graceful; SIGKILL: a crash) and starts it again
   * with the same configuration; resolves once the new agent logs that it started.
   */
  async restartAgent(node: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number> {
    const n = this.node(node);
    if (this.plan.network !== 'podnet')
      throw new ClusterError('INVALID_ARGUMENT', 'network reference has no agents');
    const agentJs = podnetBinaries().agent;
    if (!agentJs) throw new ClusterError('NOT_FOUND', 'the node agent is not built');
    const old = this.state.agents[n.name];
    if (pidAlive(old)) {
      process.kill(old!, signal);
      await waitUntil(() => !pidAlive(old), 15_000, `the agent on ${node} to stop`);
    }
    const log = join(this.nodeDir(n.name), 'agent.log');
    const started = () => (readFileSync(log, 'utf8').match(/"msg":"agent started"/g) ?? []).length;
    const before = started();
    await this.spawnAgent(n, agentJs);
    await this.save();
    const pid = this.state.agents[n.name]!;
    await waitUntil(
      () => {
        if (!pidAlive(pid))
          throw new ClusterError(
            'COMMAND_FAILED',
            `agent on ${node} exited:\n${readFileSync(log, 'utf8').slice(-2000)}`,
          );
        return started() > before;
      },
      60_000,
      `the agent on ${node} to start again`,
    );
    return pid;
  }

  /** A node of the plan by name. */
  node(name: string): NodePlan {
    const n = this.plan.nodes.find((x) => x.name === name);
    if (!n)
      throw new ClusterError(
        'NOT_FOUND',
        `no node ${name} (nodes: ${this.plan.nodes.map((x) => x.name).join(', ')})`,
      );
    return n;
  }

  /**
   * Writes the manifests directory the agents read: {@link renderManifests} through
   * {@link writeManifestDir} (one YAML file per object, each atomically; files of objects that
   * are gone removed).
   */
  async writeManifests(state: ClusterState = this.state): Promise<void> {
    await writeManifestDir(
      join(state.runDir, 'manifests'),
      renderManifests(state.plan, state.objects),
    );
  }

  private podNetnsName(namespace: string, name: string): string {
    const plain = `${this.plan.prefix}${namespace}.${name}`;
    if (plain.length <= 64) return plain;
    return `${this.plan.prefix}pod-${createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 16)}`;
  }

  /** Finds a pod's sandbox by `name` (unique across namespaces) or `namespace/name`. */
  sandbox(ref: string): PodSandbox | undefined {
    const [a, b] = ref.split('/');
    const all = this.state.sandboxes;
    if (b !== undefined) return all.find((p) => p.namespace === a && p.name === b);
    const m = all.filter((p) => p.name === a);
    if (m.length > 1)
      throw new ClusterError('INVALID_ARGUMENT', `pod ${ref} is ambiguous: write namespace/name`);
    return m[0];
  }

  /** The IPv4 address of a pod (`namespace/name` or a unique `name`), once it has one. */
  podIp(ref: string): string | undefined {
    return this.sandbox(ref)?.ip;
  }

  /** The Pod object of a sandbox. */
  private podOf(sb: PodSandbox): Pod | undefined {
    return this.state.objects.pods.find(
      (p) => namespaceOf(p) === sb.namespace && nameOf(p) === sb.name,
    );
  }

  /**
   * Applies objects (read and accepted as `podnet apply` does: `readManifestPath`,
   * `manifestObjects`): {@link planApply} stores them, gives Services their ClusterIPs and
   * NodePorts and schedules new pods, or throws `INVALID_MANIFEST` before anything changes; then
   * the mini runtime starts each new pod (CNI ADD, resolv.conf, built-in server). The manifests
   * are rewritten after each step, so endpoint slices follow. A pod that exists is left as it is.
   */
  async apply(objects: readonly AcceptedObject[], progress: ProgressFn = () => {}): Promise<void> {
    const s = this.state;
    const next = planApply(this.plan, s.objects, objects);
    s.objects = next.objects;
    for (const key of next.unchangedPods) progress(`pod ${key} exists: left as it is`);
    await this.writeManifests();
    await this.save();
    let done = 0;
    await Promise.all(
      next.newPods.map(async (p) => {
        const sb = await this.runPod(p);
        done++;
        progress(
          `pod ${sb.namespace}/${sb.name} on ${sb.node}: ${sb.ip} (${done}/${next.newPods.length})`,
        );
      }),
    );
    await this.writeManifests();
    await this.save();
    await this.routeExternalAddresses();
  }

  /**
   * Routes load-balancer addresses and externalIPs from the router to the nodes that take them
   * ({@link reconcileExternalRoutes}) for `objects` (default: this cluster's); a node is ready
   * when its agent runs (network reference: always). Runs after every change of Services or pods.
   */
  async routeExternalAddresses(objects = this.state.objects): Promise<ExternalRoute[]> {
    const ready = this.plan.nodes
      .map((n) => n.name)
      .filter((n) => this.plan.network !== 'podnet' || pidAlive(this.state.agents[n]));
    const r = await reconcileExternalRoutes(
      this.host(this.plan.switchNetns),
      this.plan,
      objects,
      ready,
    );
    return r.routes;
  }

  /** Replaces the Pod object of the same key in this state (the object is immutable). */
  private setPod(pod: Pod): void {
    const key = keyOf(pod);
    this.state.objects.pods = [...this.state.objects.pods.filter((p) => keyOf(p) !== key), pod];
  }

  /**
   * Starts a scheduled pod as kubelet and a runtime would: its sandbox (namespace, CNI ADD), then
   * its Pod object's `status` from the sandbox's address, then its server.
   */
  private async runPod(pod: Pod): Promise<PodSandbox> {
    const s = this.state;
    const namespace = namespaceOf(pod);
    const name = nameOf(pod);
    const sb: PodSandbox = {
      namespace,
      name,
      node: pod.spec!.nodeName!,
      netns: this.podNetnsName(namespace, name),
      containerId: randomBytes(32).toString('hex'),
    };
    this.setPod(pod);
    s.sandboxes.push(sb);
    await this.save();
    await this.addNetns(sb.netns);
    await this.host(sb.netns).ip(['link', 'set', 'lo', 'up']);
    const result = await this.cniAddWithRetry(sb, podPorts(pod));
    // as kubelet: one address per cluster family, the primary family's first
    const families = planFamilies(this.plan);
    const ips = ipsByFamily(resultIps(result), families);
    const ip = ofFamily(ips, families[0]!);
    if (!ip)
      throw new ClusterError(
        'CNI_FAILED',
        `pod ${name}: the CNI result has no ${families[0]} address`,
      );
    sb.ip = ip;
    if (ips.length > 1) sb.ips = ips;
    const hostIPs = nodeIpsOf(this.node(sb.node));
    this.setPod({
      ...pod,
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: ips.map((a) => ({ ip: a })),
        hostIP: hostIPs[0]!,
        hostIPs: hostIPs.map((a) => ({ ip: a })),
      },
    });
    await this.writeResolvConf(sb.netns, result);
    const dir = join(s.runDir, 'pods', `${namespace}.${name}`);
    await mkdir(dir, { recursive: true });
    sb.processes = containerProcesses(pod).map((p) => ({
      container: p.container,
      pid: spawnDetached(
        ['ip', 'netns', 'exec', sb.netns, ...p.argv],
        join(dir, `${p.container}.log`),
      ),
    }));
    sb.serverPid = await this.startServer(sb.netns, name, serverPorts(pod), dir);
    for (const p of sb.processes) {
      if (!pidAlive(p.pid)) {
        const log = readFileSync(join(dir, `${p.container}.log`), 'utf8').slice(-2000);
        throw new ClusterError(
          'COMMAND_FAILED',
          `pod ${namespace}/${name}: container ${p.container} exited:\n${log}`,
        );
      }
    }
    return sb;
  }

  private cniRuntime(node: string) {
    return nodeCniRuntime({
      binDirs: this.cniBinDirs(),
      cacheDir: join(this.nodeDir(node), 'cni', 'cache'),
      netnsPath: this.nodeNetnsPath(node),
    });
  }

  private conflist(node: string) {
    const conf = firstConfList(this.cniConfDir(node));
    if (!conf)
      throw new ClusterError(
        'CNI_FAILED',
        `node ${node} has no CNI conflist in ${this.cniConfDir(node)}`,
      );
    return conf;
  }

  private cniAttachment(pod: PodSandbox, ports: readonly PodPort[]) {
    const portMappings = ports
      .filter((p) => p.hostPort)
      .map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: p.protocol.toLowerCase(),
      }));
    return {
      containerId: pod.containerId!,
      netns: `/run/netns/${pod.netns}`,
      ifName: 'eth0',
      // As containerd sends them: IgnoreUnknown first, then the pod identity.
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', pod.namespace],
        ['K8S_POD_NAME', pod.name],
        ['K8S_POD_INFRA_CONTAINER_ID', pod.containerId!],
      ] as [string, string][],
      capabilityArgs: portMappings.length > 0 ? { portMappings } : {},
    };
  }

  private async cniAdd(pod: PodSandbox, ports: readonly PodPort[]): Promise<AnyCniResult> {
    return this.cniRuntime(pod.node).addNetworkList(
      this.conflist(pod.node),
      this.cniAttachment(pod, ports),
    );
  }

  /**
   * ADD as kubelet drives a sandbox: when it fails (e.g. the agent is restarting), tear the
   * attachment down with DEL and try again with backoff, for up to a minute.
   */
  private async cniAddWithRetry(pod: PodSandbox, ports: readonly PodPort[]): Promise<AnyCniResult> {
    const deadline = Date.now() + 60_000;
    for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
      try {
        return await this.cniAdd(pod, ports);
      } catch (e) {
        if (Date.now() + delay > deadline) throw e;
        try {
          await this.cniRuntime(pod.node).delNetworkList(
            this.conflist(pod.node),
            this.cniAttachment(pod, ports),
          );
        } catch {}
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * CNI GC on a node (spec 1.1.0): every attachment this runtime did not create for a current pod
   * is released (cached ones get a DEL first, then each plugin gets the valid list).
   */
  async gc(node: string): Promise<void> {
    this.node(node);
    const valid = this.state.sandboxes
      .filter((p) => p.node === node)
      .map((p) => ({ containerId: p.containerId, ifName: 'eth0' }));
    await this.cniRuntime(node).gcNetworkList(this.conflist(node), valid);
  }

  private async writeResolvConf(netns: string, result: AnyCniResult): Promise<void> {
    const d = result.dns ?? {};
    const lines = [
      ...(d.search?.length
        ? [`search ${d.search.join(' ')}`]
        : d.domain
          ? [`search ${d.domain}`]
          : []),
      ...(d.nameservers ?? []).map((n) => `nameserver ${n}`),
      ...(d.options?.length ? [`options ${d.options.join(' ')}`] : []),
    ];
    await writeAtomic(`/etc/netns/${netns}/resolv.conf`, `${lines.join('\n')}\n`);
  }

  private async startServer(
    netns: string,
    name: string,
    ports: { containerPort: number; protocol: 'TCP' | 'UDP' }[],
    dir: string,
  ): Promise<number> {
    await mkdir(dir, { recursive: true });
    const ready = join(dir, 'ready');
    await rm(ready, { force: true });
    const list = ports.map((p) => ({ port: p.containerPort, protocol: p.protocol }));
    const pid = spawnDetached(
      [
        'ip',
        'netns',
        'exec',
        netns,
        process.execPath,
        join(this.state.runDir, 'pod-server.js'),
        name,
        JSON.stringify(list),
        ready,
        // a cluster with IPv6 serves on :: (IPv4 too, as mapped addresses)
        ...(planFamilies(this.plan).includes('IPv6') ? ['::'] : []),
      ],
      join(dir, 'server.log'),
    );
    await waitUntil(() => existsSync(ready) || !pidAlive(pid), 30_000, `the server of ${name}`);
    if (!existsSync(ready)) {
      throw new ClusterError(
        'COMMAND_FAILED',
        `server of ${name} exited: ${readFileSync(join(dir, 'server.log'), 'utf8')}`,
      );
    }
    return pid;
  }

  /**
   * Stops a pod: server, CNI DEL through the chain with the cached result, namespace; then removes
   * its sandbox and its Pod object from the state (under the state lock, re-read, so concurrent
   * deletes all count). A failing DEL is retried with backoff for `timeoutMs`; if it never
   * succeeds the pod stays and `CNI_FAILED` is thrown (see {@link deletePodThrough}).
   */
  async deletePod(ref: string, options: DeletePodOptions = {}): Promise<void> {
    const sb = this.sandbox(ref);
    if (!sb) throw new ClusterError('NOT_FOUND', `no pod ${ref}`);
    const ports = podPorts(this.podOf(sb) ?? {});
    const same = (p: PodSandbox) =>
      p.namespace === sb.namespace && p.name === sb.name && p.containerId === sb.containerId;
    await deletePodThrough(
      { id: `${sb.namespace}/${sb.name}`, node: sb.node },
      {
        stopServer: () => stopPodServer(sb),
        del: () => this.cniDel(sb, ports),
        removeNetns: () => this.removePodNetns(sb),
        forget: () =>
          this.updateState((s) => {
            if (!s.sandboxes.some(same)) return; // deleted (and maybe made again) meanwhile
            s.sandboxes = s.sandboxes.filter((p) => !same(p));
            s.objects.pods = s.objects.pods.filter(
              (p) => !(namespaceOf(p) === sb.namespace && nameOf(p) === sb.name),
            );
          }),
      },
      options,
    );
    // from the state as it is now: other commands may have changed it while DEL ran unlocked
    const now = await readState(join(this.state.runDir, 'state.json'), this.plan.name);
    await this.routeExternalAddresses(now.objects);
  }

  /** Removes a NetworkPolicy from the cluster (the agents drop its rules). */
  async deleteNetworkPolicy(namespace: string, name: string): Promise<void> {
    await this.deleteObject('NetworkPolicy', namespace, name);
  }

  /** Removes a ClusterNetworkPolicy from the cluster (the agents drop its rules). */
  async deleteClusterNetworkPolicy(name: string): Promise<void> {
    await this.deleteObject('ClusterNetworkPolicy', '', name);
  }

  /**
   * Removes a Namespace (with its Services and NetworkPolicies; delete its pods first), a Service
   * (its ClusterIP and NodePorts are free again), a NetworkPolicy or a ClusterNetworkPolicy
   * ({@link removeObject}), rewrites the manifests and saves. Run it under the state lock
   * ({@link Cluster.edit}). `NOT_FOUND` when there is no such object.
   */
  async deleteObject(kind: RemovableKind, namespace: string, name: string): Promise<void> {
    const next = removeObject(this.state.objects, kind, namespace, name);
    if (!next) throw notFound(kind, namespace, name);
    this.state.objects = next;
    await this.writeManifests();
    await this.save();
    await this.routeExternalAddresses();
  }

  /** The objects as the agents read them ({@link renderCluster}). */
  snapshot(): ClusterSnapshot {
    return renderCluster(this.plan, this.state.objects);
  }

  /** Each node's agent: `running (pid N)`, `not running`, or `-` (network reference). */
  agentStatus(): Record<string, string> {
    const s = this.state;
    return Object.fromEntries(
      s.plan.nodes.map((n) => [
        n.name,
        s.plan.network === 'podnet'
          ? pidAlive(s.agents[n.name])
            ? `running (pid ${s.agents[n.name]})`
            : 'not running'
          : '-',
      ]),
    );
  }

  /** One CNI DEL of a pod through its node's conflist (no conflist: an error, as containerd's). */
  private async cniDel(pod: PodSandbox, ports: readonly PodPort[]): Promise<void> {
    await this.cniRuntime(pod.node).delNetworkList(
      this.conflist(pod.node),
      this.cniAttachment(pod, ports),
    );
  }

  private async removePodNetns(pod: PodSandbox): Promise<void> {
    await deleteNetns(this.runner, pod.netns);
    await rm(`/etc/netns/${pod.netns}`, { recursive: true, force: true });
  }

  /** Best-effort teardown for `down`: one DEL, errors collected, the namespace removed anyway. */
  private async teardownPod(pod: PodSandbox): Promise<string[]> {
    const errors: string[] = [];
    stopPodServer(pod);
    try {
      const conf = firstConfList(this.cniConfDir(pod.node));
      const ports = podPorts(this.podOf(pod) ?? {});
      if (conf)
        await this.cniRuntime(pod.node).delNetworkList(conf, this.cniAttachment(pod, ports));
    } catch (e) {
      errors.push(`${pod.name}: ${(e as Error).message}`);
    }
    await this.removePodNetns(pod);
    return errors;
  }

  /** podman pointed at a node (storage under the run dir), as a real runtime client of the node's CNI. */
  podman(node: string): NodePodman {
    this.node(node);
    const dir = join(this.state.runDir, 'podman', node);
    // Debian's podman 4.3 vendors libcni 1.1.2, which knows spec versions up to 1.0.0 and ignores
    // `cniVersions`: it gets the node's lists pinned to 1.0.0 (the plugins answer in that version).
    const confDir = join(dir, 'net.d');
    mkdirSync(confDir, { recursive: true });
    for (const f of readdirSync(confDir)) rmSync(join(confDir, f), { force: true });
    for (const list of loadConfLists(this.cniConfDir(node))) {
      const pinned = {
        ...list,
        cniVersion: compareVersions(list.cniVersion, '1.0.0') > 0 ? '1.0.0' : list.cniVersion,
      };
      delete pinned.cniVersions;
      writeFileSync(join(confDir, `${list.name}.conflist`), JSON.stringify(pinned, null, 2));
    }
    return new NodePodman({
      dir,
      netnsPath: this.nodeNetnsPath(node),
      confDir,
      pluginDirs: this.cniBinDirs(),
    });
  }

  /** The namespace of a probe/exec endpoint: a pod, a node name, or `external`. */
  endpointNetns(ref: string): string {
    if (ref === 'external') return this.plan.externalNetns;
    const node = this.plan.nodes.find((n) => n.name === ref);
    if (node) return node.netns;
    const pod = this.sandbox(ref);
    if (!pod) throw new ClusterError('NOT_FOUND', `no pod, node or "external" named ${ref}`);
    return pod.netns;
  }

  /**
   * The address of a target: a pod's IP, a node's IP, `external` (of `family`, default the
   * primary one), an IP address (IPv6 with or without brackets) or the string as given.
   */
  targetHost(ref: string, family?: 4 | 6): string {
    const want: IpFamily | undefined = family === 6 ? 'IPv6' : family === 4 ? 'IPv4' : undefined;
    const pick = (list: readonly string[]) => {
      if (!want) return list[0]!;
      const ip = ofFamily(list, want);
      if (!ip) throw new ClusterError('NOT_FOUND', `${ref} has no ${want} address`);
      return ip;
    };
    if (ref === 'external') return pick(externalIpsOf(this.plan));
    const node = this.plan.nodes.find((n) => n.name === ref);
    if (node) return pick(nodeIpsOf(node));
    const bare = unbracket(ref);
    if (/^[0-9.]+$/.test(bare) || bare.includes(':')) return bare;
    const pod = ref.includes('.') && !ref.includes('/') ? undefined : this.sandbox(ref);
    return pod?.ip ? pick(pod.ips ?? [pod.ip]) : ref;
  }

  /**
   * Sends one request from FROM (pod, node or `external`) to TO:PORT over tcp, udp or http; a
   * DNS name is resolved with the pod's own resolv.conf.
   */
  async probe(
    from: string,
    to: string,
    port: number,
    proto: ProbeProtocol = 'tcp',
    timeoutMs = 3000,
    family?: 4 | 6,
  ): Promise<ProbeResult> {
    const [r] = await this.probeMany(
      from,
      [{ to, port, proto, ...(family ? { family } : {}) }],
      timeoutMs,
    );
    return r!;
  }

  /** Probes several targets from one endpoint at once (one process in FROM's namespace). */
  async probeMany(
    from: string,
    targets: readonly ProbeTarget[],
    timeoutMs = 3000,
  ): Promise<ProbeResult[]> {
    const list = targets.map((t) => {
      const proto = t.proto ?? 'tcp';
      if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) {
        throw new ClusterError('INVALID_ARGUMENT', `port: want 1-65535, got ${t.port}`);
      }
      if (!['tcp', 'udp', 'http'].includes(proto)) {
        throw new ClusterError('INVALID_ARGUMENT', `protocol: want tcp, udp or http, got ${proto}`);
      }
      const family = t.family ?? (planFamilies(this.plan)[0] === 'IPv6' ? 6 : undefined);
      return {
        host: this.targetHost(t.to, family),
        port: t.port,
        proto,
        ...(family ? { family } : {}),
        ...(t.sport ? { sport: t.sport } : {}),
      };
    });
    const netns = this.endpointNetns(from);
    const r = await this.runner.run({
      argv: [
        'ip',
        'netns',
        'exec',
        netns,
        process.execPath,
        '-e',
        PROBE_JS,
        JSON.stringify(list),
        String(timeoutMs),
      ],
      timeoutMs: timeoutMs + 20_000,
    });
    try {
      const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeResult[];
      if (Array.isArray(out) && out.length === list.length) return out;
    } catch {}
    const error = r.stderr.trim() || `probe exited ${r.code}`;
    return list.map(() => ({ ok: false, error }));
  }

  /**
   * Explains a flow: DNS answer, Service DNAT (@podnet/service-lb's compiled rules), route or
   * tunnel (@podnet/overlay-vxlan's plan) and the NetworkPolicy verdict, computed by
   * {@link explainFlow}; the source node kernel's `ip route get` is added as a cross-check.
   */
  async explain(
    from: string,
    to: string,
    port: number,
    protocol: 'TCP' | 'UDP' = 'TCP',
    family?: 4 | 6,
  ): Promise<Explanation> {
    const src = this.sandbox(from);
    let search: string[] = [];
    let ndots = 1;
    if (src?.netns && existsSync(`/etc/netns/${src.netns}/resolv.conf`)) {
      const text = readFileSync(`/etc/netns/${src.netns}/resolv.conf`, 'utf8');
      search = /^search\s+(.+)$/m.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
      ndots = Number(/ndots:(\d+)/.exec(text)?.[1] ?? 1);
    }
    const ctx = { plan: this.plan, objects: this.state.objects, search, ndots };
    const special = to === 'external' || this.plan.nodes.some((n) => n.name === to);
    const flow = {
      from,
      to: special ? this.targetHost(to, family) : to,
      port,
      protocol,
      ...(family ? { family } : {}),
    };
    const first = explainFlow(ctx, flow);
    if (!src) return first;
    const routes = new Map<string, string>();
    for (const step of first.steps.filter((s) => s.kind === 'route')) {
      const ip = step.detail.split(': ')[0]!; // an IPv6 address has colons, not ': '
      const r = await this.runner.run({
        argv: ['ip', '-n', this.node(src.node).netns, 'route', 'get', ip],
      });
      if (r.code === 0) routes.set(ip, r.stdout.split('\n')[0]!.replace(/\s+/g, ' ').trim());
    }
    return explainFlow({ ...ctx, routeOf: (ip) => routes.get(ip) }, flow);
  }

  /** argv that runs CMD inside a pod/node/external namespace with its resolv.conf. */
  execArgv(ref: string, cmd: string[]): string[] {
    return ['ip', 'netns', 'exec', this.endpointNetns(ref), ...cmd];
  }

  /** Runs CMD inside an endpoint's namespace and returns its output. */
  async exec(
    ref: string,
    cmd: string[],
    timeoutMs = 30_000,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.runner.run({ argv: this.execArgv(ref, cmd), timeoutMs });
  }

  /** A readable status: nodes, agents, pods, services. */
  status(): string {
    const s = this.state;
    const lines = [
      `cluster ${s.plan.name} (network ${s.plan.network}, run dir ${s.runDir})`,
      '',
      'NODE     IP            POD CIDR        AGENT',
    ];
    const agents = this.agentStatus();
    for (const n of s.plan.nodes) {
      const agent = agents[n.name]!;
      lines.push(`${n.name.padEnd(8)} ${n.ip.padEnd(13)} ${n.podCidr.padEnd(15)} ${agent}`);
    }
    lines.push('', 'POD                      NODE     IP            PORTS');
    for (const p of s.sandboxes) {
      const ports = podPorts(this.podOf(p) ?? {})
        .map((x) => `${x.containerPort}/${x.protocol}`)
        .join(',');
      lines.push(
        `${`${p.namespace}/${p.name}`.padEnd(24)} ${p.node.padEnd(8)} ${(p.ip ?? '-').padEnd(13)} ${ports}`,
      );
    }
    const { services, pods } = s.objects;
    if (services.length > 0) {
      lines.push('', 'SERVICE                  CLUSTER-IP    PORTS                ENDPOINTS');
      for (const svc of services) {
        const slice = planEndpointSlice(svc, pods);
        const ports = (svc.spec?.ports ?? [])
          .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
          .join(',');
        lines.push(
          `${keyOf(svc).padEnd(24)} ${(svc.spec?.clusterIP ?? '-').padEnd(13)} ${ports.padEnd(20)} ${slice.endpoints.map((e) => e.addresses[0]).join(',')}`,
        );
      }
    }
    const policies = [
      ...s.objects.networkPolicies.map((np) => `NetworkPolicy ${keyOf(np)}`),
      ...s.objects.clusterNetworkPolicies.map(
        (c) => `ClusterNetworkPolicy ${nameOf(c)} (${c.spec.tier}, priority ${c.spec.priority})`,
      ),
    ];
    if (policies.length > 0) lines.push('', 'POLICIES', ...policies);
    lines.push('', `external host ${s.plan.externalIp} (server on 8080/TCP+UDP)`);
    return lines.join('\n');
  }

  /** Removes everything the cluster made: pods (CNI DEL), agents, namespaces, files. */
  async down(progress: ProgressFn = () => {}): Promise<string[]> {
    const s = this.state;
    const errors: string[] = [];
    progress(`removing ${s.sandboxes.length} pod(s)`);
    const results = await Promise.all(s.sandboxes.map((p) => this.teardownPod(p)));
    errors.push(...results.flat());
    s.sandboxes = [];
    s.objects.pods = [];
    const podmanDir = join(s.runDir, 'podman');
    if (existsSync(podmanDir)) {
      progress('removing podman containers');
      for (const node of readdirSync(podmanDir)) {
        if (!s.plan.nodes.some((n) => n.name === node)) continue;
        const r = await this.podman(node).destroy();
        if (r.code !== 0) errors.push(`podman rm on ${node}: ${r.stderr.trim()}`);
      }
    }
    for (const [node, pid] of Object.entries(s.agents)) {
      if (pidAlive(pid)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
        await waitUntil(() => !pidAlive(pid), 5000, `agent on ${node} to stop`).catch(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        });
      }
    }
    if (pidAlive(s.externalServerPid)) process.kill(s.externalServerPid!, 'SIGKILL');
    progress('removing namespaces');
    const prefix = s.plan.prefix;
    const all = existsSync('/run/netns')
      ? readdirSync('/run/netns').filter((n) => n.startsWith(prefix))
      : [];
    await Promise.all(all.map((n) => deleteNetns(this.runner, n)));
    if (existsSync('/etc/netns')) {
      for (const d of readdirSync('/etc/netns'))
        if (d.startsWith(prefix)) await rm(`/etc/netns/${d}`, { recursive: true, force: true });
    }
    await rm(s.runDir, { recursive: true, force: true });
    return errors;
  }
}

/** Reads `state.json` of the cluster `name` ({@link parseState}). */
async function readState(file: string, name: string): Promise<ClusterState> {
  if (!existsSync(file))
    throw new ClusterError(
      'NOT_FOUND',
      `no cluster ${name} (${file} is missing): run npx podnet up${name === 'default' ? '' : ` --name ${name}`}`,
    );
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ClusterError('STATE_CORRUPT', `${file}: cannot read`, { cause });
  }
  return parseState(text, file, name);
}

/** True when process `pid` runs in network namespace `netns` (so a reused pid is left alone). */
function runsIn(pid: number, netns: string): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${netns}`).ino;
  } catch {
    return false;
  }
}

/**
 * Kills a pod's built-in server and its containers' programs: those that still run in the pod's
 * namespace (a pid recorded by an earlier podnet process and since reused is not touched).
 */
function stopPodServer(pod: PodSandbox): void {
  for (const pid of [pod.serverPid, ...(pod.processes ?? []).map((p) => p.pid)]) {
    if (!pidAlive(pid) || !runsIn(pid!, pod.netns)) continue;
    try {
      process.kill(pid!, 'SIGKILL');
    } catch {}
  }
}
