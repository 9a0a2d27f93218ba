import { createTestNet, type TestNet } from '@podnet/host/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type {
  ClusterNetworkPolicy,
  ClusterState,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from '../../src/index.js';
import { PolicySyncer } from '../../src/index.js';
import {
  formatReachTable,
  truthTable,
  XYZ_PODS,
  xyzModel,
  xyzPodIp,
} from '../../src/testing/index.js';
import { PodTopology, tableDiff } from './topology.js';

const selector = (key: 'pod' | 'ns', values: string[]): fc.Arbitrary<LabelSelector> =>
  fc.oneof(
    fc.constant({}),
    fc.constantFrom(...values).map((v) => ({ matchLabels: { [key]: v } })),
    fc
      .tuple(
        fc.constantFrom('In' as const, 'NotIn' as const),
        fc.subarray(values, { minLength: 1 }),
      )
      .map(([operator, vs]) => ({ matchExpressions: [{ key, operator, values: vs }] })),
  );
const podSel = selector('pod', ['a', 'b', 'c']);
const nsSel = selector('ns', ['x', 'y', 'z']);

const peer: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  podSel.map((podSelector) => ({ podSelector })),
  nsSel.map((namespaceSelector) => ({ namespaceSelector })),
  fc
    .tuple(nsSel, podSel)
    .map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  fc.constantFrom<NetworkPolicyPeer>(
    { ipBlock: { cidr: '10.88.0.0/24', except: ['10.88.0.12/30'] } },
    { ipBlock: { cidr: '10.88.0.8/29' } },
    { ipBlock: { cidr: '10.88.0.16/30', except: ['10.88.0.17/32'] } },
    { ipBlock: { cidr: '10.88.0.0/28', except: ['10.88.0.10/31', '10.88.0.14/32'] } },
  ),
);

const port: fc.Arbitrary<NetworkPolicyPort> = fc.constantFrom<NetworkPolicyPort>(
  { port: 80 },
  { port: 81, protocol: 'UDP' },
  { port: 'serve-80-tcp' },
  { port: 'serve-81-udp', protocol: 'UDP' },
  { port: 80, endPort: 81 },
  { protocol: 'UDP' },
  { protocol: 'SCTP', port: 80 },
);

const peers = fc.option(fc.array(peer, { maxLength: 2 }), { nil: undefined });
const ports = fc.option(fc.array(port, { maxLength: 2 }), { nil: undefined });
const ingressRule: fc.Arbitrary<NetworkPolicyIngressRule> = fc
  .record({ from: peers, ports })
  .map(strip);
const egressRule: fc.Arbitrary<NetworkPolicyEgressRule> = fc
  .record({ to: peers, ports })
  .map(strip);

function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const policy = (i: number): fc.Arbitrary<NetworkPolicy> =>
  fc
    .record({
      ns: fc.constantFrom('x', 'y', 'z'),
      podSelector: podSel,
      types: fc.constantFrom<('Ingress' | 'Egress')[]>(
        ['Ingress'],
        ['Egress'],
        ['Ingress', 'Egress'],
      ),
      ingress: fc.array(ingressRule, { maxLength: 2 }),
      egress: fc.array(egressRule, { maxLength: 2 }),
    })
    .map(({ ns, podSelector, types, ingress, egress }) => ({
      metadata: { namespace: ns, name: `p${i}` },
      spec: {
        podSelector,
        policyTypes: types,
        ...(types.includes('Ingress') ? { ingress } : {}),
        ...(types.includes('Egress') ? { egress } : {}),
      },
    }));

const clusterPolicy: fc.Arbitrary<ClusterNetworkPolicy> = fc
  .record({
    tier: fc.constantFrom('Admin' as const, 'Baseline' as const),
    priority: fc.integer({ min: 0, max: 3 }),
    subject: nsSel,
    action: fc.constantFrom('Accept' as const, 'Deny' as const, 'Pass' as const),
    from: nsSel,
    tcp80: fc.boolean(),
  })
  .map(({ tier, priority, subject, action, from, tcp80 }) => ({
    metadata: { name: `c-${tier.toLowerCase()}` },
    spec: {
      tier,
      priority,
      subject: { namespaces: subject },
      ingress: [
        {
          action,
          from: [{ namespaces: from }],
          ...(tcp80 ? { protocols: [{ tcp: { destinationPort: { number: 80 } } }] } : {}),
        },
      ],
    },
  }));

const scenario = fc.record({
  nps: fc
    .integer({ min: 1, max: 3 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policy(i)))),
  cnps: fc.option(clusterPolicy, { nil: undefined }),
});

describe('property: compiled rules in the kernel agree with the evaluator', () => {
  let net: TestNet;
  let topo: PodTopology;
  let syncer: PolicySyncer;
  const base = xyzModel({ hostIP: '10.88.0.1' });

  beforeAll(async () => {
    net = createTestNet();
    topo = new PodTopology(net);
    await topo.init();
    for (const [i, key] of XYZ_PODS.entries()) await topo.addPod(key, xyzPodIp(i));
    syncer = new PolicySyncer({ host: topo.nodeHost(), log: false });
  });
  afterAll(async () => {
    await syncer?.close();
    topo?.close();
    await net?.cleanup();
  });

  it('on random policies over the 9-pod model (real TCP and UDP probes, incremental updates between runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ nps, cnps }) => {
        const state: ClusterState = {
          ...base,
          networkPolicies: nps,
          clusterNetworkPolicies: cnps ? [cnps] : [],
        };
        await syncer.sync(state);
        await topo.flushConntrack();
        for (const [proto, p] of [
          ['TCP', 80],
          ['UDP', 81],
        ] as const) {
          const want = truthTable(state, p, proto);
          const got = await topo.probeTable(XYZ_PODS, proto, p);
          const diff = tableDiff(want, got);
          if (diff.length > 0) {
            throw new Error(
              `${proto}/${p} differs at ${diff.join(' ')}\npolicies: ${JSON.stringify(state.networkPolicies)}\ncnps: ${JSON.stringify(
                state.clusterNetworkPolicies,
              )}\nwant:\n${formatReachTable(want)}\ngot:\n${formatReachTable(got)}`,
            );
          }
        }
      }),
      { numRuns: 10, endOnFailure: true },
    );
  }, 300_000);
});
