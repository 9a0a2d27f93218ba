import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_HTTP_PORT, Cluster } from '../../src/index.js';
import { flowQuery, flowSources, type ObservedEvent, readFlows } from '../../src/observe.js';
import { manifestObjects, pod, runPodnet, startCluster } from './helpers.js';

// Two nodes: x/a on node1 serves 80, y/b on node2 probes it. One NetworkPolicy isolates x/a for
// ingress with no rule, switched between enforcing and audit by its annotation.
const POLICY = 'x/deny-ingress';

function policy(mode?: 'audit' | 'enforce') {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: 'deny-ingress',
      namespace: 'x',
      ...(mode ? { annotations: { 'podnet.io/enforcement': mode } } : {}),
    },
    spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [] },
  };
}

describe('podnet observe: flow records, audit mode and verdict counters on a real cluster', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};
  /** Every event the following reader got, with the time it arrived. */
  const seen: { e: ObservedEvent; at: number }[] = [];
  const follow = new AbortController();
  let reading: Promise<void> = Promise.resolve();
  const readerErrors: string[] = [];

  beforeAll(async () => {
    const s = await startCluster('podnet', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } },
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y' } },
        pod('a', 'node1', { app: 'web' }, [{ containerPort: 80 }], 'x'),
        pod('b', 'node2', { app: 'client' }, [{ containerPort: 80 }], 'y'),
      ]),
    );
    reading = readFlows(flowSources(cluster.state.plan, flowQuery({ follow: true })), {
      onEvent: (e) => seen.push({ e, at: Date.now() }),
      onError: (node, m) => readerErrors.push(`${node}: ${m}`),
      signal: follow.signal,
    });
  }, 180_000);

  afterAll(async () => {
    follow.abort();
    await reading;
    if (cluster) cluster.state = (await Cluster.load(cluster.plan.name)).state;
    await cleanup();
  }, 120_000);

  /** node1's agent's /metrics, read inside node1's namespace. */
  function verdictCount(verdict: string): number {
    const n = cluster.state.plan.nodes.find((x) => x.name === 'node1')!;
    const r = spawnSync(
      'nsenter',
      [
        `--net=/run/netns/${n.netns}`,
        '--',
        'curl',
        '-sf',
        `http://${n.ip}:${AGENT_HTTP_PORT}/metrics`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const line = r.stdout
      .split('\n')
      .find(
        (l) =>
          l.startsWith('podnet_policy_verdicts_total{') &&
          l.includes(`policy="${POLICY}"`) &&
          l.includes(`verdict="${verdict}"`) &&
          l.includes('direction="ingress"'),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  /** Probes y/b -> x/a:80 until it connects (or not), as a policy change takes a moment. */
  async function probeUntil(connected: boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await cluster.probe('y/b', 'x/a', 80, 'tcp', 1000);
      if (r.ok === connected) return;
      if (Date.now() > deadline)
        throw new Error(`y/b -> x/a:80 never ${connected ? 'connected' : 'blocked'}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  const flowsFrom = (start: number, verdict: string) =>
    seen.filter(
      ({ e, at }) =>
        at >= start &&
        e.type === 'flow' &&
        e.verdict === verdict &&
        e.policies.includes(POLICY) &&
        e.source.kind === 'pod' &&
        `${e.source.namespace}/${e.source.name}` === 'y/b' &&
        e.destination.kind === 'pod' &&
        `${e.destination.namespace}/${e.destination.name}` === 'x/a',
    );

  it('a denied probe shows up within a second, naming the policy and both pods; counters move', async () => {
    const before = verdictCount('drop');
    await cluster.apply(manifestObjects([policy()]));
    await probeUntil(false); // enforced (and the follow readers are connected by now)
    const start = Date.now();
    const r = await cluster.probe('y/b', 'x/a', 80, 'tcp', 1500);
    expect(r.ok).toBe(false);
    const deadline = start + 5000;
    while (flowsFrom(start, 'drop').length === 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    const first = flowsFrom(start, 'drop')[0];
    expect(first, `no drop record; reader errors: ${readerErrors.join('; ')}`).toBeDefined();
    expect(first!.at - start).toBeLessThanOrEqual(1000);
    expect(first!.e).toMatchObject({
      node: 'node1',
      direction: 'ingress',
      protocol: 'TCP',
      tier: 'NetworkPolicy',
      destination: { port: 80 },
    });
    expect(verdictCount('drop')).toBeGreaterThan(before);

    // the CLI, as a user runs it: the table and the JSON lines
    const table = await runPodnet(cluster, ['observe', '--pod', 'x/a', '--verdict', 'drop']).done;
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME +NODE +VERDICT +DIR +SOURCE +DESTINATION +PROTO +POLICY$/);
    expect(
      lines
        .slice(1)
        .some((l) => /node1 +DROP +ingress +y\/b:\d+ +x\/a:80 +TCP +x\/deny-ingress$/.test(l)),
    ).toBe(true);
    const json = await runPodnet(cluster, [
      'observe',
      '--namespace',
      'y',
      '--since',
      '5m',
      '-o',
      'json',
    ]).done;
    expect(json.code).toBe(0);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ObservedEvent);
    expect(events.some((e) => e.type === 'flow' && e.verdict === 'drop')).toBe(true);
    expect(
      events.every(
        (e) => e.type === 'lost' || e.source.namespace === 'y' || e.destination.namespace === 'y',
      ),
    ).toBe(true);
  }, 120_000);

  it('audited, the policy lets the traffic through and reports would-drop; counters move', async () => {
    const before = verdictCount('would-drop');
    const drops = verdictCount('drop');
    await cluster.apply(manifestObjects([policy('audit')]));
    await probeUntil(true);
    const start = Date.now();
    expect((await cluster.probe('y/b', 'x/a', 80, 'tcp', 1500)).ok).toBe(true);
    const deadline = start + 5000;
    while (flowsFrom(start, 'would-drop').length === 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    const w = flowsFrom(start, 'would-drop')[0];
    expect(w, `no would-drop record; reader errors: ${readerErrors.join('; ')}`).toBeDefined();
    expect(w!.at - start).toBeLessThanOrEqual(1000);
    expect(w!.e.type === 'flow' && w!.e.summary).toContain('audit');
    expect(verdictCount('would-drop')).toBeGreaterThan(before);
    // nothing was dropped after the switch took effect
    expect(flowsFrom(start, 'drop')).toEqual([]);
    expect(verdictCount('drop')).toBeGreaterThanOrEqual(drops);
  }, 120_000);

  it('switching the annotation to enforce drops again', async () => {
    await cluster.apply(manifestObjects([policy('enforce')]));
    await probeUntil(false);
    const start = Date.now();
    const drops = verdictCount('drop');
    const wouldDrops = verdictCount('would-drop');
    expect((await cluster.probe('y/b', 'x/a', 80, 'tcp', 1500)).ok).toBe(false);
    const deadline = start + 5000;
    while (flowsFrom(start, 'drop').length === 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    expect(flowsFrom(start, 'drop').length).toBeGreaterThan(0);
    expect(flowsFrom(start, 'would-drop')).toEqual([]);
    expect(verdictCount('drop')).toBeGreaterThan(drops);
    expect(verdictCount('would-drop')).toBe(wouldDrops);
    expect(seen.filter(({ e }) => e.type === 'lost')).toEqual([]);
  }, 120_000);
  it('an audited ClusterNetworkPolicy Deny reports would-drop with its tier and rule, enforced it drops', async () => {
    await cluster.deleteNetworkPolicy('x', 'deny-ingress');
    const cnp = (mode: 'audit' | 'enforce') => ({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'no-y', annotations: { 'podnet.io/enforcement': mode } },
      spec: {
        tier: 'Admin',
        priority: 5,
        subject: { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'x' } } },
        ingress: [
          {
            name: 'from-y',
            action: 'Deny',
            from: [{ namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }],
          },
        ],
      },
    });
    const byCnp = (start: number, verdict: string) =>
      seen.filter(
        ({ e, at }) =>
          at >= start &&
          e.type === 'flow' &&
          e.verdict === verdict &&
          e.tier === 'Admin' &&
          e.policies.includes('no-y') &&
          e.rule?.name === 'from-y' &&
          e.destination.name === 'a',
      );
    await cluster.apply(manifestObjects([cnp('audit')]));
    // the policy takes a moment to reach the agent: probe (always let through) until it reports
    const start = Date.now();
    while (byCnp(start, 'would-drop').length === 0 && Date.now() < start + 30_000) {
      expect((await cluster.probe('y/b', 'x/a', 80, 'tcp', 1500)).ok).toBe(true);
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(byCnp(start, 'would-drop').length, readerErrors.join('; ')).toBeGreaterThan(0);
    expect(byCnp(start, 'drop')).toEqual([]);
    await cluster.apply(manifestObjects([cnp('enforce')]));
    await probeUntil(false);
    const t2 = Date.now();
    expect((await cluster.probe('y/b', 'x/a', 80, 'tcp', 1500)).ok).toBe(false);
    while (byCnp(t2, 'drop').length === 0 && Date.now() < t2 + 5000)
      await new Promise((res) => setTimeout(res, 20));
    expect(byCnp(t2, 'drop').length).toBeGreaterThan(0);
  }, 120_000);
});
