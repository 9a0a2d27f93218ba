import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { ApiFixture } from '@podnet/cluster-state/testing';
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
    writeFileSync(kubeconfig, ApiFixture.kubeconfig(url));
    (agentNode.config as { source: unknown }).source = {
      kind: 'kubernetes',
      kubeconfig,
      watchIdleMs: 2000,
    };
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

  it('with 10,000 Services, converges through 410s, closed watches, 500s and silence without a full resync', async () => {
    send({ op: 'services', count: 10_000 });
    const elements = async () => {
      const r = await net.exec(agentNode.ns, ['nft', '-j', 'list', 'table', 'ip', 'podnet-svc'], {
        allowFail: true,
      });
      const ips = new Set<string>();
      for (const m of r.stdout.matchAll(/"(10\.96\.(?:1\d\d)\.\d+)"/g)) ips.add(m[1]!);
      return ips;
    };
    const want = (removed: number[]) => {
      const s = new Set<string>();
      for (let i = 0; i < 10_000; i++)
        if (!removed.includes(i)) s.add(`10.96.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`);
      return s;
    };
    const converged = async (removed: number[], what: string) =>
      waitFor(
        async () => {
          const got = await elements();
          const w = want(removed);
          return got.size === w.size && [...w].every((ip) => got.has(ip));
        },
        { timeoutMs: 60_000, intervalMs: 500, what },
      );
    await converged([], 'all 10,000 ClusterIPs programmed');
    const fullBefore = (agentNode.logs.match(/"services programmed"[^\n]*"full":true/g) ?? [])
      .length;
    send({ op: 'close' });
    send({ op: 'remove', path: '/api/v1/services', name: 'svc-1', namespace: 'bulk' });
    await converged([1], 'after closed watches');
    send({ op: 'expire' });
    send({ op: 'remove', path: '/api/v1/services', name: 'svc-2', namespace: 'bulk' });
    await converged([1, 2], 'after 410 ERROR events (relist)');
    send({ op: 'faults', faults: { failLists: 4, failWatches: 3 } });
    send({ op: 'compact' });
    send({ op: 'close' });
    send({ op: 'remove', path: '/api/v1/services', name: 'svc-3', namespace: 'bulk' });
    await converged([1, 2, 3], 'after HTTP 410s and 500s');
    send({ op: 'faults', faults: { silentWatches: true } });
    send({ op: 'close' });
    await new Promise((r) => setTimeout(r, 500));
    send({ op: 'faults', faults: { silentWatches: false } });
    send({ op: 'remove', path: '/api/v1/services', name: 'svc-4', namespace: 'bulk' });
    await converged([1, 2, 3, 4], 'after silent watches (the watchdog)');
    // relists applied their differences: the 10,000-Service table was never rebuilt
    const fullAfter = (agentNode.logs.match(/"services programmed"[^\n]*"full":true/g) ?? [])
      .length;
    expect(fullAfter).toBe(fullBefore);
    expect(agentNode.logs).toContain('watch silent');
    expect(agentNode.logs).not.toContain('reconcile failed');
  }, 240_000);
});
