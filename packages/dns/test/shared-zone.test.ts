import { describe, expect, it } from 'vitest';
import {
  type ClusterDnsState,
  PreparedZone,
  type RecordType,
  compileZone,
  encodeMessage,
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
  return encodeMessage({
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name, type }],
    answers: [],
    authorities: [],
    additionals: [],
    edns:
      edns === undefined
        ? undefined
        : { udpSize: edns, extendedRcode: 0, version: 0, do: false, options: new Uint8Array() },
  });
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
