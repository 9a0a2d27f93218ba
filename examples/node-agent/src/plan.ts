import type { BatchLine } from '@podnet/host';

/** The node-side device holding the pod gateway and DNS addresses. */
export const GATEWAY_DEVICE = 'podnet0';
/** The agent's own nftables table (family inet): host ports and masquerade. */
export const AGENT_NFT_TABLE = 'podnet-agent';
/** MAC of every host-side pod veth (like Calico: the pod only ever talks to its gateway). */
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
/** IPv6 link-local gateway configured on every host-side veth. */
export const IPV6_LINK_LOCAL_GATEWAY = 'fe80::1';

/** One address of a pod, as the IPAM handed it out. */
export interface PodAddress {
  /** CIDR form with the pod subnet's prefix, e.g. `10.244.1.5/24`. */
  readonly address: string;
  readonly ip: string;
  readonly gateway: string;
  readonly family: 4 | 6;
}

/** Everything needed to wire one pod interface. JSON-serialisable. */
export interface PodLinkSpec {
  /** `CNI_IFNAME` inside the pod. */
  readonly ifName: string;
  /** Host-side veth name (see {@link hostVethName}). */
  readonly hostIf: string;
  readonly podMac: string;
  readonly mtu: number;
  readonly addresses: readonly PodAddress[];
  /** PID of a process in the node namespace (the agent) for `ip link ... netns PID`. */
  readonly nodePid: number;
  /**
   * The pod namespace's name (`/run/netns/NAME`) when the veth was created from the node side
   * ({@link planPodVeth}): the plan then only configures both ends ({@link PodLinkPlan.order}).
   */
  readonly podNetnsName?: string;
}

/** The batches that wire a pod: one `ip -batch` inside the pod namespace, one in the node's. */
export interface PodLinkPlan {
  readonly pod: BatchLine[];
  readonly node: BatchLine[];
  /**
   * `pod-first`: the pod batch creates the veth, the node batch then configures its end.
   * `node-first`: the veth exists already ({@link planPodVeth}); both batches may run at once.
   */
  readonly order: 'pod-first' | 'node-first';
}

function fnv1a(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The host-side veth name of an attachment: `pn` + 11 hex digits of a hash (13 characters). */
export function hostVethName(containerId: string, ifName: string): string {
  const key = `${containerId}/${ifName}`;
  const hex =
    fnv1a(key, 0x811c9dc5).toString(16).padStart(8, '0') +
    fnv1a(key, 0x1234567).toString(16).padStart(8, '0');
  return `pn${hex.slice(0, 11)}`;
}

/** A locally administered unicast MAC derived from the pod's first address (stable across re-ADDs). */
export function podMac(addresses: readonly PodAddress[], salt: string): string {
  const v4 = addresses.find((a) => a.family === 4);
  const bytes = v4
    ? [0x0a, 0x58, ...v4.ip.split('.').map(Number)]
    : [0x0a, 0x58, ...hexBytes(fnv1a(`${addresses[0]?.ip ?? ''}/${salt}`, 0x811c9dc5))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function hexBytes(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

/** Inputs of {@link planPodVeth}. */
export interface PodVethSpec {
  readonly ifName: string;
  readonly hostIf: string;
  readonly mtu: number;
  /** The pod namespace's name (`/run/netns/NAME`). */
  readonly podNetnsName: string;
}

/**
 * The node-side line that creates a pod's veth with its pod end already in the pod's named
 * namespace, node end up. It needs no address, so it can run while IPAM allocates; the pod end
 * gets its MAC and addresses from {@link planPodLinks} with `podNetnsName` set.
 */
export function planPodVeth(spec: PodVethSpec): BatchLine {
  const mtu = String(spec.mtu);
  return [
    ...['link', 'add', spec.hostIf, 'address', HOST_VETH_MAC, 'mtu', mtu, 'up'],
    ...['type', 'veth', 'peer', 'name', spec.ifName, 'mtu', mtu, 'netns', spec.podNetnsName],
  ];
}

/**
 * Plans a routed (point-to-point) pod interface: a veth whose pod end gets the addresses without
 * a subnet route, a host route to its gateway and a default route; the node end carries one /32
 * (/128) route per pod address. Every pod packet is routed by the node, so nftables sees it.
 */
export function planPodLinks(spec: PodLinkSpec): PodLinkPlan {
  const mtu = String(spec.mtu);
  const named = spec.podNetnsName;
  const pod: BatchLine[] = named
    ? [['link', 'set', spec.ifName, 'address', spec.podMac]]
    : [
        [
          ...['link', 'add', spec.ifName, 'address', spec.podMac, 'mtu', mtu],
          ...['type', 'veth', 'peer', 'name', spec.hostIf, 'address', HOST_VETH_MAC, 'mtu', mtu],
          ...['netns', String(spec.nodePid)],
        ],
      ];
  const node: BatchLine[] = [];
  for (const a of spec.addresses) {
    pod.push([
      'addr',
      'add',
      a.address,
      'dev',
      spec.ifName,
      'noprefixroute',
      ...(a.family === 6 ? ['nodad'] : []),
    ]);
  }
  pod.push(['link', 'set', spec.ifName, 'up']);
  const v4 = spec.addresses.find((a) => a.family === 4);
  if (v4) {
    pod.push(['route', 'add', `${v4.gateway}/32`, 'dev', spec.ifName, 'scope', 'link']);
    pod.push(['route', 'add', 'default', 'via', v4.gateway, 'dev', spec.ifName]);
  }
  if (spec.addresses.some((a) => a.family === 6)) {
    pod.push(['route', 'add', 'default', 'via', IPV6_LINK_LOCAL_GATEWAY, 'dev', spec.ifName]);
    node.push(['addr', 'replace', `${IPV6_LINK_LOCAL_GATEWAY}/64`, 'dev', spec.hostIf, 'nodad']);
  }
  if (!named) node.push(['link', 'set', spec.hostIf, 'up']);
  for (const a of spec.addresses) {
    node.push([
      'route',
      'replace',
      `${a.ip}/${a.family === 4 ? 32 : 128}`,
      'dev',
      spec.hostIf,
      'scope',
      'link',
    ]);
  }
  return { pod, node, order: named ? 'node-first' : 'pod-first' };
}

/** Inputs of the node's base wiring. */
export interface NodeBaseSpec {
  /** Gateway addresses (one per pod CIDR) and the DNS address, all put on {@link GATEWAY_DEVICE}. */
  readonly gateways: readonly string[];
  readonly dnsIp: string;
  /** Whether the gateway device exists already (adopted as it is). */
  readonly deviceExists: boolean;
}

/** Plans the node's base wiring: the gateway device and its addresses (idempotent `replace`s). */
export function planNodeBase(spec: NodeBaseSpec): BatchLine[] {
  const lines: BatchLine[] = [];
  if (!spec.deviceExists) lines.push(['link', 'add', GATEWAY_DEVICE, 'type', 'bridge']);
  for (const ip of [...spec.gateways, spec.dnsIp]) {
    const v6 = ip.includes(':');
    lines.push([
      'addr',
      'replace',
      `${ip}/${v6 ? 128 : 32}`,
      'dev',
      GATEWAY_DEVICE,
      ...(v6 ? ['nodad'] : []),
    ]);
  }
  lines.push(['link', 'set', GATEWAY_DEVICE, 'up']);
  return lines;
}

/** One host port of a pod (the CNI `portMappings` capability). */
export interface HostPortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly hostIP?: string;
  /** The pod address the port leads to. */
  readonly podIp: string;
}

/** What the agent's nftables table holds. */
export interface AgentNftSpec {
  /** This node's pod CIDRs: traffic from them to outside `clusterCidrs` is masqueraded. */
  readonly podCidrs: readonly string[];
  readonly clusterCidrs: readonly string[];
  readonly hostPorts: readonly HostPortMapping[];
}

/**
 * Renders the agent's nftables table as one atomic transaction that replaces it: host-port DNAT
 * (prerouting and output, only to local addresses), and masquerade of pod traffic that leaves
 * the pod network. Pure.
 */
export function renderAgentNft(spec: AgentNftSpec): string {
  const t = AGENT_NFT_TABLE;
  const out: string[] = [`table inet ${t} {}`, `delete table inet ${t}`, `table inet ${t} {`];
  out.push('  chain hostports {');
  const sorted = [...spec.hostPorts].sort(
    (a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol),
  );
  for (const m of sorted) {
    const fam = m.podIp.includes(':') ? 'ip6' : 'ip';
    const hostMatch =
      m.hostIP && m.hostIP !== '0.0.0.0' && m.hostIP !== '::'
        ? `${m.hostIP.includes(':') ? 'ip6' : 'ip'} daddr ${m.hostIP} `
        : '';
    const to = fam === 'ip6' ? `[${m.podIp}]:${m.containerPort}` : `${m.podIp}:${m.containerPort}`;
    if (hostMatch && (m.hostIP!.includes(':') ? 'ip6' : 'ip') !== fam) continue;
    out.push(
      `    meta nfproto ${fam === 'ip6' ? 'ipv6' : 'ipv4'} ${hostMatch}${m.protocol} dport ${m.hostPort} dnat ${fam} to ${to}`,
    );
  }
  out.push('  }');
  out.push('  chain prerouting {');
  out.push('    type nat hook prerouting priority dstnat; policy accept;');
  out.push('    fib daddr type local jump hostports');
  out.push('  }');
  out.push('  chain output {');
  out.push('    type nat hook output priority -100; policy accept;');
  out.push('    fib daddr type local jump hostports');
  out.push('  }');
  out.push('  chain postrouting {');
  out.push('    type nat hook postrouting priority srcnat; policy accept;');
  for (const fam of ['ip', 'ip6'] as const) {
    const pods = spec.podCidrs.filter((c) => c.includes(':') === (fam === 'ip6'));
    const cluster = spec.clusterCidrs.filter((c) => c.includes(':') === (fam === 'ip6'));
    if (pods.length === 0) continue;
    const except = cluster.length > 0 ? ` ${fam} daddr != { ${cluster.join(', ')} }` : '';
    out.push(`    ${fam} saddr { ${pods.join(', ')} }${except} fib daddr type != local masquerade`);
  }
  out.push('  }');
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** The search list pods get: `<ns>.svc.<zone> svc.<zone> <zone>` (without the first when unknown). */
export function dnsSearch(podNamespace: string | undefined, zone: string): string[] {
  return [...(podNamespace ? [`${podNamespace}.svc.${zone}`] : []), `svc.${zone}`, zone];
}

/** The conflist the agent writes to `<cniConfDir>/10-podnet.conflist`. Pure. */
export function renderConflist(socketPath: string): string {
  const conflist = {
    cniVersion: '1.1.0',
    name: 'podnet',
    plugins: [{ type: 'podnet', socket: socketPath, capabilities: { portMappings: true } }],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}
