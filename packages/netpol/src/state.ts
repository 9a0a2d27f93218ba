import { isIp } from '@podnet/host/validate';
import { nameOf, namespaceOf } from './keys.js';
import type { ClusterState, Labels, Namespace, Node, Pod, Protocol } from './types.js';

/** A pod as the evaluator and compiler see it. */
export interface PodInfo {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  labels: Labels;
  /** Pod IPs (`status.podIPs`, else `status.podIP`). */
  ips: string[];
  nodeName?: string;
  hostNetwork: boolean;
  /** The pod's node addresses (`status.hostIPs`, else `status.hostIP`). */
  hostIPs: string[];
  /**
   * Container ports, protocol defaulted to TCP (a port with another protocol, or a number outside
   * 1-65535, is left out).
   */
  ports: { name?: string; port: number; protocol: Protocol }[];
}

/** A protocol string as a {@link Protocol}: absent is TCP, anything but TCP/UDP/SCTP undefined. */
export function parseProtocol(protocol: string | undefined): Protocol | undefined {
  switch (protocol ?? 'TCP') {
    case 'TCP':
      return 'TCP';
    case 'UDP':
      return 'UDP';
    case 'SCTP':
      return 'SCTP';
    default:
      return undefined;
  }
}

const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;

/** The label `kubernetes.io/metadata.name` every namespace carries. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * A namespace's labels, including the automatic `kubernetes.io/metadata.name` (left out when the
 * namespace has no name: such a namespace is ignored everywhere).
 */
export function namespaceLabels(ns: Namespace): Labels {
  const name = nameOf(ns);
  const labels = ns.metadata?.labels ?? {};
  return name === undefined ? { ...labels } : { ...labels, [NAMESPACE_NAME_LABEL]: name };
}

/** `status.podIPs` (else `status.podIP`), or the host IPs likewise: only valid addresses. */
function addresses(list: readonly { ip: string }[] | undefined, one: string | undefined): string[] {
  const all = list?.length ? list.map((p) => p?.ip) : one ? [one] : [];
  return all.filter(isIp);
}

/**
 * Normalises a pod; `undefined` for a pod without `metadata.name` (ignored everywhere).
 * Addresses that are not valid IPs and container ports with an unknown protocol or an
 * out-of-range number are left out.
 */
export function podInfo(pod: Pod): PodInfo | undefined {
  const name = nameOf(pod);
  if (name === undefined) return undefined;
  const namespace = namespaceOf(pod);
  const ips = addresses(pod.status?.podIPs, pod.status?.podIP);
  const hostIPs = addresses(pod.status?.hostIPs, pod.status?.hostIP);
  const ports: PodInfo['ports'] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) {
      const protocol = parseProtocol(p?.protocol);
      if (protocol === undefined || !isPort(p.containerPort)) continue;
      ports.push({ name: p.name, port: p.containerPort, protocol });
    }
  }
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    labels: pod.metadata?.labels ?? {},
    ips,
    nodeName: pod.spec?.nodeName,
    hostNetwork: pod.spec?.hostNetwork === true,
    hostIPs,
    ports,
  };
}

/** The IP addresses of a node (`status.addresses`, InternalIP and ExternalIP; valid IPs only). */
export function nodeAddresses(node: Node): string[] {
  return (node.status?.addresses ?? [])
    .filter((a) => a.type === undefined || a.type === 'InternalIP' || a.type === 'ExternalIP')
    .map((a) => a.address)
    .filter(isIp);
}

/** Lookup tables over a {@link ClusterState}. */
export interface ClusterIndex {
  namespaces: Map<string, Labels>;
  pods: Map<string, PodInfo>;
  podsByIp: Map<string, PodInfo>;
  nodes: Map<string, { labels: Labels; addresses: string[] }>;
}

/**
 * Builds lookup tables; host-network pods are kept but never indexed by IP. Namespaces, pods and
 * nodes without a name are left out.
 */
export function indexState(state: ClusterState): ClusterIndex {
  const namespaces = new Map<string, Labels>();
  for (const ns of state.namespaces) {
    const name = nameOf(ns);
    if (name !== undefined) namespaces.set(name, namespaceLabels(ns));
  }
  const pods = new Map<string, PodInfo>();
  const podsByIp = new Map<string, PodInfo>();
  for (const p of state.pods) {
    const info = podInfo(p);
    if (!info) continue;
    pods.set(info.key, info);
    if (!info.hostNetwork) for (const ip of info.ips) podsByIp.set(ip, info);
  }
  const nodes = new Map<string, { labels: Labels; addresses: string[] }>();
  for (const n of state.nodes ?? []) {
    const name = nameOf(n);
    if (name === undefined) continue;
    nodes.set(name, { labels: n.metadata?.labels ?? {}, addresses: nodeAddresses(n) });
  }
  return { namespaces, pods, podsByIp, nodes };
}
