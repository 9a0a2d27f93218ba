import * as packet from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PreparedZone,
  buildResponse,
  compileZone,
  encodeMessage,
  parseQuery,
  udpLimit,
} from '../src/index.js';
import { clusterIpService, endpointSlice, headlessService } from '../src/testing/index.js';

function query(
  name: string,
  type: 'A' | 'AAAA' | 'ANY' | 'TXT',
  opts: { id?: number; edns?: number; version?: number } = {},
): Uint8Array {
  return encodeMessage({
    id: opts.id ?? 1,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    ad: false,
    cd: true,
    rcode: 0,
    questions: [{ name, type }],
    answers: [],
    authorities: [],
    additionals: [],
    edns:
      opts.edns === undefined
        ? undefined
        : {
            udpSize: opts.edns,
            extendedRcode: 0,
            version: opts.version ?? 0,
            do: false,
            options: new Uint8Array(),
          },
  });
}

describe('parseQuery', () => {
  it('lower-cases the key, escapes dots inside labels and reads EDNS', () => {
    const msg = Uint8Array.from([...query('x.example', 'A', { edns: 4096 })]);
    msg[13] = 0x2e; // the label "x" becomes "."
    const p = parseQuery(msg);
    expect(p).toMatchObject({
      kind: 'query',
      query: { key: '\\..example', qtype: 1, ednsSize: 4096, echoFlags: 0x110 },
    });
    if (p.kind === 'query') expect(udpLimit(p.query)).toBe(1232);
    expect(parseQuery(query('MiXeD.Example', 'A'))).toMatchObject({
      query: { key: 'mixed.example', ednsSize: -1 },
    });
  });

  it('answers FORMERR, NOTIMP or drops', () => {
    const q = query('a.example', 'A');
    expect(parseQuery(q.subarray(0, 11))).toEqual({ kind: 'drop' });
    const response = Uint8Array.from(q);
    response[2] = (response[2] as number) | 0x80;
    expect(parseQuery(response)).toEqual({ kind: 'drop' });
    const notify = Uint8Array.from(q);
    notify[2] = ((notify[2] as number) & 0x87) | (4 << 3);
    const r1 = parseQuery(notify);
    expect(
      r1.kind === 'reply' && (packet.decode(Buffer.from(r1.response)) as { rcode?: string }).rcode,
    ).toBe('NOTIMP');
    const r2 = parseQuery(q.subarray(0, q.length - 2));
    expect(r2.kind === 'reply' && packet.decode(Buffer.from(r2.response))).toMatchObject({
      id: 1,
      rcode: 'FORMERR',
      type: 'response',
    });
  });
});

describe('PreparedZone', () => {
  const zone = new PreparedZone(
    compileZone(
      { services: [clusterIpService('default', 'web', ['10.96.0.1', 'fd00::1'])] },
      { ttl: 9 },
    ),
  );

  it('patches the ID, copies the question spelling and echoes RD/CD', () => {
    const q = query('WEB.default.svc.cluster.local', 'A', { id: 0xbeef, edns: 1232 });
    const p = parseQuery(q);
    if (p.kind !== 'query') throw new Error('parse');
    const ans = zone.lookup(p.query.key, p.query.qtype, p.query.questionEnd - 16);
    if (!ans) throw new Error('no answer');
    const res = packet.decode(Buffer.from(buildResponse(q, p.query, ans, 1232)));
    expect(res).toMatchObject({
      id: 0xbeef,
      flag_aa: true,
      flag_rd: true,
      flag_cd: true,
      rcode: 'NOERROR',
    });
    expect(res.questions).toEqual([
      { name: 'WEB.default.svc.cluster.local', type: 'A', class: 'IN' },
    ]);
    expect(res.answers).toEqual([
      expect.objectContaining({
        name: 'WEB.default.svc.cluster.local',
        type: 'A',
        ttl: 9,
        data: '10.96.0.1',
      }),
    ]);
    expect(res.additionals).toEqual([
      expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232 }),
    ]);
  });

  it.each([
    ['web.default.svc.cluster.local', 'TXT', 'NOERROR'],
    ['nope.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['a-much-longer-name-that-is-not-there.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['default.svc.cluster.local', 'A', 'NOERROR'],
  ] as const)('%s %s: %s with a well-formed SOA for any name length', (name, type, rcode) => {
    const q = query(name, type as 'A');
    const p = parseQuery(q);
    if (p.kind !== 'query') throw new Error('parse');
    const ans = zone.lookup(p.query.key, p.query.qtype, p.query.questionEnd - 16);
    if (!ans) throw new Error('no answer');
    const res = packet.decode(Buffer.from(buildResponse(q, p.query, ans, 512)));
    expect((res as { rcode?: string }).rcode).toBe(rcode);
    expect(res.answers).toEqual([]);
    expect(res.authorities).toEqual([
      expect.objectContaining({
        name: 'cluster.local',
        type: 'SOA',
        ttl: 9,
        data: expect.objectContaining({
          mname: 'ns.dns.cluster.local',
          rname: 'hostmaster.cluster.local',
          minimum: 9,
        }),
      }),
    ]);
  });

  it('answers ANY with the first RRset and forwards outside the zone', () => {
    const q = query('web.default.svc.cluster.local', 'ANY');
    const p = parseQuery(q);
    if (p.kind !== 'query') throw new Error('parse');
    const ans = zone.lookup(p.query.key, p.query.qtype, p.query.questionEnd - 16);
    if (!ans) throw new Error('no answer');
    expect(
      packet.decode(Buffer.from(buildResponse(q, p.query, ans, 512))).answers?.length,
    ).toBeGreaterThan(0);
    expect(zone.lookup('example.com', 1, 13)).toBeNull();
    expect(zone.names).toBeGreaterThan(3);
  });
});

describe('PreparedZone.fastResponse', () => {
  const big = Array.from({ length: 100 }, (_, i) => ({ ip: `10.8.0.${i}`, hostname: `b-${i}` }));
  const prepared = new PreparedZone(
    compileZone({
      services: [
        clusterIpService('default', 'web', ['10.96.0.1', 'fd00::1'], ['http:80']),
        headlessService('default', 'big', ['web:80']),
        {
          metadata: { name: 'ext', namespace: 'default' },
          spec: { type: 'ExternalName', externalName: 'ext.example.test' },
        },
      ],
      endpointSlices: [endpointSlice('default', 'big', big, ['web:80'])],
    }),
  );
  const names = [
    'web.default.svc.cluster.local',
    '_http._tcp.web.default.svc.cluster.local',
    'big.default.svc.cluster.local',
    'b-7.big.default.svc.cluster.local',
    'ext.default.svc.cluster.local',
    '1.0.96.10.in-addr.arpa',
    'default.svc.cluster.local',
    'dns-version.cluster.local',
    'nope.default.svc.cluster.local',
    'www.example.test',
  ];
  const types = [1, 28, 33, 12, 16, 5, 255, 2, 6];

  /** What the full path answers (parse, lookup, build), or null when it is not a plain answer. */
  function fullPath(msg: Uint8Array, udp: boolean): Uint8Array | null {
    const p = parseQuery(msg);
    if (p.kind !== 'query' || p.query.qclass !== 1 || p.query.ednsVersion > 0) return null;
    const ans = prepared.lookup(p.query.key, p.query.qtype, p.query.questionEnd - 16);
    if (!ans) return null;
    return buildResponse(msg, p.query, ans, udp ? udpLimit(p.query) : 65535);
  }

  it('answers byte for byte as the full path, or leaves the query to it', () => {
    const queryArb = fc
      .record({
        name: fc.constantFrom(...names),
        upper: fc.array(fc.boolean(), { maxLength: 64 }),
        type: fc.constantFrom(...types),
        id: fc.nat(0xffff),
        rd: fc.boolean(),
        cd: fc.boolean(),
        edns: fc.option(fc.nat(5000), { nil: undefined }),
        udp: fc.boolean(),
        flips: fc.oneof(
          { arbitrary: fc.constant([] as [number, number][]), weight: 3 },
          { arbitrary: fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { maxLength: 2 }), weight: 1 },
        ),
        cut: fc.option(fc.nat(90), { nil: undefined, freq: 5 }),
      })
      .map((r) => {
        const name = [...r.name].map((c, i) => (r.upper[i] ? c.toUpperCase() : c)).join('');
        const msg = Uint8Array.from(
          encodeMessage({
            id: r.id,
            qr: false,
            opcode: 0,
            aa: false,
            tc: false,
            rd: r.rd,
            ra: false,
            ad: false,
            cd: r.cd,
            rcode: 0,
            questions: [{ name, type: r.type }],
            answers: [],
            authorities: [],
            additionals: [],
            edns:
              r.edns === undefined
                ? undefined
                : {
                    udpSize: r.edns,
                    extendedRcode: 0,
                    version: 0,
                    do: false,
                    options: new Uint8Array(),
                  },
          }),
        );
        for (const [at, v] of r.flips) if (at < msg.length) msg[at] = v;
        return { msg: r.cut === undefined ? msg : msg.subarray(0, r.cut), udp: r.udp };
      });
    let answered = 0;
    fc.assert(
      fc.property(queryArb, ({ msg, udp }) => {
        const fast = prepared.fastResponse(msg, udp, (n) => new Uint8Array(n));
        if (fast === null) return;
        answered++;
        expect(fast).toEqual(fullPath(msg, udp));
        const parsed = parseQuery(msg);
        expect(parsed.kind === 'query' && parsed.query.qtype).toBe(prepared.fastQtype);
      }),
      { numRuns: 5000 },
    );
    expect(answered).toBeGreaterThan(100);
  });

  it('takes the plain answers and leaves negative, CNAME, ANY and odd queries to the full path', () => {
    const alloc = (n: number): Uint8Array => new Uint8Array(n);
    const q = (name: string, type: 'A' | 'AAAA' | 'ANY' | 'TXT', opts = {}): Uint8Array =>
      query(name, type, opts);
    expect(
      prepared.fastResponse(q('WEB.default.svc.cluster.local', 'A'), true, alloc),
    ).not.toBeNull();
    expect(
      prepared.fastResponse(
        q('web.default.svc.cluster.local', 'AAAA', { edns: 1232 }),
        true,
        alloc,
      ),
    ).not.toBeNull();
    for (const msg of [
      q('web.default.svc.cluster.local', 'TXT'),
      q('nope.default.svc.cluster.local', 'A'),
      q('ext.default.svc.cluster.local', 'A'),
      q('web.default.svc.cluster.local', 'ANY'),
      q('web.default.svc.cluster.local', 'A', { edns: 1232, version: 1 }),
      q('www.example.test', 'A'),
    ])
      expect(prepared.fastResponse(msg, true, alloc)).toBeNull();
  });
});
