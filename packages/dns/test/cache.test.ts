import { describe, expect, it } from 'vitest';
import {
  type DnsMessage,
  type DnsRecord,
  ResponseCache,
  decodeMessage,
  encodeMessage,
  parseQuery,
  scanResponse,
} from '../src/index.js';

const base: DnsMessage = {
  id: 1,
  qr: true,
  opcode: 0,
  aa: false,
  tc: false,
  rd: true,
  ra: true,
  ad: false,
  cd: false,
  rcode: 0,
  questions: [{ name: 'www.example.test', type: 'A' }],
  answers: [],
  authorities: [],
  additionals: [],
};
const a = (ttl: number, data: string): DnsRecord => ({
  name: 'www.example.test',
  type: 'A',
  class: 'IN',
  ttl,
  data,
});
const soa: DnsRecord = {
  name: 'example.test',
  type: 'SOA',
  class: 'IN',
  ttl: 600,
  data: { mname: 'ns', rname: 'h', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 20 },
};

function query(name: string, id = 9, edns = false): Uint8Array {
  return encodeMessage({
    ...base,
    id,
    qr: false,
    ra: false,
    questions: [{ name, type: 'A' }],
    edns: edns
      ? { udpSize: 1232, extendedRcode: 0, version: 0, do: false, options: new Uint8Array() }
      : undefined,
  });
}

function parsed(msg: Uint8Array) {
  const p = parseQuery(msg);
  if (p.kind !== 'query') throw new Error('not a query');
  return p.query;
}

describe('ResponseCache', () => {
  it('keeps positive answers for the smallest TTL (capped), lowering TTLs as time passes', () => {
    let now = 1_000_000;
    const cache = new ResponseCache({ now: () => now, maxTtl: 30 });
    const upstream = encodeMessage({
      ...base,
      answers: [a(20, '192.0.2.1'), a(50, '192.0.2.2')],
      edns: { udpSize: 1232, extendedRcode: 0, version: 0, do: false, options: new Uint8Array() },
    });
    const scanned = scanResponse(upstream);
    expect(scanned).toMatchObject({ cacheTtl: 20, negative: false, ar: 0 });
    expect(cache.set('1|www.example.test', scanned as NonNullable<typeof scanned>)).toBe(true);
    now += 7_500;
    const q = query('WWW.example.test', 4242, true);
    const entry = cache.get('1|www.example.test');
    const res = decodeMessage(
      cache.respond(q, parsed(q), entry as NonNullable<typeof entry>, 512) as Uint8Array,
    );
    expect(res).toMatchObject({
      id: 4242,
      qr: true,
      ra: true,
      rcode: 0,
      questions: [{ name: 'WWW.example.test' }],
    });
    expect(res.answers.map((r) => r.ttl)).toEqual([13, 13]);
    expect(res.edns?.udpSize).toBe(1232);
    now += 13_000;
    expect(cache.get('1|www.example.test')).toBeUndefined();
  });

  it('keeps negative answers for min(SOA TTL, SOA minimum) and not SERVFAIL or truncated ones', () => {
    const cache = new ResponseCache();
    const nx = scanResponse(encodeMessage({ ...base, rcode: 3, authorities: [soa] }));
    expect(nx).toMatchObject({ cacheTtl: 20, negative: true });
    const nodata = scanResponse(encodeMessage({ ...base, authorities: [soa] }));
    expect(nodata).toMatchObject({ cacheTtl: 20, negative: true });
    const servfail = scanResponse(encodeMessage({ ...base, rcode: 2 }));
    expect(cache.set('x', servfail as NonNullable<typeof servfail>)).toBe(false);
    const tc = scanResponse(encodeMessage({ ...base, tc: true, answers: [a(60, '192.0.2.1')] }));
    expect(cache.set('y', tc as NonNullable<typeof tc>)).toBe(false);
    expect(scanResponse(new Uint8Array(5))).toBeNull();
  });

  it('evicts the oldest entry when full and truncates towards small clients', () => {
    const cache = new ResponseCache({ maxEntries: 2 });
    const many = scanResponse(
      encodeMessage({
        ...base,
        answers: Array.from({ length: 40 }, (_, i) => a(60, `192.0.2.${i}`)),
      }),
    );
    const s = many as NonNullable<typeof many>;
    cache.set('a', s);
    cache.set('b', s);
    cache.set('c', s);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    const q = query('www.example.test');
    const res = decodeMessage(
      cache.respond(
        q,
        parsed(q),
        cache.get('c') as NonNullable<ReturnType<ResponseCache['get']>>,
        512,
      ) as Uint8Array,
    );
    expect(res.tc).toBe(true);
    expect(res.answers).toEqual([]);
  });
});
