import { readdirSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import {
  type ClusterNetworkPolicy,
  type ClusterState,
  type NetworkPolicy,
  PolicySyncer,
  readVerdictLogs,
  type VerdictLogRecord,
} from '../../src/index.js';
import {
  formatReachTable,
  truthTable,
  XYZ_PODS,
  xyzModel,
  xyzPodIp,
} from '../../src/testing/index.js';
import { PodTopology, tableDiff } from './topology.js';

const LOG_GROUP = 7;

describe('policies enforced in a node namespace with routed pods', () => {
  let net: TestNet;
  let topo: PodTopology;
  let syncer: PolicySyncer;
  const base = xyzModel({ hostIP: '10.88.0.1' });

  beforeAll(async () => {
    net = createTestNet();
    topo = new PodTopology(net);
    await topo.init();
    for (const [i, key] of XYZ_PODS.entries()) await topo.addPod(key, xyzPodIp(i));
    syncer = new PolicySyncer({ host: topo.nodeHost(), log: { group: LOG_GROUP } });
  });
  afterAll(async () => {
    await syncer?.close();
    topo?.close();
    await net?.cleanup();
  });

  async function expectEnforced(state: ClusterState, proto: 'TCP' | 'UDP', port: number) {
    const want = truthTable(state, port, proto);
    const got = await topo.probeTable(XYZ_PODS, proto, port);
    const diff = tableDiff(want, got);
    if (diff.length > 0) {
      throw new Error(
        `${proto}/${port} differs at ${diff.join(' ')}\nwant:\n${formatReachTable(want)}\ngot:\n${formatReachTable(got)}`,
      );
    }
  }

  const np = (namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({
    metadata: { namespace, name },
    spec,
  });

  it('with no policies every pod reaches every pod (routing works, table installed)', async () => {
    const r = await syncer.sync(base);
    expect(r.full).toBe(true);
    await expectEnforced(base, 'TCP', 80);
    const listed = await topo.nodeHost().nft(['list', 'table', 'inet', 'podnet_netpol']);
    expect(listed).toContain('hook forward');
  });

  it('NetworkPolicy scenarios match the truth table on TCP and UDP', async () => {
    const scenarios: NetworkPolicy[][] = [
      [np('x', 'deny-all', { podSelector: {} })],
      [
        np('x', 'from-y-80', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] },
          ],
        }),
      ],
      [
        np('y', 'and', {
          podSelector: {},
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { ns: 'z' } },
                  podSelector: {
                    matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }],
                  },
                },
              ],
            },
          ],
        }),
      ],
      [
        np('x', 'named', {
          podSelector: {},
          ingress: [
            { ports: [{ port: 'serve-81-tcp' }, { port: 'serve-80-udp', protocol: 'UDP' }] },
          ],
        }),
      ],
      [
        np('z', 'cidr', {
          podSelector: {},
          ingress: [{ from: [{ ipBlock: { cidr: '10.88.0.0/28', except: ['10.88.0.12/31'] } }] }],
        }),
      ],
      [
        np('x', 'egress', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [
            {
              to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }],
              ports: [{ port: 80, endPort: 81, protocol: 'UDP' }],
            },
          ],
        }),
      ],
    ];
    for (const nps of scenarios) {
      const state = { ...base, networkPolicies: nps };
      await syncer.sync(state);
      await topo.flushConntrack();
      await expectEnforced(state, 'TCP', 80);
      await expectEnforced(state, 'TCP', 81);
      await expectEnforced(state, 'UDP', 80);
    }
  });

  it('ClusterNetworkPolicy Admin/Baseline tiers with Pass are enforced as evaluated', async () => {
    const cnps: ClusterNetworkPolicy[] = [
      {
        metadata: { name: 'admin-pass-y' },
        spec: {
          tier: 'Admin',
          priority: 1,
          subject: { namespaces: { matchLabels: { ns: 'x' } } },
          ingress: [{ action: 'Pass', from: [{ namespaces: { matchLabels: { ns: 'y' } } }] }],
        },
      },
      {
        metadata: { name: 'admin-deny' },
        spec: {
          tier: 'Admin',
          priority: 2,
          subject: { namespaces: { matchLabels: { ns: 'x' } } },
          ingress: [
            {
              action: 'Deny',
              from: [
                { pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } } },
              ],
              protocols: [{ tcp: { destinationPort: { number: 80 } } }],
            },
          ],
        },
      },
      {
        metadata: { name: 'baseline-deny-z' },
        spec: {
          tier: 'Baseline',
          priority: 1,
          subject: { namespaces: {} },
          ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { ns: 'z' } } }] }],
        },
      },
    ];
    const state = {
      ...base,
      networkPolicies: [
        np('x', 'only-a', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ podSelector: {} }] }],
        }),
      ],
      clusterNetworkPolicies: cnps,
    };
    await syncer.sync(state);
    await topo.flushConntrack();
    await expectEnforced(state, 'TCP', 80);
    await expectEnforced(state, 'TCP', 81);
  });

  it('a label change, an added pod, an updated and a deleted policy each take effect', async () => {
    const policy = np('x', 'a-from-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    let state: ClusterState = { ...base, networkPolicies: [policy] };
    await syncer.sync(state);
    expect(await topo.probe('x/c', 'x/a', 'TCP', 80)).toBe(false);
    expect(await topo.probe('x/b', 'x/a', 'TCP', 80)).toBe(true);

    const relabeled = state.pods.map((p) =>
      p.metadata?.namespace === 'x' && p.metadata.name === 'c'
        ? { ...p, metadata: { ...p.metadata, labels: { pod: 'b' } } }
        : p,
    );
    const r1 = await syncer.upsertPod(
      relabeled.find(
        (p) => p.metadata?.name === 'c' && p.metadata.namespace === 'x',
      ) as ClusterState['pods'][number],
    );
    expect(r1.full).toBe(false);
    expect(r1.script).not.toMatch(/flush chain/);
    state = { ...state, pods: relabeled };
    expect(await topo.probe('x/c', 'x/a', 'TCP', 80)).toBe(true);
    await expectEnforced(state, 'TCP', 80);

    await topo.addPod('x/d', '10.88.0.30');
    const newPod = {
      metadata: { name: 'd', namespace: 'x', labels: { pod: 'a' } },
      spec: { containers: [], nodeName: 'node-1' },
      status: { podIP: '10.88.0.30', hostIP: '10.88.0.1' },
    };
    state = { ...state, pods: [...state.pods, newPod] };
    await syncer.sync(state);
    expect(await topo.probe('y/a', 'x/d', 'TCP', 80)).toBe(false);
    expect(await topo.probe('x/b', 'x/d', 'TCP', 80)).toBe(true);

    const updated = np('x', 'a-from-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await syncer.upsertNetworkPolicy(updated);
    state = { ...state, networkPolicies: [updated] };
    expect(await topo.probe('y/a', 'x/d', 'TCP', 80)).toBe(true);
    expect(await topo.probe('x/b', 'x/a', 'TCP', 80)).toBe(false);
    await expectEnforced(state, 'TCP', 80);

    await syncer.deleteNetworkPolicy('x/a-from-b');
    state = { ...state, networkPolicies: [] };
    expect(await topo.probe('x/b', 'x/a', 'TCP', 80)).toBe(true);
    expect(await topo.probe('z/c', 'x/d', 'TCP', 80)).toBe(true);
    const listed = await topo.nodeHost().nft(['list', 'table', 'inet', 'podnet_netpol']);
    expect(listed).not.toMatch(/chain p\d+_in/);
    await syncer.deletePod('x/d');
  });

  it('an established connection keeps working while the policy still allows it', async () => {
    const allowY = np('x', 'allow-y', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await syncer.sync({ ...base, networkPolicies: [allowY] });
    const a = topo.pod('y/a').agent;
    const handle = await a.call<number>({
      op: 'open',
      ip: topo.pod('x/a').ip,
      port: 80,
      timeoutMs: 3000,
    });
    expect(handle).toBeGreaterThan(0);
    expect(await a.call<boolean>({ op: 'echo', handle, timeoutMs: 3000 })).toBe(true);
    const alsoZ = np('x', 'allow-y', {
      podSelector: {},
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }],
              },
            },
          ],
        },
      ],
    });
    await syncer.upsertNetworkPolicy(alsoZ);
    await syncer.upsertPod({
      ...(base.pods[3] as ClusterState['pods'][number]),
      metadata: { name: 'a', namespace: 'y', labels: { pod: 'a', tier: 'web' } },
    });
    expect(await a.call<boolean>({ op: 'echo', handle, timeoutMs: 3000 })).toBe(true);
    expect(await topo.probe('z/a', 'x/a', 'TCP', 80)).toBe(true);
    expect(await topo.probe('x/b', 'x/a', 'TCP', 80)).toBe(false);
  });

  it('a denied probe produces exactly one log record naming the policy', async () => {
    const deny = np('z', 'deny-from-x', {
      podSelector: { matchLabels: { pod: 'b' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    await syncer.sync({ ...base, networkPolicies: [deny] });
    const records: VerdictLogRecord[] = [];
    const reader = readVerdictLogs({
      group: LOG_GROUP,
      netns: topo.node,
      onRecord: (r) => records.push(r),
    });
    try {
      await reader.ready;
      expect(await topo.probe('y/a', 'z/b', 'UDP', 81)).toBe(true);
      expect(await topo.probe('x/c', 'z/b', 'UDP', 81, 1000, true)).toBe(false);
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await reader.stop();
    }
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      verdict: 'drop',
      direction: 'ingress',
      tier: 'NetworkPolicy',
      policies: [{ namespace: 'z', name: 'deny-from-x' }],
      protocol: 'UDP',
      src: topo.pod('x/c').ip,
      dst: topo.pod('z/b').ip,
      dstPort: 81,
    });
    expect(records[0]?.message).toContain('z/deny-from-x');
  });

  it('warm() readies the session with a no-op: the kernel is as it was, traffic too, events stay partial', async () => {
    const host = topo.nodeHost();
    const list = () => host.nft(['list', 'table', 'inet', 'podnet_netpol']);
    // before its table is loaded a syncer has nothing to warm, and creates nothing
    const unloaded = new PolicySyncer({ host, table: 'podnet_unloaded' });
    expect(await unloaded.warm()).toBe(false);
    expect(await host.nft(['list', 'tables'])).not.toContain('podnet_unloaded');
    await unloaded.close();
    const state: ClusterState = {
      ...base,
      networkPolicies: [
        np('z', 'only-y', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
        }),
      ],
    };
    await syncer.sync(state);
    // another process loads a table beside it, as the agent loads the services' table
    await host.nftApply('add table inet other\nadd chain inet other c\n');
    try {
      const before = await list();
      expect(await syncer.warm()).toBe(true);
      expect(await list()).toBe(before);
      await expectEnforced(state, 'TCP', 80);
      const pod = base.pods.find((p) => p.metadata?.name === 'a' && p.metadata.namespace === 'z');
      if (!pod) throw new Error('no pod z/a');
      const relabelled = { ...pod, metadata: { ...pod.metadata, labels: { pod: 'x' } } };
      // z/a leaves the policy's selection: its dispatch element goes
      const r = await syncer.update({ pods: [relabelled] });
      expect(r.full).toBe(false);
      expect(r.script).toContain('in_4');
      await expectEnforced(
        { ...state, pods: state.pods.map((p) => (p === pod ? relabelled : p)) },
        'TCP',
        80,
      );
      await syncer.update({ pods: [pod] });
    } finally {
      await host.nftApply('delete table inet other\n');
    }
  });

  it('incremental applies reuse one nft -i process in the node namespace; teardown ends it', async () => {
    const nodeNs = topo.nodeHost().netns;
    const ino = statSync(`/run/netns/${nodeNs && 'name' in nodeNs ? nodeNs.name : ''}`).ino;
    const sessions = () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((pid) => {
          try {
            const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
            return (
              argv[0] === 'nft' && argv[1] === '-i' && statSync(`/proc/${pid}/ns/net`).ino === ino
            );
          } catch {
            return false;
          }
        });
    const pod = base.pods.find((p) => p.metadata?.name === 'a' && p.metadata.namespace === 'y');
    if (!pod) throw new Error('no pod y/a');
    await syncer.sync({
      ...base,
      networkPolicies: [np('y', 'sel-a', { podSelector: { matchLabels: { pod: 'a' } } })],
    });
    const r1 = await syncer.upsertPod({
      ...pod,
      metadata: { ...pod.metadata, labels: { pod: 'b' } },
    });
    expect(r1.full).toBe(false);
    expect(r1.script).not.toBe('');
    const first = sessions();
    expect(first).toHaveLength(1);
    const r2 = await syncer.upsertPod(pod);
    expect(r2.full).toBe(false);
    expect(sessions()).toEqual(first);
    await syncer.teardown();
    await waitFor(() => sessions().length === 0, { timeoutMs: 10_000, what: 'nft -i to exit' });
  });

  it('teardown removes the table', async () => {
    await syncer.teardown();
    const tables = await topo.nodeHost().nft(['list', 'tables']);
    expect(tables).not.toContain('podnet_netpol');
    expect(await topo.probe('x/a', 'z/b', 'TCP', 80)).toBe(true);
  });
});
