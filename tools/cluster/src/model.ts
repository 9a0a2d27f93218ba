/** The cluster's control plane as pure functions: objects in, Kubernetes manifests out. */
import { ClusterError } from './errors.js';
import type { ClusterPlan } from './plan.js';

/** A declared container port. */
export interface PodPort {
  name?: string;
  containerPort: number;
  protocol: 'TCP' | 'UDP';
  hostPort?: number;
}

/** A pod as the cluster tracks it. */
export interface PodRecord {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  nodeName: string;
  ports: PodPort[];
  netns?: string;
  containerId?: string;
  ip?: string;
  serverPid?: number;
}

/** A Service port. */
export interface ServicePort {
  name?: string;
  port: number;
  targetPort: number | string;
  protocol: 'TCP' | 'UDP';
  nodePort?: number;
}

/** A Service as the cluster tracks it. */
export interface ServiceRecord {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort';
  selector: Record<string, string>;
  ports: ServicePort[];
  clusterIP?: string;
}

/** The user-facing objects read from YAML (after validation). */
export interface UserObjects {
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: PodRecord[];
  services: ServiceRecord[];
  /** NetworkPolicies, passed to the agents as given. */
  networkPolicies: Record<string, unknown>[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(where: string, msg: string): never {
  throw new ClusterError('INVALID_ARGUMENT', `${where}: ${msg}`);
}

const DNS1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function labels(where: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (!isObj(v)) bad(where, 'want a map of strings');
  for (const [k, x] of Object.entries(v))
    if (typeof x !== 'string') bad(`${where}.${k}`, 'want a string');
  return v as Record<string, string>;
}

function port(where: string, v: unknown): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535)
    bad(where, `want a port 1-65535, got ${JSON.stringify(v)}`);
  return v as number;
}

function protocol(where: string, v: unknown): 'TCP' | 'UDP' {
  if (v === undefined) return 'TCP';
  if (v !== 'TCP' && v !== 'UDP') bad(where, `want TCP or UDP, got ${JSON.stringify(v)}`);
  return v;
}

function meta(
  where: string,
  o: Obj,
  namespaced: boolean,
): { name: string; namespace: string; labels: Record<string, string> } {
  const m = o.metadata;
  if (!isObj(m)) bad(`${where}.metadata`, 'missing');
  if (typeof m.name !== 'string' || !DNS1123.test(m.name))
    bad(`${where}.metadata.name`, `want a DNS label, got ${JSON.stringify(m.name)}`);
  const namespace = namespaced ? (m.namespace ?? 'default') : '';
  if (namespaced && (typeof namespace !== 'string' || !DNS1123.test(namespace))) {
    bad(`${where}.metadata.namespace`, `want a DNS label, got ${JSON.stringify(namespace)}`);
  }
  return {
    name: m.name,
    namespace: namespace as string,
    labels: labels(`${where}.metadata.labels`, m.labels),
  };
}

/** Validates parsed YAML documents (Namespace, Pod, Service, NetworkPolicy) into user objects. */
export function parseUserObjects(docs: unknown[], source = 'manifest'): UserObjects {
  const out: UserObjects = { namespaces: [], pods: [], services: [], networkPolicies: [] };
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    if (!isObj(doc)) bad(`${source}[${i}]`, 'want an object');
    const where = `${source}[${i}] (${String(doc.kind)})`;
    switch (doc.kind) {
      case 'Namespace': {
        const m = meta(where, doc, false);
        out.namespaces.push({ name: m.name, labels: m.labels });
        break;
      }
      case 'Pod': {
        const m = meta(where, doc, true);
        const spec = isObj(doc.spec) ? doc.spec : bad(`${where}.spec`, 'missing');
        const containers = Array.isArray(spec.containers) ? spec.containers : [];
        const ports: PodPort[] = [];
        containers.forEach((c: unknown, ci: number) => {
          const cp = isObj(c) && Array.isArray(c.ports) ? c.ports : [];
          cp.forEach((p: unknown, pi: number) => {
            const w = `${where}.spec.containers[${ci}].ports[${pi}]`;
            if (!isObj(p)) bad(w, 'want an object');
            ports.push({
              ...(typeof p.name === 'string' ? { name: p.name } : {}),
              containerPort: port(`${w}.containerPort`, p.containerPort),
              protocol: protocol(`${w}.protocol`, p.protocol),
              ...(p.hostPort !== undefined ? { hostPort: port(`${w}.hostPort`, p.hostPort) } : {}),
            });
          });
        });
        if (spec.nodeName !== undefined && typeof spec.nodeName !== 'string')
          bad(`${where}.spec.nodeName`, 'want a string');
        out.pods.push({
          namespace: m.namespace,
          name: m.name,
          labels: m.labels,
          nodeName: (spec.nodeName as string) ?? '',
          ports,
        });
        break;
      }
      case 'Service': {
        const m = meta(where, doc, true);
        const spec = isObj(doc.spec) ? doc.spec : bad(`${where}.spec`, 'missing');
        const type = spec.type ?? 'ClusterIP';
        if (type !== 'ClusterIP' && type !== 'NodePort')
          bad(`${where}.spec.type`, `want ClusterIP or NodePort, got ${JSON.stringify(type)}`);
        const ports = (
          Array.isArray(spec.ports) ? spec.ports : bad(`${where}.spec.ports`, 'want a list')
        ).map((p: unknown, pi: number): ServicePort => {
          const w = `${where}.spec.ports[${pi}]`;
          if (!isObj(p)) bad(w, 'want an object');
          const svcPort = port(`${w}.port`, p.port);
          const target = p.targetPort ?? svcPort;
          if (typeof target !== 'string') port(`${w}.targetPort`, target);
          return {
            ...(typeof p.name === 'string' ? { name: p.name } : {}),
            port: svcPort,
            targetPort: target as number | string,
            protocol: protocol(`${w}.protocol`, p.protocol),
            ...(p.nodePort !== undefined ? { nodePort: port(`${w}.nodePort`, p.nodePort) } : {}),
          };
        });
        out.services.push({
          namespace: m.namespace,
          name: m.name,
          type,
          selector: labels(`${where}.spec.selector`, spec.selector),
          ports,
          ...(typeof spec.clusterIP === 'string' ? { clusterIP: spec.clusterIP } : {}),
        });
        break;
      }
      case 'NetworkPolicy': {
        const m = meta(where, doc, true);
        if (!isObj(doc.spec)) bad(`${where}.spec`, 'missing');
        out.networkPolicies.push({
          ...doc,
          apiVersion: 'networking.k8s.io/v1',
          metadata: { ...(doc.metadata as Obj), namespace: m.namespace },
        });
        break;
      }
      default:
        bad(
          `${source}[${i}].kind`,
          `want Namespace, Pod, Service or NetworkPolicy, got ${JSON.stringify(doc.kind)}`,
        );
    }
  });
  return out;
}

/** Picks a node for an unscheduled pod: the node with the fewest pods (first on ties). */
export function schedule(plan: ClusterPlan, pods: readonly PodRecord[], pod: PodRecord): string {
  if (pod.nodeName) {
    if (!plan.nodes.some((n) => n.name === pod.nodeName)) {
      throw new ClusterError(
        'INVALID_ARGUMENT',
        `pod ${pod.namespace}/${pod.name}: spec.nodeName ${pod.nodeName} is not a node of this cluster`,
      );
    }
    return pod.nodeName;
  }
  const count = (n: string) => pods.filter((p) => p.nodeName === n).length;
  return [...plan.nodes].sort((a, b) => count(a.name) - count(b.name))[0]!.name;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** True when IPv4 `ip` lies in IPv4 `cidr` (`a.b.c.d/len`); false for anything else. Pure. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/;
  if (!base || !v4.test(ip) || !v4.test(base)) return false;
  const len = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(len) || len < 0 || len > 32) return false;
  const size = 2 ** (32 - len);
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Allocates the next free ClusterIP of the service CIDR (skipping network, .1 and the DNS IP). */
export function allocateClusterIp(plan: ClusterPlan, used: readonly string[]): string {
  const [base, bits] = plan.serviceCidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = ipToInt(base);
  const taken = new Set([...used, plan.dnsIp]);
  for (let i = 11; i < size - 1; i++) {
    const ip = intToIp(start + i);
    if (!taken.has(ip)) return ip;
  }
  throw new ClusterError('INVALID_ARGUMENT', `service CIDR ${plan.serviceCidr} is full`);
}

/** Allocates the next free NodePort in the plan's range. */
export function allocateNodePort(plan: ClusterPlan, used: readonly number[]): number {
  for (let p = plan.nodePortRange[0]; p <= plan.nodePortRange[1]; p++)
    if (!used.includes(p)) return p;
  throw new ClusterError('INVALID_ARGUMENT', 'no free NodePort');
}

/** True when every selector label matches (an empty selector selects nothing, as for Services). */
export function selects(
  selector: Record<string, string>,
  podLabels: Record<string, string>,
): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => podLabels[k] === selector[k]);
}

/** The state the manifests are rendered from. */
export interface ControlPlaneState {
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: PodRecord[];
  services: ServiceRecord[];
  networkPolicies: Record<string, unknown>[];
}

/** The endpoint slice controller: one IPv4 EndpointSlice per Service from ready pods it selects. */
export function planEndpointSlice(
  svc: ServiceRecord,
  pods: readonly PodRecord[],
): Record<string, unknown> {
  const matching = pods.filter(
    (p) => p.namespace === svc.namespace && p.ip && selects(svc.selector, p.labels),
  );
  const ports = svc.ports.map((sp) => {
    let target: number | undefined = typeof sp.targetPort === 'number' ? sp.targetPort : undefined;
    if (typeof sp.targetPort === 'string') {
      target = matching
        .flatMap((p) => p.ports)
        .find((pp) => pp.name === sp.targetPort)?.containerPort;
    }
    return {
      ...(sp.name ? { name: sp.name } : { name: '' }),
      port: target ?? 0,
      protocol: sp.protocol,
    };
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svc.name}-podnet`,
      namespace: svc.namespace,
      labels: {
        'kubernetes.io/service-name': svc.name,
        'endpointslice.kubernetes.io/managed-by': 'podnet-cluster',
      },
    },
    addressType: 'IPv4',
    endpoints: matching.map((p) => ({
      addresses: [p.ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: p.nodeName,
      targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name },
    })),
    ports: ports.filter((p) => p.port > 0),
  };
}

/** Every manifest the agents read, keyed by file name. Pure. */
export function renderManifests(
  plan: ClusterPlan,
  state: ControlPlaneState,
): Record<string, Record<string, unknown>> {
  const files: Record<string, Record<string, unknown>> = {};
  for (const n of plan.nodes) {
    files[`node-${n.name}.yaml`] = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
      spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
      status: {
        addresses: [
          { type: 'InternalIP', address: n.ip },
          { type: 'Hostname', address: n.name },
        ],
      },
    };
  }
  const nsNames = new Set([
    'default',
    'kube-system',
    ...state.namespaces.map((n) => n.name),
    ...state.pods.map((p) => p.namespace),
  ]);
  for (const name of nsNames) {
    const given = state.namespaces.find((n) => n.name === name);
    files[`namespace-${name}.yaml`] = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { ...(given?.labels ?? {}), 'kubernetes.io/metadata.name': name } },
    };
  }
  for (const p of state.pods) {
    files[`pod-${p.namespace}-${p.name}.yaml`] = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
      spec: {
        nodeName: p.nodeName,
        containers: [{ name: 'server', image: 'podnet/pod-server', ports: p.ports }],
      },
      status: p.ip
        ? { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] }
        : { phase: 'Pending' },
    };
  }
  for (const s of state.services) {
    files[`service-${s.namespace}-${s.name}.yaml`] = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace },
      spec: {
        type: s.type,
        selector: s.selector,
        clusterIP: s.clusterIP,
        clusterIPs: s.clusterIP ? [s.clusterIP] : [],
        ipFamilies: ['IPv4'],
        ports: s.ports,
      },
    };
    files[`endpointslice-${s.namespace}-${s.name}.yaml`] = planEndpointSlice(s, state.pods);
  }
  for (const np of state.networkPolicies) {
    const m = np.metadata as { name: string; namespace: string };
    files[`networkpolicy-${m.namespace}-${m.name}.yaml`] = np;
  }
  return files;
}
