import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Cluster,
  EXTERNAL_ROUTE_PROTO,
  ingressControllerManifests,
  renderHaproxyConfig,
} from '../../src/index.js';
import { clusterIpOf, manifestObjects, pod, runPodnet, startCluster } from './helpers.js';

// LoadBalancer, externalIPs, ExternalName and an ingress controller (haproxy in a pod behind a
// LoadBalancer Service), reached from the cluster's external host (203.0.113.10).
describe('every Service type, from the external host', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};
  const http = [{ containerPort: 8080, name: 'http' }];
  const svc = (name: string, app: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app }, ports: [{ port: 80, targetPort: 'http' }], ...spec },
  });
  const lbIp = (name: string) =>
    cluster.state.objects.services.find((s) => s.metadata?.name === name)?.status?.loadBalancer
      ?.ingress?.[0]?.ip;
  /** An HTTP GET from the external host (from `source`, one of its addresses). */
  const curl = (url: string, options: { host?: string; source?: string } = {}) =>
    cluster.exec('external', [
      'curl',
      '-sS',
      '--max-time',
      '3',
      ...(options.source ? ['--interface', options.source] : []),
      ...(options.host ? ['-H', `Host: ${options.host}`] : []),
      '-w',
      '\n%{http_code}',
      url,
    ]);
  /** The body's first word and the status of a GET that answers, retried while routes settle. */
  const get = (url: string, options: { host?: string; source?: string } = {}) =>
    waitFor(
      async () => {
        const r = await curl(url, options);
        if (r.code !== 0) return undefined;
        const lines = r.stdout.trim().split('\n');
        return { body: lines.slice(0, -1).join('\n'), status: lines.at(-1) };
      },
      { timeoutMs: 30_000, intervalMs: 250, what: `GET ${url} ${options.host ?? ''}` },
    );
  /** The router's routes to load-balancer addresses and externalIPs. */
  const routerRoutes = async () => {
    const r = await cluster.exec('external', [
      'ip',
      '-n',
      cluster.plan.switchNetns,
      '-j',
      'route',
      'show',
      'proto',
      EXTERNAL_ROUTE_PROTO,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout || '[]') as Array<{ dst: string; gateway: string }>;
  };

  beforeAll(async () => {
    const s = await startCluster('podnet', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        pod('web-a', 'node1', { app: 'web-a' }, http),
        pod('web-b', 'node2', { app: 'web-b' }, http),
        pod('cli', 'node1', { app: 'cli' }, []),
        svc('web-a', 'web-a'),
        svc('web-b', 'web-b'),
        svc('lb', 'web-a', {
          type: 'LoadBalancer',
          loadBalancerSourceRanges: [`${cluster.plan.externalIp}/32`],
        }),
        svc('local', 'web-b', {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          loadBalancerIP: '203.0.113.240',
        }),
        svc('pub', 'web-b', { externalIPs: ['203.0.113.100'] }),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'alias' },
          spec: { type: 'ExternalName', externalName: 'web-a.default.svc.cluster.local' },
        },
      ]),
    );
    // the ingress controller: its configuration file, then its pod and LoadBalancer Service
    const dir = join(cluster.state.runDir, 'ingress');
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'haproxy.cfg');
    writeFileSync(
      configFile,
      renderHaproxyConfig(
        {
          routes: [
            { host: 'a.example', service: 'web-a', port: 80 },
            { host: 'b.example', service: 'web-b', port: 80 },
            { host: 'a.example', path: '/b', service: 'web-b', port: 80 },
          ],
        },
        cluster.state.objects.services,
      ),
    );
    await cluster.apply(manifestObjects(ingressControllerManifests({ configFile, node: 'node2' })));
  }, 240_000);
  afterAll(() => cleanup(), 120_000);

  it('gives LoadBalancers pool addresses, shown by podnet get services', async () => {
    expect(lbIp('lb')).toBe('203.0.113.200');
    expect(lbIp('local')).toBe('203.0.113.240');
    const json = await runPodnet(cluster, ['get', 'services', '-o', 'json']).done;
    expect(json.code, json.stderr).toBe(0);
    const items = JSON.parse(json.stdout).items as Array<{
      metadata: { name: string };
      spec: { clusterIP?: string };
      status?: unknown;
    }>;
    const byName = new Map(items.map((i) => [i.metadata.name, i]));
    expect(byName.get('lb')!.status).toEqual({
      loadBalancer: { ingress: [{ ip: '203.0.113.200', ipMode: 'VIP' }] },
    });
    expect(byName.get('alias')!.spec.clusterIP).toBeUndefined();
    const table = await runPodnet(cluster, ['get', 'services']).done;
    const rows = table.stdout.split('\n');
    expect(rows[0]).toMatch(
      /^NAMESPACE +NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +ENDPOINTS$/,
    );
    const row = (name: string) => rows.find((r) => r.split(/ +/)[1] === name)?.split(/ +/);
    expect(row('lb')!.slice(2, 6)).toEqual([
      'LoadBalancer',
      clusterIpOf(cluster, 'lb'),
      '203.0.113.200',
      expect.stringMatching(/^80:3\d{4}\/TCP$/),
    ]);
    expect(row('alias')!.slice(2, 6)).toEqual([
      'ExternalName',
      '<none>',
      'web-a.default.svc.cluster.local',
      '<none>',
    ]);
    expect(row('pub')![4]).toBe('203.0.113.100');
  });

  it('reaches a LoadBalancer address from the external host over TCP', async () => {
    const r = await waitFor(
      async () => {
        const x = await cluster.probe('external', lbIp('lb')!, 80, 'tcp');
        return x.ok ? x : undefined;
      },
      { timeoutMs: 30_000, what: 'the LoadBalancer address' },
    );
    expect(r.reply).toMatch(/^web-a /);
  });

  it('refuses a source outside loadBalancerSourceRanges, allows the allowed one', async () => {
    const other = '203.0.113.11';
    const add = await cluster.exec('external', ['ip', 'addr', 'add', `${other}/24`, 'dev', 'eth0']);
    expect(add.code, add.stderr).toBe(0);
    const url = `http://${lbIp('lb')}/`;
    expect((await get(url, { source: cluster.plan.externalIp })).body).toMatch(/^web-a /);
    const refused = await curl(url, { source: other });
    expect(refused.code).not.toBe(0); // dropped: curl times out
    // the same source reaches a LoadBalancer without ranges (so it is the range that drops it)
    expect((await get(`http://${lbIp('local')}/`, { source: other })).body).toMatch(/^web-b /);
    expect((await get(url, { source: cluster.plan.externalIp })).body).toMatch(/^web-a /);
  });

  it('reaches an externalIP from the external host', async () => {
    const r = await get('http://203.0.113.100/');
    expect(r.body).toMatch(/^web-b /);
  });

  it('answers an ExternalName with its CNAME and the in-cluster target in one answer (dig)', async () => {
    const answer = await waitFor(
      async () => {
        const r = await cluster.exec('cli', [
          'dig',
          '+noall',
          '+answer',
          '+time=2',
          '+tries=1',
          'alias.default.svc.cluster.local',
        ]);
        return r.stdout.includes('CNAME') ? r.stdout : undefined;
      },
      { timeoutMs: 20_000, what: 'the ExternalName answer' },
    );
    const records = answer
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    expect(records).toContainEqual([
      'alias.default.svc.cluster.local.',
      expect.any(String),
      'IN',
      'CNAME',
      'web-a.default.svc.cluster.local.',
    ]);
    expect(records).toContainEqual([
      'web-a.default.svc.cluster.local.',
      expect.any(String),
      'IN',
      'A',
      clusterIpOf(cluster, 'web-a'),
    ]);
  });

  it('routes by Host header and path through haproxy in a pod behind a LoadBalancer', async () => {
    const ip = lbIp('ingress')!;
    expect(ip).toMatch(/^203\.0\.113\./);
    const sb = cluster.sandbox('ingress')!;
    expect(sb.processes?.map((p) => p.container)).toEqual(['haproxy']);
    const a = await get(`http://${ip}/`, { host: 'a.example' });
    expect(a).toEqual({ body: expect.stringMatching(/^web-a /), status: '200' });
    const b = await get(`http://${ip}/`, { host: 'b.example' });
    expect(b).toEqual({ body: expect.stringMatching(/^web-b /), status: '200' });
    expect((await get(`http://${ip}/b/x`, { host: 'a.example' })).body).toMatch(/^web-b /);
    expect((await get(`http://${ip}/bx`, { host: 'a.example' })).body).toMatch(/^web-a /);
    expect((await get(`http://${ip}/`, { host: 'c.example' })).status).toBe('404');
  });

  it('routes a Local LoadBalancer to the node of its endpoint and follows it when it moves', async () => {
    const node = (n: string) => cluster.plan.nodes.find((x) => x.name === n)!.ip;
    const route = async () => (await routerRoutes()).find((r) => r.dst === '203.0.113.240');
    expect((await route())?.gateway).toBe(node('node2'));
    await cluster.apply(manifestObjects([pod('web-b2', 'node1', { app: 'web-b' }, http)]));
    await cluster.deletePod('web-b');
    expect((await route())?.gateway).toBe(node('node1'));
    expect((await get('http://203.0.113.240/')).body).toMatch(/^web-b2 /);
  });

  it("kills the ingress pod's haproxy with the pod, also from another podnet process", async () => {
    const pid = cluster.sandbox('ingress')!.processes![0]!.pid;
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    // a podnet process of its own (as a user's next command) knows the pid from the state
    const del = await runPodnet(cluster, ['delete-pod', 'ingress']).done;
    expect(del.code, del.stderr).toBe(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    cluster = await Cluster.load(cluster.plan.name);
    expect(cluster.sandbox('ingress')).toBeUndefined();
    // its address stays routed (externalTrafficPolicy Cluster), but the Service has no endpoint
    const r = await curl(`http://${lbIp('ingress')}/`, { host: 'a.example' });
    expect(r.code).not.toBe(0);
  });
});
