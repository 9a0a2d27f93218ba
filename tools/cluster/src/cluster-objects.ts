/**
 * The user's objects as the cluster keeps them: `@podnet/cluster-state`'s types, with the fields
 * the controllers fill in (`spec.clusterIP(s)`, `ports[].nodePort`, `spec.nodeName`,
 * `status.podIP(s)`). Pure.
 */
import type {
  ClusterNetworkPolicy,
  Namespace,
  NetworkPolicy,
  Pod,
  Service,
} from '@podnet/cluster-state';

/** Every object a user applied, by kind (Nodes and EndpointSlices are the cluster's own). */
export interface ClusterObjects {
  namespaces: Namespace[];
  pods: Pod[];
  services: Service[];
  networkPolicies: NetworkPolicy[];
  clusterNetworkPolicies: ClusterNetworkPolicy[];
}

/** A cluster without user objects. */
export function emptyClusterObjects(): ClusterObjects {
  return {
    namespaces: [],
    pods: [],
    services: [],
    networkPolicies: [],
    clusterNetworkPolicies: [],
  };
}

/** `metadata.name` of an object (`''` when absent; the reader never lets that through). */
export function nameOf(o: { metadata?: { name?: string } }): string {
  return o.metadata?.name ?? '';
}

/** `metadata.namespace` of a namespaced object (`default` when absent, as the API server fills it). */
export function namespaceOf(o: { metadata?: { namespace?: string } }): string {
  return o.metadata?.namespace || 'default';
}

/** `namespace/name` of a namespaced object. */
export function keyOf(o: { metadata?: { name?: string; namespace?: string } }): string {
  return `${namespaceOf(o)}/${nameOf(o)}`;
}

/** A container port of a pod, with the defaults applied. */
export interface PodPort {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
  hostPort?: number;
}

/** Every container port of a pod, flattened over its containers (protocol defaults to TCP). */
export function podPorts(pod: Pod): PodPort[] {
  return (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      containerPort: p.containerPort,
      protocol: p.protocol === 'UDP' ? ('UDP' as const) : ('TCP' as const),
      ...(p.hostPort ? { hostPort: p.hostPort } : {}),
    })),
  );
}

/** The pod's IPv4 address (`status.podIP`), once its sandbox has one. */
export function podIpOf(pod: Pod): string | undefined {
  return pod.status?.podIP || undefined;
}

/** The node a pod is scheduled to (`spec.nodeName`, `''` before scheduling). */
export function nodeNameOf(pod: Pod): string {
  return pod.spec?.nodeName ?? '';
}

/** Finds a pod by `namespace/name`, or by a `name` unique across namespaces. */
export function findPod(pods: readonly Pod[], ref: string): { pod?: Pod; ambiguous: boolean } {
  const [a, b] = ref.split('/');
  if (b !== undefined)
    return { pod: pods.find((p) => namespaceOf(p) === a && nameOf(p) === b), ambiguous: false };
  const m = pods.filter((p) => nameOf(p) === a);
  return { pod: m.length === 1 ? m[0] : undefined, ambiguous: m.length > 1 };
}

/** A problem a controller found with the `index`-th object it was given, at field `path`. */
export interface ObjectProblem {
  index: number;
  path: string;
  message: string;
}
