import { describe, expect, it } from 'vitest';
import {
  decodeLogPrefix,
  encodeLogPrefix,
  formatVerdictLog,
  LOG_PREFIX_MAX,
  NflogPcapDecoder,
  parseNflogPcap,
  parseVerdictLog,
} from '../src/index.js';

function tlv(type: number, value: Uint8Array): Uint8Array {
  const len = 4 + value.length;
  const out = new Uint8Array((len + 3) & ~3);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(value, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function udpPacket(src: number[], dst: number[], sport: number, dport: number): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45;
  p[9] = 17;
  p.set(src, 12);
  p.set(dst, 16);
  new DataView(p.buffer).setUint16(20, sport);
  new DataView(p.buffer).setUint16(22, dport);
  return p;
}

function pcap(packets: Uint8Array[]): Uint8Array {
  const head = new Uint8Array(24);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 239, true);
  const recs = packets.map((p) => {
    const r = new Uint8Array(16);
    const v = new DataView(r.buffer);
    v.setUint32(0, 1_700_000_000, true);
    v.setUint32(8, p.length, true);
    v.setUint32(12, p.length, true);
    return concat(r, p);
  });
  return concat(head, ...recs);
}

describe('log prefixes', () => {
  it('round-trip and name namespace, policy and rule', () => {
    const p = encodeLogPrefix({
      verdict: 'drop',
      direction: 'egress',
      kind: 'admin',
      policies: ['block-dns'],
      more: 0,
      rule: 2,
      ruleName: 'no-dns',
    });
    expect(p).toBe('podnet:drop:eg:admin:block-dns:2=no-dns ');
    expect(decodeLogPrefix(p)).toEqual({
      verdict: 'drop',
      direction: 'egress',
      kind: 'admin',
      policies: ['block-dns'],
      more: 0,
      rule: 2,
      ruleName: 'no-dns',
    });
    expect(decodeLogPrefix('podnet:drop:in:np:x/a,x/b:* ')).toEqual({
      verdict: 'drop',
      direction: 'ingress',
      kind: 'np',
      policies: ['x/a', 'x/b'],
      more: 0,
    });
  });

  it('stay within the kernel limit by counting what did not fit', () => {
    const long = Array.from(
      { length: 10 },
      (_, i) => `namespace-${i}/a-rather-long-policy-name-${i}`,
    );
    const p = encodeLogPrefix({
      verdict: 'drop',
      direction: 'ingress',
      kind: 'np',
      policies: long,
      more: 0,
    });
    expect(p.length).toBeLessThanOrEqual(LOG_PREFIX_MAX);
    const d = decodeLogPrefix(p);
    expect((d?.policies.length ?? 0) + (d?.more ?? 0)).toBe(10);
    const huge = encodeLogPrefix({
      verdict: 'drop',
      direction: 'ingress',
      kind: 'baseline',
      policies: ['x'.repeat(300)],
      more: 0,
      rule: 1,
      ruleName: 'y'.repeat(90),
    });
    expect(huge.length).toBeLessThanOrEqual(LOG_PREFIX_MAX);
    expect(decodeLogPrefix(huge)?.rule).toBe(1);
  });
});

describe('parseVerdictLog (kernel text log)', () => {
  it('turns a kernel line into a structured record', () => {
    const line =
      '[ 1234.567890] podnet:drop:in:np:z/deny-from-x:* IN=pv6 OUT=pv7 MAC=aa:bb SRC=10.88.0.12 DST=10.88.0.17 LEN=33 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=UDP SPT=40000 DPT=81 LEN=13';
    const r = parseVerdictLog(line);
    expect(r).toEqual({
      verdict: 'drop',
      direction: 'ingress',
      tier: 'NetworkPolicy',
      policies: [{ namespace: 'z', name: 'deny-from-x' }],
      morePolicies: 0,
      protocol: 'UDP',
      src: '10.88.0.12',
      dst: '10.88.0.17',
      srcPort: 40000,
      dstPort: 81,
      inInterface: 'pv6',
      outInterface: 'pv7',
      message:
        'DROP 10.88.0.12:40000 -> 10.88.0.17 UDP/81: ingress isolated by NetworkPolicy z/deny-from-x; no rule allows it',
    });
    expect(JSON.parse(formatVerdictLog(r as NonNullable<typeof r>))).toEqual(r);
    expect(parseVerdictLog('kernel: eth0: link up')).toBeUndefined();
  });
});

describe('NFLOG pcap reader', () => {
  const prefix = new TextEncoder().encode('podnet:drop:eg:admin:no-egress:0 \0');
  const pkt = concat(
    new Uint8Array([2, 0, 0, 7]),
    tlv(10, prefix),
    tlv(9, udpPacket([10, 88, 0, 10], [192, 0, 2, 1], 5353, 53)),
  );

  it('decodes records from a capture', () => {
    const recs = parseNflogPcap(pcap([pkt, pkt]));
    expect(recs).toHaveLength(2);
    expect(recs[0]).toMatchObject({
      verdict: 'drop',
      direction: 'egress',
      tier: 'Admin',
      policies: [{ name: 'no-egress' }],
      rule: { index: 0 },
      protocol: 'UDP',
      src: '10.88.0.10',
      dst: '192.0.2.1',
      dstPort: 53,
      time: '2023-11-14T22:13:20.000Z',
    });
  });

  it('keeps the record keys in their documented order (time first), as JSON prints them', () => {
    const [r] = parseNflogPcap(pcap([pkt]));
    expect(Object.keys(r as object)).toEqual([
      'time',
      'verdict',
      'direction',
      'tier',
      'policies',
      'morePolicies',
      'rule',
      'protocol',
      'src',
      'dst',
      'srcPort',
      'dstPort',
      'message',
    ]);
  });

  it('decodes whole records fed one by one, and a record split across chunks', () => {
    const all = pcap([pkt, pkt]);
    const one = 16 + pkt.length;
    const d = new NflogPcapDecoder();
    expect(d.push(all.subarray(0, 24))).toHaveLength(0);
    expect(d.push(all.subarray(24, 24 + one))).toHaveLength(1);
    expect(d.push(all.subarray(24 + one, 24 + one + 5))).toHaveLength(0);
    const [last] = d.push(all.subarray(24 + one + 5));
    expect(last).toMatchObject({ src: '10.88.0.10', dst: '192.0.2.1', dstPort: 53 });
  });

  it('decodes a stream split at arbitrary byte boundaries', () => {
    const all = pcap([pkt, pkt, pkt]);
    const d = new NflogPcapDecoder();
    let n = 0;
    for (let i = 0; i < all.length; i += 7) n += d.push(all.subarray(i, i + 7)).length;
    expect(n).toBe(3);
  });

  it('rejects a capture of another link type', () => {
    const bad = pcap([]);
    new DataView(bad.buffer).setUint32(20, 1, true);
    expect(() => parseNflogPcap(bad)).toThrow(/not NFLOG/);
  });
});
