import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { manifestObjects, nodePortOf, pod, startCluster } from './helpers.js';

// One dual-stack cluster (IPv4 first, IPv6 second) of 3 nodes: node3 sits behind the router, so
// IPv6 pod traffic meets both DirectRouting and the VXLAN tunnel (over the IPv4 underlay).
describe('a dual-stack cluster on the podnet network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  /** Probes until the answer's `ok` is `want` (policies and Services converge in the agents). */
  const probeUntil = async (from: string, to: string, port: number, want: boolean, family = 6) =>
    waitFor(
      async () => {
        const r = await cluster.probe(from, to, port, 'tcp', 1500, family as 4 | 6);
        return r.ok === want ? r : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: `${from} → ${to}:${port} ok=${want}` },
    );

  beforeAll(async () => {
    const s = await startCluster('podnet', 3, { ipFamily: 'dual' });
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        pod('web-1', 'node1', { app: 'web' }),
        pod('web-3', 'node3', { app: 'web' }),
        pod('client', 'node2', { role: 'client' }),
        pod('peer', 'node1', { role: 'peer' }),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: 'default' },
          spec: {
            type: 'NodePort',
            ipFamilyPolicy: 'PreferDualStack',
            selector: { app: 'web' },
            ports: [{ port: 80, targetPort: 80 }],
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web6', namespace: 'default' },
          spec: {
            ipFamilies: ['IPv6'],
            selector: { app: 'web' },
            ports: [{ port: 8080, targetPort: 80 }],
          },
        },
      ]),
    );
  }, 180_000);
  afterAll(async () => {
    await cleanup();
  }, 120_000);

  it('gives pods, Nodes, Services and EndpointSlices an address of each family', () => {
    const snap = cluster.snapshot();
    const web1 = snap.pods.find((p) => p.metadata?.name === 'web-1')!;
    expect(web1.status?.podIPs?.map((p) => p.ip)).toEqual([
      expect.stringMatching(/^10\.244\.1\.\d+$/),
      expect.stringMatching(/^fd00:10:244:1::[0-9a-f]+$/),
    ]);
    expect(snap.nodes[0]!.spec?.podCIDRs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    const web = snap.services.find((s) => s.metadata?.name === 'web')!;
    expect(web.spec?.ipFamilies).toEqual(['IPv4', 'IPv6']);
    expect(web.spec?.clusterIPs).toEqual(['10.96.0.11', 'fd00:10:96::b']);
    const web6 = snap.services.find((s) => s.metadata?.name === 'web6')!;
    expect(web6.spec?.clusterIPs).toEqual(['fd00:10:96::c']);
    const slices = snap.endpointSlices.filter(
      (s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'web',
    );
    expect(slices.map((s) => [s.addressType, s.endpoints.length]).sort()).toEqual([
      ['IPv4', 2],
      ['IPv6', 2],
    ]);
  });

  it('pods on different nodes talk over IPv6: TCP (direct and tunnelled) and ping -6', async () => {
    const ip6 = (name: string) => cluster.targetHost(name, 6);
    const direct = await probeUntil('client', 'web-1', 80, true); // node2 → node1, same segment
    expect(direct.address).toBe(ip6('web-1'));
    expect(direct.reply).toBe(`web-1 ${ip6('client')}`);
    const tunnel = await probeUntil('client', 'web-3', 80, true); // node2 → node3, across the router
    expect(tunnel.reply).toBe(`web-3 ${ip6('client')}`);
    const ping = await cluster.exec('client', ['ping', '-6', '-c', '2', '-W', '2', ip6('web-3')]);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/2 received/);
    // the pod interface MTU leaves room for VXLAN over the (IPv4) underlay: 1500 - 50
    const link = await cluster.exec('client', ['ip', '-o', 'link', 'show', 'eth0']);
    expect(link.stdout).toMatch(/ mtu 1450 /);
  });

  it('resolves a Service name to AAAA from a pod and reaches its IPv6 ClusterIP', async () => {
    const dig = await cluster.exec('client', [
      ...['dig', '+short', '+time=2', '+tries=3', 'AAAA', 'web.default.svc.cluster.local'],
    ]);
    expect(dig.stdout.trim()).toBe('fd00:10:96::b');
    const a = await cluster.exec('client', ['dig', '+short', 'A', 'web.default.svc.cluster.local']);
    expect(a.stdout.trim()).toBe('10.96.0.11');
    // by name with -6: the pod's resolver asks for AAAA, the connection goes to the IPv6 ClusterIP
    const byName = await probeUntil('client', 'web', 80, true);
    expect(byName.address).toBe('fd00:10:96::b');
    expect(byName.reply).toMatch(/^web-[13] fd00:10:244:2::/);
    const single = await probeUntil('client', 'web6', 8080, true);
    expect(single.address).toBe('fd00:10:96::c');
  });

  it('serves a NodePort over IPv6 to the external host and masquerades pods leaving over IPv6', async () => {
    const port = nodePortOf(cluster, 'web');
    const node1 = cluster.targetHost('node1', 6);
    expect(node1).toBe('fd00:30::11');
    const np = await probeUntil('external', 'node1', port, true);
    expect(np.address).toBe(node1);
    expect(np.reply).toMatch(/^web-[13] /);
    // pod → external host: the external host sees the node's IPv6 address, not the pod's
    const out = await probeUntil('web-3', 'external', 8080, true);
    expect(out.address).toBe('fd00:113::10');
    expect(out.reply).toBe(`external ${cluster.targetHost('node3', 6)}`);
  });

  it('a NetworkPolicy with an IPv6 ipBlock allows what it names and blocks the rest', async () => {
    const client6 = cluster.targetHost('client', 6);
    await cluster.apply(
      manifestObjects([
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'web-from-client-v6', namespace: 'default' },
          spec: {
            podSelector: { matchLabels: { app: 'web' } },
            policyTypes: ['Ingress'],
            ingress: [{ from: [{ ipBlock: { cidr: `${client6}/128` } }] }],
          },
        },
      ]),
    );
    // the peer pod (node1, same node as web-1) is blocked over IPv6, and over IPv4
    await probeUntil('peer', 'web-1', 80, false);
    await probeUntil('peer', 'web-3', 80, false);
    await probeUntil('peer', 'web-1', 80, false, 4);
    // the client is allowed over IPv6 only: its IPv4 address is not in the block
    const allowed = await probeUntil('client', 'web-3', 80, true);
    expect(allowed.reply).toBe(`web-3 ${client6}`);
    await probeUntil('client', 'web-3', 80, false, 4);
    const e = await cluster.explain('peer', 'web-3', 80, 'TCP', 6);
    expect(e.verdict).toBe('deny');
    const ok = await cluster.explain('client', 'web-3', 80, 'TCP', 6);
    expect(ok.verdict).toBe('allow');
  });

  it("a pod whose egress is isolated still answers its node's neighbour discovery over IPv6", async () => {
    await cluster.apply(
      manifestObjects([
        pod('iso', 'node2', { role: 'iso' }),
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: 'iso-egress-to-web', namespace: 'default' },
          spec: {
            podSelector: { matchLabels: { role: 'iso' } },
            policyTypes: ['Egress'],
            egress: [{ to: [{ podSelector: { matchLabels: { app: 'web' } } }] }],
          },
        },
      ]),
    );
    // the policy is in force: iso may not open connections to the client
    await probeUntil('iso', 'client', 80, false);
    // the node forgets every neighbour, so reaching iso needs a fresh solicitation, which iso
    // answers through the node's input hook, where its egress isolation applies
    const flushed = await cluster.exec('node2', ['ip', '-6', 'neigh', 'flush', 'all']);
    expect(flushed.code, flushed.stderr).toBe(0);
    const r = await probeUntil('client', 'iso', 80, true);
    expect(r.reply).toBe(`iso ${cluster.targetHost('client', 6)}`);
  });
});
