import { ClusterStore, type Delta, dnsInput } from '@podnet/cluster-state';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DnsObjectSource,
  type DnsZone,
  LiveZone,
  type ZoneNode,
  type ZoneOptions,
  compileZone,
} from '../src/index.js';
import { headlessService } from '../src/testing/index.js';
import { applyChange, changeArb, changedKeys } from './zone-arbitraries.js';

function plain(zone: DnsZone, nodes: ReadonlyMap<string, ZoneNode>): unknown {
  return {
    nodes: Object.fromEntries([...nodes].sort(([a], [b]) => (a < b ? -1 : 1))),
    namespaces: [...zone.namespaces].sort(),
    podIps: Object.fromEntries(
      [...zone.podIps]
        .filter(([, ips]) => ips.size > 0)
        .map(([ns, ips]) => [ns, [...ips].sort()])
        .sort(),
    ),
    skipped: zone.skipped,
  };
}

const OPTIONS: fc.Arbitrary<ZoneOptions> = fc.record({
  pods: fc.constantFrom('insecure' as const, 'verified' as const, 'disabled' as const),
  endpointsFromPods: fc.boolean(),
  ttl: fc.constantFrom(5, 30),
});

describe('LiveZone', () => {
  it('after every patch holds exactly what compileZone makes of the same objects', () => {
    fc.assert(
      fc.property(
        OPTIONS,
        fc.array(changeArb, { maxLength: 25 }),
        fc.array(fc.array(changeArb, { minLength: 1, maxLength: 4 }), { maxLength: 25 }),
        (options, initial, batches) => {
          const store = new ClusterStore();
          for (const c of initial) applyChange(store, c);
          const live = new LiveZone(options);
          let serial = 1;
          const first = live.build(store, serial);
          const nodes = new Map(first.nodes);
          const check = (zone: DnsZone): void => {
            const want = compileZone(dnsInput(store), { ...options, serial });
            expect(plain(zone, nodes)).toEqual(plain(want, want.nodes));
          };
          check(first);
          for (const batch of batches) {
            const deltas: Delta[] = [];
            for (const c of batch) deltas.push(...applyChange(store, c));
            serial++;
            const patch = live.patch(store, changedKeys(deltas), serial);
            for (const name of patch.names) {
              const node = patch.zone.nodes.get(name);
              if (node) nodes.set(name, node);
              else nodes.delete(name);
            }
            check(patch.zone);
          }
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  it('takes a ClusterStore as its source, with no cast', () => {
    const store = new ClusterStore();
    const source: DnsObjectSource = store;
    store.transaction((tx) => tx.upsert('Service', headlessService('a', 'db')));
    expect(new LiveZone().build(source, 1).namespaces.has('a')).toBe(true);
  });
});
