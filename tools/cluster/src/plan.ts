/** Pure planning of a namespace cluster: names, addresses and links. No node:* imports. */
import { ClusterError } from './errors.js';

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
  segments: { bridge: string; cidr: string; gateway: string }[];
  nodes: NodePlan[];
  clusterCidr: string;
  serviceCidr: string;
  dnsIp: string;
  clusterDomain: string;
  nodePortRange: [number, number];
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
  const switchLines: string[][] = [['link', 'set', 'lo', 'up']];
  for (const s of plan.segments) {
    switchLines.push(['link', 'add', s.bridge, 'type', 'bridge']);
    switchLines.push(['addr', 'add', `${s.gateway}/24`, 'dev', s.bridge]);
    switchLines.push(['link', 'set', s.bridge, 'up']);
  }
  for (const n of plan.nodes) {
    switchLines.push(['link', 'set', n.switchPort, 'master', plan.segments[n.segment]!.bridge]);
    switchLines.push(['link', 'set', n.switchPort, 'up']);
  }
  switchLines.push(['addr', 'add', `${plan.externalGateway}/24`, 'dev', 'sw-ext']);
  switchLines.push(['link', 'set', 'sw-ext', 'up']);
  const nodeLines: Record<string, string[][]> = {};
  for (const n of plan.nodes) {
    nodeLines[n.name] = [
      ['link', 'set', 'lo', 'up'],
      ['addr', 'add', `${n.ip}/24`, 'dev', 'eth0'],
      ['link', 'set', 'eth0', 'up'],
      ['route', 'replace', 'default', 'via', n.gateway],
    ];
  }
  const externalLines = [
    ['link', 'set', 'lo', 'up'],
    ['addr', 'add', `${plan.externalIp}/24`, 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['route', 'replace', 'default', 'via', plan.externalGateway],
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
