/**
 * Input types: Kubernetes `v1.Service` and `discovery.k8s.io/v1.EndpointSlice` as
 * `@podnet/cluster-state` models them (podnet's one object model; objects from
 * `@kubernetes/client-node` or parsed manifests fit as they are).
 */

import type {
  Endpoint,
  EndpointPort,
  EndpointSlice,
  ObjectMeta,
  Service,
  ServicePort,
} from '@podnet/cluster-state';

export type { Endpoint, EndpointPort, EndpointSlice, ObjectMeta, Service, ServicePort };

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
