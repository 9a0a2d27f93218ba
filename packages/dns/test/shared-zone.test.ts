import { describe, expect, it } from 'vitest';
import {
  type ClusterDnsState,
  DnsServer,
  PreparedZone,
  type RecordType,
  compileZone,
  encodeQuery,
} from '../src/index.js';
import {
  SharedTable,
  SharedZoneReader,
  SharedZoneWriter,
  encodeSharedTable,
  wireKeyOf,
} from '../src/shared-zone.js';
import {
  COUNTER_RCODES,
  COUNTER_SLOTS,
  COUNTER_SOCKET,
  COUNTER_TO_MAIN,
  packDatagrams,
  resolveUdpWorkers,
  unpackDatagrams,
  workerStats,
} from '../src/udp-worker-protocol.js';
import { clusterIpService, endpointSlice, headlessService } from '../src/testing/index.js';

function query(name: string, type: RecordType, id: number, edns?: number): Uint8Array {
  return encodeQuery({ id, name, type, ...(edns === undefined ? {} : { udpSize: edns }) });
}

function state(extra: number, suffix = ''): ClusterDnsState {
  const services = [
    clusterIpService('default', 'web', '10.96.0.10', ['http:80', 'dns:53/UDP']),
    clusterIpService('default', 'dual', ['10.96.0.11', 'fd00::11']),
    headlessService('db', 'pg', ['pg:5432']),
    {
      kind: 'Service',
      metadata: { name: 'ext', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: 'example.com' },
    },
  ];
  for (let i = 0; i < extra; i++)
    services.push(
      clusterIpService(`ns-${i % 7}`, `svc-${i}${suffix}`, `10.97.${i >> 8}.${i & 255}`),
    );
  return {
    services,
    endpointSlices: [
      endpointSlice(
        'db',
        'pg',
        [
          { ip: '10.1.0.5', hostname: 'pg-0' },
          { ip: '10.1.0.6', hostname: 'pg-1' },
          { ip: '10.1.0.7', ready: false },
        ],
        ['pg:5432'],
      ),
    ],
  };
}

const TYPES: RecordType[] = ['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'CNAME', 'SOA', 'NS', 'ANY'];

/** Every name of the zone, some in mixed case, some missing, asked for every type. */
function queries(zone: PreparedZone, names: string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let id = 1;
  for (const name of [...names, 'missing.default.svc.cluster.local', 'example.org']) {
    const mixed = name.replace(/[aeiou]/g, (c) => c.toUpperCase());
    for (const type of TYPES) {
      out.push(query(name, type, id++));
      out.push(query(mixed, type, id++, 1232));
      out.push(query(name, type, id++, 4096));
    }
  }
  expect(zone.names).toBeGreaterThan(0);
  return out;
}

function alloc(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** The worker's answers are the main thread's fast path answers, byte for byte (or both none). */
function expectSameAsPrepared(reader: SharedZoneReader, prepared: PreparedZone, qs: Uint8Array[]) {
  let answered = 0;
  for (const q of qs) {
    const fast = prepared.fastResponse(q, true, alloc);
    const shared = reader.respond(q, true, alloc);
    expect(shared === null ? null : [...shared]).toEqual(fast === null ? null : [...fast]);
    if (shared) answered++;
  }
  return answered;
}

describe('shared zone tables (the UDP workers answer from them)', () => {
  it('answer every query exactly as the prepared zone fast path does', () => {
    const zone = compileZone(state(50));
    const prepared = new PreparedZone(zone);
    const writer = new SharedZoneWriter();
    const reader = new SharedZoneReader();
    reader.use(writer.full(prepared, zone));
    const answered = expectSameAsPrepared(
      reader,
      prepared,
      queries(prepared, [...zone.nodes.keys()]),
    );
    // A, AAAA, SRV and PTR of the Services and endpoints are in the shared tables
    expect(answered).toBeGreaterThan(150);
  });

  it('follow patches (overlay) and folds, and drop names that are gone', () => {
    let zone = compileZone(state(300));
    const prepared = new PreparedZone(zone);
    const writer = new SharedZoneWriter();
    const reader = new SharedZoneReader();
    reader.use(writer.full(prepared, zone));
    const before = [...zone.nodes.keys()];
    const overlays: boolean[] = [];
    // a few names change (overlay), then many (the overlay is folded into a new base)
    for (const [extra, suffix] of [
      [290, ''],
      [290, '-b'],
      [310, '-c'],
    ] as const) {
      const next = compileZone(state(extra, suffix));
      const names = new Set([...zone.nodes.keys(), ...next.nodes.keys()]);
      // only what differs is patched, as the live zone would
      const changed = [...names].filter(
        (n) => JSON.stringify(zone.nodes.get(n)) !== JSON.stringify(next.nodes.get(n)),
      );
      prepared.patch(next, changed);
      const tables = writer.patch(prepared, next, changed);
      reader.use(tables);
      overlays.push(tables.overlay !== null);
      expectSameAsPrepared(reader, prepared, queries(prepared, [...names, ...before]));
      zone = next;
    }
    // the small change went into an overlay; the large ones were folded into a new base
    expect(overlays).toEqual([true, false, false]);
    // older tables are ignored once newer ones are in use
    const current = reader.generation;
    reader.use({ generation: current - 1, base: null, overlay: null });
    expect(reader.generation).toBe(current);
  });

  it('encode and decode a table: every key and its entries come back', () => {
    const entries = new Uint8Array([0, 1, 4, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0xab, 0xcd]);
    const keys = ['a.b', 'c.d.e', 'gone'].map((n) => wireKeyOf(n) as string);
    const sab = encodeSharedTable([
      [keys[0] as string, entries],
      [keys[1] as string, entries],
      [keys[2] as string, null],
    ]);
    expect([...new SharedTable(sab).entries()]).toEqual([
      [keys[0], entries],
      [keys[1], entries],
      [keys[2], null],
    ]);
    expect(wireKeyOf('A.Bc')).toBe('\x01a\x02bc\0');
    expect(wireKeyOf('a\\.b.c')).toBeNull();
    expect(wireKeyOf('a..b')).toBeNull();
  });
});

describe('negative answers the main thread gave, remembered by a worker', () => {
  async function setup(nxdomain: boolean) {
    const st = state(5);
    const server = new DnsServer();
    server.update(st);
    const zone = compileZone(st);
    const prepared = new PreparedZone(zone);
    const writer = new SharedZoneWriter();
    const reader = new SharedZoneReader(nxdomain);
    reader.use(writer.full(prepared, zone));
    return { server, writer, prepared, zone, reader };
  }

  it('answers the same name and type again exactly as the main thread does, until the next update', async () => {
    const { server, writer, prepared, zone, reader } = await setup(true);
    const cases: [string, RecordType][] = [
      ['missing.default.svc.cluster.local', 'A'], // NXDOMAIN
      ['web.default.svc.cluster.local', 'TXT'], // NODATA
      ['svc.cluster.local', 'A'], // NODATA at a namespace-less apex name
    ];
    for (const [name, type] of cases) {
      for (const edns of [undefined, 1232]) {
        const first = query(name, type, 1, edns);
        // the name and type are remembered whatever the EDNS of the query that brought them
        if (edns === undefined) expect(reader.respond(first, true, alloc)).toBeNull();
        const answer = (await server.handle(first)) as Uint8Array;
        expect(reader.remember(answer, reader.generation)).toBe(true);
        const again = query(name.toUpperCase(), type, 4242, edns === undefined ? 1232 : undefined);
        expect([...(reader.respond(again, true, alloc) as Uint8Array)]).toEqual([
          ...((await server.handle(again)) as Uint8Array),
        ]);
      }
    }
    expect(reader.remembered).toBe(3);
    // answers made for other tables are not kept; a new generation forgets them all
    const stale = (await server.handle(
      query('gone.default.svc.cluster.local', 'A', 2),
    )) as Uint8Array;
    expect(reader.remember(stale, reader.generation - 1)).toBe(false);
    reader.use(writer.patch(prepared, zone, []));
    expect(reader.remembered).toBe(0);
    expect(reader.respond(query(cases[0]![0], 'A', 3), true, alloc)).toBeNull();
  });

  it('keeps no positive, truncated, non-authoritative or (with autopath) NXDOMAIN answers', async () => {
    const { server, reader } = await setup(false);
    const nx = (await server.handle(
      query('missing.default.svc.cluster.local', 'A', 1),
    )) as Uint8Array;
    expect(reader.remember(nx, reader.generation)).toBe(false);
    const positive = (await server.handle(
      query('web.default.svc.cluster.local', 'A', 1),
    )) as Uint8Array;
    expect(reader.remember(positive, reader.generation)).toBe(false);
    const nodata = (await server.handle(
      query('web.default.svc.cluster.local', 'TXT', 1),
    )) as Uint8Array;
    // copies (a Buffer's slice shares its memory)
    const notAuthoritative = Uint8Array.from(nodata);
    notAuthoritative[2] = (notAuthoritative[2] as number) & ~0x04;
    expect(reader.remember(notAuthoritative, reader.generation)).toBe(false);
    const truncated = Uint8Array.from(nodata);
    truncated[2] = (truncated[2] as number) | 0x02;
    expect(reader.remember(truncated, reader.generation)).toBe(false);
    // outside the zone (no forwarder): REFUSED, not kept
    const refused = (await server.handle(query('example.org', 'A', 1))) as Uint8Array;
    expect(reader.remember(refused, reader.generation)).toBe(false);
    expect(reader.remember(nodata, reader.generation)).toBe(true);
  });
});

describe('UDP worker protocol', () => {
  it('packs and unpacks datagrams with their peers', () => {
    const list = [
      { bytes: new Uint8Array([1, 2, 3]), peer: new Uint8Array(28).fill(7) },
      { bytes: new Uint8Array(0), peer: new Uint8Array(28).fill(1) },
      { bytes: new Uint8Array(600).fill(9), peer: new Uint8Array(28).fill(2) },
    ];
    const back = unpackDatagrams(packDatagrams(list));
    expect(back.map((d) => [[...d.bytes], [...d.peer]])).toEqual(
      list.map((d) => [[...d.bytes], [...d.peer]]),
    );
    expect(() => unpackDatagrams(packDatagrams(list).subarray(0, 40))).toThrow(/cut off/);
    expect(() => packDatagrams([{ bytes: new Uint8Array(1), peer: new Uint8Array(4) }])).toThrow(
      /peer must be 28 bytes/,
    );
  });

  it('reads a worker counters block', () => {
    const c = new Float64Array(COUNTER_SLOTS);
    c[COUNTER_RCODES] = 5;
    c[COUNTER_RCODES + 3] = 2;
    c[COUNTER_TO_MAIN] = 4;
    c[COUNTER_SOCKET] = 11;
    expect(workerStats(c)).toMatchObject({ datagrams: 11, answered: 7, toMain: 4 });
  });

  it('resolves udpWorkers: auto is one per CPU, bad values name the field', () => {
    expect(resolveUdpWorkers(undefined, 8)).toBe(1);
    expect(resolveUdpWorkers('auto', 8)).toBe(8);
    expect(resolveUdpWorkers('auto', 1)).toBe(1);
    expect(resolveUdpWorkers(3, 1)).toBe(3);
    for (const bad of [0, -1, 1.5, '2', 'all', 65])
      expect(() => resolveUdpWorkers(bad, 4)).toThrow(/udpWorkers must be auto or an integer/);
  });
});
