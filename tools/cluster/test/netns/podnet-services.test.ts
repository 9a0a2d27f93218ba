import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { waitFor } from '@podnet/host/testing';
import { vtepMacFor } from '@podnet/overlay-vxlan';
import { clusterIpOf, manifestObjects, nodePortOf, pod, startCluster } from './helpers.js';

// Services, cluster DNS and NodePorts as the agents program them from the cluster's manifests.
describe('Services and DNS on the podnet network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};
  const web = [
    { containerPort: 8080, name: 'http' },
    { containerPort: 5353, protocol: 'UDP', name: 'dns' },
  ];

  beforeAll(async () => {
    const s = await startCluster('podnet');
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'client' } },
        pod('web-1', 'node1', { app: 'web' }, web),
        pod('web-2', 'node2', { app: 'web' }, web),
        pod('web-3', 'node3', { app: 'web' }, web),
        pod('cli', 'node1', { app: 'cli' }, [], 'client'),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web' },
          spec: {
            type: 'NodePort',
            selector: { app: 'web' },
            ports: [
              { name: 'http', port: 80, targetPort: 'http' },
              { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
            ],
          },
        },
      ]),
    );
  }, 180_000);
  afterAll(() => cleanup(), 120_000);

  it('answers the Service name with its ClusterIP from the cluster DNS', async () => {
    const ip = clusterIpOf(cluster, 'web');
    const dig = await waitFor(
      async () => {
        const r = await cluster.exec('client/cli', [
          'dig',
          '+short',
          '+time=2',
          '+tries=1',
          'web.default.svc.cluster.local',
        ]);
        return r.stdout.trim() === ip ? r.stdout : undefined;
      },
      { timeoutMs: 20_000, what: 'the DNS answer' },
    );
    expect(dig.trim()).toBe(ip);
  });

  it('reaches the Service by DNS name (search path) over TCP and UDP', async () => {
    const r = await waitFor(
      async () => {
        const x = await cluster.probe('client/cli', 'web.default', 80, 'http');
        return x.ok ? x : undefined;
      },
      { timeoutMs: 20_000, what: 'web.default:80' },
    );
    expect(r.address).toBe(clusterIpOf(cluster, 'web'));
    expect(r.reply).toMatch(new RegExp(`^web-[123] ${cluster.podIp('client/cli')}$`));
    const u = await cluster.probe('client/cli', 'web.default.svc.cluster.local', 53, 'udp');
    expect(u.ok, u.error).toBe(true);
    expect(u.reply).toMatch(/^web-[123] /);
  });

  it('explains a flow by name: DNS answer, DNAT to the endpoints, routes, policy', async () => {
    const e = await cluster.explain('client/cli', 'web.default', 80);
    const ip = clusterIpOf(cluster, 'web');
    expect(e.verdict).toBe('allow');
    expect(e.steps.filter((s) => s.kind === 'dns').pop()?.detail).toBe(
      `web.default.svc.cluster.local A ${ip} (from ${cluster.plan.dnsIp})`,
    );
    const dnat = e.steps.find((s) => s.kind === 'service')!.detail;
    for (const p of ['web-1', 'web-2', 'web-3']) expect(dnat).toContain(`${cluster.podIp(p)}:8080`);
    expect(e.steps.filter((s) => s.kind === 'route')).toHaveLength(3);
    const route = (p: string) => e.steps.find((s) => s.detail.startsWith(`${cluster.podIp(p)}:`))!;
    expect(route('web-1').detail).toContain('local on node1');
    // The overlay planner's decision, and the source node's kernel agreeing with it.
    const [n2, n3] = [cluster.plan.nodes[1]!, cluster.plan.nodes[2]!];
    expect(route('web-2').detail).toContain(`DirectRouting via node IP ${n2.ip} dev eth0`);
    expect(route('web-2').detail).toMatch(
      new RegExp(`kernel: .*via ${n2.ip.replace(/\./g, '\\.')} dev eth0`),
    );
    expect(route('web-3').detail).toContain(
      `VXLAN, VTEP MAC ${vtepMacFor('node3')}, node IP ${n3.ip}, VNI 1`,
    );
    expect(route('web-3').detail).toMatch(/kernel: .*dev podnet\.1/);
    // The compiled element and chain are what node1's agent programmed.
    const m = /(lb-\d+)\[(.+?)\] → lb\)/.exec(dnat)!;
    expect(m[1]).toBe('lb-3');
    expect(m[2]).toBe(`${ip} . tcp . 80`);
    const set = await cluster.exec('node1', ['nft', 'list', 'set', 'ip', 'podnet-svc', m[1]!]);
    expect(set.stdout).toContain(`${ip} . tcp . 80`);
  });

  it('explains what the rules reject: a port the ClusterIP does not serve, a Service without endpoints', async () => {
    const ip = clusterIpOf(cluster, 'web');
    const unknown = await cluster.explain('client/cli', ip, 81);
    expect(unknown.verdict).toBe('reject');
    expect(unknown.steps.find((s) => s.kind === 'service')!.detail).toContain(
      'is not a port of this ClusterIP: rejected',
    );
    expect((await cluster.probe('client/cli', ip, 81, 'tcp')).ok).toBe(false);

    await cluster.apply(
      manifestObjects([
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'nobody' },
          spec: { selector: { app: 'nobody' }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      ]),
    );
    const e = await cluster.explain('client/cli', 'nobody.default', 80);
    expect(e.verdict).toBe('reject');
    expect(e.steps.find((s) => s.kind === 'service')!.detail).toContain(
      'Service default/nobody port',
    );
    expect(e.steps.find((s) => s.kind === 'service')!.detail).toContain('no endpoints: rejected');
    const vip = clusterIpOf(cluster, 'nobody');
    await waitFor(
      async () => {
        const map = await cluster.exec('node1', [
          'nft',
          'list',
          'map',
          'ip',
          'podnet-svc',
          'no-endpoint-services',
        ]);
        return map.stdout.includes(`${vip} . tcp . 80 : goto reject-chain`) || undefined;
      },
      { timeoutMs: 20_000, what: 'the no-endpoint element on node1' },
    );
    const r = await cluster.probe('client/cli', vip, 80, 'tcp');
    expect(r.ok).toBe(false);
  });

  it('spreads connections over every endpoint', async () => {
    const seen = new Set<string>();
    const ip = clusterIpOf(cluster, 'web');
    await waitFor(
      async () => {
        const rs = await cluster.probeMany(
          'client/cli',
          Array.from({ length: 15 }, () => ({ to: ip, port: 80 })),
        );
        for (const r of rs) if (r.ok) seen.add(r.reply!.split(' ')[0]!);
        return seen.size === 3;
      },
      { timeoutMs: 40_000, what: 'all three endpoints to answer' },
    );
    expect([...seen].sort()).toEqual(['web-1', 'web-2', 'web-3']);
  });

  it('serves the NodePort on every node to the external host', async () => {
    const nodePort = nodePortOf(cluster, 'web');
    for (const n of cluster.plan.nodes) {
      const r = await waitFor(
        async () => {
          const x = await cluster.probe('external', n.name, nodePort, 'http');
          return x.ok ? x : undefined;
        },
        { timeoutMs: 20_000, what: `NodePort on ${n.name}` },
      );
      expect(r.reply).toMatch(/^web-[123] /);
    }
  });

  it('follows endpoints: a deleted pod stops answering through the Service', async () => {
    await cluster.deletePod('web-3');
    await waitFor(
      async () => {
        const rs = await cluster.probeMany(
          'client/cli',
          Array.from({ length: 12 }, () => ({ to: 'web.default', port: 80 })),
          1500,
        );
        return rs.every((r) => r.ok && !r.reply!.startsWith('web-3'));
      },
      { timeoutMs: 30_000, what: 'web-3 to leave the Service' },
    );
  });
});
