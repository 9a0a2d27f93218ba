import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterStore, type DeltaBatch, OBJECT_KINDS, RESOURCE_PATHS } from '../src/index.js';
import { KubernetesSource } from '../src/kubernetes/index.js';
import { ApiFixture } from '../src/testing/index.js';

const P = RESOURCE_PATHS;

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

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const pod = (name: string, ip: string, node = 'n1', labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'shop', labels },
  spec: { nodeName: node, containers: [{ name: 'c' }] },
  status: { podIPs: [{ ip }] },
});
const service = (i: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `s${i}`, namespace: 'shop' },
  spec: { clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`, ports: [{ port: 80 }] },
});

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function setup(
  fill: (fx: ApiFixture) => void,
  options: Partial<ConstructorParameters<typeof KubernetesSource>[0]> = {},
  Source: typeof KubernetesSource = KubernetesSource,
) {
  const fx = new ApiFixture();
  fill(fx);
  const url = await fx.start();
  const store = new ClusterStore();
  const deleted: string[] = [];
  const batches: DeltaBatch[] = [];
  store.subscribe((b) => {
    batches.push(b);
    for (const d of b.deltas) if (d.type === 'deleted') deleted.push(`${d.kind} ${d.key}`);
  });
  const warnings: string[] = [];
  const source = new Source({
    kubeConfig: kubeConfig(url),
    log: { info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
    watchIdleMs: 1500,
    minBackoffMs: 50,
    maxBackoffMs: 400,
    ...options,
  });
  await source.start(store);
  stops.push(async () => {
    await source.stop();
    await fx.stop();
  });
  const matches = () =>
    OBJECT_KINDS.every((k) => {
      const want = fx
        .objects(P[k])
        .map((o) => JSON.stringify(o))
        .join('\n');
      const got = store
        .list(k)
        .map((o) => JSON.stringify(o))
        .join('\n');
      return want === got;
    });
  const converged = (what: string) =>
    until(() => source.synced && matches(), what).catch((e) => {
      const bad = OBJECT_KINDS.filter(
        (k) =>
          fx.objects(P[k]).length !== store.size(k) ||
          JSON.stringify(fx.objects(P[k])) !== JSON.stringify(store.list(k)),
      );
      throw new Error(
        `${(e as Error).message}: differing kinds ${bad.join(',')}; stats ${JSON.stringify(source.stats)}; warnings ${warnings.slice(-5).join(' | ')}; requests ${fx.requests.slice(-12).join(', ')}`,
      );
    });
  return { fx, store, source, deleted, batches, warnings, converged };
}

describe('KubernetesSource against the list/watch fixture', () => {
  it("the built entry, with client-node bundled, lists and watches with the user's own KubeConfig", async () => {
    const built = new URL('../dist/kubernetes/index.js', import.meta.url);
    // the package's KubeConfig and Watch are in the entry: it never loads the whole package
    expect(readFileSync(built, 'utf8')).not.toMatch(/from ["']@kubernetes\/client-node["']/);
    const mod = (await import(built.href)) as { KubernetesSource: typeof KubernetesSource };
    const t = await setup(
      (fx) => {
        fx.upsert(P.Node, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
        for (let i = 0; i < 5; i++) fx.upsert(P.Pod, pod(`p${i}`, `10.244.1.${i + 2}`));
      },
      { pageSize: 2 },
      mod.KubernetesSource,
    );
    await t.converged('initial list through the built entry');
    t.fx.upsert(P.Pod, pod('p0', '10.244.1.2', 'n1', { app: 'web' }));
    t.fx.remove(P.Pod, 'p1', 'shop');
    await t.converged('watch events through the built entry');
    expect(t.store.get('Pod', 'shop/p0')?.metadata?.labels).toEqual({ app: 'web' });
  });

  it('lists every kind (paginated), then follows watch events as typed deltas', async () => {
    const t = await setup(
      (fx) => {
        fx.upsert(P.Node, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
        for (let i = 0; i < 7; i++) fx.upsert(P.Pod, pod(`p${i}`, `10.244.1.${i + 2}`));
      },
      { pageSize: 3 },
    );
    await t.converged('initial list');
    expect(t.fx.requests.filter((r) => r === 'LIST /api/v1/pods')).toHaveLength(3);
    t.fx.upsert(P.Pod, pod('p0', '10.244.1.2', 'n1', { app: 'web' }));
    t.fx.remove(P.Pod, 'p1', 'shop');
    t.fx.upsert(P.ClusterNetworkPolicy, {
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'deny-all' },
      spec: { tier: 'Baseline', priority: 1, subject: { namespaces: {} }, ingress: [] },
    });
    await t.converged('watch events');
    const last = t.batches.flatMap((b) => b.deltas.map((d) => `${d.type} ${d.kind} ${d.key}`));
    // each kind is its own watch stream (as against an API server): events keep their order
    // within a kind, not across kinds
    expect(last.filter((d) => d.includes(' Pod ')).slice(-2)).toEqual([
      'updated Pod shop/p0',
      'deleted Pod shop/p1',
    ]);
    expect(last.filter((d) => d.includes(' ClusterNetworkPolicy '))).toEqual([
      'added ClusterNetworkPolicy deny-all',
    ]);
  });

  it('reads a resource the server does not serve (no CRD) as empty, and picks it up later', async () => {
    const t = await setup(
      (fx) => {
        fx.unserved.add(P.ClusterNetworkPolicy);
        fx.upsert(P.Pod, pod('a', '10.244.1.2'));
      },
      { maxBackoffMs: 200 },
    );
    await until(() => t.source.synced, 'synced without the CRD');
    expect(t.store.size('ClusterNetworkPolicy')).toBe(0);
    t.fx.unserved.delete(P.ClusterNetworkPolicy);
    t.fx.upsert(P.ClusterNetworkPolicy, {
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'later' },
      spec: { tier: 'Admin', priority: 3, subject: { namespaces: {} } },
    });
    await t.converged('the CRD installed later');
  });

  it('reads only this node’s pods with a field selector', async () => {
    const t = await setup(
      (fx) => {
        fx.upsert(P.Pod, pod('here', '10.244.1.2', 'n1'));
        fx.upsert(P.Pod, pod('there', '10.244.2.2', 'n2'));
      },
      { fieldSelectors: { Pod: 'spec.nodeName=n1' } },
    );
    await until(() => t.source.synced, 'synced');
    expect(t.store.list('Pod').map((p) => p.metadata?.name)).toEqual(['here']);
    t.fx.upsert(P.Pod, pod('there2', '10.244.2.3', 'n2'));
    t.fx.upsert(P.Pod, pod('here2', '10.244.1.3', 'n1'));
    await until(() => t.store.size('Pod') === 2, 'here2');
    expect(t.store.list('Pod').map((p) => p.metadata?.name)).toEqual(['here', 'here2']);
  });

  it('keeps an invalid object out with one warning and serves the rest', async () => {
    const t = await setup((fx) => {
      fx.upsert(P.Service, service(1));
      fx.upsert(P.Service, {
        ...service(2),
        spec: { clusterIP: '10.96.0.9', ports: [{ port: 99999 }] },
      });
    });
    await until(() => t.source.synced, 'synced');
    expect(t.store.list('Service').map((s) => s.metadata?.name)).toEqual(['s1']);
    expect(t.source.stats.invalidObjects).toBe(1);
  });

  it('with 10,000 objects, converges through 410s, closed watches, 500s and silence without dropping anything', async () => {
    const N = 10_000;
    const t = await setup((fx) => {
      fx.upsert(P.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
      for (let i = 0; i < N; i++) fx.upsert(P.Service, service(i));
      fx.upsert(P.Pod, pod('a', '10.244.1.2'));
    });
    await t.converged('initial list');
    expect(t.store.size('Service')).toBe(N);
    const removed = new Set<string>();
    const remove = (path: string, kind: string, name: string) => {
      t.fx.remove(path, name, 'shop');
      removed.add(`${kind} shop/${name}`);
    };
    await until(() => t.fx.openWatches === OBJECT_KINDS.length, 'watches open');

    t.fx.closeOpenWatches();
    t.fx.upsert(P.Pod, pod('c', '10.244.1.4'));
    await t.converged('after server-closed watches');

    t.fx.expireOpenWatches();
    t.fx.upsert(P.Service, {
      ...service(5),
      metadata: { ...service(5).metadata, labels: { x: 'y' } },
    });
    remove(P.Pod, 'Pod', 'c');
    remove(P.Service, 'Service', 's7');
    await t.converged('after in-stream 410 ERROR events');

    t.fx.compact();
    t.fx.faults.failWatches = 3;
    t.fx.closeOpenWatches();
    t.fx.upsert(P.NetworkPolicy, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'shop' },
      spec: { podSelector: {} },
    });
    await t.converged('after HTTP 410 and watch 500s');

    t.fx.faults.failLists = 4;
    t.fx.faults.failWatches = 2;
    t.fx.expireOpenWatches();
    remove(P.Service, 'Service', 's9');
    await t.converged('after list 500s');

    const before = t.source.stats.watchdogRestarts;
    t.fx.faults.silentWatches = true;
    t.fx.closeOpenWatches();
    await until(() => t.fx.openWatches === OBJECT_KINDS.length, 'silent watches');
    t.fx.faults.silentWatches = false;
    t.fx.upsert(P.Pod, pod('e', '10.244.1.6'));
    await t.converged('after silent watches (watchdog)');
    expect(t.source.stats.watchdogRestarts).toBeGreaterThan(before);
    expect(t.source.stats.errors).toBeGreaterThan(0);
    expect(t.store.size('Service')).toBe(N - 2);
    // nothing that still exists was ever deleted from the store (no flush on relist)
    expect(new Set(t.deleted)).toEqual(removed);
  }, 60_000);

  it('follows bookmarks, so a resumed watch starts from the latest resourceVersion', async () => {
    const t = await setup((fx) => {
      fx.upsert(P.Pod, pod('a', '10.244.1.2'));
    });
    await until(() => t.source.synced && t.fx.openWatches === OBJECT_KINDS.length, 'watching');
    t.fx.upsert(P.Service, service(1));
    await until(() => t.store.size('Service') === 1, 'service');
    t.fx.bookmark();
    await until(() => (t.source.stats.bookmarks ?? 0) >= OBJECT_KINDS.length, 'bookmarks');
    const lists = t.fx.requests.filter((r) => r.startsWith('LIST')).length;
    // history is gone: a watch resumed from a bookmark's version is still valid
    t.fx.compact();
    t.fx.closeOpenWatches();
    t.fx.upsert(P.Pod, pod('b', '10.244.1.3'));
    await until(() => t.store.size('Pod') === 2, 'pod b');
    expect(t.fx.requests.filter((r) => r.startsWith('LIST')).length).toBe(lists);
  });
});
