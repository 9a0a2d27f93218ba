/** Pure planning of a namespace cluster: names, addresses and links. No node:* imports. */
import { ClusterError } from './errors.js';
import {
  addressing,
  familiesOfMode,
  IP_FAMILY_MODES,
  type IpFamily,
  type IpFamilyMode,
} from './ip-family.js';

/** How pods get their network: podnet's agent + shim, or Debian's bridge + host-local. */
export type NetworkMode = 'podnet' | 'reference';

/** What `podnet up` is asked for. */
export interface ClusterOptions {
  /** Cluster name (run dir `/run/podnet-cluster/<name>`). */
  name: string;
  /** Prefix of every namespace the cluster makes; must be unique per cluster. */
  prefix: string;
  /** Number of nodes (1-8). */
  nodes: number;
  network: NetworkMode;
  /** `ipv4` (default), `ipv6` or `dual` (IPv4 primary, IPv6 second). */
  ipFamily?: IpFamilyMode;
}

/** One node of the plan. */
export interface NodePlan {
  name: string;
  netns: string;
  /** Underlay segment index (0 = segment A, 1 = segment B). */
  segment: number;
  ip: string;
  /** The router address on this node's segment (default gateway). */
  gateway: string;
  /** Switch-side veth name (in the switch namespace). */
  switchPort: string;
  podCidr: string;
  /** First address of the pod CIDR (the node's bridge/gateway address). */
  podGateway: string;
  /**
   * Per family, primary first (only in an `ipv6` or `dual` plan; the scalars above are the
   * primary family's): underlay addresses, gateways, pod CIDRs and pod gateways.
   */
  ips?: string[];
  gateways?: string[];
  podCidrs?: string[];
  podGateways?: string[];
}

/** The whole underlay and cluster addressing. */
export interface ClusterPlan {
  name: string;
  prefix: string;
  network: NetworkMode;
  switchNetns: string;
  externalNetns: string;
  externalIp: string;
  externalGateway: string;
  segments: {
    bridge: string;
    cidr: string;
    gateway: string;
    /** Per family, primary first (`ipv6`/`dual` plans only). */
    cidrs?: string[];
    gateways?: string[];
  }[];
  nodes: NodePlan[];
  clusterCidr: string;
  serviceCidr: string;
  dnsIp: string;
  clusterDomain: string;
  nodePortRange: [number, number];
  /**
   * The cluster's IP families, primary first, and per family (same order) the cluster, Service,
   * DNS and external addresses. Only in an `ipv6` or `dual` plan: an IPv4 plan is as it was
   * before dual stack (read them through `planFamilies`, `clusterCidrsOf`, ... of ip-family.ts).
   */
  ipFamilies?: IpFamily[];
  clusterCidrs?: string[];
  serviceCidrs?: string[];
  dnsIps?: string[];
  externalIps?: string[];
  externalGateways?: string[];
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/;
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/;

/** Validates a cluster name (DNS label, at most 24 characters). */
export function assertClusterName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `name: want a DNS label of 1-24 characters [a-z0-9-], got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Computes names and addresses of a cluster. Pure and deterministic. */
export function planCluster(options: ClusterOptions): ClusterPlan {
  assertClusterName(options.name);
  if (typeof options.prefix !== 'string' || !PREFIX.test(options.prefix)) {
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `prefix: want 1-31 characters [A-Za-z0-9_.-], got ${JSON.stringify(options.prefix)}`,
    );
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 8) {
    throw new ClusterError('INVALID_ARGUMENT', `nodes: want an integer 1-8, got ${options.nodes}`);
  }
  if (options.network !== 'podnet' && options.network !== 'reference') {
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `network: want "podnet" or "reference", got ${JSON.stringify(options.network)}`,
    );
  }
  const mode = options.ipFamily ?? 'ipv4';
  if (!(IP_FAMILY_MODES as readonly string[]).includes(mode)) {
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `ipFamily: want ${IP_FAMILY_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
    );
  }
  if (mode !== 'ipv4' && options.network === 'reference') {
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `ipFamily: network reference is IPv4 only, got ${JSON.stringify(mode)} (use network podnet)`,
    );
  }
  if (mode !== 'ipv4') return planFamilies(options, familiesOfMode(mode));
  const p = options.prefix;
  // Two L2 segments once there are 3+ nodes: the last node sits behind the router, so overlays
  // meet both a directly reachable peer and a routed one.
  const segments = [
    { bridge: 'br-a', cidr: '172.30.0.0/24', gateway: '172.30.0.1' },
    ...(options.nodes >= 3
      ? [{ bridge: 'br-b', cidr: '172.30.1.0/24', gateway: '172.30.1.1' }]
      : []),
  ];
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= options.nodes; i++) {
    const segment = options.nodes >= 3 && i === options.nodes ? 1 : 0;
    nodes.push({
      name: `node${i}`,
      netns: `${p}node${i}`,
      segment,
      ip: `172.30.${segment}.${10 + i}`,
      gateway: segments[segment]!.gateway,
      switchPort: `sw-node${i}`,
      podCidr: `10.244.${i}.0/24`,
      podGateway: `10.244.${i}.1`,
    });
  }
  return {
    name: options.name,
    prefix: p,
    network: options.network,
    switchNetns: `${p}switch`,
    externalNetns: `${p}external`,
    externalIp: '203.0.113.10',
    externalGateway: '203.0.113.1',
    segments,
    nodes,
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/16',
    dnsIp: '10.96.0.10',
    clusterDomain: 'cluster.local',
    nodePortRange: [30000, 32767],
  };
}

/** {@link planCluster} of an `ipv6` or `dual` cluster: every address per family, primary first. */
function planFamilies(options: ClusterOptions, families: IpFamily[]): ClusterPlan {
  const p = options.prefix;
  const tables = families.map(addressing);
  const primary = tables[0]!;
  const per = <T>(f: (t: (typeof tables)[number]) => T): T[] => tables.map(f);
  const segmentCount = options.nodes >= 3 ? 2 : 1;
  const segments = Array.from({ length: segmentCount }, (_, s) => ({
    bridge: s === 0 ? 'br-a' : 'br-b',
    cidr: primary.segmentCidr(s),
    gateway: primary.segmentGateway(s),
    cidrs: per((t) => t.segmentCidr(s)),
    gateways: per((t) => t.segmentGateway(s)),
  }));
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= options.nodes; i++) {
    const segment = options.nodes >= 3 && i === options.nodes ? 1 : 0;
    nodes.push({
      name: `node${i}`,
      netns: `${p}node${i}`,
      segment,
      ip: primary.nodeIp(segment, i),
      gateway: primary.segmentGateway(segment),
      switchPort: `sw-node${i}`,
      podCidr: primary.podCidr(i),
      podGateway: primary.podGateway(i),
      ips: per((t) => t.nodeIp(segment, i)),
      gateways: per((t) => t.segmentGateway(segment)),
      podCidrs: per((t) => t.podCidr(i)),
      podGateways: per((t) => t.podGateway(i)),
    });
  }
  return {
    name: options.name,
    prefix: p,
    network: options.network,
    switchNetns: `${p}switch`,
    externalNetns: `${p}external`,
    externalIp: primary.externalIp,
    externalGateway: primary.externalGateway,
    segments,
    nodes,
    clusterCidr: primary.clusterCidr,
    serviceCidr: primary.serviceCidr,
    dnsIp: primary.dnsIp,
    clusterDomain: 'cluster.local',
    nodePortRange: [30000, 32767],
    ipFamilies: families,
    clusterCidrs: per((t) => t.clusterCidr),
    serviceCidrs: per((t) => t.serviceCidr),
    dnsIps: per((t) => t.dnsIp),
    externalIps: per((t) => t.externalIp),
    externalGateways: per((t) => t.externalGateway),
  };
}

/** The `ip -batch` lines (per namespace) that build the underlay. */
export interface UnderlayBatches {
  /** Lines run in the switch namespace after the node/external veths exist. */
  switchLines: string[][];
  /** Lines per node namespace. */
  nodeLines: Record<string, string[][]>;
  externalLines: string[][];
}

/** Renders the address/route configuration of the underlay (after veths are made). Pure. */
export function planUnderlayBatches(plan: ClusterPlan): UnderlayBatches {
  // IPv6 addresses skip duplicate address detection (nodad): usable at once, as in the pods
  const addr = (ip: string, prefix: number, dev: string) => [
    'addr',
    'add',
    `${ip}/${prefix}`,
    'dev',
    dev,
    ...(ip.includes(':') ? ['nodad'] : []),
  ];
  const len = (ip: string) => (ip.includes(':') ? 64 : 24);
  const switchLines: string[][] = [['link', 'set', 'lo', 'up']];
  for (const s of plan.segments) {
    switchLines.push(['link', 'add', s.bridge, 'type', 'bridge']);
    for (const gw of s.gateways ?? [s.gateway]) switchLines.push(addr(gw, len(gw), s.bridge));
    switchLines.push(['link', 'set', s.bridge, 'up']);
  }
  for (const n of plan.nodes) {
    switchLines.push(['link', 'set', n.switchPort, 'master', plan.segments[n.segment]!.bridge]);
    switchLines.push(['link', 'set', n.switchPort, 'up']);
  }
  for (const gw of plan.externalGateways ?? [plan.externalGateway])
    switchLines.push(addr(gw, len(gw), 'sw-ext'));
  switchLines.push(['link', 'set', 'sw-ext', 'up']);
  const nodeLines: Record<string, string[][]> = {};
  for (const n of plan.nodes) {
    const ips = n.ips ?? [n.ip];
    const gateways = n.gateways ?? [n.gateway];
    nodeLines[n.name] = [
      ['link', 'set', 'lo', 'up'],
      ...ips.map((ip) => addr(ip, len(ip), 'eth0')),
      ['link', 'set', 'eth0', 'up'],
      ...gateways.map((gw) => ['route', 'replace', 'default', 'via', gw]),
    ];
  }
  const externalIps = plan.externalIps ?? [plan.externalIp];
  const externalLines = [
    ['link', 'set', 'lo', 'up'],
    ...externalIps.map((ip) => addr(ip, len(ip), 'eth0')),
    ['link', 'set', 'eth0', 'up'],
    ...(plan.externalGateways ?? [plan.externalGateway]).map((gw) => [
      'route',
      'replace',
      'default',
      'via',
      gw,
    ]),
  ];
  return { switchLines, nodeLines, externalLines };
}

/**
 * Routes of the reference network (no overlay): each node routes the other nodes' pod CIDRs via
 * their node IP on its own segment, and through the router otherwise; the router knows them all.
 */
export function planReferenceRoutes(plan: ClusterPlan): {
  switchLines: string[][];
  nodeLines: Record<string, string[][]>;
} {
  const switchLines = plan.nodes.map((n) => ['route', 'replace', n.podCidr, 'via', n.ip]);
  const nodeLines: Record<string, string[][]> = {};
  for (const n of plan.nodes) {
    nodeLines[n.name] = plan.nodes
      .filter((o) => o.name !== n.name)
      .map((o) => [
        'route',
        'replace',
        o.podCidr,
        'via',
        o.segment === n.segment ? o.ip : n.gateway,
      ]);
  }
  return { switchLines, nodeLines };
}

/** The nftables masquerade a reference node uses for pod traffic leaving the cluster network. */
export function planReferenceMasquerade(plan: ClusterPlan, node: NodePlan): string {
  return [
    'table ip podnet-cluster-ref',
    'delete table ip podnet-cluster-ref',
    'table ip podnet-cluster-ref {',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${node.podCidr} ip daddr != ${plan.clusterCidr} oifname "eth0" masquerade`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The conflist of the reference network on one node (Debian's bridge + host-local + portmap). */
export function referenceConflist(
  plan: ClusterPlan,
  node: NodePlan,
  ipamDataDir: string,
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'podnet-reference',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: node.podCidr, gateway: node.podGateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDataDir,
        },
        dns: {
          nameservers: [plan.dnsIp],
          search: [
            `default.svc.${plan.clusterDomain}`,
            `svc.${plan.clusterDomain}`,
            plan.clusterDomain,
          ],
          options: ['ndots:5'],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}
