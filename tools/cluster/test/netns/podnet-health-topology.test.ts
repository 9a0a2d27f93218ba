import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, PROXY_HEALTHZ_PORT, type ProbeResult, renderGet } from '../../src/index.js';
import { clusterIpOf, manifestObjects, pod, startCluster } from './helpers.js';

/** A probe's answer with the HTTP status the probe script reports. */
type HttpAnswer = ProbeResult & { status?: number };

// kube-proxy's health endpoints and topology, served and programmed by the agents of one 3-node
// cluster: node1 and node2 are zone-a, node3 is zone-b.
describe('health checks and zones on the podnet network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};
  const srv = [{ containerPort: 8080 }];

  /** GET http://NODE:PORT/PATH from the external host, as a cloud load balancer would. */
  const get = async (node: string, port: number): Promise<HttpAnswer> =>
    (await cluster.probe('external', node, port, 'http')) as HttpAnswer;

  /** The service health answer of NODE for the Service `hc`, once its status is `status`. */
  const healthOf = (node: string, status: number) =>
    waitFor(
      async () => {
        const port = cluster.state.objects.services.find((s) => s.metadata?.name === 'hc')!.spec!
          .healthCheckNodePort!;
        const r = await get(node, port);
        return r.status === status ? JSON.parse(r.reply ?? '') : undefined;
      },
      { timeoutMs: 30_000, what: `health check node port on ${node} to answer ${status}` },
    );

  beforeAll(async () => {
    const s = await startCluster('podnet');
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        pod('hc-1', 'node2', { app: 'hc' }, srv),
        pod('cli', 'node1', { app: 'cli' }, []),
        pod('zone-a-1', 'node2', { app: 'zoned' }, srv),
        pod('zone-b-1', 'node3', { app: 'zoned' }, srv),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'hc' },
          spec: {
            type: 'LoadBalancer',
            externalTrafficPolicy: 'Local',
            selector: { app: 'hc' },
            ports: [{ port: 80, targetPort: 8080 }],
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'close' },
          spec: {
            trafficDistribution: 'PreferClose',
            selector: { app: 'zoned' },
            ports: [{ port: 80, targetPort: 8080 }],
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'spread' },
          spec: { selector: { app: 'zoned' }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      ]),
    );
  }, 240_000);
  afterAll(() => cleanup(), 120_000);

  /** GET http://NODE:PORT/PATH from the external host: status, content type and body. */
  const fetchFromExternal = async (node: string, port: number, path: string) => {
    const url = `http://${cluster.targetHost(node)}:${port}${path}`;
    const r = await cluster.exec('external', [
      process.execPath,
      '-e',
      `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, type: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options'), body: await r.text() })), (e) => console.log(JSON.stringify({ error: String(e) })))`,
    ]);
    return JSON.parse(r.stdout.trim() || '{}') as {
      status?: number;
      type?: string;
      nosniff?: string;
      body?: string;
    };
  };

  it("serves kube-proxy's /healthz and /livez on every node", async () => {
    for (const n of cluster.plan.nodes) {
      for (const path of ['/healthz', '/livez']) {
        const r = await waitFor(
          async () => {
            const x = await fetchFromExternal(n.name, PROXY_HEALTHZ_PORT, path);
            return x.status === 200 ? x : undefined;
          },
          { timeoutMs: 20_000, what: `${path} on ${n.name}` },
        );
        expect(r.type).toBe('application/json');
        expect(r.nosniff).toBe('nosniff');
        const body = JSON.parse(r.body!);
        expect(Object.keys(body)).toEqual(
          path === '/healthz'
            ? ['lastUpdated', 'currentTime', 'nodeEligible']
            : ['lastUpdated', 'currentTime'],
        );
        if (path === '/healthz') expect(body.nodeEligible).toBe(true);
        // healthy: lastUpdated is the current time, as kube-proxy reports it
        expect(body.lastUpdated).toBe(body.currentTime);
      }
    }
  });

  it('answers the health check node port: 200 where the endpoint runs, 503 elsewhere', async () => {
    const svc = cluster.state.objects.services.find((s) => s.metadata?.name === 'hc')!;
    const hc = svc.spec!.healthCheckNodePort!;
    const [lo, hi] = cluster.plan.nodePortRange;
    expect(hc).toBeGreaterThanOrEqual(lo);
    expect(hc).toBeLessThanOrEqual(hi);
    expect(svc.spec!.ports!.map((p) => p.nodePort)).not.toContain(hc);
    const want = (n: number) => ({
      service: { namespace: 'default', name: 'hc' },
      localEndpoints: n,
      serviceProxyHealthy: true,
    });
    expect(await healthOf('node2', 200)).toEqual(want(1));
    expect(await healthOf('node1', 503)).toEqual(want(0));
    expect(await healthOf('node3', 503)).toEqual(want(0));
  });

  it('flips when the endpoint moves to another node, and fails everywhere once it is gone', async () => {
    await cluster.apply(manifestObjects([pod('hc-2', 'node1', { app: 'hc' }, srv)]));
    expect((await healthOf('node1', 200)).localEndpoints).toBe(1);
    await cluster.deletePod('hc-1');
    expect((await healthOf('node2', 503)).localEndpoints).toBe(0);
    expect((await healthOf('node1', 200)).localEndpoints).toBe(1);
    await cluster.deletePod('hc-2');
    for (const n of ['node1', 'node2', 'node3'])
      expect((await healthOf(n, 503)).localEndpoints).toBe(0);
  });

  /** The pods that answered `count` connections from the zone-a client to Service NAME. */
  const answering = async (name: string, count: number): Promise<Map<string, number>> => {
    const ip = clusterIpOf(cluster, name);
    const seen = new Map<string, number>();
    const rs = await cluster.probeMany(
      'cli',
      Array.from({ length: count }, () => ({ to: ip, port: 80 })),
    );
    for (const r of rs) {
      expect(r.ok, r.error).toBe(true);
      const who = r.reply!.split(' ')[0]!;
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    return seen;
  };

  it('keeps PreferClose traffic in the client’s zone; without it, both zones answer', async () => {
    // both Services answer at all first (the agents have programmed them)
    for (const name of ['close', 'spread'])
      await waitFor(
        async () => (await cluster.probe('cli', clusterIpOf(cluster, name), 80)).ok || undefined,
        { timeoutMs: 30_000, what: `Service ${name} to answer` },
      );
    const close = await answering('close', 40);
    expect([...close.keys()]).toEqual(['zone-a-1']);
    expect(close.get('zone-a-1')).toBe(40);
    const spread = await waitFor(
      async () => {
        const m = await answering('spread', 40);
        return m.size === 2 ? m : undefined;
      },
      { timeoutMs: 20_000, what: 'both zones to answer the Service without trafficDistribution' },
    );
    expect([...spread.keys()].sort()).toEqual(['zone-a-1', 'zone-b-1']);
  });

  it('shows the zones in podnet get nodes and writes them into the EndpointSlices', async () => {
    const snapshot = cluster.snapshot();
    const table = renderGet('nodes', snapshot, { agents: cluster.agentStatus() });
    expect(table).toMatch(/^NAME +IP +POD-CIDR +ZONE +AGENT\n/);
    expect(table).toMatch(/\nnode3 +\S+ +\S+ +zone-b +running \(pid \d+\)\n/);
    expect(
      snapshot.nodes.map((n) => [
        n.metadata?.name,
        n.metadata?.labels?.['topology.kubernetes.io/zone'],
      ]),
    ).toEqual([
      ['node1', 'zone-a'],
      ['node2', 'zone-a'],
      ['node3', 'zone-b'],
    ]);
    const slice = snapshot.endpointSlices.find(
      (s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'close',
    )!;
    expect(
      slice.endpoints.map((e) => [e.targetRef?.name, e.zone, e.hints?.forZones?.[0]?.name]).sort(),
    ).toEqual([
      ['zone-a-1', 'zone-a', 'zone-a'],
      ['zone-b-1', 'zone-b', 'zone-b'],
    ]);
  });
});
