import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniOutcome, makeNodeNs, TestNode } from './node-kit.js';

function ipOf(r: CniOutcome): string {
  const ips = (r.json as { ips?: { address: string }[] } | undefined)?.ips;
  if (r.code !== 0 || !ips?.[0]) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
  return ips[0].address.split('/')[0]!;
}

const nodesYaml = [
  {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { podCIDRs: ['10.244.11.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.60.2' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n2' },
    spec: { podCIDRs: ['10.244.12.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.60.3' }] },
  },
]
  .map((d) => JSON.stringify(d))
  .join('\n---\n');

describe('two nodes: pod CIDRs from Node objects, overlay between them', () => {
  let net: TestNet;
  const nodes: TestNode[] = [];

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const n1 = await makeNodeNs(net, 'n1', underlay, '192.168.60.2/24');
    const n2 = await makeNodeNs(net, 'n2', underlay, '192.168.60.3/24');
    await net.bridge(underlay, 'br0', { ports: ['u-n1', 'u-n2'] });
    for (const [ns, name, ip] of [
      [n1, 'n1', '192.168.60.2'],
      [n2, 'n2', '192.168.60.3'],
    ] as const) {
      const node = new TestNode(net, ns, { nodeName: name, nodeIps: [ip] });
      writeFileSync(join(node.manifestsDir, 'nodes.yaml'), nodesYaml);
      nodes.push(node);
    }
    await Promise.all(nodes.map((n) => n.start()));
  });
  afterAll(async () => {
    for (const n of nodes) n.cleanup();
    await net.cleanup();
  });

  it('pods on different nodes ping each other through the VXLAN overlay', async () => {
    const p1 = await net.ns('p1');
    const p2 = await net.ns('p2');
    const ip1 = ipOf(await nodes[0]!.cni('ADD', 'x-1', `/run/netns/${p1}`));
    const ip2 = ipOf(await nodes[1]!.cni('ADD', 'x-2', `/run/netns/${p2}`));
    expect(ip1.startsWith('10.244.11.')).toBe(true);
    expect(ip2.startsWith('10.244.12.')).toBe(true);
    await net.waitForPing(p1, ip2, 20_000);
    expect(await net.ping(p2, ip1)).toBe(true);
    const links = await net.exec(nodes[0]!.ns, ['ip', '-d', 'link', 'show', 'type', 'vxlan']);
    expect(links.stdout).toContain('vxlan id 1');
  });

  it('adds a peer that appears later in the manifests', async () => {
    writeFileSync(
      join(nodes[0]!.manifestsDir, 'n3.yaml'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'n3' },
        spec: { podCIDRs: ['10.244.13.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '192.168.60.4' }] },
      }),
    );
    await waitFor(
      async () =>
        (await net.exec(nodes[0]!.ns, ['ip', 'route', 'show', '10.244.13.0/24'])).stdout.includes(
          '10.244.13.0',
        ),
      { timeoutMs: 20_000, what: 'route to the new peer' },
    );
  });
});
