import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type LiveFlow, liveExplain } from '../../src/index.js';
import { manifestObjects, pod, runPodnet, startCluster } from './helpers.js';

// Live explain against the model on one dual-stack cluster of 3 nodes (node3 behind the router:
// its pods are reached over the VXLAN tunnel, where the probe is traced by its 5-tuple): the
// upstream 9-pod model (namespaces x, y, z; pods a, b, c; spread over the nodes), with policies
// that deny and allow by namespace, pod and port, and one Service.
const NAMESPACES = ['x', 'y', 'z'];
const PODS = ['a', 'b', 'c'];
const ALL = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));
// a pod to itself is implementation-defined (loopback inside the pod): not compared
const PAIRS = ALL.flatMap((from) => ALL.filter((to) => to !== from).map((to) => [from, to]));

const policy = (name: string, ns: string, spec: Record<string, unknown>) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: ns },
  spec,
});

describe('podnet explain --live: the kernel against the model', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('podnet', 3, { ipFamily: 'dual' });
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        ...NAMESPACES.map((ns) => ({
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns, labels: { ns } },
        })),
        ...NAMESPACES.flatMap((ns, i) =>
          PODS.map((p, j) =>
            pod(
              p,
              `node${((i + j) % 3) + 1}`,
              { pod: p },
              [{ containerPort: 80 }, { containerPort: 80, protocol: 'UDP' }],
              ns,
            ),
          ),
        ),
        // x: isolated for ingress; x/a admits pods b of any namespace on 80
        policy('deny-all', 'x', { podSelector: {}, policyTypes: ['Ingress'] }),
        policy('a-from-b', 'x', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            {
              from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }],
              ports: [{ port: 80 }],
            },
          ],
        }),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'a', namespace: 'x' },
          spec: {
            type: 'NodePort',
            ipFamilyPolicy: 'PreferDualStack',
            selector: { pod: 'a' },
            ports: [{ port: 8080, targetPort: 80 }],
          },
        },
      ]),
    );
    // the agents program policies asynchronously: wait until one allowed and one denied cell of
    // each policy answer as they will (the matrix below then runs once, without retries)
    const until = (from: string, to: string, ok: boolean, family: 4 | 6) =>
      waitFor(
        async () => (await cluster.probe(from, to, 80, 'tcp', 1000, family)).ok === ok || undefined,
        { timeoutMs: 30_000, intervalMs: 200, what: `${from} → ${to}:80 (IPv${family}) ok=${ok}` },
      );
    for (const family of [4, 6] as const) {
      await until('z/b', 'x/a', true, family);
      await until('z/c', 'x/a', false, family);
    }
  }, 240_000);
  afterAll(async () => {
    await cleanup();
  }, 120_000);

  /** The API's truth table; `egress`: y's pods may reach z only. */
  const truth = (egress: boolean) => (from: string, to: string) => {
    if (egress && from.startsWith('y/') && !to.startsWith('z/')) return false;
    if (to === 'x/a') return from.endsWith('/b');
    return !to.startsWith('x/');
  };

  // IPv6 runs with the ingress policies only: with an egress policy on a pod, its IPv6 neighbour
  // advertisements to its node meet the policy in netpol's input-hook chain (egress_local) and are
  // dropped, so the node cannot deliver to the pod. Live explain shows exactly that (the model
  // allows, every traced rule accepted, the probe got no answer); see the report to netpol.
  for (const [family, egress] of [
    [6, false],
    [4, true],
  ] as const) {
    it(`agrees with the model across the 9-pod matrix (IPv${family}${egress ? ', y egress to z only' : ''}, every pair at once)`, async () => {
      if (egress) {
        await cluster.apply(
          manifestObjects([
            policy('egress-to-z', 'y', {
              podSelector: {},
              policyTypes: ['Egress'],
              egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }],
            }),
          ]),
        );
        await waitFor(
          async () => !(await cluster.probe('y/a', 'x/b', 80, 'tcp', 1000, family)).ok || undefined,
          { timeoutMs: 30_000, intervalMs: 200, what: 'y/a → x/b blocked by egress-to-z' },
        );
      }
      const flows: LiveFlow[] = PAIRS.map(([from, to]) => ({
        from: from!,
        to: to!,
        port: 80,
        protocol: 'TCP',
        family,
      }));
      const results = await liveExplain(cluster, flows, { timeoutMs: 1500 });
      const disagreements = results.flatMap((r) =>
        r.disagreements.map((d) => `${r.flow.from} → ${r.flow.to}: ${d}`),
      );
      expect(disagreements).toEqual([]);
      expect(results[0]!.warnings ?? []).toEqual([]);
      // the model and the kernel agree, and both agree with the API's truth table
      const wrong = results
        .filter((r) => (r.model.verdict === 'allow') !== truth(egress)(r.flow.from, r.flow.to))
        .map((r) => `${r.flow.from} → ${r.flow.to}: model ${r.model.verdict}`);
      expect(wrong).toEqual([]);
      // every denied probe was dropped by a netpol rule the trace names; every probe was traced
      for (const r of results) {
        expect(r.kernel.hops.length, `${r.flow.from} → ${r.flow.to}`).toBeGreaterThan(1);
        if (r.kernel.verdict === 'deny')
          expect(r.kernel.dropped?.decision.table, `${r.flow.from} → ${r.flow.to}`).toBe(
            'podnet_netpol',
          );
        else expect(r.kernel.probe.ok).toBe(true);
      }
    }, 120_000);
  }

  it('follows a Service DNAT and node sources (policy evaluated for them too)', async () => {
    const [svc, own, other, deniedSvc] = await liveExplain(cluster, [
      { from: 'z/b', to: 'a.x', port: 8080, protocol: 'TCP' },
      { from: 'node1', to: 'x/a', port: 80, protocol: 'TCP' }, // x/a lives on node1
      { from: 'node2', to: 'x/a', port: 80, protocol: 'TCP' },
      { from: 'z/c', to: 'a.x', port: 8080, protocol: 'TCP' },
    ]);
    const ipA = cluster.podIp('x/a');
    expect(svc!.disagreements).toEqual([]);
    expect(svc!.kernel.dnat).toMatchObject({ ip: ipA, port: 80 });
    expect(svc!.model.dnat?.endpoints).toEqual([{ ip: ipA, port: 80 }]);
    expect(svc!.kernel.verdict).toBe('allow');
    expect(own!.disagreements).toEqual([]);
    expect(own!.model.verdict).toBe('allow');
    expect(other!.disagreements).toEqual([]);
    expect(other!.model.verdict).toBe('deny');
    expect(other!.kernel.dropped?.label).toBe('node1');
    expect(deniedSvc!.disagreements).toEqual([]);
    expect(deniedSvc!.kernel.verdict).toBe('deny');
  }, 60_000);

  it('evaluates policy for an external source through a NodePort, with and without masquerade', async () => {
    const svc = cluster.state.objects.services.find(
      (s) => s.metadata?.namespace === 'x' && s.metadata.name === 'a',
    );
    const nodePort = svc!.spec!.ports![0]!.nodePort!;
    const [local, remote] = await liveExplain(cluster, [
      // x/a lives on node1: its policy sees the external address (masquerade comes after)
      { from: 'external', to: cluster.node('node1').ip, port: nodePort, protocol: 'TCP' },
      // node2 DNATs and masquerades to x/a on node1: its policy sees node2's address
      { from: 'external', to: cluster.node('node2').ip, port: nodePort, protocol: 'TCP' },
    ]);
    for (const r of [local!, remote!]) {
      expect(r.disagreements, r.flow.to).toEqual([]);
      expect(r.model.verdict, r.flow.to).toBe('deny');
      expect(r.kernel.dnat, r.flow.to).toMatchObject({ ip: cluster.podIp('x/a'), port: 80 });
    }
    expect(local!.model.policies?.[0]?.src).toBe(cluster.plan.externalIp);
    expect(local!.kernel.dropped).toMatchObject({
      label: 'node1',
      decision: { table: 'podnet_netpol' },
    });
    expect(remote!.model.policies?.[0]?.src).toBe(cluster.node('node2').ip);
    // past node2's masquerade (fully-random) the probe has a new source port: not traced on node1
    expect(remote!.kernel.dropped).toBeUndefined();
    expect(remote!.kernel.probe.ok).toBe(false);
  }, 60_000);

  it('traces UDP probes too (the policies admit TCP 80 only into x/a; y reaches z only)', async () => {
    const udp = (from: string, to: string, family: 4 | 6 = 4): LiveFlow => ({
      from,
      to,
      port: 80,
      protocol: 'UDP',
      family,
    });
    const results = await liveExplain(cluster, [
      udp('y/b', 'x/a'),
      udp('z/b', 'x/a'),
      udp('z/a', 'y/a'),
      udp('y/a', 'z/b'),
      udp('z/a', 'y/a', 6),
    ]);
    expect(results.flatMap((r) => r.disagreements)).toEqual([]);
    expect(results.map((r) => r.kernel.verdict)).toEqual([
      'deny',
      'deny',
      'allow',
      'allow',
      'allow',
    ]);
    expect(results[1]!.kernel.dropped?.decision.table).toBe('podnet_netpol');
  }, 60_000);

  it('reports the disagreement when a netpol rule is deleted behind the agent', async () => {
    const flow: LiveFlow = { from: 'y/b', to: 'z/a', port: 80, protocol: 'TCP' };
    const [before] = await liveExplain(cluster, [flow]);
    expect(before!.disagreements).toEqual([]);
    const accepted = before!.kernel.accepted;
    expect(accepted, 'the netpol rule that admitted y/b → z/a').toBeDefined();
    const node = cluster.node(accepted!.label);
    const { chain, handle } = accepted!.decision;
    const del = await cluster.exec(accepted!.label, [
      'nft',
      'delete',
      'rule',
      'inet',
      'podnet_netpol',
      chain,
      'handle',
      String(handle),
    ]);
    expect(del.code, del.stderr).toBe(0);
    expect(node.netns).toContain(cluster.plan.prefix);
    // Probed right away: the agent restores the rule only at its next full resync (at most every
    // hour by default) or a policy change, and this test changes nothing else in between.
    const run = await runPodnet(cluster, ['explain', '--live', 'y/b', 'z/a:80']).done;
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/^model\s+verdict allow$/m);
    expect(run.stdout).toMatch(/^kernel\s+verdict deny$/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `^DISAGREE verdict: the model says allow; the kernel dropped the probe on ${accepted!.label} in inet podnet_netpol chain `,
        'm',
      ),
    );
  }, 60_000);
});
