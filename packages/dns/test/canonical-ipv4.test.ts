import { describe, expect, it } from 'vitest';
import { isCanonicalIpv4, reverseName } from '../src/zone-objects.js';

describe('isCanonicalIpv4 (the fast path past ipaddr.js)', () => {
  it.each([
    ['10.0.0.1', true],
    ['0.0.0.0', true],
    ['255.255.255.255', true],
    ['192.168.100.200', true],
    ['256.0.0.1', false],
    ['10.0.0', false],
    ['10.0.0.1.2', false],
    ['010.0.0.1', false],
    ['10.00.0.1', false],
    ['0x0a.0.0.1', false],
    ['10..0.1', false],
    ['10.0.0.', false],
    ['.10.0.0', false],
    ['10.0.0.1 ', false],
    ['fd00::1', false],
    ['', false],
    ['1.2.3.4444', false],
  ])('%s → %s', (ip, want) => {
    expect(isCanonicalIpv4(ip)).toBe(want);
  });

  it('gives the same PTR names as the parsed path', () => {
    expect(reverseName('10.244.1.17')).toBe('17.1.244.10.in-addr.arpa');
    expect(reverseName('fd00::1')).toMatch(/^1\.(0\.){29}d\.f\.ip6\.arpa$/);
  });
});
