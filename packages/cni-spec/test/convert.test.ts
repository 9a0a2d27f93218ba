import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AnyCniResult,
  CniError,
  convertResult,
  parseResult,
  SUPPORTED_VERSIONS,
} from '../src/index.js';

const full11: AnyCniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:01:00:01', mtu: 1450 },
    {
      name: 'eth0',
      mac: '0a:58:0a:01:00:05',
      sandbox: '/run/netns/p1',
      socketPath: '/tmp/s',
      pciID: '0000:00:01.0',
    },
  ],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 },
  ],
  routes: [
    {
      dst: '0.0.0.0/0',
      gw: '10.1.0.1',
      mtu: 1400,
      advmss: 1360,
      priority: 10,
      table: 100,
      scope: 0,
    },
    { dst: '::/0' },
  ],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

const plain10: AnyCniResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/run/netns/p1' }],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 },
    { address: 'fd00::5/64', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
  dns: { nameservers: ['10.96.0.10'] },
};

describe('convertResult', () => {
  it('to 0.3.x/0.4.0 adds ips[].version and drops 1.1-only fields', () => {
    for (const to of ['0.3.0', '0.3.1', '0.4.0']) {
      const r = convertResult(full11, to);
      expect(r.cniVersion).toBe(to);
      expect(r.ips).toEqual([
        { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1, version: '4' },
        { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1, version: '6' },
      ]);
      expect(r.interfaces?.[0]).toEqual({ name: 'cni0', mac: '0a:58:0a:01:00:01' });
      expect(r.routes?.[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.1.0.1' });
      expect(() => parseResult(r)).not.toThrow();
    }
  });

  it('to 1.0.0 drops interface mtu/socketPath/pciID and route mtu/advmss/priority/table/scope', () => {
    const r = convertResult(full11, '1.0.0');
    expect(r.interfaces?.[1]).toEqual({
      name: 'eth0',
      mac: '0a:58:0a:01:00:05',
      sandbox: '/run/netns/p1',
    });
    expect(r.routes?.[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.1.0.1' });
  });

  it('from 0.x to 1.x drops ips[].version', () => {
    const legacy = parseResult({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.0.0.2/8' }],
    });
    expect(convertResult(legacy, '1.1.0')).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: '10.0.0.2/8' }],
    });
  });

  const pairs = SUPPORTED_VERSIONS.flatMap((a) => SUPPORTED_VERSIONS.map((b) => [a, b] as const));
  it.each(pairs)('%s → %s → back is lossless for a result without 1.1-only fields', (a, b) => {
    const start = convertResult(plain10, a);
    const back = convertResult(convertResult(start, b), a);
    expect(back).toEqual(start);
  });

  it.each([
    ['0.2.0', '1.0.0'],
    ['1.0.0', '0.2.0'],
    ['1.0.0', '0.1.0'],
    ['2.0.0', '1.0.0'],
  ])('%s → %s is refused with code 1', (from, to) => {
    try {
      convertResult({ cniVersion: from }, to);
      expect.unreachable();
    } catch (e) {
      expect(CniError.isInstance(e) && e.code).toBe(1);
    }
  });

  it('property: any valid result converts to every version and back to 1.1.0 keeping addresses', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const arb = fc.record({
      ips: fc.array(fc.record({ a: v4, len: fc.integer({ min: 0, max: 32 }) }), { maxLength: 4 }),
      to: fc.constantFrom(...SUPPORTED_VERSIONS),
    });
    fc.assert(
      fc.property(arb, ({ ips, to }) => {
        const r = parseResult({
          cniVersion: '1.1.0',
          ips: ips.map((i) => ({ address: `${i.a}/${i.len}` })),
        });
        const there = convertResult(r, to);
        expect(parseResult(there).cniVersion).toBe(to);
        expect(convertResult(there, '1.1.0').ips).toEqual(r.ips);
      }),
    );
  });
});
