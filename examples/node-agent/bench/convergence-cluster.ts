/**
 * The synthetic cluster of the convergence benchmark: Nodes with pod CIDRs, Namespaces, Pods
 * spread over the Nodes, ClusterIP Services with one EndpointSlice each (endpoints are pod IPs),
 * and NetworkPolicies, plus the objects the per-event samples write. Pure: plain objects as the
 * API server would serve them (validated by `@podnet/cluster-state`'s `validateObject`).
 */
import type {
  EndpointSlice,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
  Service,
} from '@podnet/cluster-state';

/** How big the synthetic cluster is. */
export interface ClusterScale {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly policies: number;
  /** Pods on every Node (this node included). */
  readonly podsPerNode: number;
  readonly nodes: number;
  readonly namespaces: number;
  /** Samples per event kind: that many Services start with one endpoint not ready. */
  readonly samples: number;
  /**
   * Local pods that start unselected (the {@link IDLE_APP} label); the pod-label samples go
   * round them, each round giving a pod the label of another set of policies.
   */
  readonly idlePods: number;
}

/** The scale issue #15 asks for: 10,000 Services × 10 endpoints, 1,000 policies, 5,000 pods. */
export const ISSUE_SCALE: ClusterScale = {
  services: 10_000,
  endpointsPerService: 10,
  policies: 1_000,
  podsPerNode: 50,
  nodes: 100,
  namespaces: 10,
  samples: 100,
  idlePods: 30,
};

/** The node the agent under test runs as (node index 0). */
export const BENCH_NODE = 'bench';
/** Its underlay address (`eth0` in the node namespace); other nodes follow in the same /24. */
export const BENCH_NODE_IP = '192.168.77.2';
/** The cluster's pod network: node `k` gets `10.128.k.0/24` (k < 256). */
export const CLUSTER_CIDR = '10.128.0.0/9';
/** The Service CIDR: ClusterIPs are allocated from its 17th address on. */
export const SERVICE_CIDR = '10.96.0.0/16';
/** Where the new Services of the per-event samples get their ClusterIPs (inside SERVICE_CIDR). */
const NEW_SERVICE_BASE = 200 << 8;
/** The label value of local pods no policy selects (the pod-label samples select them). */
export const IDLE_APP = 'idle';

/** The whole synthetic cluster, and the handles the per-event samples use. */
export interface SyntheticCluster {
  readonly scale: ClusterScale;
  readonly nodes: Node[];
  readonly namespaces: Namespace[];
  readonly pods: Pod[];
  readonly services: Service[];
  readonly endpointSlices: EndpointSlice[];
  readonly networkPolicies: NetworkPolicy[];
  /** Indexes into `services`/`endpointSlices` whose last endpoint starts not ready. */
  readonly notReadyServices: number[];
  /** Indexes into `pods` of local pods that start with the {@link IDLE_APP} label. */
  readonly idleLocalPods: number[];
  /** Indexes into `networkPolicies` of policies that select a local pod from the start. */
  readonly localPolicies: number[];
}

const ip4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const SERVICE_BASE = (10 << 24) | (96 << 16);

/** ClusterIP of Service index `i` (the 17th address of the Service CIDR is index 0). */
export function clusterIp(i: number): string {
  return ip4(SERVICE_BASE + 16 + i);
}

/** ClusterIP of the `s`th new Service a sample creates. */
export function newServiceIp(s: number): string {
  return ip4(SERVICE_BASE + NEW_SERVICE_BASE + s);
}

/** Name of node `k` (`bench` for 0). */
export function nodeName(k: number): string {
  return k === 0 ? BENCH_NODE : `node-${k}`;
}

/** Pod CIDR of node `k`. */
export function nodePodCidr(k: number): string {
  return `10.${128 + (k >> 8)}.${k & 255}.0/24`;
}

/** IP of pod `j` on node `k` (.2 onwards: .1 is the node's gateway). */
export function podIp(k: number, j: number): string {
  return `10.${128 + (k >> 8)}.${k & 255}.${j + 2}`;
}

/** Namespace name `n`. */
export function namespaceName(n: number): string {
  return `ns${n}`;
}

/** `app` label of pod index `g` (policy `p` selects `app: a<p % 50>` in namespace `p % ns`). */
function appOf(g: number): string {
  return `a${g % 50}`;
}

/** A ClusterIP Service (TCP 80 → 8080). */
export function makeService(namespace: string, name: string, ip: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name, uid: `uid-svc-${namespace}-${name}` },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      clusterIPs: [ip],
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      selector: { svc: name },
    },
  };
}

/** The EndpointSlice of Service `namespace/service` with the given endpoints (port 8080). */
export function makeSlice(
  namespace: string,
  service: string,
  endpoints: ReadonlyArray<{ ip: string; node: string; ready: boolean }>,
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace,
      name: `${service}-x7k2p`,
      labels: { 'kubernetes.io/service-name': service },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready, serving: e.ready, terminating: false },
      nodeName: e.node,
    })),
  };
}

/** The same slice with endpoint `index`'s `ready` (and `serving`) set to `ready`. */
export function withEndpointReady(
  slice: EndpointSlice,
  index: number,
  ready: boolean,
): EndpointSlice {
  return {
    ...slice,
    metadata: { ...slice.metadata },
    endpoints: slice.endpoints.map((e, i) =>
      i === index ? { ...e, conditions: { ready, serving: ready, terminating: false } } : e,
    ),
  };
}

/** The same pod with label `app` set to `app`. */
export function withAppLabel(pod: Pod, app: string): Pod {
  return {
    ...pod,
    metadata: { ...pod.metadata, labels: { ...pod.metadata?.labels, app } },
  };
}

/** The same policy with its first ingress rule's first port set to `port`. */
export function withIngressPort(policy: NetworkPolicy, port: number): NetworkPolicy {
  const spec = policy.spec!;
  const rule = spec.ingress![0]!;
  return {
    ...policy,
    metadata: { ...policy.metadata },
    spec: {
      ...spec,
      ingress: [
        { ...rule, ports: [{ protocol: 'TCP', port }, ...(rule.ports ?? []).slice(1)] },
        ...spec.ingress!.slice(1),
      ],
    },
  };
}

/**
 * The app label the pod-label sample of round `round` gives local pod index `j`: one that the
 * policies of the pod's own namespace select (round 0: those of `app: a<j>`; each later round
 * moves the pod to the policies of `app: a<j + namespaces × round>`), so every sample changes
 * the pod's dispatch. Rounds 0-4 give five different sets of policies.
 */
export function selectedAppOf(j: number, round = 0, namespaces = 10): string {
  return appOf(j + namespaces * round);
}

/**
 * Builds the cluster. Pod `j` of node `k` (global index `g = k * podsPerNode + j`) lives in
 * namespace `g % namespaces` with labels `app: a<g % 50>`, `role: r<g % 4>`; policy `p` lives
 * in namespace `p % namespaces`, selects `app: a<p % 50>` and admits `role: r<p % 4>` pods of
 * namespaces labelled `team: t<(p / 10) % 5>` on two TCP ports (one of them named). Every policy
 * thus selects local pod `p % 50`; the last `idlePods` local pods start with the {@link IDLE_APP}
 * label (no policy selects them). Service `i` has its ClusterIP from {@link clusterIp} and
 * endpoints on pods `(i * endpoints + e) % pods`; `samples` Services spread over the range start
 * with their last endpoint not ready.
 */
export function buildCluster(scale: ClusterScale): SyntheticCluster {
  const nodes: Node[] = [];
  for (let k = 0; k < scale.nodes; k++) {
    nodes.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: nodeName(k), labels: { 'kubernetes.io/hostname': nodeName(k) } },
      spec: { podCIDR: nodePodCidr(k), podCIDRs: [nodePodCidr(k)] },
      status: { addresses: [{ type: 'InternalIP', address: `192.168.77.${k + 2}` }] },
    });
  }
  const namespaces: Namespace[] = [];
  for (let n = 0; n < scale.namespaces; n++) {
    namespaces.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespaceName(n),
        labels: { 'kubernetes.io/metadata.name': namespaceName(n), team: `t${n % 5}` },
      },
    });
  }
  const pods: Pod[] = [];
  const idleLocalPods: number[] = [];
  const firstIdle = scale.podsPerNode - scale.idlePods;
  for (let k = 0; k < scale.nodes; k++) {
    for (let j = 0; j < scale.podsPerNode; j++) {
      const g = k * scale.podsPerNode + j;
      const idle = k === 0 && j >= firstIdle;
      if (idle) idleLocalPods.push(pods.length);
      pods.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          namespace: namespaceName(g % scale.namespaces),
          name: `pod-${k}-${j}`,
          uid: `uid-pod-${k}-${j}`,
          labels: { app: idle ? IDLE_APP : appOf(g), role: `r${g % 4}` },
        },
        spec: {
          nodeName: nodeName(k),
          containers: [{ name: 'app', ports: [{ name: 'http', containerPort: 8080 }] }],
        },
        status: {
          phase: 'Running',
          podIP: podIp(k, j),
          podIPs: [{ ip: podIp(k, j) }],
          hostIP: `192.168.77.${k + 2}`,
        },
      });
    }
  }
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  const notReady = new Set<number>();
  const stride = Math.floor(scale.services / scale.samples);
  for (let s = 0; s < scale.samples; s++) notReady.add(s * stride + (stride >> 1));
  const totalPods = pods.length;
  for (let i = 0; i < scale.services; i++) {
    const ns = namespaceName(i % scale.namespaces);
    const name = `svc-${i}`;
    services.push(makeService(ns, name, clusterIp(i)));
    const eps: Array<{ ip: string; node: string; ready: boolean }> = [];
    for (let e = 0; e < scale.endpointsPerService; e++) {
      const g = (i * scale.endpointsPerService + e) % totalPods;
      const k = Math.floor(g / scale.podsPerNode);
      const j = g % scale.podsPerNode;
      eps.push({
        ip: podIp(k, j),
        node: nodeName(k),
        ready: !(notReady.has(i) && e === scale.endpointsPerService - 1),
      });
    }
    endpointSlices.push(makeSlice(ns, name, eps));
  }
  const networkPolicies: NetworkPolicy[] = [];
  const localPolicies: number[] = [];
  for (let p = 0; p < scale.policies; p++) {
    if (p % 50 < firstIdle) localPolicies.push(p);
    networkPolicies.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        namespace: namespaceName(p % scale.namespaces),
        name: `np-${String(p).padStart(4, '0')}`,
      },
      spec: {
        podSelector: { matchLabels: { app: appOf(p) } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { team: `t${Math.floor(p / 10) % 5}` } },
                podSelector: { matchLabels: { role: `r${p % 4}` } },
              },
            ],
            ports: [
              { protocol: 'TCP', port: 8000 + (p % 100) },
              { protocol: 'TCP', port: 'http' },
            ],
          },
        ],
      },
    });
  }
  return {
    scale,
    nodes,
    namespaces,
    pods,
    services,
    endpointSlices,
    networkPolicies,
    notReadyServices: [...notReady].sort((a, b) => a - b),
    idleLocalPods,
    localPolicies,
  };
}

/** The `s`th new Service a sample creates (namespace `ns0`, ClusterIP {@link newServiceIp}). */
export function newService(s: number): Service {
  return makeService(namespaceName(0), `new-${s}`, newServiceIp(s));
}
