import { describe, expect, it } from 'vitest';
import {
  HostError,
  assertBatchToken,
  assertCidr,
  assertIfName,
  assertIp,
  isIp,
  assertMac,
  assertNetnsPath,
  assertNftName,
} from '../src/index.js';

const bad = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(HostError.isInstance(e)).toBe(true);
    expect((e as HostError).code).toBe('INVALID_ARGUMENT');
    return (e as HostError).message;
  }
  throw new Error('expected a HostError');
};

describe('validation', () => {
  it.each(['eth0', 'veth1234abcd', 'a', 'pn-0123456789ab', 'br.100', 'vxlan@1'])(
    'accepts interface name %s',
    (n) => expect(assertIfName(n)).toBe(n),
  );

  it.each([
    ['empty', ''],
    ['16 characters', 'abcdefghijklmnop'],
    ['space', 'eth 0'],
    ['semicolon', 'eth0;reboot'],
    ['command substitution', '$(id)'],
    ['leading dash', '-json'],
    ['newline', 'eth0\nlink del lo'],
    ['slash', 'a/b'],
    ['dot', '.'],
    ['not a string', 42],
  ])('refuses interface name with %s', (_why, n) => {
    expect(bad(() => assertIfName(n))).toMatch(/invalid interface name/);
  });

  it('checks CIDRs per family', () => {
    expect(assertCidr('10.244.0.0/16')).toBe('10.244.0.0/16');
    expect(assertCidr('fd00::/64')).toBe('fd00::/64');
    for (const c of [
      '10.0.0.0/33',
      'fd00::/129',
      '10.0.0/8',
      '10.0.0.0',
      '-1.0.0.0/8',
      '10.0.0.0/8 ',
    ]) {
      expect(bad(() => assertCidr(c))).toMatch(/invalid CIDR/);
    }
  });

  it('checks IPs strictly', () => {
    expect(assertIp('192.168.1.1')).toBe('192.168.1.1');
    expect(assertIp('fe80::1')).toBe('fe80::1');
    for (const ip of ['1', '0x7f.1', '10.0.0.1/24', 'fe80::1%eth0', '::ffff:zz']) {
      bad(() => assertIp(ip));
    }
    for (const ip of ['255.255.255.255', '0.0.0.0', '::', '::ffff:1.2.3.4', '2001:db8::'])
      expect(isIp(ip)).toBe(true);
    for (const ip of [
      '256.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '0x7f.0.0.1',
      '1::2::3',
      '',
      ' 1.2.3.4',
      7,
    ])
      expect(isIp(ip)).toBe(false);
  });

  it('checks MACs, nft names and namespace paths', () => {
    expect(assertMac('0a:58:0a:f4:00:01')).toBe('0a:58:0a:f4:00:01');
    bad(() => assertMac('0a:58:0a:f4:00'));
    bad(() => assertMac('0a-58-0a-f4-00-01'));
    expect(assertNftName('podnet')).toBe('podnet');
    bad(() => assertNftName('podnet; flush ruleset'));
    bad(() => assertNftName('1abc'));
    expect(assertNetnsPath('/proc/123/ns/net')).toBe('/proc/123/ns/net');
    bad(() => assertNetnsPath('/run/netns/../../etc/passwd'));
    bad(() => assertNetnsPath('relative/path'));
  });

  it.each(['a b', 'a\nb', 'a;b', '$(x)', '`x`', '"x"', "'x'", 'a#b', 'a\\b', ''])(
    'refuses batch token %j',
    (t) => {
      bad(() => assertBatchToken(t));
    },
  );
});
