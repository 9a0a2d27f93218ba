import { ClusterStore, type Delta, dnsInput } from '@podnet/cluster-state';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DnsServer,
  type DnsServerOptions,
  ENTRY_HEADER,
  PreparedZone,
  compileZone,
  encodeQuery,
  parseQuery,
  reverseName,
} from '../src/index.js';
import {
  type FakeUpstream,
  clusterIpService,
  endpointSlice,
  headlessService,
  startFakeUpstream,
} from '../src/testing/index.js';
import {
  type ClusterChange,
  NAMESPACES,
  SERVICE_NAMES,
  applyChange,
  changeArb,
  changedKeys,
} from './zone-arbitraries.js';

const Z = 'cluster.local';
const TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'ANY', 'CNAME', 'SOA', 'NS', 15] as const;

/** Names that exist in no state the generator makes, or only in some. */
const PROBES = [
  Z,
  `svc.${Z}`,
  `pod.${Z}`,
  `dns-version.${Z}`,
  `c.svc.${Z}`,
  `nope.a.svc.${Z}`,
  `x.s1.a.svc.${Z}`,
  `_tcp.s1.a.svc.${Z}`,
  `_http._udp.s1.a.svc.${Z}`,
  `10-0-0-1.a.pod.${Z}`,
  `10-0-0-9.b.pod.${Z}`,
  `fd00--1.default.pod.${Z}`,
  `x.a.pod.${Z}`,
  reverseName('10.0.0.9'),
  'in-addr.arpa',
  'example.org',
];

/** A random name near the zone's: labels from the pools the objects use. */
const nameArb = fc
  .tuple(
    fc.constantFrom('', 'h1.', 'db-0.', '10-0-0-1.', '_http._tcp.', 'zz.'),
    fc.constantFrom(...SERVICE_NAMES, 'zz'),
    fc.constantFrom(...NAMESPACES, 'c'),
    fc.constantFrom('svc', 'pod'),
  )
  .map(([pre, svc, ns, sub]) => `${pre}${svc}.${ns}.${sub}.${Z}`);

/** Zeroes the ID and every SOA serial of a response, the parts two updates may differ in. */
function normalize(msg: Uint8Array | null): Uint8Array | null {
  if (!msg) return msg;
  const out = Uint8Array.from(msg);
  out[0] = 0;
  out[1] = 0;
  const u16 = (at: number): number => ((out[at] as number) << 8) | (out[at + 1] as number);
  const skipName = (at: number): number => {
    for (;;) {
      const len = out[at] as number;
      if (len === 0) return at + 1;
      if ((len & 0xc0) === 0xc0) return at + 2;
      at += len + 1;
    }
  };
  let pos = 12;
  for (let i = 0; i < u16(4); i++) pos = skipName(pos) + 4;
  const records = u16(6) + u16(8) + u16(10);
  for (let i = 0; i < records; i++) {
    pos = skipName(pos);
    const type = u16(pos);
    const rdlen = u16(pos + 8);
    const rdata = pos + 10;
    if (type === 6) out.fill(0, skipName(skipName(rdata)), skipName(skipName(rdata)) + 4);
    pos = rdata + rdlen;
  }
  return out;
}

interface Probe {
  name: string;
  type: (typeof TYPES)[number];
  edns: boolean;
  upper: boolean;
}

async function expectSameAnswers(
  patched: DnsServer,
  full: DnsServer,
  probes: Iterable<Probe>,
): Promise<void> {
  for (const p of probes) {
    const name = p.upper ? p.name.toUpperCase() : p.name;
    const q = encodeQuery({ id: 7, name, type: p.type, udpSize: p.edns ? 1232 : undefined });
    for (const transport of ['udp', 'tcp'] as const) {
      const a = normalize(await patched.handle(q, transport));
      const b = normalize(await full.handle(q, transport));
      if (a === null || b === null || Buffer.compare(a, b) !== 0)
        expect({ ...p, transport, answer: a && Buffer.from(a).toString('hex') }).toEqual({
          ...p,
          transport,
          answer: b && Buffer.from(b).toString('hex'),
        });
    }
  }
  expect(patched.names).toBe(full.names);
  expect(patched.skippedObjects).toEqual(full.skippedObjects);
  const gauges = (s: DnsServer): string[] =>
    s
      .renderMetrics()
      .split('\n')
      .filter((l) => /^podnet_dns_(zone_names|skipped_objects|synced) /.test(l));
  expect(gauges(patched)).toEqual(gauges(full));
}

const OPTIONS: fc.Arbitrary<DnsServerOptions> = fc.record({
  pods: fc.constantFrom('insecure' as const, 'verified' as const, 'disabled' as const),
  endpointsFromPods: fc.boolean(),
  ttl: fc.constantFrom(5, 30),
});

describe('DnsServer.update(source, changed)', () => {
  // ExternalName targets outside the zone are chased through the upstream (as CoreDNS does)
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream({
      records: Object.fromEntries(
        ['example.com', 'foo.example'].map((name) => [
          name,
          [{ name, type: 'A' as const, class: 'IN' as const, ttl: 60, data: '192.0.2.1' }],
        ]),
      ),
    });
  });
  afterAll(() => upstream?.stop());

  it('answers every name byte for byte as a full update of the same state, after every patch', async () => {
    await fc.assert(
      fc.asyncProperty(
        OPTIONS,
        fc.array(changeArb, { maxLength: 20 }),
        fc.array(
          fc.record({
            changes: fc.array(changeArb, { minLength: 1, maxLength: 4 }),
            extra: fc.array(nameArb, { maxLength: 4 }),
            type: fc.constantFrom(...TYPES),
            edns: fc.boolean(),
            upper: fc.boolean(),
          }),
          { maxLength: 12 },
        ),
        async (options, initial, steps) => {
          const store = new ClusterStore();
          for (const c of initial) applyChange(store, c);
          const server = { ...options, cache: false, upstreams: [upstream.address] } as const;
          const patched = new DnsServer(server);
          const full = new DnsServer(server);
          patched.update(store);
          full.update(dnsInput(store));
          // every name any state had, so names that went away are asked too
          const seen = new Set<string>(PROBES);
          const remember = (): void => {
            for (const name of compileZone(dnsInput(store), options).nodes.keys()) seen.add(name);
          };
          remember();
          for (const step of steps) {
            const deltas: Delta[] = [];
            for (const c of step.changes as ClusterChange[]) deltas.push(...applyChange(store, c));
            patched.update(store, changedKeys(deltas));
            full.update(dnsInput(store));
            remember();
            for (const n of step.extra) seen.add(n);
            const probes: Probe[] = [];
            for (const name of seen) {
              // every type for each name, with or without EDNS and case changes by turns
              for (const type of TYPES)
                probes.push({ name, type, edns: step.edns, upper: step.upper && type === 'A' });
            }
            await expectSameAnswers(patched, full, probes);
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 180_000);

  it('prepares again the SRV answers whose targets a Pod hostname record joins or leaves', async () => {
    const store = new ClusterStore();
    const pod = (ip: string) => ({
      metadata: { name: 'p', namespace: 'a' },
      spec: { containers: [], hostname: 'h1', subdomain: 'db' },
      status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
    });
    store.transaction((tx) => {
      tx.upsert('Service', headlessService('a', 'db', ['pg:5432']));
      tx.upsert(
        'EndpointSlice',
        endpointSlice('a', 'db', [{ ip: '10.1.0.1', hostname: 'h1' }], ['pg:5432']),
      );
      tx.upsert('Pod', pod('10.1.0.7'));
    });
    const patched = new DnsServer();
    const full = new DnsServer();
    patched.update(store);
    const probes = [`_pg._tcp.db.a.svc.${Z}`, `h1.db.a.svc.${Z}`].flatMap((name) =>
      (['SRV', 'A', 'ANY'] as const).map((type) => ({ name, type, edns: true, upper: false })),
    );
    for (const ip of ['10.1.0.8', '10.1.0.1', '10.1.0.9']) {
      store.transaction((tx) => tx.upsert('Pod', pod(ip)));
      patched.update(store, { pods: ['a/p'] });
      full.update(dnsInput(store));
      await expectSameAnswers(patched, full, probes);
    }
  });

  it('patches only what changed, and counts full updates and patches', () => {
    const store = new ClusterStore();
    store.transaction((tx) => {
      tx.upsert('Service', clusterIpService('a', 'web', '10.96.0.1', ['http:80']));
      tx.upsert('Service', headlessService('a', 'db', ['pg:5432']));
      tx.upsert('EndpointSlice', endpointSlice('a', 'db', [{ ip: '10.1.0.1' }], ['pg:5432']));
    });
    const server = new DnsServer();
    server.update(store);
    const before = server.names;
    store.transaction((tx) =>
      tx.upsert(
        'EndpointSlice',
        endpointSlice('a', 'db', [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }], ['pg:5432']),
      ),
    );
    server.update(store, { endpointSlices: ['a/db-slice'] });
    // the second endpoint's host name and PTR
    expect(server.names).toBe(before + 2);
    const metrics = server.renderMetrics();
    expect(metrics).toContain('podnet_dns_zone_updates_total{mode="full"} 1');
    expect(metrics).toContain('podnet_dns_zone_updates_total{mode="patch"} 1');
    // arrays, or another source, make a full update
    server.update(dnsInput(store));
    server.update(new ClusterStore(), { services: ['a/web'] });
    expect(server.names).toBe(compileZone({}).nodes.size);
    expect(server.renderMetrics()).toContain('podnet_dns_zone_updates_total{mode="full"} 3');
  });
});

describe('PreparedZone.patch', () => {
  it('keeps the fast path and the full path right across patches and compactions', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            services: fc.array(fc.constantFrom(...SERVICE_NAMES), { maxLength: 4 }),
            endpoints: fc.nat({ max: 3 }),
            compact: fc.boolean(),
          }),
          { minLength: 1, maxLength: 10 },
        ),
        (steps) => {
          const state = (s: (typeof steps)[number]) => ({
            services: [...new Set(s.services)].map((n, i) =>
              i % 2 === 0
                ? clusterIpService('a', n, `10.96.0.${i + 1}`, ['http:80'])
                : headlessService('a', n, ['http:80']),
            ),
            endpointSlices: [...new Set(s.services)].map((n, i) =>
              endpointSlice(
                'a',
                n,
                Array.from({ length: s.endpoints }, (_, j) => ({ ip: `10.1.${i}.${j + 1}` })),
                ['http:80'],
              ),
            ),
          });
          const first = compileZone(state(steps[0] as (typeof steps)[number]));
          const prepared = new PreparedZone(first);
          let prev = first;
          for (const step of steps.slice(1)) {
            const next = compileZone(state(step), { serial: prev.serial + 1 });
            const names = new Set([...prev.nodes.keys(), ...next.nodes.keys()]);
            prepared.patch(next, names);
            if (step.compact) prepared.compact();
            const fresh = new PreparedZone(next);
            expect(prepared.names).toBe(fresh.names);
            const answers = (p: PreparedZone): (string | null)[] => {
              const out: (string | null)[] = [];
              const alloc = (n: number): Uint8Array => new Uint8Array(n);
              for (const name of [...names, 'x.a.svc.cluster.local']) {
                for (const type of ['A', 'AAAA', 'SRV', 'PTR', 'ANY'] as const) {
                  const q = encodeQuery({ id: 1, name, type, udpSize: 1232 });
                  const fast = p.fastResponse(q, true, alloc);
                  out.push(fast && Buffer.from(fast).toString('hex'));
                  const parsed = parseQuery(q);
                  if (parsed.kind !== 'query') throw new Error('bad query');
                  const { key, qtype, questionEnd } = parsed.query;
                  const a = p.lookup(key, qtype, questionEnd - 16);
                  const len = a
                    ? ((a.bytes[a.off + 10] as number) << 8) | (a.bytes[a.off + 11] as number)
                    : 0;
                  out.push(
                    a &&
                      Buffer.from(a.bytes.subarray(a.off, a.off + ENTRY_HEADER + len)).toString(
                        'hex',
                      ),
                  );
                }
              }
              return out;
            };
            expect(answers(prepared)).toEqual(answers(fresh));
            prev = next;
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
