import { ClusterStore, policyChanges, policyInput } from '@podnet/cluster-state';
import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ClusterNetworkPolicy,
  type ClusterState,
  type CnpPeer,
  type CnpProtocol,
  type LabelSelector,
  type Namespace,
  type NetworkPolicy,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type Node,
  type Pod,
  type PolicyChanges,
  PolicySyncer,
  validateClusterNetworkPolicy,
  validateNetworkPolicy,
} from '../src/index.js';
import { xyzModel } from '../src/testing/index.js';
import { canonicalRuleset, FakeNftTable, sortedRuleset } from './nft-model.js';

// ---- a small universe of objects: few names, so changes keep hitting the same keys ---------

const NS = ['x', 'y', 'z'] as const;
const POD_NAMES = ['a', 'b', 'c'] as const;
const NODES = ['node-1', 'node-2'] as const;
const NP_NAMES = ['p1', 'p2'] as const;
const CNP_NAMES = ['c1', 'c2'] as const;
const POD_KEYS = NS.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
const NP_KEYS = NS.flatMap((ns) => NP_NAMES.map((p) => `${ns}/${p}`));

/** Mostly false: how often an object comes without a name or with a bad value. */
const rarely = fc.nat(9).map((n) => n === 0);

const selector = (key: string, values: readonly string[]): fc.Arbitrary<LabelSelector> =>
  fc.oneof(
    fc.constant({}),
    fc.constantFrom(...values).map((v) => ({ matchLabels: { [key]: v } })),
    fc
      .tuple(fc.constantFrom('In', 'NotIn'), fc.subarray([...values], { minLength: 1 }))
      .map(([operator, vs]) => ({ matchExpressions: [{ key, operator, values: vs }] })),
    fc.constant<LabelSelector>({ matchExpressions: [{ key, operator: 'Exists' }] }),
  );
const podSel = selector('pod', POD_NAMES);
const nsSel = selector('ns', NS);

const namespace: fc.Arbitrary<Namespace> = fc
  .record({ name: fc.constantFrom(...NS), team: fc.constantFrom('a', 'b'), nameless: rarely })
  .map(({ name, team, nameless }) => ({
    metadata: { ...(nameless ? {} : { name }), labels: { ns: name, team } },
  }));

const pod: fc.Arbitrary<Pod> = fc
  .record({
    ns: fc.nat(NS.length - 1),
    name: fc.nat(POD_NAMES.length - 1),
    label: fc.constantFrom(...POD_NAMES),
    moved: fc.boolean(),
    dual: fc.boolean(),
    node: fc.constantFrom(...NODES),
    hostNetwork: rarely,
    webPort: fc.constantFrom(80, 81),
    badIp: rarely,
    badPort: rarely,
    nameless: rarely,
  })
  .map((p) => {
    const name = POD_NAMES[p.name] as string;
    const v4 = p.badIp ? 'not-an-ip' : `10.88.${p.ns}.${10 + p.name + (p.moved ? 100 : 0)}`;
    return {
      metadata: {
        ...(p.nameless ? {} : { name }),
        namespace: NS[p.ns],
        labels: { pod: p.label },
      },
      spec: {
        nodeName: p.node,
        ...(p.hostNetwork ? { hostNetwork: true } : {}),
        containers: [
          {
            name: 'serve',
            ports: [
              { name: 'web', containerPort: p.webPort },
              { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' },
              ...(p.badPort ? [{ name: 'ping', containerPort: 7, protocol: 'ICMP' }] : []),
            ],
          },
        ],
      },
      status: {
        podIPs: p.dual ? [{ ip: v4 }, { ip: `fd00::${p.ns}:${10 + p.name}` }] : [{ ip: v4 }],
        hostIP: p.node === 'node-1' ? '10.99.0.1' : '10.99.0.2',
      },
    };
  });

const node: fc.Arbitrary<Node> = fc
  .record({
    name: fc.constantFrom(...NODES),
    role: fc.constantFrom('infra', 'worker'),
    alt: fc.boolean(),
    nameless: rarely,
  })
  .map(({ name, role, alt, nameless }) => ({
    metadata: { ...(nameless ? {} : { name }), labels: { role } },
    status: {
      addresses: [
        { type: 'InternalIP', address: `10.99.${alt ? 1 : 0}.${name === 'node-1' ? 1 : 2}` },
        { type: 'Hostname', address: name },
      ],
    },
  }));

const npPeer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  podSel.map((podSelector) => ({ podSelector })),
  nsSel.map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(nsSel, podSel).map(([namespaceSelector, podSelector]) => ({
    namespaceSelector,
    podSelector,
  })),
  fc.constantFrom<NetworkPolicyPeer>(
    { ipBlock: { cidr: '10.88.0.0/16', except: ['10.88.1.0/24'] } },
    { ipBlock: { cidr: '10.99.0.0/24' } },
    { ipBlock: { cidr: 'fd00::/64', except: ['fd00::1:0/112'] } },
  ),
);

const npPort: fc.Arbitrary<NetworkPolicyPort> = fc.constantFrom<NetworkPolicyPort>(
  { port: 80 },
  { port: 80, endPort: 81, protocol: 'UDP' },
  { port: 'web' },
  { port: 'serve-80-udp', protocol: 'UDP' },
  { protocol: 'SCTP' },
  { protocol: 'TCP', port: 81 },
);

const peers = fc.option(fc.array(npPeer, { maxLength: 2 }), { nil: undefined });
const ports = fc.option(fc.array(npPort, { maxLength: 2 }), { nil: undefined });

/** How a policy is broken, if it is. */
type Breakage = 'none' | 'protocol' | 'operator' | 'both-from' | 'nameless' | 'no-spec';
const breakage: fc.Arbitrary<Breakage> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Breakage>('none') },
  { weight: 1, arbitrary: fc.constantFrom<Breakage>('protocol', 'operator', 'both-from') },
  { weight: 1, arbitrary: fc.constantFrom<Breakage>('nameless', 'no-spec') },
);

/** Audit mode and logging of accepted flows, switched on and off (podnet.io annotations). */
const modeAnnotations = fc
  .record({ audit: fc.nat(2).map((n) => n === 0), logAllowed: fc.nat(3).map((n) => n === 0) })
  .map(({ audit, logAllowed }) =>
    audit || logAllowed
      ? {
          annotations: {
            ...(audit ? { 'podnet.io/enforcement': 'audit' } : {}),
            ...(logAllowed ? { 'podnet.io/log-allowed': 'true' } : {}),
          },
        }
      : {},
  );

const networkPolicy: fc.Arbitrary<NetworkPolicy> = fc
  .record({
    ns: fc.constantFrom(...NS),
    name: fc.constantFrom(...NP_NAMES),
    podSelector: podSel,
    types: fc.constantFrom<string[] | undefined>(
      undefined,
      ['Ingress'],
      ['Egress'],
      ['Ingress', 'Egress'],
    ),
    ingress: fc.array(
      fc.record({ peers, ports, clientNode: fc.boolean() }).map(({ peers, ports, clientNode }) => ({
        ...(peers ? (clientNode ? { _from: peers } : { from: peers }) : {}),
        ...(ports ? { ports } : {}),
      })),
      { maxLength: 2 },
    ),
    egress: fc.option(
      fc.array(
        fc.record({ peers, ports }).map(({ peers, ports }) => ({
          ...(peers ? { to: peers } : {}),
          ...(ports ? { ports } : {}),
        })),
        { maxLength: 2 },
      ),
      { nil: undefined },
    ),
    broken: breakage,
    annotations: modeAnnotations,
  })
  .map(({ ns, name, podSelector, types, ingress, egress, broken, annotations }) => {
    const np: NetworkPolicy = {
      metadata: { namespace: ns, ...(broken === 'nameless' ? {} : { name }), ...annotations },
      spec: {
        podSelector:
          broken === 'operator'
            ? { matchExpressions: [{ key: 'pod', operator: 'Equals', values: ['a'] }] }
            : podSelector,
        ...(types ? { policyTypes: types } : {}),
        ingress: [
          ...ingress,
          ...(broken === 'protocol' ? [{ ports: [{ protocol: 'ICMP' }] }] : []),
          ...(broken === 'both-from' ? [{ from: [{ podSelector: {} }], _from: [] }] : []),
        ],
        ...(egress ? { egress } : {}),
      },
    };
    if (broken === 'no-spec') delete np.spec;
    return np;
  });

const cnpPeer = (egress: boolean): fc.Arbitrary<CnpPeer> =>
  fc.oneof(
    nsSel.map((namespaces) => ({ namespaces })),
    fc.tuple(nsSel, podSel).map(([namespaceSelector, podSelector]) => ({
      pods: { namespaceSelector, podSelector },
    })),
    ...(egress
      ? [
          fc.constantFrom<CnpPeer>({ networks: ['10.88.0.0/24'] }, { networks: ['fd00::/64'] }),
          fc.constantFrom<CnpPeer>({ nodes: { matchLabels: { role: 'infra' } } }, { nodes: {} }),
        ]
      : []),
  );

const cnpProtocol: fc.Arbitrary<CnpProtocol> = fc.constantFrom<CnpProtocol>(
  { tcp: { destinationPort: { number: 80 } } },
  { udp: { destinationPort: { range: { start: 80, end: 81 } } } },
  { sctp: { destinationPort: { number: 80 } } },
  { destinationNamedPort: 'web' },
);

const cnpRule = (egress: boolean) =>
  fc.record({
    action: fc.constantFrom('Accept' as const, 'Deny' as const, 'Pass' as const),
    peers: fc.array(cnpPeer(egress), { minLength: 1, maxLength: 2 }),
    protocols: fc.option(fc.array(cnpProtocol, { minLength: 1, maxLength: 2 }), {
      nil: undefined,
    }),
  });

const clusterNetworkPolicy: fc.Arbitrary<ClusterNetworkPolicy> = fc
  .record({
    name: fc.constantFrom(...CNP_NAMES),
    tier: fc.constantFrom('Admin' as const, 'Baseline' as const),
    priority: fc.constantFrom(1, 2, 5),
    subject: fc.oneof(
      nsSel.map((namespaces) => ({ namespaces })),
      fc.tuple(nsSel, podSel).map(([namespaceSelector, podSelector]) => ({
        pods: { namespaceSelector, podSelector },
      })),
    ),
    ingress: fc.array(cnpRule(false), { maxLength: 2 }),
    egress: fc.array(cnpRule(true), { maxLength: 2 }),
    badPriority: rarely,
    annotations: modeAnnotations,
  })
  .map(({ name, tier, priority, subject, ingress, egress, badPriority, annotations }) => ({
    metadata: { name, ...annotations },
    spec: {
      tier,
      priority: badPriority ? 5000 : priority,
      subject,
      ingress: ingress.map((r, i) => ({
        name: `in-${i}`,
        action: r.action,
        from: r.peers,
        ...(r.protocols ? { protocols: r.protocols } : {}),
      })),
      egress: egress.map((r) => ({
        action: r.action,
        to: r.peers,
        ...(r.protocols ? { protocols: r.protocols } : {}),
      })),
    },
  }));

const keys = (pool: readonly string[]) =>
  fc.option(fc.subarray([...pool], { maxLength: 2 }), { nil: undefined });
const list = <T>(a: fc.Arbitrary<T>, maxLength = 2) =>
  fc.option(fc.array(a, { maxLength }), { nil: undefined });

const changes: fc.Arbitrary<PolicyChanges> = fc
  .record({
    namespaces: list(namespace),
    deletedNamespaces: keys(NS),
    pods: list(pod, 3),
    deletedPods: keys(POD_KEYS),
    nodes: list(node),
    deletedNodes: keys(NODES),
    networkPolicies: list(networkPolicy),
    deletedNetworkPolicies: keys(NP_KEYS),
    clusterNetworkPolicies: list(clusterNetworkPolicy),
    deletedClusterNetworkPolicies: keys(CNP_NAMES),
  })
  .map(strip);

/** Leaves out the fields that are `undefined` (absent, as a projection would leave them). */
function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const initial: fc.Arbitrary<PolicyChanges> = fc.record({
  namespaces: fc.array(namespace, { maxLength: 4 }),
  pods: fc.array(pod, { maxLength: 9 }),
  nodes: fc.array(node, { maxLength: 2 }),
  networkPolicies: fc.array(networkPolicy, { maxLength: 4 }),
  clusterNetworkPolicies: fc.array(clusterNetworkPolicy, { maxLength: 2 }),
});

// ---- the model: the cluster after a sequence of changes, keyed as the syncer keys it -------

const nameOf = (o: { metadata?: { name?: string } }) => o.metadata?.name || undefined;
const nsKey = (o: { metadata?: { name?: string; namespace?: string } }) => {
  const name = nameOf(o);
  return name === undefined ? undefined : `${o.metadata?.namespace || 'default'}/${name}`;
};

class Model {
  readonly namespaces = new Map<string, Namespace>();
  readonly pods = new Map<string, Pod>();
  readonly nodes = new Map<string, Node>();
  readonly nps = new Map<string, NetworkPolicy>();
  readonly cnps = new Map<string, ClusterNetworkPolicy>();

  /** Deletions first, then upserts (later entries win), as `PolicySyncer.update` documents. */
  apply(c: PolicyChanges): void {
    for (const k of c.deletedNamespaces ?? []) this.namespaces.delete(k);
    for (const k of c.deletedPods ?? []) this.pods.delete(k);
    for (const k of c.deletedNodes ?? []) this.nodes.delete(k);
    for (const k of c.deletedNetworkPolicies ?? []) this.nps.delete(k);
    for (const k of c.deletedClusterNetworkPolicies ?? []) this.cnps.delete(k);
    const put = <T>(
      m: Map<string, T>,
      items: readonly T[] | undefined,
      key: (t: T) => string | undefined,
    ) => {
      for (const it of items ?? []) {
        const k = key(it);
        if (k !== undefined) m.set(k, it);
      }
    };
    put(this.namespaces, c.namespaces, nameOf);
    put(this.pods, c.pods, nsKey);
    put(this.nodes, c.nodes, nameOf);
    put(this.nps, c.networkPolicies, nsKey);
    put(this.cnps, c.clusterNetworkPolicies, nameOf);
  }

  state(): ClusterState {
    return {
      namespaces: [...this.namespaces.values()],
      pods: [...this.pods.values()],
      nodes: [...this.nodes.values()],
      networkPolicies: [...this.nps.values()],
      clusterNetworkPolicies: [...this.cnps.values()],
    };
  }
}

/** The objects `update(c)` must report as invalid, in order. */
function expectedInvalid(c: PolicyChanges): string[] {
  const name = (p: { metadata?: { name?: string; namespace?: string } }, namespaced: boolean) => {
    const n = p.metadata?.name;
    if (typeof n !== 'string') return '(unnamed)';
    return namespaced ? `${p.metadata?.namespace || 'default'}/${n}` : n;
  };
  return [
    ...(c.networkPolicies ?? [])
      .filter((p) => validateNetworkPolicy(p).length > 0)
      .map((p) => name(p, true)),
    ...(c.clusterNetworkPolicies ?? [])
      .filter((p) => validateClusterNetworkPolicy(p).length > 0)
      .map((p) => name(p, false)),
  ];
}

const recordingSyncer = (nodeName?: string) => {
  const runner = new RecordingRunner();
  const syncer = new PolicySyncer({ host: new Host({ runner }), nodeName });
  return { runner, syncer };
};

/** Replays every script the runner saw into a fake kernel table and returns it. */
function replay(runner: RecordingRunner, table: string): FakeNftTable {
  const t = new FakeNftTable(table);
  for (const r of runner.requests) {
    expect(r.argv).toEqual(['nft', '-f', '-']);
    t.apply(r.stdin ?? '');
  }
  return t;
}

async function freshRuleset(state: ClusterState, nodeName?: string) {
  const { syncer } = recordingSyncer(nodeName);
  await syncer.sync(state);
  return syncer.compiler.ruleset();
}

describe('PolicySyncer.update', () => {
  it('after sync(), any sequence of updates ends where a fresh sync() of the resulting state does', async () => {
    await fc.assert(
      fc.asyncProperty(
        initial,
        fc.array(changes, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(undefined, 'node-1'),
        async (init, steps, nodeName) => {
          const model = new Model();
          model.apply(init);
          const { runner, syncer } = recordingSyncer(nodeName);
          await syncer.sync(model.state());
          for (const change of steps) {
            const before = runner.requests.length;
            const r = await syncer.update(change);
            model.apply(change);
            // one nft transaction per update (none when nothing changed)
            expect(runner.requests.length - before).toBe(r.script === '' ? 0 : 1);
            expect(r.invalid.map((i) => i.object)).toEqual(expectedInvalid(change));
            for (const i of r.invalid) expect(i.error.code).toBe('INVALID_POLICY');
            // the compiled ruleset equals a fresh compile of the resulting state ...
            expect(canonicalRuleset(syncer.compiler.ruleset())).toEqual(
              canonicalRuleset(await freshRuleset(model.state(), nodeName)),
            );
            // ... and the scripts sent move a kernel table exactly there
            const kernel = replay(runner, syncer.compiler.table).dump();
            expect(kernel && sortedRuleset(kernel)).toEqual(
              sortedRuleset(syncer.compiler.ruleset()),
            );
          }
          // bookkeeping: a full sync of the same state has nothing left to apply
          const again = await syncer.sync(model.state());
          expect(again.script).toBe('');
        },
      ),
      { numRuns: 120 },
    );
  });

  it('takes cluster-state deltas as they come (policyChanges of a store batch)', async () => {
    // each transaction touches a key at most once: policyChanges lists a delete and an upsert of
    // one key without their order (see PolicySyncer.update)
    type Op =
      | { kind: 'Namespace'; object: Namespace }
      | { kind: 'Pod'; object: Pod }
      | { kind: 'Node'; object: Node }
      | { kind: 'NetworkPolicy'; object: NetworkPolicy }
      | { kind: 'ClusterNetworkPolicy'; object: ClusterNetworkPolicy }
      | {
          kind: 'delete';
          what: 'Namespace' | 'Pod' | 'Node' | 'NetworkPolicy' | 'ClusterNetworkPolicy';
          key: string;
        };
    const op: fc.Arbitrary<Op> = fc.oneof(
      namespace.map((object) => ({ kind: 'Namespace' as const, object })),
      pod.map((object) => ({ kind: 'Pod' as const, object })),
      node.map((object) => ({ kind: 'Node' as const, object })),
      networkPolicy.map((object) => ({ kind: 'NetworkPolicy' as const, object })),
      clusterNetworkPolicy.map((object) => ({ kind: 'ClusterNetworkPolicy' as const, object })),
      fc.constantFrom(
        ...NS.map((key) => ({ kind: 'delete' as const, what: 'Namespace' as const, key })),
        ...POD_KEYS.map((key) => ({ kind: 'delete' as const, what: 'Pod' as const, key })),
        ...NODES.map((key) => ({ kind: 'delete' as const, what: 'Node' as const, key })),
        ...NP_KEYS.map((key) => ({ kind: 'delete' as const, what: 'NetworkPolicy' as const, key })),
        ...CNP_NAMES.map((key) => ({
          kind: 'delete' as const,
          what: 'ClusterNetworkPolicy' as const,
          key,
        })),
      ),
    );
    const keyOf = (o: Op) =>
      o.kind === 'delete'
        ? `${o.what}:${o.key}`
        : `${o.kind}:${o.kind === 'Pod' || o.kind === 'NetworkPolicy' ? nsKey(o.object) : nameOf(o.object)}`;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(op, { maxLength: 5, selector: keyOf }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (txs) => {
          const store = new ClusterStore();
          const { runner, syncer } = recordingSyncer('node-1');
          await syncer.sync(policyInput(store));
          for (const ops of txs) {
            const batch = store.transaction((tx) => {
              for (const o of ops) {
                if (o.kind === 'delete') tx.delete(o.what, o.key);
                // the store keys nameless objects by '' too; the syncer ignores them
                else if (o.kind === 'Namespace') tx.upsert('Namespace', o.object);
                else if (o.kind === 'Pod') tx.upsert('Pod', o.object);
                else if (o.kind === 'Node') tx.upsert('Node', o.object);
                else if (o.kind === 'NetworkPolicy') tx.upsert('NetworkPolicy', o.object);
                else tx.upsert('ClusterNetworkPolicy', o.object);
              }
            });
            await syncer.update(policyChanges(batch));
            expect(canonicalRuleset(syncer.compiler.ruleset())).toEqual(
              canonicalRuleset(await freshRuleset(policyInput(store), 'node-1')),
            );
          }
          const kernel = replay(runner, syncer.compiler.table).dump();
          expect(kernel && sortedRuleset(kernel)).toEqual(sortedRuleset(syncer.compiler.ruleset()));
          expect((await syncer.sync(policyInput(store))).script).toBe('');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an edit that makes a policy invalid removes its old version and reports it', async () => {
    const base = xyzModel();
    const good: NetworkPolicy = {
      metadata: { namespace: 'x', name: 'deny' },
      spec: { podSelector: {} },
    };
    const bad: NetworkPolicy = {
      metadata: { namespace: 'x', name: 'deny' },
      spec: { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Equals' }] } },
    };
    const { runner, syncer } = recordingSyncer();
    await syncer.sync({ ...base, networkPolicies: [good] });
    expect(syncer.compiler.ruleset().maps.find((m) => m.name === 'in_4')?.elements).toHaveLength(3);

    const r = await syncer.update({ networkPolicies: [bad] });
    expect(r.invalid.map((i) => i.object)).toEqual(['x/deny']);
    expect(r.invalid[0]?.error.issues).toEqual([
      {
        path: 'spec.podSelector.matchExpressions[0].operator',
        message: 'must be one of In, NotIn, Exists, DoesNotExist',
      },
    ]);
    expect(r.script).toMatch(/delete chain inet podnet_netpol p\d+_in/);
    expect(syncer.compiler.ruleset().maps.find((m) => m.name === 'in_4')?.elements).toEqual([]);
    expect(canonicalRuleset(syncer.compiler.ruleset())).toEqual(
      canonicalRuleset(await freshRuleset({ ...base, networkPolicies: [bad] })),
    );
    // the full state with the invalid version: nothing left to do, still reported
    const again = await syncer.sync({ ...base, networkPolicies: [bad] });
    expect(again.script).toBe('');
    expect(again.invalid.map((i) => i.object)).toEqual(['x/deny']);
    // fixed again: enforced again
    await syncer.update({ networkPolicies: [good] });
    expect(syncer.compiler.ruleset().maps.find((m) => m.name === 'in_4')?.elements).toHaveLength(3);
    expect(runner.requests).toHaveLength(3);
  });

  it('applies many changes of every kind in one nft transaction', async () => {
    const base = xyzModel();
    const { runner, syncer } = recordingSyncer('node-1');
    await syncer.sync(base);
    runner.clear();
    const pods = base.pods.map((p) => ({
      ...p,
      metadata: { ...p.metadata, labels: { ...p.metadata?.labels, tier: 'web' } },
    }));
    const r = await syncer.update({
      namespaces: [{ metadata: { name: 'x', labels: { ns: 'x', env: 'prod' } } }],
      pods,
      deletedPods: ['z/c'],
      nodes: [{ metadata: { name: 'node-1', labels: { role: 'infra' } } }],
      networkPolicies: [
        { metadata: { namespace: 'x', name: 'web' }, spec: { podSelector: {}, ingress: [{}] } },
        { metadata: { namespace: 'y', name: 'deny' }, spec: { podSelector: {} } },
      ],
      clusterNetworkPolicies: [
        {
          metadata: { name: 'admin' },
          spec: {
            tier: 'Admin',
            priority: 1,
            subject: { namespaces: {} },
            ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { env: 'prod' } } }] }],
          },
        },
      ],
    });
    expect(r.full).toBe(false);
    expect(runner.requests).toHaveLength(1);
    expect(r.invalid).toEqual([]);
    // nothing changed: nothing sent
    expect((await syncer.update({ pods, deletedPods: ['z/c'] })).script).toBe('');
    expect(runner.requests).toHaveLength(1);
  });
});
