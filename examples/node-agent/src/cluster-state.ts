import type {
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';

/** The Kubernetes kinds the agent consumes, as the API (or a manifests directory) serves them. */
export interface ClusterSnapshot {
  readonly nodes: readonly V1Node[];
  readonly namespaces: readonly V1Namespace[];
  readonly pods: readonly V1Pod[];
  readonly services: readonly V1Service[];
  readonly endpointSlices: readonly V1EndpointSlice[];
  readonly networkPolicies: readonly V1NetworkPolicy[];
}

/** The kinds of a {@link ClusterSnapshot}, keyed like the snapshot's fields. */
export type ClusterKind = keyof ClusterSnapshot;

/** An empty snapshot. */
export function emptySnapshot(): ClusterSnapshot {
  return {
    nodes: [],
    namespaces: [],
    pods: [],
    services: [],
    endpointSlices: [],
    networkPolicies: [],
  };
}

/** Where cluster state comes from (informers or a watched manifests directory). */
export interface ClusterSource {
  /** Starts watching; `onChange` gets a whole snapshot each time something changed. */
  start(onChange: (snapshot: ClusterSnapshot) => void): Promise<void>;
  /** True once every kind has been listed at least once. */
  readonly synced: boolean;
  stop(): Promise<void>;
}

/** Sorts objects by namespace/name so equal states compare equal. Pure. */
export function sortObjects<T extends { metadata?: { name?: string; namespace?: string } }>(
  items: readonly T[],
): T[] {
  const key = (o: T) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The pod CIDRs a Node object declares (`spec.podCIDRs`, else `spec.podCIDR`). */
export function nodePodCidrs(node: V1Node | undefined): string[] {
  if (!node?.spec) return [];
  if (node.spec.podCIDRs && node.spec.podCIDRs.length > 0) return [...node.spec.podCIDRs];
  return node.spec.podCIDR ? [node.spec.podCIDR] : [];
}

/** A Node's InternalIP addresses (`status.addresses`). */
export function nodeInternalIps(node: V1Node): string[] {
  return (node.status?.addresses ?? [])
    .filter((a) => a.type === 'InternalIP')
    .map((a) => a.address);
}
