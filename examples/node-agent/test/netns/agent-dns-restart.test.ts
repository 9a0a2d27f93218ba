import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniOutcome, startOneNode, type TestNode } from './node-kit.js';

const service = (name: string, ip: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80 }] },
  });

function ok(r: CniOutcome): void {
  if (r.code !== 0) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
}

// Pods have no other nameserver: their DNS must answer through agent restarts and crashes.
describe('cluster DNS across agent restarts', () => {
  let net: TestNet;
  let node: TestNode;
  let pod: string;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.74', { podCidrs: ['10.244.74.0/24'] }));
    writeFileSync(join(node.manifestsDir, 'web.yaml'), service('web', '10.96.74.10'));
    pod = await net.ns('pod');
    ok(await node.cni('ADD', 'dns-client', `/run/netns/${pod}`));
    await waitFor(
      async () =>
        (
          await net.exec(
            pod,
            ['dig', '@169.254.20.10', '+short', 'web.default.svc.cluster.local'],
            {
              allowFail: true,
            },
          )
        ).stdout.trim() === '10.96.74.10',
      { timeoutMs: 30_000, what: 'web to resolve from the pod' },
    );
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('no query fails while the agent is SIGKILLed and restarted twice, and DNS follows changes meanwhile', async () => {
    const dnsPid = readFileSync(join(node.config.stateDir, 'dns.pid'), 'utf8').trim();
    // 300 queries, one every ~20 ms, each allowed one second and no retry
    const loop = net.exec(
      pod,
      [
        'bash',
        '-c',
        'bad=0; for i in $(seq 1 300); do a=$(dig @169.254.20.10 +short +time=1 +tries=1 web.default.svc.cluster.local); [ "$a" = 10.96.74.10 ] || bad=$((bad+1)); sleep 0.02; done; echo "bad=$bad"',
      ],
      { timeoutMs: 120_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    await node.kill('SIGKILL');
    // while no agent runs, a Service is added: the node's DNS process reads it by itself
    writeFileSync(join(node.manifestsDir, 'api.yaml'), service('api', '10.96.74.11'));
    await waitFor(
      async () =>
        (
          await net.exec(
            pod,
            ['dig', '@169.254.20.10', '+short', 'api.default.svc.cluster.local'],
            {
              allowFail: true,
            },
          )
        ).stdout.trim() === '10.96.74.11',
      { timeoutMs: 20_000, what: 'api to resolve with the agent down' },
    );
    node.logs = '';
    await node.start();
    await waitFor(() => node.logs.includes('"process":"adopted"'), {
      timeoutMs: 30_000,
      what: 'the restarted agent to adopt the DNS process',
    }).catch((e) => {
      throw new Error(
        `${(e as Error).message}\n${node.logs}\nDNS log:${readFileSync(join(node.config.stateDir, 'dns.log'), 'utf8').slice(-2000)}`,
      );
    });
    await node.kill('SIGKILL');
    node.logs = '';
    await node.start();
    const out = (await loop).stdout;
    expect(out).toContain('bad=0');
    expect(readFileSync(join(node.config.stateDir, 'dns.pid'), 'utf8').trim()).toBe(dnsPid);
  }, 180_000);
});
