import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneNode, type TestNode } from './node-kit.js';

interface LegacyResult {
  cniVersion: string;
  ips: { version?: string; address: string; gateway?: string }[];
}

describe('dual-stack pods and older CNI versions', () => {
  let net: TestNet;
  let node: TestNode;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.56', {
      clusterCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
      podCidrs: ['10.244.6.0/24', 'fd00:10:244:6::/64'],
    }));
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('gives each pod one address per family; pods reach each other over IPv4 and IPv6', async () => {
    const pa = await net.ns('da');
    const pb = await net.ns('db');
    const a = await node.cni('ADD', 'ds-a', `/run/netns/${pa}`, { cniVersion: '0.4.0' });
    expect(a.code, a.stdout).toBe(0);
    const ra = a.json as unknown as LegacyResult;
    expect(ra.cniVersion).toBe('0.4.0');
    expect(ra.ips.map((i) => i.version)).toEqual(['4', '6']);
    const b = await node.cni('ADD', 'ds-b', `/run/netns/${pb}`, { cniVersion: '1.0.0' });
    expect(b.code, b.stdout).toBe(0);
    const rb = b.json as unknown as LegacyResult;
    expect(rb.ips[0]).not.toHaveProperty('version');
    const v6b = rb.ips.find((i) => i.address.includes(':'))!.address.split('/')[0]!;
    const v4b = rb.ips.find((i) => !i.address.includes(':'))!.address.split('/')[0]!;
    expect(v6b.startsWith('fd00:10:244:6:')).toBe(true);
    expect(await net.ping(pa, v4b)).toBe(true);
    await net.waitForPing(pa, v6b, 15_000);
    const check = await node.cni('CHECK', 'ds-a', `/run/netns/${pa}`, { cniVersion: '0.4.0' });
    expect(check.code, check.stdout).toBe(0);
  });
});
