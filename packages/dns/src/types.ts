/**
 * Plain Kubernetes object shapes the resolver reads. They are structural subsets of the
 * API types, so objects from `@kubernetes/client-node`, `kubernetes-models` or parsed YAML fit.
 */

/** `metadata` fields the resolver uses. */
export interface K8sObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string> | null;
}

/** A `v1` Namespace. */
export interface K8sNamespace {
  kind?: string;
  metadata?: K8sObjectMeta;
}

/** A port of a `v1` Service. */
export interface K8sServicePort {
  name?: string | null;
  port: number;
  protocol?: string | null;
  targetPort?: number | string | null;
}

/** A `v1` Service. */
export interface K8sService {
  kind?: string;
  metadata?: K8sObjectMeta;
  spec?: {
    type?: string | null;
    clusterIP?: string | null;
    clusterIPs?: string[] | null;
    externalName?: string | null;
    ports?: K8sServicePort[] | null;
    selector?: Record<string, string> | null;
    publishNotReadyAddresses?: boolean | null;
  } | null;
}

/** An endpoint of a `discovery.k8s.io/v1` EndpointSlice. */
export interface K8sEndpoint {
  addresses: string[];
  hostname?: string | null;
  conditions?: {
    ready?: boolean | null;
    serving?: boolean | null;
    terminating?: boolean | null;
  } | null;
  targetRef?: { kind?: string; name?: string; namespace?: string } | null;
}

/** A port of an EndpointSlice. */
export interface K8sEndpointPort {
  name?: string | null;
  port?: number | null;
  protocol?: string | null;
}

/** A `discovery.k8s.io/v1` EndpointSlice (its service is the `kubernetes.io/service-name` label). */
export interface K8sEndpointSlice {
  kind?: string;
  metadata?: K8sObjectMeta;
  addressType?: string;
  endpoints?: K8sEndpoint[] | null;
  ports?: K8sEndpointPort[] | null;
}

/** A `v1` Pod. */
export interface K8sPod {
  kind?: string;
  metadata?: K8sObjectMeta;
  spec?: { hostname?: string | null; subdomain?: string | null } | null;
  status?: {
    phase?: string | null;
    podIP?: string | null;
    podIPs?: { ip: string }[] | null;
    conditions?: { type: string; status: string }[] | null;
  } | null;
}

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
