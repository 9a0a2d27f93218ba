/** Labels on a Kubernetes object. */
export type Labels = Readonly<Record<string, string>>;

/** A `metav1.LabelSelectorRequirement`. */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: readonly string[];
}

/** A `metav1.LabelSelector`; `{}` selects everything. */
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: readonly LabelSelectorRequirement[];
}

/** The part of `metav1.ObjectMeta` this package reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Labels;
}

/** A `v1.Namespace` (only metadata is read). */
export interface Namespace {
  metadata: ObjectMeta;
}

/** Transport protocols NetworkPolicy ports can name. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** A `v1.ContainerPort`. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
}

/** A `v1.Pod` (metadata, node, host networking, container ports, addresses). */
export interface Pod {
  metadata: ObjectMeta;
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: readonly { name?: string; ports?: readonly ContainerPort[] }[];
  };
  status?: {
    podIP?: string;
    podIPs?: readonly { ip: string }[];
    hostIP?: string;
    hostIPs?: readonly { ip: string }[];
  };
}

/** A `v1.Node` (labels and addresses; used by ClusterNetworkPolicy `nodes` peers). */
export interface Node {
  metadata: ObjectMeta;
  status?: { addresses?: readonly { type?: string; address: string }[] };
}

/** A `networking.k8s.io/v1` `IPBlock`. */
export interface IPBlock {
  cidr: string;
  except?: readonly string[];
}

/** A `networking.k8s.io/v1` `NetworkPolicyPeer`. */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

/** A `networking.k8s.io/v1` `NetworkPolicyPort`. */
export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

/** An ingress rule of a NetworkPolicy. */
export interface NetworkPolicyIngressRule {
  from?: readonly NetworkPolicyPeer[];
  ports?: readonly NetworkPolicyPort[];
}

/** An egress rule of a NetworkPolicy. */
export interface NetworkPolicyEgressRule {
  to?: readonly NetworkPolicyPeer[];
  ports?: readonly NetworkPolicyPort[];
}

/** A `networking.k8s.io/v1` `NetworkPolicy`. */
export interface NetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes?: readonly ('Ingress' | 'Egress')[];
    ingress?: readonly NetworkPolicyIngressRule[];
    egress?: readonly NetworkPolicyEgressRule[];
  };
}

/** `policy.networking.k8s.io/v1alpha2` `NamespacedPod`. */
export interface NamespacedPod {
  namespaceSelector: LabelSelector;
  podSelector: LabelSelector;
}

/** A ClusterNetworkPolicy port: a number or an inclusive range. */
export interface CnpPort {
  number?: number;
  range?: { start: number; end: number };
}

/** One entry of a ClusterNetworkPolicy rule's `protocols` (exactly one field set). */
export interface CnpProtocol {
  tcp?: { destinationPort?: CnpPort };
  udp?: { destinationPort?: CnpPort };
  sctp?: { destinationPort?: CnpPort };
  destinationNamedPort?: string;
}

/** A ClusterNetworkPolicy peer (exactly one field set; `networks`, `nodes`, `domainNames` egress only). */
export interface CnpPeer {
  namespaces?: LabelSelector;
  pods?: NamespacedPod;
  networks?: readonly string[];
  nodes?: LabelSelector;
  domainNames?: readonly string[];
}

/** A ClusterNetworkPolicy action. */
export type CnpAction = 'Accept' | 'Deny' | 'Pass';

/** A ClusterNetworkPolicy ingress rule. */
export interface CnpIngressRule {
  name?: string;
  action: CnpAction;
  from: readonly CnpPeer[];
  protocols?: readonly CnpProtocol[];
}

/** A ClusterNetworkPolicy egress rule. */
export interface CnpEgressRule {
  name?: string;
  action: CnpAction;
  to: readonly CnpPeer[];
  protocols?: readonly CnpProtocol[];
}

/** A `policy.networking.k8s.io/v1alpha2` `ClusterNetworkPolicy`. */
export interface ClusterNetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    tier: 'Admin' | 'Baseline';
    priority: number;
    subject: { namespaces?: LabelSelector; pods?: NamespacedPod };
    ingress?: readonly CnpIngressRule[];
    egress?: readonly CnpEgressRule[];
  };
}

/** Everything the evaluator and compiler read: plain Kubernetes-shaped objects. */
export interface ClusterState {
  namespaces: readonly Namespace[];
  pods: readonly Pod[];
  networkPolicies?: readonly NetworkPolicy[];
  clusterNetworkPolicies?: readonly ClusterNetworkPolicy[];
  nodes?: readonly Node[];
}

/** Traffic direction, seen from the pod a policy selects. */
export type Direction = 'ingress' | 'egress';
