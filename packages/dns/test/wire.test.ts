import * as packet from 'dns-packet';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { type DnsMessage, type DnsRecord, decodeMessage, encodeMessage } from '../src/index.js';

// Compression matches names case-insensitively (as BIND does), so generated names are lower case.
const label = fc.stringMatching(/^[a-z0-9_]([a-z0-9-]{0,20}[a-z0-9])?$/);
const name = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const ttl = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const u16 = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc
  .array(fc.nat(255), { minLength: 16, maxLength: 16 })
  .map((b) => ipaddr.fromByteArray(b).toString());

const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({
    name,
    type: fc.constant('A' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: ipv4,
  }),
  fc.record({
    name,
    type: fc.constant('AAAA' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: ipv6,
  }),
  fc.record({
    name,
    type: fc.constantFrom('CNAME' as const, 'PTR' as const, 'NS' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: name,
  }),
  fc.record({
    name,
    type: fc.constant('SRV' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: fc.record({ priority: u16, weight: u16, port: u16, target: name }),
  }),
  fc.record({
    name,
    type: fc.constant('TXT' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: fc.array(fc.stringMatching(/^[ -~]{0,40}$/), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    name,
    type: fc.constant('SOA' as const),
    class: fc.constant('IN' as const),
    ttl,
    data: fc.record({
      mname: name,
      rname: name,
      serial: ttl,
      refresh: ttl,
      retry: ttl,
      expire: ttl,
      minimum: ttl,
    }),
  }),
);

const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: u16,
  qr: fc.boolean(),
  opcode: fc.constant(0),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  ad: fc.boolean(),
  cd: fc.boolean(),
  rcode: fc.constantFrom(0, 1, 2, 3, 4, 5),
  questions: fc.array(
    fc.record({
      name,
      type: fc.constantFrom('A' as const, 'AAAA' as const, 'SRV' as const, 'PTR' as const),
      class: fc.constant('IN' as const),
    }),
    { minLength: 1, maxLength: 2 },
  ),
  answers: fc.array(record, { maxLength: 6 }),
  authorities: fc.array(record, { maxLength: 2 }),
  additionals: fc.array(record, { maxLength: 3 }),
});

/** Our record as dns-packet spells it. */
function toPacketRecord(r: DnsRecord): packet.Answer {
  return structuredClone({ ...r, class: 'IN' }) as packet.Answer;
}

/** A dns-packet record in our spelling. */
function fromPacketRecord(answer: packet.Answer): DnsRecord {
  const r = answer as { name: string; type: string; ttl?: number; data: unknown };
  const base = { name: r.name, type: r.type, class: 'IN', ttl: r.ttl ?? 0 };
  if (r.type === 'TXT')
    return { ...base, data: (r.data as Buffer[]).map((b) => b.toString('latin1')) } as DnsRecord;
  if (r.type === 'AAAA')
    return { ...base, data: ipaddr.parse(r.data as string).toString() } as DnsRecord;
  return { ...base, data: r.data } as DnsRecord;
}

describe('wire codec', () => {
  it('decode(encode(x)) = x, with and without compression', () => {
    fc.assert(
      fc.property(message, fc.boolean(), (m, compress) => {
        expect(decodeMessage(encodeMessage(m, { compress }))).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with dns-packet: it decodes what we encode (compressed)', () => {
    fc.assert(
      fc.property(message, (m) => {
        const theirs = packet.decode(Buffer.from(encodeMessage(m)));
        expect(theirs.id).toBe(m.id);
        expect(theirs.flag_aa).toBe(m.aa);
        expect(theirs.flag_tc).toBe(m.tc);
        expect(theirs.flag_rd).toBe(m.rd);
        expect(theirs.questions).toEqual(m.questions);
        expect((theirs.answers ?? []).map(fromPacketRecord)).toEqual(m.answers);
        expect((theirs.authorities ?? []).map(fromPacketRecord)).toEqual(m.authorities);
        expect((theirs.additionals ?? []).map(fromPacketRecord)).toEqual(m.additionals);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with dns-packet: we decode what it encodes, and byte-for-byte without compression', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = packet.encode({
          id: m.id,
          type: m.qr ? 'response' : 'query',
          flags:
            (m.aa ? packet.AUTHORITATIVE_ANSWER : 0) |
            (m.tc ? packet.TRUNCATED_RESPONSE : 0) |
            (m.rd ? packet.RECURSION_DESIRED : 0) |
            (m.ra ? packet.RECURSION_AVAILABLE : 0) |
            (m.ad ? packet.AUTHENTIC_DATA : 0) |
            (m.cd ? packet.CHECKING_DISABLED : 0) |
            m.rcode,
          questions: m.questions as packet.Question[],
          answers: m.answers.map(toPacketRecord),
          authorities: m.authorities.map(toPacketRecord),
          additionals: m.additionals.map(toPacketRecord),
        });
        expect(decodeMessage(bytes)).toEqual(m);
        expect(Buffer.from(encodeMessage(m, { compress: false }))).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('compresses repeated names with pointers', () => {
    const answers: DnsRecord[] = Array.from({ length: 20 }, (_, i) => ({
      name: 'big.default.svc.cluster.local',
      type: 'A',
      class: 'IN',
      ttl: 5,
      data: `10.0.0.${i}`,
    }));
    const m: DnsMessage = {
      id: 1,
      qr: true,
      opcode: 0,
      aa: true,
      tc: false,
      rd: false,
      ra: false,
      ad: false,
      cd: false,
      rcode: 0,
      questions: [{ name: 'big.default.svc.cluster.local', type: 'A', class: 'IN' }],
      answers,
      authorities: [],
      additionals: [],
    };
    const compressed = encodeMessage(m);
    const plain = encodeMessage(m, { compress: false });
    expect(compressed.length).toBe(12 + 35 + 20 * (2 + 10 + 4));
    expect(plain.length).toBe(12 + 35 + 20 * (31 + 10 + 4));
  });

  it('round-trips EDNS and case of names', () => {
    const m: DnsMessage = {
      id: 7,
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: true,
      ra: false,
      ad: false,
      cd: false,
      rcode: 0,
      questions: [{ name: 'MiXeD.Example', type: 'A', class: 'IN' }],
      answers: [],
      authorities: [],
      additionals: [],
      edns: {
        udpSize: 4096,
        extendedRcode: 0,
        version: 0,
        do: true,
        options: new Uint8Array([0, 10, 0, 2, 1, 2]),
      },
    };
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
    const theirs = packet.decode(Buffer.from(encodeMessage(m)));
    expect(theirs.additionals?.[0]).toMatchObject({ type: 'OPT', udpPayloadSize: 4096 });
  });

  it('rejects malformed messages with MALFORMED_MESSAGE', () => {
    const good = encodeMessage({
      id: 1,
      qr: false,
      opcode: 0,
      aa: false,
      tc: false,
      rd: true,
      ra: false,
      ad: false,
      cd: false,
      rcode: 0,
      questions: [{ name: 'a.b', type: 'A' }],
      answers: [],
      authorities: [],
      additionals: [],
    });
    const loop = Uint8Array.from([...good.subarray(0, 12), 0xc0, 12, 0, 1, 0, 1]);
    for (const bad of [
      good.subarray(0, 5),
      good.subarray(0, good.length - 1),
      loop,
      Uint8Array.from([...good, 0]),
    ]) {
      expect(() => decodeMessage(bad)).toThrow(
        expect.objectContaining({ code: 'MALFORMED_MESSAGE' }),
      );
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (err) {
          expect(err).toMatchObject({ code: 'MALFORMED_MESSAGE' });
        }
      }),
      { numRuns: 2000 },
    );
  });
});
