import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneNode, type TestNode } from './node-kit.js';

const HC_PORT = 31555;

// kube-proxy's health as the agent serves it, made unhealthy for real: the agent's nft session is
// stopped (SIGSTOP), so a Service change cannot be programmed, and continued again.
describe("agent serves kube-proxy's health and reports a stalled data plane", () => {
  let net: TestNet;
  let node: TestNode;

  const writeManifests = (endpoints: string[], zone = 'zone-a') => {
    const docs = [
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': zone } },
        spec: { podCIDRs: ['10.244.7.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '192.168.57.2' }] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'lb', namespace: 'default' },
        spec: {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          healthCheckNodePort: HC_PORT,
          clusterIP: '10.96.0.60',
          clusterIPs: ['10.96.0.60'],
          selector: { app: 'lb' },
          ports: [{ port: 80, targetPort: 8080, nodePort: 31556, protocol: 'TCP' }],
        },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'lb-1',
          namespace: 'default',
          labels: { 'kubernetes.io/service-name': 'lb' },
        },
        addressType: 'IPv4',
        endpoints: endpoints.map((ip) => ({
          addresses: [ip],
          nodeName: 'n1',
          conditions: { ready: true },
        })),
        ports: [{ port: 8080, protocol: 'TCP' }],
      },
    ];
    writeFileSync(
      join(node.manifestsDir, 'all.json'),
      JSON.stringify({ kind: 'List', items: docs }),
    );
  };

  /** GET 127.0.0.1:PORT/PATH inside the node: status line and body. */
  const get = async (port: number, path: string) => {
    const r = await net.exec(
      node.ns,
      [
        'bash',
        '-c',
        `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3`,
      ],
      { allowFail: true },
    );
    const [head = '', body = ''] = r.stdout.split('\r\n\r\n');
    return { status: Number(/^HTTP\/1\.[01] (\d+)/.exec(head)?.[1] ?? 0), head, body };
  };

  /** The agent's `nft` processes (its long-lived sessions). */
  const nftSessions = (): number[] => {
    const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .map(([pid, ppid, ...args]) => ({ pid: Number(pid), ppid: Number(ppid), args }));
    const mine = new Set([node.agent!.pid!]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const r of rows)
        if (mine.has(r.ppid) && !mine.has(r.pid)) {
          mine.add(r.pid);
          grew = true;
        }
    }
    // the long-lived `nft -i` sessions only: a one-shot nft (the flows' counter read, a full
    // load) may have ended before it is signalled
    return rows
      .filter((r) => mine.has(r.pid) && r.args[0] === 'nft' && r.args.includes('-i'))
      .map((r) => r.pid);
  };

  let healthz = 0;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.57', {
      podCidrs: ['10.244.7.0/24'],
      healthz: { address: '127.0.0.1', port: 0, timeoutMs: 1500 },
    }));
    writeManifests(['10.244.7.9']);
    healthz = Number(
      await waitFor(() => /"healthzPort":(\d+)/.exec(node.logs)?.[1], { what: 'healthz port' }),
    );
  }, 120_000);
  afterAll(async () => {
    for (const pid of nftSessions()) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
    node?.cleanup();
    await net?.cleanup();
  }, 60_000);

  it('answers /healthz, /livez and the health check node port while healthy', async () => {
    const hc = await waitFor(
      async () => {
        const r = await get(HC_PORT, '/');
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 30_000, what: 'the health check node port' },
    );
    expect(hc.head.toLowerCase()).toContain('content-type: application/json');
    expect(hc.head.toLowerCase()).toContain('x-content-type-options: nosniff');
    expect(JSON.parse(hc.body)).toEqual({
      service: { namespace: 'default', name: 'lb' },
      localEndpoints: 1,
      serviceProxyHealthy: true,
    });
    const h = await get(healthz, '/healthz');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ nodeEligible: true });
    expect((await get(healthz, '/livez')).status).toBe(200);
  });

  it('turns 503 when a change waits longer than the timeout, and 200 once it is programmed', async () => {
    const sessions = await waitFor(() => (nftSessions().length > 0 ? nftSessions() : undefined), {
      what: "the agent's nft session",
    });
    for (const pid of sessions) process.kill(pid, 'SIGSTOP');
    try {
      writeManifests(['10.244.7.9', '10.244.7.10']);
      const sick = await waitFor(
        async () => {
          const r = await get(healthz, '/healthz');
          return r.status === 503 ? r : undefined;
        },
        { timeoutMs: 20_000, what: '/healthz to report the stalled change' },
      );
      const body = JSON.parse(sick.body);
      expect(body.nodeEligible).toBe(true);
      expect(Date.parse(body.currentTime) - Date.parse(body.lastUpdated)).toBeGreaterThanOrEqual(
        1500,
      );
      expect((await get(healthz, '/livez')).status).toBe(503);
      // an unhealthy proxy fails the service check too, whatever the local endpoints
      const hc = await get(HC_PORT, '/');
      expect(hc.status).toBe(503);
      expect(JSON.parse(hc.body)).toMatchObject({ localEndpoints: 1, serviceProxyHealthy: false });
    } finally {
      for (const pid of sessions) process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => (await get(healthz, '/healthz')).status === 200, {
      timeoutMs: 30_000,
      what: '/healthz to recover',
    });
    const hc = await waitFor(
      async () => {
        const r = await get(HC_PORT, '/');
        return r.status === 200 ? JSON.parse(r.body) : undefined;
      },
      { timeoutMs: 30_000, what: 'the health check to recover' },
    );
    expect(hc).toMatchObject({ localEndpoints: 2, serviceProxyHealthy: true });
  });

  it('resyncs the service tables in full when its Node changes zone', async () => {
    const before = (node.logs.match(/"services programmed"[^\n]*"full":true/g) ?? []).length;
    writeManifests(['10.244.7.9', '10.244.7.10'], 'zone-b');
    await waitFor(() => /"node zone changed[^\n]*"from":"zone-a","to":"zone-b"/.test(node.logs), {
      timeoutMs: 20_000,
      what: 'the zone change',
    });
    await waitFor(
      () => (node.logs.match(/"services programmed"[^\n]*"full":true/g) ?? []).length > before,
      { timeoutMs: 20_000, what: 'a full service sync' },
    );
  });
});
