import type {
  Endpoint,
  EndpointPort,
  EndpointSlice,
  Namespace,
  ObjectMeta,
  Pod,
  Service,
  ServicePort,
} from '@podnet/cluster-state';

/**
 * The Kubernetes objects the resolver reads are `@podnet/cluster-state`'s (podnet's one object
 * model: objects from `@kubernetes/client-node` or parsed manifests fit as they are). These names
 * are kept for existing users.
 */
export type K8sObjectMeta = ObjectMeta;
/** A `v1` Namespace. */
export type K8sNamespace = Namespace;
/** A port of a `v1` Service. */
export type K8sServicePort = ServicePort;
/** A `v1` Service. */
export type K8sService = Service;
/** An endpoint of a `discovery.k8s.io/v1` EndpointSlice. */
export type K8sEndpoint = Endpoint;
/** A port of an EndpointSlice. */
export type K8sEndpointPort = EndpointPort;
/** A `discovery.k8s.io/v1` EndpointSlice (its service is the `kubernetes.io/service-name` label). */
export type K8sEndpointSlice = EndpointSlice;
/** A `v1` Pod. */
export type K8sPod = Pod;

/** Everything the cluster DNS answers from: plain Kubernetes objects, as listed from the API. */
export interface ClusterDnsState {
  namespaces?: readonly K8sNamespace[];
  services?: readonly K8sService[];
  endpointSlices?: readonly K8sEndpointSlice[];
  pods?: readonly K8sPod[];
}

/** How `<a-b-c-d>.<ns>.pod.<zone>` names are answered (CoreDNS `pods`). */
export type PodsMode = 'disabled' | 'insecure' | 'verified';

/** Options of the cluster zone. */
export interface ZoneOptions {
  /** Cluster domain; default `cluster.local`. */
  zone?: string;
  /** TTL of every record and of negative answers (SOA minimum); default 5 (CoreDNS), kubeadm uses 30. */
  ttl?: number;
  /** Pod records mode; default `insecure` (what kubeadm configures). */
  pods?: PodsMode;
  /** SOA serial; default 1. The server passes the time of the update. */
  serial?: number;
  /**
   * When a Service with a selector has no EndpointSlice, derive its endpoints from the Pods it
   * selects (for manifests without an endpoint controller); default true.
   */
  endpointsFromPods?: boolean;
  /**
   * Addresses of the cluster DNS servers: answered as the A/AAAA records of `ns.dns.<zone>`, the
   * name the zone apex's NS record gives (default none: the NS record alone).
   */
  nameservers?: readonly string[];
}

/** Record types this package encodes and decodes by name. */
export type RecordType =
  | 'A'
  | 'NS'
  | 'CNAME'
  | 'SOA'
  | 'PTR'
  | 'TXT'
  | 'AAAA'
  | 'SRV'
  | 'OPT'
  | 'ANY';

/** SRV record data. */
export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** SOA record data. */
export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** One resource record. Names are absolute without the trailing dot, as in `dns-packet`. */
export type DnsRecord =
  | {
      name: string;
      type: 'A' | 'AAAA' | 'CNAME' | 'PTR' | 'NS';
      class?: 'IN';
      ttl: number;
      data: string;
    }
  | { name: string; type: 'SRV'; class?: 'IN'; ttl: number; data: SrvData }
  | { name: string; type: 'SOA'; class?: 'IN'; ttl: number; data: SoaData }
  | { name: string; type: 'TXT'; class?: 'IN'; ttl: number; data: string[] }
  | { name: string; type: number; class?: 'IN'; ttl: number; data: Uint8Array };

/** A question: a name and a type (name or number). */
export interface DnsQuestion {
  name: string;
  type: RecordType | number;
  class?: 'IN' | number;
}

/** Response codes the resolver produces. */
export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

/** What {@link resolve} decides for a question. */
export type Resolution =
  | {
      kind: 'answer';
      rcode: Rcode;
      answers: DnsRecord[];
      authorities: DnsRecord[];
      additionals: DnsRecord[];
    }
  /** The name is outside the cluster zone (or an unknown reverse name): ask the upstreams. */
  | { kind: 'forward' };
