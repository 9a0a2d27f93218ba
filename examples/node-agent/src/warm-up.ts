import {
  ClusterStore,
  type DeltaBatch,
  dnsChanges,
  type EndpointSlice,
  isEmptyPolicyChanges,
  isEmptyServiceChanges,
  kindsOf,
  type Namespace,
  type NetworkPolicy,
  type Node,
  type Pod,
  policyChanges,
  policyInput,
  type Service,
  serviceChanges,
  serviceInput,
  type StoreTransaction,
} from '@podnet/cluster-state';
import { Host, type Runner } from '@podnet/host';
import { type CompileOptions, PolicySyncer } from '@podnet/netpol';
import { ServiceSyncer } from '@podnet/service-lb';

/** A runner that runs nothing and succeeds: the warm-up's syncers never reach the kernel. */
const NO_PROCESS: Runner = { run: async () => ({ stdout: '', stderr: '', code: 0 }) };

const NS = 'podnet-warm-up';
const SERVICE_IP = '198.51.100.10';
const NEW_SERVICE_IP = '198.51.100.11';
const podIp = (i: number) => `192.0.2.${10 + i}`;

/** Options of {@link warmUpEventPath}. */
export interface WarmUpOptions {
  /** This node's name: the warm-up's pods and endpoints are local, as the events that matter. */
  readonly nodeName: string;
  /** The policy compiler options the agent uses (verdict logs), so the same code runs. */
  readonly policyCompile?: CompileOptions;
  /** Rounds of the five events (default 4). */
  readonly rounds?: number;
  /** What the throwaway syncers run (default: nothing, a runner that only succeeds; tests record). */
  readonly runner?: Runner;
}

/** What {@link warmUpEventPath} did. */
export interface WarmUpResult {
  /** Events run through the incremental paths. */
  readonly events: number;
  /** Wall time, milliseconds. */
  readonly ms: number;
}

function pod(i: number, app: string, nodeName: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: NS, name: `pod-${i}`, labels: { app } },
    spec: { nodeName, containers: [{ name: 'c' }] },
    status: { phase: 'Running', podIP: podIp(i), podIPs: [{ ip: podIp(i) }] },
  };
}

function service(name: string, ip: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: NS, name },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      clusterIPs: [ip],
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      selector: { app: 'a' },
    },
  };
}

function slice(serviceName: string, ready: readonly boolean[], nodeName: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: NS,
      name: `${serviceName}-w`,
      labels: { 'kubernetes.io/service-name': serviceName },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: ready.map((r, i) => ({
      addresses: [podIp(i)],
      conditions: { ready: r, serving: r, terminating: false },
      nodeName,
    })),
  };
}

function policy(port: number): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: NS, name: 'allow-b' },
    spec: {
      podSelector: { matchLabels: { app: 'a' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { app: 'b' } } }],
          ports: [{ protocol: 'TCP', port }],
        },
      ],
    },
  };
}

/**
 * Runs the agent's event path once over before the first real event: a throwaway store, the
 * projections, and a {@link ServiceSyncer} and {@link PolicySyncer} whose runner runs nothing,
 * fed a tiny cluster, then a few rounds of the events the agent sees most (an endpoint turning
 * ready, a new Service and its removal, a pod label change, a policy edit). The code is shared
 * with the agent's own store and syncers, so the first real event finds it compiled (V8 compiles
 * a function on its first call and runs it interpreted at first: measured in-process at 10,000
 * Services, the first `ServiceSyncer.update()` of one endpoint took 15–29 ms, the next ones
 * 0.3–3 ms; the first pod label change up to 44 ms, then 0.3–2 ms). Nothing reaches the kernel
 * and the agent's own state and metrics are untouched.
 */
export async function warmUpEventPath(options: WarmUpOptions): Promise<WarmUpResult> {
  const t0 = performance.now();
  const node = options.nodeName;
  const host = new Host({ runner: options.runner ?? NO_PROCESS });
  const store = new ClusterStore();
  let batch: DeltaBatch = { deltas: [], resync: [] };
  const unsubscribe = store.subscribe((b) => {
    batch = b;
  });
  const nodeObj: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: node } };
  const namespace: Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NS, labels: { 'kubernetes.io/metadata.name': NS } },
  };
  store.transaction((tx) => {
    tx.replace('Node', [nodeObj]);
    tx.replace('Namespace', [namespace]);
    tx.replace('Pod', [pod(0, 'a', node), pod(1, 'b', node), pod(2, 'idle', node)]);
    tx.replace('Service', [service('web', SERVICE_IP)]);
    tx.replace('EndpointSlice', [slice('web', [true, false], node)]);
    tx.replace('NetworkPolicy', [policy(8080)]);
  });
  const services = new ServiceSyncer({
    host,
    node: { name: node, clusterCIDRs: ['192.0.2.0/24'], serviceCIDRs: ['198.51.100.0/24'] },
    families: ['ip'],
  });
  const policies = new PolicySyncer({
    host,
    nodeName: node,
    session: false,
    ...options.policyCompile,
  });
  let events = 0;
  try {
    await services.sync(serviceInput(store));
    await policies.sync(policyInput(store));
    // as the agent applies a batch (see NodeAgent.reconcile)
    const apply = async (change: (tx: StoreTransaction) => void) => {
      store.transaction(change);
      events++;
      kindsOf(batch);
      dnsChanges(batch.deltas);
      const s = serviceChanges(batch);
      if (!isEmptyServiceChanges(s)) await services.update(s);
      const p = policyChanges(batch);
      if (!isEmptyPolicyChanges(p)) await policies.update(p);
    };
    for (let r = 0; r < (options.rounds ?? 4); r++) {
      const odd = r % 2 === 1;
      await apply((tx) => tx.upsert('EndpointSlice', slice('web', [true, !odd], node)));
      await apply((tx) => tx.upsert('Pod', pod(2, odd ? 'idle' : 'a', node)));
      await apply((tx) => tx.upsert('NetworkPolicy', policy(odd ? 8080 : 9000 + r)));
      await apply((tx) => {
        tx.upsert('Service', service('new', NEW_SERVICE_IP));
        tx.upsert('EndpointSlice', slice('new', [true], node));
      });
      await apply((tx) => {
        tx.delete('Service', `${NS}/new`);
        tx.delete('EndpointSlice', `${NS}/new-w`);
      });
    }
  } finally {
    unsubscribe();
    services.close();
    await policies.close();
  }
  return { events, ms: performance.now() - t0 };
}
