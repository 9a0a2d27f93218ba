import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniOutcome, makeNodeNs, TestNode } from './node-kit.js';

const NAMES = ['n1', 'n2', 'n3'] as const;
const nodeIp = (i: number) => `192.168.76.${i + 2}`;

/** The three Node objects, with `spec.podCIDRs` 10.244.8{1,2,3}.0/24 when `withCidrs`. */
function nodesYaml(withCidrs: boolean): string {
  return NAMES.map((name, i) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      spec: withCidrs ? { podCIDRs: [`10.244.${81 + i}.0/24`] } : {},
      status: { addresses: [{ type: 'InternalIP', address: nodeIp(i) }] },
    }),
  ).join('\n---\n');
}

function ipOf(r: CniOutcome): string {
  const ips = (r.json as { ips?: { address: string }[] } | undefined)?.ips;
  if (r.code !== 0 || !ips?.[0]) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
  return ips[0].address.split('/')[0]!;
}

/** `/readyz` of a node's agent, from inside its namespace. */
async function readyz(net: TestNet, node: TestNode): Promise<{ code: number; body: string }> {
  const port = /"httpPort":(\d+)/.exec(node.logs)?.[1];
  if (!port) throw new Error(`no httpPort in the agent log:\n${node.logs}`);
  const r = await net.exec(
    node.ns,
    ['curl', '-s', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/readyz`],
    { allowFail: true },
  );
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), body: lines.join('\n') };
}

const refusals = (node: TestNode) =>
  node.logs.split('\n').filter((l) => l.includes('"msg":"no pod CIDR"'));

// Issue #16 item 5: three nodes whose Node objects have no podCIDRs get a clear refusal each
// (not the same first /24 from a store of their own), and their subnets once the Nodes have them.
describe('three nodes without spec.podCIDRs', () => {
  let net: TestNet;
  const nodes: TestNode[] = [];

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const spaces: string[] = [];
    for (const [i, name] of NAMES.entries())
      spaces.push(await makeNodeNs(net, name, underlay, `${nodeIp(i)}/24`));
    await net.bridge(underlay, 'br0', { ports: NAMES.map((n) => `u-${n}`) });
    for (const [i, name] of NAMES.entries()) {
      const node = new TestNode(net, spaces[i]!, { nodeName: name, nodeIps: [nodeIp(i)] });
      writeFileSync(join(node.manifestsDir, 'nodes.yaml'), nodesYaml(false));
      nodes.push(node);
    }
    // each agent stays up and says why it is not ready
    await Promise.all(nodes.map((n) => n.start('"msg":"no pod CIDR"')));
  }, 120_000);
  afterAll(async () => {
    for (const n of nodes) n.cleanup();
    await net?.cleanup();
  });

  it('each agent refuses with what to configure: in its log once, on /readyz, and as the CNI error', async () => {
    // another change in the cluster makes the agents reconcile again: still one log line each
    for (const n of nodes)
      writeFileSync(
        join(n.manifestsDir, 'svc.yaml'),
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: 'default' },
          spec: { clusterIP: '10.96.76.10', clusterIPs: ['10.96.76.10'], ports: [{ port: 80 }] },
        }),
      );
    await new Promise((r) => setTimeout(r, 1500));
    for (const [i, node] of nodes.entries()) {
      expect(node.agent?.exitCode, 'the agent stays up').toBeNull();
      const lines = refusals(node);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`Node ${NAMES[i]} has no spec.podCIDRs`);
      expect(node.logs).not.toContain('"pod network ready"');
      const r = await readyz(net, node);
      expect(r.code).toBe(503);
      expect(r.body).toContain(`Node ${NAMES[i]} has no spec.podCIDRs`);
      expect(r.body).toContain("set the Node's spec.podCIDRs");
      expect(r.body).toContain('--allocate-node-cidrs');
      expect(r.body).toContain('podCidrs in the agent config');
      const pod = await net.ns(`q${i}`);
      const add = await node.cni('ADD', `wait-${i}`, `/run/netns/${pod}`);
      expect(add.code).not.toBe(0);
      expect(add.json).toMatchObject({ code: 11 });
      expect(String(add.json?.details)).toContain(`Node ${NAMES[i]} has no spec.podCIDRs`);
    }
  }, 60_000);

  it('picks the subnets up when the Nodes gain them: three distinct subnets, pods reach each other', async () => {
    for (const n of nodes) writeFileSync(join(n.manifestsDir, 'nodes.yaml'), nodesYaml(true));
    for (const n of nodes)
      await waitFor(() => n.logs.includes('"pod network ready"'), {
        timeoutMs: 60_000,
        what: `${n.config.nodeName} to set up its pod network`,
      });
    const ips: string[] = [];
    const pods: string[] = [];
    for (const [i, node] of nodes.entries()) {
      await waitFor(async () => (await readyz(net, node)).code === 200, {
        timeoutMs: 60_000,
        what: `${NAMES[i]} to be ready`,
      }).catch(async (e) => {
        throw new Error(`${(e as Error).message}: ${(await readyz(net, node)).body}`);
      });
      const pod = await net.ns(`p${i}`);
      pods.push(pod);
      ips.push(ipOf(await node.cni('ADD', `pod-${i}`, `/run/netns/${pod}`)));
    }
    expect(ips.map((ip) => ip.split('.').slice(0, 3).join('.'))).toEqual([
      '10.244.81',
      '10.244.82',
      '10.244.83',
    ]);
    await net.waitForPing(pods[0]!, ips[2]!, 20_000);
    expect(await net.ping(pods[2]!, ips[1]!)).toBe(true);
  }, 180_000);
});
