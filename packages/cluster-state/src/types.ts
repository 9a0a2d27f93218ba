/**
 * The Kubernetes objects podnet reads, as the API serves them.
 *
 * Each interface is the part of `@kubernetes/client-node`'s generated model (`V1Service`,
 * `V1Pod`, ...) that podnet reads, with the same field names and types, so an object from a
 * user's own client-node informer is accepted as it is (a type test holds every model here to
 * its client-node twin). Fields podnet never reads are left out; objects carrying them still fit.
 *
 * Two places where client-node's typed models differ from the wire format are covered both ways:
 * `NetworkPolicyIngressRule` has `from` (JSON, YAML, watch events) and `_from` (objects a typed
 * client-node call deserialised), and timestamps may be strings or `Date`s.
 *
 * ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`) has no client-node model; its types
 * follow the network-policy-api CRD.
 */

/** A label or annotation map. */
export type StringMap = { [key: string]: string };

/** `metav1.ObjectMeta` (`V1ObjectMeta`): the fields podnet reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: StringMap;
  annotations?: StringMap;
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: Date | string;
  deletionTimestamp?: Date | string;
}

/** `metav1.LabelSelectorRequirement`; `operator` is `In`, `NotIn`, `Exists` or `DoesNotExist`. */
export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: Array<string>;
}

/** `metav1.LabelSelector`; `{}` selects everything. */
export interface LabelSelector {
  matchExpressions?: Array<LabelSelectorRequirement>;
  matchLabels?: StringMap;
}

/** `v1.NodeAddress`. */
export interface NodeAddress {
  address: string;
  /** `InternalIP`, `ExternalIP`, `Hostname`, ... */
  type: string;
}

/** `v1.Taint` (`V1Taint`); `effect` is `NoSchedule`, `PreferNoSchedule` or `NoExecute`. */
export interface NodeTaint {
  key: string;
  value?: string;
  effect: string;
}

/** `v1.Node` (`V1Node`). */
export interface Node {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    podCIDR?: string;
    podCIDRs?: Array<string>;
    unschedulable?: boolean;
    /** `v1.Taint`s; kube-proxy reads `ToBeDeletedByClusterAutoscaler` (the node is going away). */
    taints?: Array<NodeTaint>;
  };
  status?: {
    addresses?: Array<NodeAddress>;
  };
}

/** `v1.Namespace` (`V1Namespace`): metadata is what podnet reads. */
export interface Namespace {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** `v1.ContainerPort`; `protocol` is `TCP` (default), `UDP` or `SCTP`. */
export interface ContainerPort {
  containerPort: number;
  hostIP?: string;
  hostPort?: number;
  name?: string;
  protocol?: string;
}

/** `v1.Container` (name, ports, and the process it runs: `command` and `args`). */
export interface Container {
  name: string;
  image?: string;
  /** The entrypoint (`command`), as a runtime runs it; `args` follow it. */
  command?: Array<string>;
  args?: Array<string>;
  ports?: Array<ContainerPort>;
}

/** `v1.PodCondition`. */
export interface PodCondition {
  type: string;
  status: string;
}

/** `v1.PodIP` / `v1.HostIP`. */
export interface PodIP {
  ip: string;
}

/** `v1.Pod` (`V1Pod`). */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    containers: Array<Container>;
    nodeName?: string;
    hostNetwork?: boolean;
    hostname?: string;
    subdomain?: string;
    /** `ClusterFirst` (default), `ClusterFirstWithHostNet`, `Default` or `None`. */
    dnsPolicy?: string;
    /** `v1.PodDNSConfig`: nameservers, search domains and options added to the pod's resolv.conf. */
    dnsConfig?: {
      nameservers?: Array<string>;
      searches?: Array<string>;
      options?: Array<{ name?: string; value?: string }>;
    };
  };
  status?: {
    phase?: string;
    conditions?: Array<PodCondition>;
    podIP?: string;
    podIPs?: Array<PodIP>;
    hostIP?: string;
    hostIPs?: Array<PodIP>;
  };
}

/** `v1.ServicePort`; `protocol` is `TCP` (default), `UDP` or `SCTP`. */
export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

/** `v1.LoadBalancerIngress`. */
export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: string;
}

/** `v1.ServiceSpec`: the fields podnet reads. */
export interface ServiceSpec {
  /** `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`. */
  type?: string;
  clusterIP?: string;
  clusterIPs?: Array<string>;
  ipFamilies?: Array<string>;
  ipFamilyPolicy?: string;
  ports?: Array<ServicePort>;
  selector?: StringMap;
  externalName?: string;
  externalIPs?: Array<string>;
  sessionAffinity?: string;
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  healthCheckNodePort?: number;
  loadBalancerIP?: string;
  loadBalancerClass?: string;
  loadBalancerSourceRanges?: Array<string>;
  allocateLoadBalancerNodePorts?: boolean;
  publishNotReadyAddresses?: boolean;
  trafficDistribution?: string;
}

/** `v1.Service` (`V1Service`). */
export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: ServiceSpec;
  status?: {
    loadBalancer?: { ingress?: Array<LoadBalancerIngress> };
  };
}

/** `v1.ObjectReference` (an endpoint's `targetRef`). */
export interface ObjectReference {
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
}

/** `discovery.k8s.io/v1` `Endpoint` (`V1Endpoint`). */
export interface Endpoint {
  addresses: Array<string>;
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: Array<{ name: string }>; forNodes?: Array<{ name: string }> };
  targetRef?: ObjectReference;
}

/** `discovery.k8s.io/v1` `EndpointPort` (`DiscoveryV1EndpointPort`). */
export interface EndpointPort {
  name?: string;
  protocol?: string;
  port?: number;
  appProtocol?: string;
}

/**
 * `discovery.k8s.io/v1` `EndpointSlice` (`V1EndpointSlice`). Its Service is the label
 * `kubernetes.io/service-name`.
 */
export interface EndpointSlice {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  /** `IPv4`, `IPv6` or `FQDN`. */
  addressType: string;
  endpoints: Array<Endpoint>;
  ports?: Array<EndpointPort>;
}

/** `networking.k8s.io/v1` `IPBlock`. */
export interface IPBlock {
  cidr: string;
  except?: Array<string>;
}

/** `networking.k8s.io/v1` `NetworkPolicyPeer`. */
export interface NetworkPolicyPeer {
  ipBlock?: IPBlock;
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}

/** `networking.k8s.io/v1` `NetworkPolicyPort`. */
export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

/**
 * An ingress rule of a NetworkPolicy. The wire name of its peers is `from`; client-node's typed
 * model names it `_from`. Read it with {@link ingressPeers}.
 */
export interface NetworkPolicyIngressRule {
  from?: Array<NetworkPolicyPeer>;
  _from?: Array<NetworkPolicyPeer>;
  ports?: Array<NetworkPolicyPort>;
}

/** An egress rule of a NetworkPolicy. */
export interface NetworkPolicyEgressRule {
  to?: Array<NetworkPolicyPeer>;
  ports?: Array<NetworkPolicyPort>;
}

/** `networking.k8s.io/v1` `NetworkPolicy` (`V1NetworkPolicy`). */
export interface NetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    podSelector?: LabelSelector;
    /** `Ingress` and/or `Egress`. */
    policyTypes?: Array<string>;
    ingress?: Array<NetworkPolicyIngressRule>;
    egress?: Array<NetworkPolicyEgressRule>;
  };
}

/** The peers of a NetworkPolicy ingress rule, whichever name (`from`, `_from`) carries them. */
export function ingressPeers(rule: NetworkPolicyIngressRule): NetworkPolicyPeer[] | undefined {
  return rule.from ?? rule._from;
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
  networks?: Array<string>;
  nodes?: LabelSelector;
  domainNames?: Array<string>;
}

/** A ClusterNetworkPolicy action. */
export type CnpAction = 'Accept' | 'Deny' | 'Pass';

/** A ClusterNetworkPolicy ingress rule. */
export interface CnpIngressRule {
  name?: string;
  action: CnpAction;
  from: Array<CnpPeer>;
  protocols?: Array<CnpProtocol>;
}

/** A ClusterNetworkPolicy egress rule. */
export interface CnpEgressRule {
  name?: string;
  action: CnpAction;
  to: Array<CnpPeer>;
  protocols?: Array<CnpProtocol>;
}

/** A `policy.networking.k8s.io/v1alpha2` `ClusterNetworkPolicy` (cluster-scoped). */
export interface ClusterNetworkPolicy {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: {
    tier: 'Admin' | 'Baseline';
    priority: number;
    subject: { namespaces?: LabelSelector; pods?: NamespacedPod };
    ingress?: Array<CnpIngressRule>;
    egress?: Array<CnpEgressRule>;
  };
}

/** The kinds podnet reads, by `kind`. */
export interface KindMap {
  Node: Node;
  Namespace: Namespace;
  Pod: Pod;
  Service: Service;
  EndpointSlice: EndpointSlice;
  NetworkPolicy: NetworkPolicy;
  ClusterNetworkPolicy: ClusterNetworkPolicy;
}

/** One of the kinds podnet reads. */
export type ObjectKind = keyof KindMap;

/** Every kind podnet reads, in the order a snapshot lists them. */
export const OBJECT_KINDS: readonly ObjectKind[] = [
  'Node',
  'Namespace',
  'Pod',
  'Service',
  'EndpointSlice',
  'NetworkPolicy',
  'ClusterNetworkPolicy',
];

/** Any object podnet reads. */
export type ClusterObject = KindMap[ObjectKind];

/** The `apiVersion` each kind is read at. */
export const API_VERSIONS: { readonly [K in ObjectKind]: string } = {
  Node: 'v1',
  Namespace: 'v1',
  Pod: 'v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  ClusterNetworkPolicy: 'policy.networking.k8s.io/v1alpha2',
};

/** True for the cluster-scoped kinds (no `metadata.namespace`). */
export function isClusterScoped(kind: ObjectKind): boolean {
  return kind === 'Node' || kind === 'Namespace' || kind === 'ClusterNetworkPolicy';
}

/**
 * A consistent view of every kind at one moment: arrays sorted by namespace/name. Its arrays are
 * the store's own (frozen by convention): treat them and their objects as immutable.
 */
export interface ClusterSnapshot {
  readonly nodes: readonly Node[];
  readonly namespaces: readonly Namespace[];
  readonly pods: readonly Pod[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly networkPolicies: readonly NetworkPolicy[];
  readonly clusterNetworkPolicies: readonly ClusterNetworkPolicy[];
}

/** The snapshot field of each kind. */
export const SNAPSHOT_FIELDS: { readonly [K in ObjectKind]: keyof ClusterSnapshot } = {
  Node: 'nodes',
  Namespace: 'namespaces',
  Pod: 'pods',
  Service: 'services',
  EndpointSlice: 'endpointSlices',
  NetworkPolicy: 'networkPolicies',
  ClusterNetworkPolicy: 'clusterNetworkPolicies',
};

/** The label naming an EndpointSlice's Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
