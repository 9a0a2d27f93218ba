/**
 * Input types: the parts of Kubernetes `v1.Service` and `discovery.k8s.io/v1.EndpointSlice` that
 * service load balancing reads. Objects from `@kubernetes/client-node` or parsed YAML manifests
 * fit as they are (extra fields are ignored).
 */

/** `metadata` of a Kubernetes object (the fields read here). */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
}

/** One entry of `Service.spec.ports`. */
export interface ServicePort {
  name?: string;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

/** A Kubernetes Service (`v1.Service`). */
export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ports?: ServicePort[];
    externalIPs?: string[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    loadBalancerSourceRanges?: string[];
    trafficDistribution?: string;
  };
  status?: {
    loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string; ipMode?: string }> };
  };
}

/** One endpoint of an EndpointSlice. */
export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: Array<{ name: string }>; forNodes?: Array<{ name: string }> };
}

/** One entry of `EndpointSlice.ports`. */
export interface EndpointPort {
  name?: string;
  protocol?: string;
  port?: number;
}

/** A Kubernetes EndpointSlice (`discovery.k8s.io/v1`). Its service is the label `kubernetes.io/service-name`. */
export interface EndpointSlice {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  /** `IPv4`, `IPv6` or `FQDN` (ignored). */
  addressType?: string;
  endpoints?: Endpoint[];
  ports?: EndpointPort[];
}

/** Everything the compiler reads about the cluster: Services and their EndpointSlices. */
export interface ServiceState {
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
}

/** What the compiler needs to know about the node it programs. */
export interface NodeFacts {
  /** The node's name (matched against `endpoints[].nodeName` for Local traffic policies). */
  name: string;
  /** The node's zone (`topology.kubernetes.io/zone`), for `PreferClose` topology hints. */
  zone?: string;
  /**
   * Addresses NodePorts answer on. When empty, NodePorts answer on every local address
   * (`fib daddr type local`, loopback excluded), as kube-proxy does by default.
   */
  addresses?: readonly string[];
  /** Pod CIDRs of the cluster: traffic from outside them to a ClusterIP is masqueraded. */
  clusterCIDRs?: readonly string[];
  /** Service CIDRs: traffic to an unallocated address in them is dropped. */
  serviceCIDRs?: readonly string[];
}

/** nftables address family of one table: `ip` (IPv4) or `ip6` (IPv6). */
export type IpFamily = 'ip' | 'ip6';

/** Options of the compiler. */
export interface CompileOptions {
  /** Name of podnet's table in each family (default `podnet-svc`). No other table is touched. */
  table?: string;
  /** Families to program (default both). */
  families?: readonly IpFamily[];
  /** Packet-mark bit used to request masquerade (default `0x4000`, as kube-proxy). */
  masqueradeMark?: number;
}
