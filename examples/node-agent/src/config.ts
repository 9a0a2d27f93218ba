import { isCidr, isIfName, isIp } from '@podnet/host/validate';
import { AgentError } from './errors.js';
import { type FlowConfig, parseFlowConfig } from './flow-config.js';

/** Where the agent takes cluster state from. */
export type AgentSourceConfig =
  | { readonly kind: 'manifests'; readonly dir: string }
  | {
      readonly kind: 'kubernetes';
      readonly kubeconfig?: string;
      /** Restart a watch that delivered nothing, not even a bookmark, for this long (default 300 000). */
      readonly watchIdleMs?: number;
    };

/** The node agent's configuration file (`podnet-agent --config FILE`). */
export interface AgentConfig {
  /** This node's name (matches a Node object's `metadata.name`). */
  readonly nodeName: string;
  /** Directory for everything the agent keeps on disk (IPAM, attachments, VTEP MAC). */
  readonly stateDir: string;
  /** The unix socket the CNI shim talks to (created with mode 0600). */
  readonly socketPath: string;
  /** Where `10-podnet.conflist` is written. */
  readonly cniConfDir: string;
  readonly source: AgentSourceConfig;
  /** The pod network(s) of the whole cluster; traffic to them is not masqueraded. */
  readonly clusterCidrs: readonly string[];
  /** Service ClusterIP ranges. */
  readonly serviceCidrs: readonly string[];
  /** The node's underlay interface (overlay tunnels and masquerade go out through it). */
  readonly uplink: string;
  /** This node's underlay addresses (the overlay's tunnel endpoint is the first per family). */
  readonly nodeIps: readonly string[];
  /** Pod interface MTU; default: derived from the uplink's MTU minus the overlay overhead. */
  readonly mtu?: number;
  /**
   * This node's pod CIDRs; default: the Node object's `spec.podCIDRs`. With neither the agent
   * stays up but not ready, saying so, until the Node has them (it never picks a subnet itself).
   */
  readonly podCidrs?: readonly string[];
  readonly dns: {
    /** Node-local address the embedded DNS serves on; pods get it as their nameserver. */
    readonly ip: string;
    /** The cluster zone, e.g. `cluster.local`. */
    readonly clusterDomain: string;
    /**
     * `process` (default): `podnet-dns` runs as a process of its own on the node, started (or
     * adopted after a restart) by the agent, so pods' DNS keeps answering while the agent
     * restarts or crashes. `embedded`: the agent serves DNS itself (a single binary, as in the
     * kind image; DNS then pauses while the agent restarts).
     */
    readonly mode?: 'process' | 'embedded';
    /**
     * Resolvers for names outside the cluster zone: `IP`, `IP:port` or `[IPv6]:port`. Default:
     * the `nameserver` lines of the node's `/etc/resolv.conf` (CoreDNS `forward . /etc/resolv.conf`).
     */
    readonly upstreams?: readonly string[];
    /**
     * Resolvers per domain outside the cluster zone (kube-dns `stubDomains`, CoreDNS
     * `forward ZONE ...`), e.g. `{ "corp.example": ["10.1.2.3"] }`; the longest match wins.
     */
    readonly stubDomains?: Readonly<Record<string, readonly string[]>>;
    /** TTL of cluster answers in seconds, 0 to 3600 (CoreDNS kubernetes `ttl`); default 5. */
    readonly ttl?: number;
    /**
     * Pod records `a-b-c-d.<ns>.pod.<zone>` (CoreDNS `pods`): `disabled` (none), `insecure`
     * (any address answers, default, as kubeadm configures) or `verified` (only a Pod's own
     * address in its namespace).
     */
    readonly pods?: 'disabled' | 'insecure' | 'verified';
    /** Most forwarded answers cached, 0 to 1 000 000; 0 turns the cache off. Default 10 000. */
    readonly cacheSize?: number;
    /**
     * Server-side search path (CoreDNS `autopath @kubernetes`): a pod's query for the first
     * expansion of its search list that does not exist is answered by walking the rest of the
     * list on the server, so an external name costs the pod one query. Default false.
     */
    readonly autopath?: boolean;
    /**
     * ClusterNetworkPolicy `domainNames`: the least seconds, 1 to 86 400, an address a pod
     * resolved stays allowed (answers with a shorter TTL get this). Default 30.
     */
    readonly fqdnFloorSeconds?: number;
    /**
     * UDP worker threads of the DNS server: `auto` (one per CPU, as knotd's `udp-workers` and
     * CoreDNS, which uses every CPU) or 1 to 64, each with its own SO_REUSEPORT socket on the
     * DNS address, sharing one copy of the prepared answers; 1 is a single thread (the least
     * memory). Default `auto` for the `podnet-dns` process, 1 in `embedded` mode.
     */
    readonly workers?: number | 'auto';
  };
  /** Health (`/healthz`), readiness (`/readyz`) and Prometheus metrics (`/metrics`). */
  readonly http: { readonly address: string; readonly port: number };
  /**
   * kube-proxy's health server (`/healthz`, `/livez`; kube-proxy's `--healthz-bind-address`,
   * conventionally port 10256). Absent: not served. `port` 0 takes any free port.
   * `timeoutMs`: how long a Service or EndpointSlice change may wait to be programmed before the
   * agent reports itself unhealthy (default twice `sync.maxFullSyncMs`, as kube-proxy's twice
   * its sync period).
   */
  readonly healthz?: {
    readonly address: string;
    readonly port: number;
    readonly timeoutMs?: number;
  };
  /**
   * Full resync timing (as kube-proxy's): at most every `minFullSyncMs` (default 1 000) and at
   * least every `maxFullSyncMs` (default 3 600 000, an hour, as kube-proxy's nftables mode);
   * changes in between are applied from deltas.
   */
  readonly sync?: { readonly minFullSyncMs?: number; readonly maxFullSyncMs?: number };
  /** Flow records from the policy verdict logs (`/flows`, counters on `/metrics`); see {@link FlowConfig}. */
  readonly flows?: FlowConfig;
}

const KEYS = new Set([
  'nodeName',
  'stateDir',
  'socketPath',
  'cniConfDir',
  'source',
  'clusterCidrs',
  'serviceCidrs',
  'uplink',
  'nodeIps',
  'mtu',
  'podCidrs',
  'dns',
  'http',
  'healthz',
  'sync',
  'flows',
]);
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function fail(path: string, why: string): never {
  throw new AgentError('INVALID_CONFIG', `config.${path}: ${why}`, { path: `config.${path}` });
}

function obj(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'want an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) fail(`${path}.${k}`, 'unknown field');
  }
  return o;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') fail(path, 'want a non-empty string');
  return v;
}

function absPath(v: unknown, path: string): string {
  const s = str(v, path);
  if (!s.startsWith('/')) fail(path, `want an absolute path, got ${JSON.stringify(s)}`);
  return s;
}

function list<T>(v: unknown, path: string, each: (x: unknown, p: string) => T, min = 0): T[] {
  if (!Array.isArray(v)) fail(path, 'want an array');
  if (v.length < min) fail(path, `want at least ${min} entr${min === 1 ? 'y' : 'ies'}`);
  return v.map((x, i) => each(x, `${path}[${i}]`));
}

function cidr(v: unknown, path: string): string {
  if (!isCidr(v)) fail(path, `want a CIDR like 10.244.0.0/16, got ${JSON.stringify(v)}`);
  return v;
}

function ip(v: unknown, path: string): string {
  if (!isIp(v)) fail(path, `want an IP address, got ${JSON.stringify(v)}`);
  return v;
}

/** `IP`, `IP:port` or `[IPv6]:port` (a resolver address). */
function resolver(v: unknown, path: string): string {
  const s = typeof v === 'string' ? v : '';
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const host = m ? m[1] : s;
  const port = m ? Number(m[2]) : 53;
  if (
    !isIp(host) ||
    (m !== null && host.includes(':') !== s.startsWith('[')) ||
    port < 1 ||
    port > 65535
  )
    fail(path, `want an IP address, IP:port or [IPv6]:port, got ${JSON.stringify(v)}`);
  return s;
}

function dnsSettings(d: Record<string, unknown>, clusterDomain: string) {
  let stubDomains: Record<string, string[]> | undefined;
  if (d.stubDomains !== undefined) {
    const so = d.stubDomains;
    if (typeof so !== 'object' || so === null || Array.isArray(so))
      fail('dns.stubDomains', 'want an object of domain: [resolver, ...]');
    stubDomains = {};
    for (const [raw, servers] of Object.entries(so)) {
      const path = `dns.stubDomains[${JSON.stringify(raw)}]`;
      const domain = raw.replace(/\.$/, '');
      if (!DNS_NAME.test(domain) || domain.length > 253)
        fail(path, `want a lower-case domain name, got ${JSON.stringify(raw)}`);
      if (domain === clusterDomain || domain.endsWith(`.${clusterDomain}`))
        fail(
          path,
          `${domain} is inside the cluster zone ${clusterDomain}, which the agent answers`,
        );
      if (stubDomains[domain]) fail(path, `${domain} is given twice`);
      stubDomains[domain] = list(servers, path, resolver, 1);
    }
  }
  let pods: 'disabled' | 'insecure' | 'verified' | undefined;
  if (d.pods !== undefined) {
    if (d.pods !== 'disabled' && d.pods !== 'insecure' && d.pods !== 'verified')
      fail('dns.pods', `want "disabled", "insecure" or "verified", got ${JSON.stringify(d.pods)}`);
    pods = d.pods;
  }
  return {
    ...(d.upstreams === undefined
      ? {}
      : { upstreams: list(d.upstreams, 'dns.upstreams', resolver, 1) }),
    ...(stubDomains === undefined ? {} : { stubDomains }),
    ...(d.ttl === undefined ? {} : { ttl: intIn(d.ttl, 'dns.ttl', 0, 3600) }),
    ...(pods === undefined ? {} : { pods }),
    ...(d.cacheSize === undefined
      ? {}
      : { cacheSize: intIn(d.cacheSize, 'dns.cacheSize', 0, 1_000_000) }),
    ...(d.autopath === undefined ? {} : { autopath: bool(d.autopath, 'dns.autopath') }),
    ...(d.fqdnFloorSeconds === undefined
      ? {}
      : { fqdnFloorSeconds: intIn(d.fqdnFloorSeconds, 'dns.fqdnFloorSeconds', 1, 86_400) }),
    ...(d.workers === undefined
      ? {}
      : {
          workers: dnsWorkers(d.workers),
        }),
  };
}

/** `dns.workers`: `auto` or 1-64 UDP worker threads. */
function dnsWorkers(v: unknown): number | 'auto' {
  if (v === 'auto') return v;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 64)
    fail('dns.workers', `want "auto" or an integer 1-64, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `want true or false, got ${JSON.stringify(v)}`);
  return v;
}

function intIn(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(path, `want an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function parseHealthz(v: unknown): NonNullable<AgentConfig['healthz']> {
  const h = obj(v, 'healthz', ['address', 'port', 'timeoutMs']);
  return {
    address: ip(h.address, 'healthz.address'),
    port: intIn(h.port, 'healthz.port', 0, 65535),
    ...(h.timeoutMs === undefined
      ? {}
      : { timeoutMs: intIn(h.timeoutMs, 'healthz.timeoutMs', 100, 86_400_000) }),
  };
}

/**
 * Validates a parsed configuration file and returns it typed. Throws `AgentError`
 * (`INVALID_CONFIG`) whose message and `path` name the offending field, e.g. `config.dns.ip`.
 */
export function parseAgentConfig(value: unknown): AgentConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('', 'want an object');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) fail(k, 'unknown field');
  const nodeName = str(o.nodeName, 'nodeName');
  if (!DNS_NAME.test(nodeName) || nodeName.length > 253) {
    fail('nodeName', `want a DNS subdomain name, got ${JSON.stringify(nodeName)}`);
  }
  const srcObj = obj(o.source, 'source', ['kind', 'dir', 'kubeconfig', 'watchIdleMs']);
  let source: AgentSourceConfig;
  if (srcObj.kind === 'manifests') {
    if (srcObj.kubeconfig !== undefined) fail('source.kubeconfig', 'only for kind "kubernetes"');
    if (srcObj.watchIdleMs !== undefined) fail('source.watchIdleMs', 'only for kind "kubernetes"');
    source = { kind: 'manifests', dir: absPath(srcObj.dir, 'source.dir') };
  } else if (srcObj.kind === 'kubernetes') {
    if (srcObj.dir !== undefined) fail('source.dir', 'only for kind "manifests"');
    source = {
      kind: 'kubernetes',
      ...(srcObj.kubeconfig === undefined
        ? {}
        : { kubeconfig: absPath(srcObj.kubeconfig, 'source.kubeconfig') }),
      ...(srcObj.watchIdleMs === undefined
        ? {}
        : { watchIdleMs: intIn(srcObj.watchIdleMs, 'source.watchIdleMs', 100, 86_400_000) }),
    };
  } else {
    fail('source.kind', `want "manifests" or "kubernetes", got ${JSON.stringify(srcObj.kind)}`);
  }
  const uplink = str(o.uplink, 'uplink');
  if (!isIfName(uplink)) fail('uplink', `want an interface name, got ${JSON.stringify(uplink)}`);
  let mtu: number | undefined;
  if (o.mtu !== undefined) {
    if (typeof o.mtu !== 'number' || !Number.isInteger(o.mtu) || o.mtu < 576 || o.mtu > 65535) {
      fail('mtu', `want an integer from 576 to 65535, got ${JSON.stringify(o.mtu)}`);
    }
    mtu = o.mtu;
  }
  const dnsObj = obj(o.dns, 'dns', [
    'ip',
    'clusterDomain',
    'mode',
    'upstreams',
    'stubDomains',
    'ttl',
    'pods',
    'cacheSize',
    'autopath',
    'fqdnFloorSeconds',
    'workers',
  ]);
  if (dnsObj.mode !== undefined && dnsObj.mode !== 'process' && dnsObj.mode !== 'embedded')
    fail('dns.mode', `want "process" or "embedded", got ${JSON.stringify(dnsObj.mode)}`);
  const clusterDomain = str(dnsObj.clusterDomain, 'dns.clusterDomain').replace(/\.$/, '');
  if (!DNS_NAME.test(clusterDomain)) {
    fail('dns.clusterDomain', `want a lower-case DNS name, got ${JSON.stringify(clusterDomain)}`);
  }
  const httpObj = obj(o.http, 'http', ['address', 'port']);
  const port = httpObj.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail('http.port', `want an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  let sync: AgentConfig['sync'];
  if (o.sync !== undefined) {
    const so = obj(o.sync, 'sync', ['minFullSyncMs', 'maxFullSyncMs']);
    sync = {
      ...(so.minFullSyncMs === undefined
        ? {}
        : { minFullSyncMs: intIn(so.minFullSyncMs, 'sync.minFullSyncMs', 0, 86_400_000) }),
      ...(so.maxFullSyncMs === undefined
        ? {}
        : { maxFullSyncMs: intIn(so.maxFullSyncMs, 'sync.maxFullSyncMs', 1000, 86_400_000) }),
    };
  }
  const config: AgentConfig = {
    nodeName,
    stateDir: absPath(o.stateDir, 'stateDir'),
    socketPath: absPath(o.socketPath, 'socketPath'),
    cniConfDir: absPath(o.cniConfDir, 'cniConfDir'),
    source,
    clusterCidrs: list(o.clusterCidrs, 'clusterCidrs', cidr, 1),
    serviceCidrs: list(o.serviceCidrs, 'serviceCidrs', cidr, 1),
    uplink,
    nodeIps: list(o.nodeIps, 'nodeIps', ip, 1),
    dns: {
      ip: ip(dnsObj.ip, 'dns.ip'),
      clusterDomain,
      ...(dnsObj.mode === undefined ? {} : { mode: dnsObj.mode as 'process' | 'embedded' }),
      ...dnsSettings(dnsObj, clusterDomain),
    },
    http: { address: ip(httpObj.address, 'http.address'), port },
    ...(mtu === undefined ? {} : { mtu }),
    ...(sync === undefined ? {} : { sync }),
    ...(o.healthz === undefined ? {} : { healthz: parseHealthz(o.healthz) }),
    ...(o.flows === undefined ? {} : { flows: parseFlowConfig(o.flows) }),
    ...(o.podCidrs === undefined ? {} : { podCidrs: list(o.podCidrs, 'podCidrs', cidr, 1) }),
  };
  if (config.socketPath.length > 107)
    fail('socketPath', 'a unix socket path has at most 107 bytes');
  return config;
}

/**
 * Replaces `${NAME}` in every string of a parsed config file with `env[NAME]` (e.g. `NODE_NAME`
 * and `NODE_IP` from a DaemonSet's downward API), so one ConfigMap serves every node. A name the
 * environment does not set is an error naming the field.
 */
export function expandConfigEnv(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) fail(path, `\${${name}} is not set in the environment`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandConfigEnv(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        expandConfigEnv(v, env, path ? `${path}.${k}` : k),
      ]),
    );
  }
  return value;
}
