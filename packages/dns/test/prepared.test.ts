import * as packet from 'dns-packet';
import { describe, expect, it } from 'vitest';
import {
  PreparedZone,
  buildResponse,
  compileZone,
  encodeMessage,
  parseQuery,
  udpLimit,
} from '../src/index.js';
import { clusterIpService } from '../src/testing/index.js';

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
