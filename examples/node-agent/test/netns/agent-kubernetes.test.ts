import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, makeNodeNs, REPO, TestNode } from './node-kit.js';

const node = (name: string, cidr: string, ip: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  spec: { podCIDRs: [cidr] },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});

describe('agent with the Kubernetes source (list/watch fixture in the node namespace)', () => {
  let net: TestNet;
  let agentNode: TestNode;
  let fixture: ReturnType<typeof spawn>;
  let out = '';

  const send = (cmd: unknown) => fixture.stdin!.write(`${JSON.stringify(cmd)}\n`);

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const ns = await makeNodeNs(net, 'n1', underlay, '192.168.57.2/24', '192.168.57.1/24');
    fixture = spawn(
      'nsenter',
      [
        `--net=/run/netns/${ns}`,
        '--',
        'node',
        '--conditions=source',
        '--import',
        'tsx',
        join(REPO, 'examples/node-agent/test/netns/fixture-server.ts'),
      ],
      { cwd: REPO, env: cleanEnv(), stdio: ['pipe', 'pipe', 'inherit'] },
    );
    fixture.stdout!.setEncoding('utf8');
    fixture.stdout!.on('data', (d: string) => {
      out += d;
    });
    const url = await waitFor(() => /^(http:\S+)\n/.exec(out)?.[1], {
      timeoutMs: 60_000,
      what: 'fixture URL',
    });
    send({
      op: 'upsert',
      path: '/api/v1/nodes',
      object: node('n1', '10.244.21.0/24', '192.168.57.2'),
    });
    agentNode = new TestNode(net, ns, { nodeName: 'n1', nodeIps: ['192.168.57.2'] });
    const kubeconfig = join(agentNode.root, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fx', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'fx', context: { cluster: 'fx', user: 'u' } }],
        'current-context': 'fx',
      }),
    );
    (agentNode.config as { source: unknown }).source = { kind: 'kubernetes', kubeconfig };
    await agentNode.start();
  });
  afterAll(async () => {
    fixture?.kill('SIGKILL');
    agentNode?.cleanup();
    await net.cleanup();
  });

  it('takes the pod CIDR from the Node object and writes the conflist', async () => {
    expect(agentNode.logs).toContain('"podCidrs":["10.244.21.0/24"]');
    const conf = JSON.parse(
      readFileSync(join(agentNode.config.cniConfDir, '10-podnet.conflist'), 'utf8'),
    );
    expect(conf.plugins[0].socket).toBe(agentNode.config.socketPath);
    const pod = await net.ns('p');
    const add = await agentNode.cni('ADD', 'k-1', `/run/netns/${pod}`);
    expect(add.code, add.stdout).toBe(0);
    expect(JSON.stringify(add.json)).toContain('10.244.21.');
  });

  it('programs an overlay route for a Node that appears in the watch', async () => {
    send({
      op: 'upsert',
      path: '/api/v1/nodes',
      object: node('n2', '10.244.22.0/24', '192.168.57.3'),
    });
    await waitFor(
      async () =>
        (await net.exec(agentNode.ns, ['ip', 'route', 'show', '10.244.22.0/24'])).stdout.includes(
          '10.244.22.0',
        ),
      { timeoutMs: 20_000, what: 'overlay route for n2' },
    );
    send({ op: 'remove', path: '/api/v1/nodes', name: 'n2' });
    await waitFor(
      async () =>
        !(await net.exec(agentNode.ns, ['ip', 'route', 'show', '10.244.22.0/24'])).stdout.includes(
          '10.244.22.0',
        ),
      { timeoutMs: 20_000, what: 'overlay route for n2 to go' },
    );
  });
});
