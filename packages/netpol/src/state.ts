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
  /** Container ports, protocol defaulted to TCP. */
  ports: { name?: string; port: number; protocol: Protocol }[];
}

/** The label `kubernetes.io/metadata.name` every namespace carries. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** A namespace's labels, including the automatic `kubernetes.io/metadata.name`. */
export function namespaceLabels(ns: Namespace): Labels {
  return { ...(ns.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: ns.metadata.name };
}

/** Normalises a pod. */
export function podInfo(pod: Pod): PodInfo {
  const namespace = pod.metadata.namespace ?? 'default';
  const ips = pod.status?.podIPs?.length
    ? pod.status.podIPs.map((p) => p.ip)
    : pod.status?.podIP
      ? [pod.status.podIP]
      : [];
  const hostIPs = pod.status?.hostIPs?.length
    ? pod.status.hostIPs.map((p) => p.ip)
    : pod.status?.hostIP
      ? [pod.status.hostIP]
      : [];
  const ports: PodInfo['ports'] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      ports.push({ name: p.name, port: p.containerPort, protocol: p.protocol ?? 'TCP' });
    }
  }
  return {
    key: `${namespace}/${pod.metadata.name}`,
    namespace,
    name: pod.metadata.name,
    labels: pod.metadata.labels ?? {},
    ips,
    nodeName: pod.spec?.nodeName,
    hostNetwork: pod.spec?.hostNetwork === true,
    hostIPs,
    ports,
  };
}

/** The IP addresses of a node (`status.addresses`, InternalIP and ExternalIP). */
export function nodeAddresses(node: Node): string[] {
  return (node.status?.addresses ?? [])
    .filter((a) => a.type === undefined || a.type === 'InternalIP' || a.type === 'ExternalIP')
    .map((a) => a.address);
}

/** Lookup tables over a {@link ClusterState}. */
export interface ClusterIndex {
  namespaces: Map<string, Labels>;
  pods: Map<string, PodInfo>;
  podsByIp: Map<string, PodInfo>;
  nodes: Map<string, { labels: Labels; addresses: string[] }>;
}

/** Builds lookup tables; host-network pods are kept but never indexed by IP. */
export function indexState(state: ClusterState): ClusterIndex {
  const namespaces = new Map<string, Labels>();
  for (const ns of state.namespaces) namespaces.set(ns.metadata.name, namespaceLabels(ns));
  const pods = new Map<string, PodInfo>();
  const podsByIp = new Map<string, PodInfo>();
  for (const p of state.pods) {
    const info = podInfo(p);
    pods.set(info.key, info);
    if (!info.hostNetwork) for (const ip of info.ips) podsByIp.set(ip, info);
  }
  const nodes = new Map<string, { labels: Labels; addresses: string[] }>();
  for (const n of state.nodes ?? []) {
    nodes.set(n.metadata.name, { labels: n.metadata.labels ?? {}, addresses: nodeAddresses(n) });
  }
  return { namespaces, pods, podsByIp, nodes };
}
