import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Allocator,
  IpamError,
  MemoryStore,
  type Store,
  parseRangeSets,
  pickAddress,
} from '../src/index.js';
import { createTestAllocator } from '../src/testing/index.js';

async function rejection(p: Promise<unknown>): Promise<IpamError> {
  try {
    await p;
  } catch (error) {
    if (IpamError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('Allocator', () => {
  it('allocates one address per range set (dual stack) with gateways', async () => {
    const { allocator } = createTestAllocator([
      [{ subnet: '10.0.0.0/24' }],
      [{ subnet: 'fd00::/64' }],
    ]);
    expect(await allocator.allocate('c1', 'eth0')).toEqual([
      { rangeSetIndex: 0, address: '10.0.0.2/24', ip: '10.0.0.2', gateway: '10.0.0.1' },
      { rangeSetIndex: 1, address: 'fd00::2/64', ip: 'fd00::2', gateway: 'fd00::1' },
    ]);
    expect(await allocator.get('c1', 'eth0')).toHaveLength(2);
  });

  it('rejects a duplicate allocation for the same attachment but not for another ifname', async () => {
    const { allocator } = createTestAllocator([[{ subnet: '10.0.0.0/24' }]]);
    await allocator.allocate('c1', 'eth0');
    expect((await rejection(allocator.allocate('c1', 'eth0'))).code).toBe('DUPLICATE_ALLOCATION');
    expect((await allocator.allocate('c1', 'eth1'))[0]!.ip).toBe('10.0.0.3');
  });

  it('honours requested addresses and refuses taken, gateway and out-of-range ones', async () => {
    const { allocator } = createTestAllocator([
      [{ subnet: '10.0.0.0/24' }],
      [{ subnet: 'fd00::/64' }],
    ]);
    expect(
      await allocator.allocate('c1', 'eth0', { requestedIps: ['10.0.0.50/24'] }),
    ).toMatchObject([{ ip: '10.0.0.50' }, { ip: 'fd00::2' }]);
    expect(
      (await rejection(allocator.allocate('c2', 'eth0', { requestedIps: ['10.0.0.50'] }))).code,
    ).toBe('UNAVAILABLE');
    expect(
      (await rejection(allocator.allocate('c3', 'eth0', { requestedIps: ['10.0.0.1'] }))).code,
    ).toBe('UNAVAILABLE');
    expect(
      (await rejection(allocator.allocate('c4', 'eth0', { requestedIps: ['10.9.0.1'] }))).code,
    ).toBe('UNAVAILABLE');
    expect(
      (await rejection(allocator.allocate('c5', 'eth0', { requestedIps: ['bogus'] }))).field,
    ).toBe('requestedIps');
    expect((await allocator.list()).map((a) => a.containerId).sort()).toEqual(['c1', 'c1']);
  });

  it('is all or nothing when a later range set is exhausted', async () => {
    const { allocator } = createTestAllocator([
      [{ subnet: '10.0.0.0/24' }],
      [{ subnet: '10.1.0.0/32' }],
    ]);
    await allocator.allocate('c1', 'eth0');
    const error = await rejection(allocator.allocate('c2', 'eth0'));
    expect(error.code).toBe('EXHAUSTED');
    expect(error.message).toContain('no IP addresses available in range set');
    expect(await allocator.list()).toHaveLength(2);
  });

  it('skips an address that a lock-ignoring writer took between listing and reserving', async () => {
    const inner = new MemoryStore();
    const store: Store = {
      withLock: (fn) =>
        inner.withLock((tx) =>
          fn({
            ...tx,
            reserve: (ip, id, ifName, i) => ip !== '10.0.0.2' && tx.reserve(ip, id, ifName, i),
          }),
        ),
    };
    const allocator = new Allocator(
      { rangeSets: parseRangeSets([[{ subnet: '10.0.0.0/29' }]]) },
      store,
    );
    expect((await allocator.allocate('c1', 'eth0'))[0]!.ip).toBe('10.0.0.3');
  });

  it('rejects invalid container IDs and ifnames naming the field', async () => {
    const { allocator } = createTestAllocator([[{ subnet: '10.0.0.0/24' }]]);
    expect((await rejection(allocator.allocate('-bad', 'eth0'))).field).toBe('containerId');
    expect((await rejection(allocator.allocate('ok', 'a/b'))).field).toBe('ifName');
    expect((await rejection(allocator.allocate('ok', 'x'.repeat(16)))).field).toBe('ifName');
  });

  it('release is idempotent and also frees old ID-only records', async () => {
    const store = new MemoryStore([{ ip: '10.0.0.9', containerId: 'old', ifName: '' }]);
    const allocator = new Allocator(
      { rangeSets: parseRangeSets([[{ subnet: '10.0.0.0/24' }]]) },
      store,
    );
    await allocator.allocate('c1', 'eth0');
    expect((await allocator.release('c1', 'eth0')).map((a) => a.ip)).toEqual(['10.0.0.2']);
    expect(await allocator.release('c1', 'eth0')).toEqual([]);
    expect((await allocator.release('old', 'eth0')).map((a) => a.ip)).toEqual(['10.0.0.9']);
    expect(await allocator.list()).toEqual([]);
  });

  it('gc keeps exactly the valid attachments', async () => {
    const { allocator } = createTestAllocator([
      [{ subnet: '10.0.0.0/24' }],
      [{ subnet: 'fd00::/64' }],
    ]);
    for (const id of ['a', 'b', 'c']) await allocator.allocate(id, 'eth0');
    await allocator.allocate('a', 'net1');
    const { released } = await allocator.gc([
      { containerId: 'a', ifName: 'eth0' },
      { containerId: 'c', ifName: 'eth0' },
      { containerId: 'zzz', ifName: 'eth0' },
    ]);
    expect(released.map((r) => `${r.containerId}/${r.ifName}`).sort()).toEqual([
      'a/net1',
      'a/net1',
      'b/eth0',
      'b/eth0',
    ]);
    expect(new Set((await allocator.list()).map((a) => a.containerId))).toEqual(
      new Set(['a', 'c']),
    );
  });

  it('round-robins: a released address is not reused until the range wraps', async () => {
    const { allocator } = createTestAllocator([[{ subnet: '10.0.0.0/29' }]]);
    await allocator.allocate('a', 'eth0');
    await allocator.release('a', 'eth0');
    expect((await allocator.allocate('b', 'eth0'))[0]!.ip).toBe('10.0.0.3');
  });
});

type Op =
  | { kind: 'alloc'; id: number }
  | { kind: 'release'; id: number }
  | { kind: 'gc'; keep: number[] };

describe('Allocator properties', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('alloc' as const),
        id: fc.integer({ min: 0, max: 15 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('release' as const),
        id: fc.integer({ min: 0, max: 15 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('gc' as const),
        keep: fc.uniqueArray(fc.integer({ min: 0, max: 15 })),
      }),
    },
  );
  const ranges = fc.constantFrom<unknown>(
    [[{ subnet: '10.0.0.0/29' }]],
    [
      [{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.8/31' }],
      [{ subnet: 'fd00::/125', exclude: ['fd00::5'] }],
    ],
    [
      [
        {
          subnet: '172.16.0.0/24',
          rangeStart: '172.16.0.250',
          rangeEnd: '172.16.0.254',
          gateway: '172.16.0.252',
        },
      ],
    ],
  );

  it('random allocate/release/gc sequences never duplicate, never leak and reuse released addresses', async () => {
    await fc.assert(
      fc.asyncProperty(ranges, fc.array(op, { maxLength: 60 }), async (r, ops) => {
        const { allocator } = createTestAllocator(r);
        const setCount = allocator.rangeSets.length;
        const capacity = allocator.rangeSets.map((set) => {
          const free = new Set<string>();
          let last: string | undefined;
          for (;;) {
            const p = pickAddress(set, (ip) => free.has(ip), last);
            if (!p) break;
            free.add(p.ip);
            last = p.ip;
          }
          return free.size;
        });
        const model = new Map<number, string[]>();
        for (const o of ops) {
          if (o.kind === 'alloc') {
            try {
              const got = await allocator.allocate(`c${o.id}`, 'eth0');
              expect(model.has(o.id)).toBe(false);
              model.set(
                o.id,
                got.map((g) => g.ip),
              );
            } catch (error) {
              if (!IpamError.isInstance(error)) throw error;
              if (error.code === 'DUPLICATE_ALLOCATION') expect(model.has(o.id)).toBe(true);
              else {
                expect(error.code).toBe('EXHAUSTED');
                expect(Math.min(...capacity)).toBeLessThanOrEqual(model.size);
              }
            }
          } else if (o.kind === 'release') {
            await allocator.release(`c${o.id}`, 'eth0');
            model.delete(o.id);
          } else {
            await allocator.gc(o.keep.map((k) => ({ containerId: `c${k}`, ifName: 'eth0' })));
            for (const k of [...model.keys()]) if (!o.keep.includes(k)) model.delete(k);
          }
          const listed = await allocator.list();
          const ips = listed.map((a) => a.ip);
          expect(new Set(ips).size).toBe(ips.length);
          expect(ips.sort()).toEqual([...model.values()].flat().sort());
          expect(listed.length).toBe(model.size * setCount);
        }
      }),
      { numRuns: 150 },
    );
  });
});
