import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ClusterStore,
  type DeltaBatch,
  type Pod,
  policyChanges,
  type Service,
  serviceChanges,
} from '../src/index.js';

const pod = (ns: string, name: string, labels: Record<string, string> = {}, rv?: string): Pod => ({
  metadata: { name, namespace: ns, labels, ...(rv ? { resourceVersion: rv } : {}) },
  spec: { containers: [] },
});

describe('ClusterStore', () => {
  it('turns upserts, deletes and replaces into typed deltas with old and new objects', () => {
    const store = new ClusterStore();
    const batches: DeltaBatch[] = [];
    store.subscribe((b) => batches.push(b));
    const a1 = pod('ns', 'a', { app: 'x' });
    const a2 = pod('ns', 'a', { app: 'y' });
    store.transaction((tx) => tx.upsert('Pod', a1));
    store.transaction((tx) => tx.upsert('Pod', a2));
    store.transaction((tx) => tx.upsert('Pod', pod('ns', 'a', { app: 'y' }))); // same content
    store.transaction((tx) => tx.delete('Pod', 'ns/a'));
    store.transaction((tx) => tx.delete('Pod', 'ns/a')); // already gone
    expect(batches.map((b) => b.deltas.map((d) => `${d.type} ${d.kind} ${d.key}`))).toEqual([
      ['added Pod ns/a'],
      ['updated Pod ns/a'],
      ['deleted Pod ns/a'],
    ]);
    const up = batches[1]!.deltas[0]!;
    expect(up.type === 'updated' && up.old === a1 && up.object === a2).toBe(true);
  });

  it('compares by resourceVersion when both objects have one', () => {
    const store = new ClusterStore();
    store.transaction((tx) => tx.upsert('Pod', pod('ns', 'a', { v: '1' }, '5')));
    const b = store.transaction((tx) => tx.upsert('Pod', pod('ns', 'a', { v: '2' }, '5')));
    expect(b.deltas).toEqual([]);
  });

  it('replace() deletes what is missing, adds what is new, and marks the kind resynced', () => {
    const store = new ClusterStore();
    store.transaction((tx) => tx.replace('Pod', [pod('a', '1'), pod('a', '2')]));
    const b = store.transaction((tx) => tx.replace('Pod', [pod('a', '2'), pod('b', '3')]));
    expect(b.resync).toEqual(['Pod']);
    expect(b.deltas.map((d) => `${d.type} ${d.key}`).sort()).toEqual(['added b/3', 'deleted a/1']);
  });

  it('indexes by namespace, by label and EndpointSlices by Service', () => {
    const store = new ClusterStore();
    store.transaction((tx) => {
      tx.upsert('Pod', pod('a', '1', { app: 'web' }));
      tx.upsert('Pod', pod('a', '2', { app: 'db' }));
      tx.upsert('Pod', pod('b', '3', { app: 'web' }));
      tx.upsert('EndpointSlice', {
        metadata: { name: 's-1', namespace: 'a', labels: { 'kubernetes.io/service-name': 's' } },
        addressType: 'IPv4',
        endpoints: [],
      });
    });
    expect(
      store
        .inNamespace('Pod', 'a')
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['1', '2']);
    expect(
      store
        .withLabel('Pod', 'app', 'web')
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['1', '3']);
    store.transaction((tx) => tx.upsert('Pod', pod('b', '3', { app: 'db' })));
    expect(store.withLabel('Pod', 'app', 'web').map((p) => p.metadata?.name)).toEqual(['1']);
    expect(store.slicesOf('a/s').map((s) => s.metadata?.name)).toEqual(['s-1']);
    expect(store.slicesOf('b/s')).toEqual([]);
  });

  it('keeps a sorted, cached snapshot that changes identity only when something changed', () => {
    const store = new ClusterStore();
    store.transaction((tx) => {
      tx.upsert('Pod', pod('b', 'x'));
      tx.upsert('Pod', pod('a', 'y'));
    });
    const s1 = store.snapshot();
    expect(s1.pods.map((p) => p.metadata?.namespace)).toEqual(['a', 'b']);
    store.transaction((tx) => tx.upsert('Pod', pod('b', 'x')));
    expect(store.snapshot()).toBe(s1);
    store.transaction((tx) => tx.delete('Pod', 'b/x'));
    expect(store.snapshot()).not.toBe(s1);
  });

  it('projects batches into service-lb and netpol changes', () => {
    const store = new ClusterStore();
    const svc: Service = { metadata: { name: 's', namespace: 'a' } };
    store.transaction((tx) => tx.upsert('Service', svc));
    const b = store.transaction((tx) => {
      tx.delete('Service', 'a/s');
      tx.upsert('Pod', pod('a', 'p'));
      tx.upsert('Namespace', { metadata: { name: 'a' } });
    });
    expect(serviceChanges(b).deletedServices).toEqual([svc]);
    const pc = policyChanges(b);
    expect(pc.pods.map((p) => p.metadata?.name)).toEqual(['p']);
    expect(pc.namespaces.map((n) => n.metadata?.name)).toEqual(['a']);
  });

  it('projects one change per object: added then deleted in one batch reads as deleted', () => {
    const store = new ClusterStore();
    const b = store.transaction((tx) => {
      tx.upsert('Pod', pod('a', 'p'));
      tx.delete('Pod', 'a/p');
      tx.upsert('Service', { metadata: { name: 's', namespace: 'a' } });
    });
    const pc = policyChanges(b);
    expect(pc.pods).toEqual([]);
    expect(pc.deletedPods).toEqual(['a/p']);
    const b2 = store.transaction((tx) => {
      tx.delete('Service', 'a/s');
      tx.upsert('Service', { metadata: { name: 's', namespace: 'a', labels: { x: 'y' } } });
    });
    const sc = serviceChanges(b2);
    expect(sc.deletedServices).toEqual([]);
    expect(sc.services.map((s) => s.metadata?.labels)).toEqual([{ x: 'y' }]);
  });

  it('property: deltas replayed on a replica reproduce the store, whatever the sequence', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('upsert' as const),
        ns: fc.constantFrom('a', 'b'),
        name: fc.constantFrom('1', '2', '3'),
        label: fc.constantFrom('x', 'y'),
      }),
      fc.record({
        t: fc.constant('delete' as const),
        ns: fc.constantFrom('a', 'b'),
        name: fc.constantFrom('1', '2', '3'),
      }),
      fc.record({
        t: fc.constant('replace' as const),
        items: fc.array(
          fc.record({
            ns: fc.constantFrom('a', 'b'),
            name: fc.constantFrom('1', '2', '3'),
            label: fc.constantFrom('x', 'y'),
          }),
          { maxLength: 4 },
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 4 }), { maxLength: 12 }), (txs) => {
        const store = new ClusterStore();
        const replica = new Map<string, Pod>();
        store.subscribe((batch) => {
          for (const d of batch.deltas) {
            if (d.kind !== 'Pod') continue;
            if (d.type === 'deleted') {
              expect(replica.get(d.key)).toBe(d.old);
              replica.delete(d.key);
            } else {
              if (d.type === 'updated') expect(replica.get(d.key)).toBe(d.old);
              else expect(replica.has(d.key)).toBe(false);
              replica.set(d.key, d.object);
            }
          }
        });
        for (const ops of txs) {
          store.transaction((tx) => {
            for (const o of ops) {
              if (o.t === 'upsert') tx.upsert('Pod', pod(o.ns, o.name, { l: o.label }));
              else if (o.t === 'delete') tx.delete('Pod', `${o.ns}/${o.name}`);
              else {
                const seen = new Map<string, Pod>();
                for (const i of o.items)
                  seen.set(`${i.ns}/${i.name}`, pod(i.ns, i.name, { l: i.label }));
                tx.replace('Pod', seen.values());
              }
            }
          });
        }
        const fromStore = store.list('Pod');
        const fromReplica = [...replica.keys()].sort().map((k) => replica.get(k));
        expect(fromReplica).toEqual(fromStore);
        for (const l of ['x', 'y'])
          expect(store.withLabel('Pod', 'l', l).length).toBe(
            fromStore.filter((p) => p.metadata?.labels?.l === l).length,
          );
      }),
      { numRuns: 300 },
    );
  });
});
