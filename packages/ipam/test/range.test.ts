import { describe, expect, it } from 'vitest';
import {
  IpamError,
  parseIpamConfig,
  parseRangeSets,
  pickAddress,
  rangeSize,
} from '../src/index.js';

function all(ranges: unknown, last?: string): string[] {
  const [set] = parseRangeSets(ranges);
  const taken = new Set<string>();
  const out: string[] = [];
  let prev = last;
  for (;;) {
    const p = pickAddress(set!, (ip) => taken.has(ip), prev);
    if (!p) return out;
    taken.add(p.ip);
    out.push(p.address);
    prev = p.ip;
  }
}

function configError(ipam: unknown): IpamError {
  try {
    parseIpamConfig(ipam);
  } catch (error) {
    if (IpamError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe('range defaults', () => {
  it('IPv4 /29 hands out .2-.6: not network, gateway .1 or broadcast', () => {
    expect(all([[{ subnet: '10.0.0.0/29' }]])).toEqual([
      '10.0.0.2/29',
      '10.0.0.3/29',
      '10.0.0.4/29',
      '10.0.0.5/29',
      '10.0.0.6/29',
    ]);
  });

  it('canonicalises the subnet and defaults the gateway to the first host', () => {
    const [[r]] = parseRangeSets([[{ subnet: '10.1.2.3/24' }]]) as [
      [ReturnType<typeof parseRangeSets>[0][0]],
    ];
    expect(r).toEqual({
      subnet: '10.1.2.0/24',
      family: 4,
      prefixLength: 24,
      rangeStart: '10.1.2.1',
      rangeEnd: '10.1.2.254',
      gateway: '10.1.2.1',
      exclude: [],
    });
  });

  it('IPv6 /125 skips the subnet-router address and the gateway but uses the last address', () => {
    expect(all([[{ subnet: 'fd00::/125' }]])).toEqual([
      'fd00::2/125',
      'fd00::3/125',
      'fd00::4/125',
      'fd00::5/125',
      'fd00::6/125',
      'fd00::7/125',
    ]);
  });

  it('/31 and /127 use both addresses, /32 and /128 their single address, with no gateway', () => {
    expect(all([[{ subnet: '192.168.5.4/31' }]])).toEqual(['192.168.5.4/31', '192.168.5.5/31']);
    expect(all([[{ subnet: 'fd00::a/127' }]])).toEqual(['fd00::a/127', 'fd00::b/127']);
    expect(all([[{ subnet: '192.168.5.9/32' }]])).toEqual(['192.168.5.9/32']);
    expect(all([[{ subnet: '2001:db8::1/128' }]])).toEqual(['2001:db8::1/128']);
    expect(parseRangeSets([[{ subnet: '192.168.5.4/31' }]])[0]![0]!.gateway).toBeUndefined();
  });

  it('a range of one address', () => {
    expect(
      all([[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.77', rangeEnd: '10.0.0.77' }]]),
    ).toEqual(['10.0.0.77/24']);
  });

  it('rangeStart/rangeEnd bound the range and an explicit gateway inside it is skipped', () => {
    expect(
      all([
        [
          {
            subnet: '10.0.0.0/24',
            rangeStart: '10.0.0.10',
            rangeEnd: '10.0.0.13',
            gateway: '10.0.0.11',
          },
        ],
      ]),
    ).toEqual(['10.0.0.10/24', '10.0.0.12/24', '10.0.0.13/24']);
  });

  it('skips excluded addresses and CIDRs', () => {
    expect(all([[{ subnet: '10.0.0.0/28', exclude: ['10.0.0.3', '10.0.0.8/30'] }]])).toEqual(
      [
        '10.0.0.2',
        '10.0.0.4',
        '10.0.0.5',
        '10.0.0.6',
        '10.0.0.7',
        '10.0.0.12',
        '10.0.0.13',
        '10.0.0.14',
      ].map((a) => `${a}/28`),
    );
  });

  it('an exclusion covering a whole huge IPv6 range ends quickly', () => {
    expect(
      all([[{ subnet: 'fd00::/64', exclude: ['fd00::/64'] }], [{ subnet: '10.0.0.0/30' }]]),
    ).toEqual([]);
  });

  it('a multi-range set moves to the next range at the end and wraps after the last reserved', () => {
    expect(all([[{ subnet: '10.0.0.0/30' }, { subnet: '10.0.1.0/30' }]], '10.0.0.2')).toEqual([
      '10.0.1.2/30',
      '10.0.0.2/30',
    ]);
  });

  it('round-robin continues after the last reserved address and wraps around', () => {
    const [set] = parseRangeSets([[{ subnet: '10.0.0.0/29' }]]);
    expect(pickAddress(set!, () => false, '10.0.0.4')?.ip).toBe('10.0.0.5');
    expect(pickAddress(set!, () => false, '10.0.0.6')?.ip).toBe('10.0.0.2');
    expect(pickAddress(set!, (ip) => ip !== '10.0.0.3', '10.0.0.5')?.ip).toBe('10.0.0.3');
    expect(pickAddress(set!, () => false, '192.168.0.1')?.ip).toBe('10.0.0.2');
  });

  it('counts the range size', () => {
    expect(rangeSize(parseRangeSets([[{ subnet: 'fd00::/64' }]])[0]![0]!)).toBe(2n ** 64n - 1n);
  });
});

describe('configuration errors name the field', () => {
  it.each([
    [{ ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }]] }, 'ipam.ranges[0][0].gateway'],
    [
      { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.3' }]] },
      'ipam.ranges[0][0].rangeStart',
    ],
    [
      { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] },
      'ipam.ranges[0][1].subnet',
    ],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]] }, 'ipam.ranges[1][0]'],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.128/25' }]] }, 'ipam.ranges[0][1]'],
    [{ ranges: [[{ subnet: '10.0.0.0/33' }]] }, 'ipam.ranges[0][0].subnet'],
    [{ ranges: [[{ subnet: '10.0.0.0/24', rangeEnd: 'fd00::1' }]] }, 'ipam.ranges[0][0].rangeEnd'],
    [
      { ranges: [[{ subnet: '10.0.0.0/24', exclude: ['10.9.0.1'] }]] },
      'ipam.ranges[0][0].exclude[0]',
    ],
    [{ ranges: [] }, 'ipam.ranges'],
    [{}, 'ipam.ranges'],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: 'nope' }] }, 'ipam.routes[0].dst'],
    [
      { ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] },
      'ipam.routes[0].gw',
    ],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: 'relative' }, 'ipam.dataDir'],
  ])('%j -> %s', (ipam, field) => {
    const error = configError(ipam);
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('accepts the legacy single-range keys and routes', () => {
    const c = parseIpamConfig({
      subnet: '10.5.0.0/16',
      gateway: '10.5.0.254',
      routes: [{ dst: '0.0.0.0/0' }, { dst: 'fd00::/8', gw: 'fd00::1' }],
      dataDir: '/tmp/x',
      resolvConf: '/etc/resolv.conf',
    });
    expect(c.rangeSets[0]![0]!.gateway).toBe('10.5.0.254');
    expect(c.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: 'fd00::/8', gw: 'fd00::1' }]);
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.resolvConf).toBe('/etc/resolv.conf');
  });
});

describe('address text', () => {
  it('formats IPv6 like Go (RFC 5952) and rejects non-canonical IPv4 forms', async () => {
    const { canonicalIp } = await import('../src/index.js');
    expect(canonicalIp('FD00:0:0:0:0:0:0:1')).toBe('fd00::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('2001:0db8:0000:0001:0000:0000:0000:0000')).toBe('2001:db8:0:1::');
    expect(canonicalIp('::')).toBe('::');
    expect(canonicalIp('2001:db8:1:2:3:4:0:5')).toBe('2001:db8:1:2:3:4:0:5');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
    for (const bad of [
      '010.0.0.1',
      '10.0.0.256',
      '10.0.1',
      '0x0a.0.0.1',
      'fe80::1%eth0',
      '',
      '1.2.3.4/24',
    ]) {
      expect(canonicalIp(bad), bad).toBeUndefined();
    }
  });
});
