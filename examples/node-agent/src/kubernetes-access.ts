/** One API resource the Kubernetes source reads, with the verbs it uses. */
export interface KubernetesAccess {
  readonly group: string;
  readonly resource: string;
  readonly verbs: readonly string[];
}

/** Exactly the API access the Kubernetes source needs (a ClusterRole must grant at least this). */
export const KUBERNETES_ACCESS: ReadonlyArray<KubernetesAccess> = [
  { group: '', resource: 'nodes', verbs: ['list', 'watch'] },
  { group: '', resource: 'namespaces', verbs: ['list', 'watch'] },
  { group: '', resource: 'pods', verbs: ['list', 'watch'] },
  { group: '', resource: 'services', verbs: ['list', 'watch'] },
  { group: 'discovery.k8s.io', resource: 'endpointslices', verbs: ['list', 'watch'] },
  { group: 'networking.k8s.io', resource: 'networkpolicies', verbs: ['list', 'watch'] },
];
