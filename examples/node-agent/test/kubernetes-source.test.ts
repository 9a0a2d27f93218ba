import { KubeConfig } from '@kubernetes/client-node';
import { waitFor } from '@podnet/host/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ClusterSnapshot, createLogger, KubernetesSource } from '../src/index.js';
import { ApiFixture } from '../src/testing/index.js';

const PATHS = {
  nodes: '/api/v1/nodes',
  namespaces: '/api/v1/namespaces',
  pods: '/api/v1/pods',
  services: '/api/v1/services',
  endpointSlices: '/apis/discovery.k8s.io/v1/endpointslices',
  networkPolicies: '/apis/networking.k8s.io/v1/networkpolicies',
} as const;

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fx', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'fx', cluster: 'fx', user: 'u' }],
    currentContext: 'fx',
  });
  return kc;
}

const pod = (name: string, ip: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels },
  spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
  status: { podIPs: [{ ip }] },
});

function names(s: ClusterSnapshot | undefined, kind: keyof ClusterSnapshot): string[] {
  return (s?.[kind] ?? []).map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`);
}

describe('KubernetesSource against a list/watch fixture', () => {
  let fx: ApiFixture;
  let source: KubernetesSource;
  let last: ClusterSnapshot | undefined;
  const logs: string[] = [];

  beforeEach(async () => {
    fx = new ApiFixture();
    fx.upsert(PATHS.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: { podCIDRs: ['10.244.1.0/24'] },
    });
    fx.upsert(PATHS.namespaces, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop' },
    });
    fx.upsert(PATHS.pods, pod('a', '10.244.1.2'));
    const url = await fx.start();
    source = new KubernetesSource({
      kubeConfig: kubeConfig(url),
      log: createLogger({ write: (l) => logs.push(l) }),
      watchIdleMs: 1500,
      minBackoffMs: 50,
      maxBackoffMs: 400,
      debounceMs: 5,
    });
    last = undefined;
    await source.start((s) => {
      last = s;
    });
  });
  afterEach(async () => {
    await source.stop();
    await fx.stop();
  });

  const converged = (what: string) =>
    waitFor(
      () =>
        (Object.keys(PATHS) as (keyof typeof PATHS)[]).every(
          (k) =>
            JSON.stringify(names(last, k)) ===
            JSON.stringify(
              fx.objects(PATHS[k]).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`),
            ),
        ) &&
        JSON.stringify(last?.pods.map((p) => p.metadata?.labels ?? {})) ===
          JSON.stringify(fx.objects(PATHS.pods).map((p) => p.metadata.labels ?? {})),
      { timeoutMs: 15_000, what },
    );

  it('lists every kind, then follows watch events', async () => {
    await converged('initial list');
    expect(source.synced).toBe(true);
    expect(last?.nodes[0]?.spec?.podCIDRs).toEqual(['10.244.1.0/24']);
    fx.upsert(PATHS.pods, pod('b', '10.244.1.3'));
    fx.upsert(PATHS.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.10' },
    });
    fx.remove(PATHS.pods, 'a', 'shop');
    await converged('watch events');
    expect(names(last, 'pods')).toEqual(['shop/b']);
    expect(fx.requests.filter((r) => r.startsWith('LIST')).length).toBe(6);
  });

  it('converges through 410s, closed watches, 500s and silence', async () => {
    await converged('initial list');
    await waitFor(() => fx.openWatches === 6, { what: 'six watches' });

    fx.closeOpenWatches();
    fx.upsert(PATHS.pods, pod('c', '10.244.1.4'));
    await converged('after server-closed watches');

    fx.expireOpenWatches();
    fx.upsert(PATHS.pods, pod('d', '10.244.1.5'));
    fx.remove(PATHS.pods, 'c', 'shop');
    await converged('after in-stream 410 ERROR events');

    fx.compact();
    fx.faults.failWatches = 3;
    fx.closeOpenWatches();
    fx.upsert(PATHS.networkPolicies, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'shop' },
      spec: { podSelector: {} },
    });
    await converged('after HTTP 410 and watch 500s');

    fx.faults.failLists = 4;
    fx.faults.failWatches = 2;
    fx.closeOpenWatches();
    fx.upsert(PATHS.pods, pod('d', '10.244.1.5', { role: 'db' }));
    await converged('after list 500s');

    const restartsBefore = source.stats.watchdogRestarts;
    fx.faults.silentWatches = true;
    fx.closeOpenWatches();
    await waitFor(() => fx.openWatches === 6, { what: 'six silent watches' });
    fx.faults.silentWatches = false;
    fx.upsert(PATHS.pods, pod('e', '10.244.1.6'));
    fx.remove(PATHS.pods, 'b', 'shop');
    fx.upsert(PATHS.endpointSlices, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: 'shop' },
      addressType: 'IPv4',
      endpoints: [],
    });
    await converged('after silent watches (watchdog)');
    expect(source.stats.watchdogRestarts).toBeGreaterThan(restartsBefore);
    expect(source.stats.errors).toBeGreaterThan(0);
    expect(names(last, 'pods')).toEqual(['shop/a', 'shop/d', 'shop/e']);
    expect(last?.pods.find((p) => p.metadata?.name === 'd')?.metadata?.labels).toEqual({
      role: 'db',
    });
  });
});
