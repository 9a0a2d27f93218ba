import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryNodeSubnetStore,
  NodeSubnetAllocator,
  parseRangeSets,
  pickAddress,
} from '../src/index.js';

function enumerate(ranges: unknown): string[] {
  const [set] = parseRangeSets(ranges);
  const taken = new Set<string>();
  let last: string | undefined;
  for (;;) {
    const p = pickAddress(set!, (ip) => taken.has(ip), last);
    if (!p) return [...taken];
    expect(taken.has(p.ip)).toBe(false);
    taken.add(p.ip);
    last = p.ip;
  }
}

const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const v4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

describe('range properties', () => {
  it('an IPv4 subnet yields every host address except network, broadcast and gateway, once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 22, max: 32 }),
        (base, prefix) => {
          const size = 2 ** (32 - prefix);
          const network = base - (base % size);
          const got = enumerate([[{ subnet: `${v4(network)}/${prefix}` }]]).map(toInt);
          const expected = prefix >= 31 ? size : size - 3;
          expect(got).toHaveLength(expected);
          for (const n of got) {
            expect(n >= network && n < network + size).toBe(true);
            if (prefix < 31) expect([network, network + 1, network + size - 1]).not.toContain(n);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rangeStart/rangeEnd/exclude bound what is handed out', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 254 }),
        fc.integer({ min: 1, max: 254 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }),
        (a, b, ex) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const got = enumerate([
            [
              {
                subnet: '10.9.8.0/24',
                rangeStart: `10.9.8.${lo}`,
                rangeEnd: `10.9.8.${hi}`,
                exclude: ex.map((e) => `10.9.8.${e}`),
              },
            ],
          ]).map((ip) => Number(ip.split('.')[3]));
          const expected = [];
          for (let i = lo; i <= hi; i++) if (i !== 1 && !ex.includes(i)) expected.push(i);
          expect(got.sort((x, y) => x - y)).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('round-robin after any last reserved address visits every free address before repeating', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uniqueArray(fc.integer({ min: 2, max: 14 })),
        (last, busy) => {
          const [set] = parseRangeSets([[{ subnet: 'fd00::/124' }]]);
          const taken = new Set(busy.map((b) => `fd00::${b.toString(16)}`));
          const seen: string[] = [];
          let prev: string | undefined = `fd00::${last.toString(16)}`;
          for (;;) {
            const p = pickAddress(set!, (ip) => taken.has(ip) || seen.includes(ip), prev);
            if (!p) break;
            seen.push(p.ip);
            prev = p.ip;
          }
          expect(seen.length + taken.size).toBe(14);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('node subnet properties', () => {
  it('node CIDRs never overlap, stay inside the cluster CIDR and are reused after release', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ add: fc.boolean(), node: fc.integer({ min: 0, max: 9 }) }), {
          maxLength: 40,
        }),
        async (ops) => {
          const alloc = new NodeSubnetAllocator({
            clusterCidrs: ['10.0.0.0/21'],
            nodeMaskV4: 24,
            store: new MemoryNodeSubnetStore(),
          });
          for (const op of ops) {
            if (op.add)
              await alloc
                .allocate(`n${op.node}`)
                .catch((e: { code?: string }) => expect(e.code).toBe('EXHAUSTED'));
            else await alloc.release(`n${op.node}`);
            const cidrs = Object.values(await alloc.list()).flat();
            expect(new Set(cidrs).size).toBe(cidrs.length);
            for (const c of cidrs) expect(c).toMatch(/^10\.0\.[0-7]\.0\/24$/);
            if (cidrs.length < 8 && op.add)
              expect((await alloc.list())[`n${op.node}`]).toBeDefined();
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
