import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrFamily, ipv4Value, isIPv4 } from '../src/index.js';

describe('ipv4Value (the dotted-quad parser without a regular expression)', () => {
  const strict = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
  const oracle = (text: string): number => {
    const m = strict.exec(text);
    if (!m) return -1;
    const octets = m.slice(1).map(Number);
    return octets.some((o) => o > 255) ? -1 : octets.reduce((v, o) => v * 256 + o, 0);
  };

  it('agrees with a strict regular expression on random and near-miss texts', () => {
    const piece = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('', '0', '00', '01', '255', '256', '1a', ' 1', '-1', '1.'),
    );
    const text = fc.oneof(
      fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(text, (t) => ipv4Value(t) === oracle(t)),
      { numRuns: 5000 },
    );
    expect(ipv4Value('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(ipv4Value('10.0.0.1')).toBe(0x0a000001);
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.4 ', '']) {
      expect(ipv4Value(bad)).toBe(-1);
    }
  });
});

describe('cidrFamily', () => {
  // the expressions these functions used before they became character loops
  const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  const prefix = /^(0|[1-9]\d{0,2})$/;

  it('agrees with the regular expressions on IPv4 CIDRs and near misses', () => {
    const piece = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('', '0', '00', '01', '255', '256', '1a', ' 1', '-1'),
    );
    const len = fc.oneof(
      fc.integer({ min: 0, max: 200 }).map(String),
      fc.constantFrom('', '00', '01', '032', '1000', '3 ', 'x', '/'),
    );
    const text = fc
      .tuple(fc.array(piece, { minLength: 3, maxLength: 5 }), len)
      .map(([p, l]) => `${p.join('.')}/${l}`);
    fc.assert(
      fc.property(text, (t) => {
        const [addr, l, ...rest] = t.split('/');
        const want =
          rest.length === 0 && v4.test(addr!) && prefix.test(l!) && Number(l) <= 32 ? 4 : undefined;
        return cidrFamily(t) === want && isIPv4(addr!) === v4.test(addr!);
      }),
      { numRuns: 5000 },
    );
    expect(cidrFamily('fd00::/64')).toBe(6);
    expect(cidrFamily('fd00::/129')).toBeUndefined();
    expect(cidrFamily('fd00::/128')).toBe(6);
    expect(cidrFamily('10.0.0.0')).toBeUndefined();
  });
});
