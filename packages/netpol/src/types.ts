/**
 * The Kubernetes objects this package reads are `@podnet/cluster-state`'s: the shapes of
 * `@kubernetes/client-node`'s models (optional `metadata` and `metadata.name`, protocols and
 * selector operators as plain strings, an ingress rule's peers in `from` or client-node's
 * `_from`), so an informer's objects, a typed client-node call's objects and parsed YAML are all
 * accepted as they are. They are re-exported here under the names this package has always
 * exported; only netpol's own types are declared in this file.
 *
 * Type-only: nothing from `@podnet/cluster-state` is imported at run time.
 */
import type {
  ClusterNetworkPolicy,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
} from '@podnet/cluster-state';

export type {
  ClusterNetworkPolicy,
  CnpAction,
  CnpEgressRule,
  CnpIngressRule,
  CnpPeer,
  CnpPort,
  CnpProtocol,
  ContainerPort,
  IPBlock,
  LabelSelector,
  LabelSelectorRequirement,
  Namespace,
  NamespacedPod,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Node,
  ObjectMeta,
  Pod,
} from '@podnet/cluster-state';

/** Labels on a Kubernetes object. */
export type Labels = Readonly<Record<string, string>>;

/**
 * The transport protocols a NetworkPolicy port or a container port can name. Objects carry
 * them as strings; the validator rejects any other value in a policy, and a container port with
 * another value is ignored.
 */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/**
 * Everything the evaluator and compiler read: `@podnet/cluster-state` objects (cluster-state's
 * `PolicyInput` and `ClusterSnapshot` fit as they are). Namespaces, pods and nodes without
 * `metadata.name` are ignored; invalid policies are skipped and reported.
 */
export interface ClusterState {
  namespaces: readonly Namespace[];
  pods: readonly Pod[];
  networkPolicies?: readonly NetworkPolicy[];
  clusterNetworkPolicies?: readonly ClusterNetworkPolicy[];
  nodes?: readonly Node[];
}

/** Traffic direction, seen from the pod a policy selects. */
export type Direction = 'ingress' | 'egress';
