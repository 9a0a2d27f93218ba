import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/index.js';
import { cleanEnv, makeNodeNs, REPO, TestNode } from './node-kit.js';

const DNS_IP = '169.254.20.10';
const UL_IP = '192.168.75.1';

/** One dig from the pod: its status and answer lines as `name ttl type data`. */
interface Dig {
  status: string | undefined;
  answers: { name: string; ttl: number; type: string; data: string }[];
}

// Issue #16 item 4: the agent's dns settings reach the cluster DNS in both modes.
describe('agent DNS settings: upstreams, stub domains, TTL, pod records, in both modes', () => {
  let net: TestNet;
  let node: TestNode;
  let pod: string;
  let podIp: string;
  let fakes: ChildProcess;
  let ports: { upstream: number; corp: number };

  const dig = async (name: string): Promise<Dig> => {
    const r = await net.exec(pod, ['dig', `@${DNS_IP}`, '+tries=1', '+time=3', name], {
      allowFail: true,
    });
    const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(r.stdout)?.[1] ?? '';
    return {
      status: /status: (\w+)/.exec(r.stdout)?.[1],
      answers: section
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [n, ttl, , type, data] = l.split(/\s+/);
          return { name: n!, ttl: Number(ttl), type: type!, data: data! };
        }),
    };
  };
  const dnsPid = () => Number(readFileSync(join(node.config.stateDir, 'dns.pid'), 'utf8'));
  /** Restarts the agent with these dns settings (the rest of the config unchanged). */
  const restartWith = async (dns: Partial<AgentConfig['dns']>) => {
    await node.kill();
    (node as { config: AgentConfig }).config = {
      ...node.config,
      dns: { ip: DNS_IP, clusterDomain: 'cluster.local', ...dns },
    };
    node.logs = '';
    await node.start();
  };
  const settings = () => ({
    upstreams: [`${UL_IP}:${ports.upstream}`],
    stubDomains: { 'corp.example': [`${UL_IP}:${ports.corp}`] },
  });

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const ns = await makeNodeNs(net, 'n1', underlay, '192.168.75.2/24', `${UL_IP}/24`);
    fakes = net.spawn(
      underlay,
      [
        'node',
        '--conditions=source',
        '--import',
        'tsx',
        join(REPO, 'examples/node-agent/test/netns/fake-upstreams.ts'),
        UL_IP,
      ],
      { env: cleanEnv() },
    );
    let out = '';
    fakes.stdout!.setEncoding('utf8');
    fakes.stdout!.on('data', (d: string) => {
      out += d;
    });
    ports = JSON.parse(
      await waitFor(() => /^(\{.*\})\n/.exec(out)?.[1], {
        timeoutMs: 60_000,
        what: 'the fake resolvers',
      }),
    ) as typeof ports;
    node = new TestNode(net, ns, {
      nodeName: 'n1',
      nodeIps: ['192.168.75.2'],
      podCidrs: ['10.244.75.0/24'],
    });
    (node as { config: AgentConfig }).config = {
      ...node.config,
      dns: {
        ip: DNS_IP,
        clusterDomain: 'cluster.local',
        mode: 'process',
        ...settings(),
        ttl: 17,
        pods: 'verified',
      },
    };
    writeFileSync(
      join(node.manifestsDir, 'web.yaml'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'default' },
        spec: { clusterIP: '10.96.75.10', clusterIPs: ['10.96.75.10'], ports: [{ port: 80 }] },
      }),
    );
    await node.start();
    pod = await net.ns('pod');
    const add = await node.cni('ADD', 'client', `/run/netns/${pod}`);
    podIp = (add.json as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    // the Pod object with its address, as a kubelet reports it (pods verified needs it)
    writeFileSync(
      join(node.manifestsDir, 'client.yaml'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: 'default' },
        spec: { containers: [{ name: 'c', image: 'x' }] },
        status: { podIP: podIp, podIPs: [{ ip: podIp }] },
      }),
    );
    await waitFor(async () => (await dig('web.default.svc.cluster.local')).answers.length > 0, {
      timeoutMs: 30_000,
      what: 'web to resolve from the pod',
    });
  }, 120_000);
  afterAll(async () => {
    fakes?.kill('SIGKILL');
    node?.cleanup();
    await net?.cleanup();
  });

  const dashed = (ip: string) => `${ip.replaceAll('.', '-')}.default.pod.cluster.local`;

  it('process mode: the TTL, the stub domain, the upstreams and verified pod records', async () => {
    expect((await dig('web.default.svc.cluster.local')).answers).toEqual([
      { name: 'web.default.svc.cluster.local.', ttl: 17, type: 'A', data: '10.96.75.10' },
    ]);
    // the stub domain's resolver answers db.corp.example; the upstream would say NXDOMAIN
    expect((await dig('db.corp.example')).answers).toMatchObject([
      { type: 'A', data: '198.51.100.7' },
    ]);
    expect((await dig('www.example.org')).answers).toMatchObject([
      { type: 'A', data: '192.0.2.80' },
    ]);
    expect((await dig('www.corp.example')).status).toBe('NXDOMAIN');
    // verified: the Pod's own address answers, an address no Pod has does not
    await waitFor(async () => (await dig(dashed(podIp))).answers[0]?.data === podIp, {
      timeoutMs: 20_000,
      what: 'the pod record of the client Pod',
    });
    expect((await dig(dashed('10.244.75.99'))).status).toBe('NXDOMAIN');
  }, 60_000);

  it('a changed setting replaces the adopted DNS process: TTL 30, pod records disabled, cache 50', async () => {
    const before = dnsPid();
    await restartWith({ mode: 'process', ...settings(), ttl: 30, pods: 'disabled', cacheSize: 50 });
    await waitFor(() => node.logs.includes('"process":"started"'), {
      timeoutMs: 30_000,
      what: 'a new DNS process',
    });
    expect(node.logs).toContain('cluster DNS process not adopted');
    expect(dnsPid()).not.toBe(before);
    expect(readFileSync(`/proc/${dnsPid()}/cmdline`, 'utf8').split('\0')).toEqual(
      expect.arrayContaining(['--ttl', '30', '--pods', 'disabled', '--cache-size', '50']),
    );
    expect(existsSync(`/proc/${before}`)).toBe(false);
    await waitFor(async () => (await dig('web.default.svc.cluster.local')).answers[0]?.ttl === 30, {
      timeoutMs: 30_000,
      what: 'TTL 30 from the new DNS process',
    });
    expect((await dig(dashed(podIp))).status).toBe('NXDOMAIN');
    expect((await dig('db.corp.example')).answers).toMatchObject([{ data: '198.51.100.7' }]);
  }, 90_000);

  it('embedded mode: stops the DNS process and serves the same settings itself', async () => {
    const before = dnsPid();
    await restartWith({ mode: 'embedded', ...settings(), ttl: 9, pods: 'insecure', cacheSize: 0 });
    await waitFor(() => node.logs.includes('DNS is embedded now'), {
      timeoutMs: 30_000,
      what: 'the DNS process to be stopped',
    });
    expect(existsSync(`/proc/${before}`)).toBe(false);
    await waitFor(async () => (await dig('web.default.svc.cluster.local')).answers[0]?.ttl === 9, {
      timeoutMs: 30_000,
      what: 'TTL 9 from the embedded DNS',
    });
    // insecure: any address in the pod name answers
    expect((await dig(dashed('10.244.75.99'))).answers).toMatchObject([
      { ttl: 9, type: 'A', data: '10.244.75.99' },
    ]);
    expect((await dig('db.corp.example')).answers).toMatchObject([{ data: '198.51.100.7' }]);
    expect((await dig('www.example.org')).answers).toMatchObject([{ data: '192.0.2.80' }]);
    // cacheSize 0: the forwarded answers above were not cached
    const port = /"httpPort":(\d+)/.exec(node.logs)?.[1];
    const metrics = await net.exec(node.ns, ['curl', '-s', `http://127.0.0.1:${port}/metrics`]);
    expect(metrics.stdout).toMatch(/^podnet_dns_forward_requests_total [1-9]/m);
    expect(metrics.stdout).toMatch(/^podnet_dns_cache_entries 0$/m);
  }, 90_000);
});
