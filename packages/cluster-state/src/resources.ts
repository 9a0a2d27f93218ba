import { OBJECT_KINDS, type ObjectKind } from './types.js';

/** Where each kind is listed and watched. */
export const RESOURCE_PATHS: { readonly [K in ObjectKind]: string } = {
  Node: '/api/v1/nodes',
  Namespace: '/api/v1/namespaces',
  Pod: '/api/v1/pods',
  Service: '/api/v1/services',
  EndpointSlice: '/apis/discovery.k8s.io/v1/endpointslices',
  NetworkPolicy: '/apis/networking.k8s.io/v1/networkpolicies',
  ClusterNetworkPolicy: '/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies',
};

/** One API resource the source reads, with the verbs it uses (what a ClusterRole must grant). */
export interface KubernetesAccess {
  readonly group: string;
  readonly resource: string;
  readonly verbs: readonly string[];
}

/** The API access a {@link KubernetesSource} reading `kinds` needs. */
export function kubernetesAccess(kinds: readonly ObjectKind[] = OBJECT_KINDS): KubernetesAccess[] {
  return kinds.map((k) => {
    const parts = RESOURCE_PATHS[k].split('/');
    const group = parts[1] === 'api' ? '' : parts[2]!;
    return { group, resource: parts[parts.length - 1]!, verbs: ['list', 'watch'] };
  });
}
