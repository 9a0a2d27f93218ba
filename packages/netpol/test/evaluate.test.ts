import { describe, expect, it } from 'vitest';
import {
  type ClusterNetworkPolicy,
  type ClusterState,
  evaluate,
  type NetworkPolicy,
  NetpolError,
  PolicyEvaluator,
  type Protocol,
} from '../src/index.js';
import {
  formatReachTable,
  tableFromAllowed,
  truthTable,
  XYZ_PODS,
  xyzModel,
} from '../src/testing/index.js';

const ns = (k: string) => k.split('/')[0] as string;
const pod = (k: string) => k.split('/')[1] as string;

function withPolicies(nps: NetworkPolicy[], cnps: ClusterNetworkPolicy[] = []): ClusterState {
  return { ...xyzModel(), networkPolicies: nps, clusterNetworkPolicies: cnps };
}

function np(namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  return { metadata: { namespace, name }, spec };
}

function cnp(
  name: string,
  tier: 'Admin' | 'Baseline',
  priority: number,
  spec: Partial<ClusterNetworkPolicy['spec']>,
) {
  return {
    metadata: { name },
    spec: { tier, priority, subject: { namespaces: {} }, ...spec },
  } as ClusterNetworkPolicy;
}

/** Compares the evaluator's table with the expected one (loopback ignored), printing both on mismatch. */
function expectTable(
  state: ClusterState,
  port: number,
  protocol: Protocol,
  allowed: (f: string, t: string) => boolean,
) {
  const got = truthTable(state, port, protocol);
  const want = tableFromAllowed(allowed);
  for (const from of XYZ_PODS) {
    for (const to of XYZ_PODS) {
      if (from === to) continue;
      if (got.cells[from]?.[to] !== want.cells[from]?.[to]) {
        throw new Error(
          `${from} -> ${to} ${protocol}/${port}: got ${got.cells[from]?.[to]}\nwant:\n${formatReachTable(want)}\ngot:\n${formatReachTable(got)}`,
        );
      }
    }
  }
}

const all = () => true;
const PROTOS: Protocol[] = ['TCP', 'UDP', 'SCTP'];

describe('NetworkPolicy v1 truth tables on the x/y/z model', () => {
  it('no policies: everything reachable on every port and protocol', () => {
    for (const p of PROTOS)
      for (const port of [80, 81]) expectTable(withPolicies([]), port, p, all);
  });

  it('default-deny ingress in x blocks everything into x, on every protocol', () => {
    const s = withPolicies([np('x', 'deny', { podSelector: {} })]);
    for (const p of PROTOS)
      for (const port of [80, 81]) expectTable(s, port, p, (_f, t) => ns(t) !== 'x');
  });

  it('allow-all ingress (`ingress: [{}]`) after a deny-all keeps x open (policies are additive)', () => {
    const s = withPolicies([
      np('x', 'deny', { podSelector: {} }),
      np('x', 'allow', { podSelector: {}, ingress: [{}] }),
    ]);
    expectTable(s, 80, 'TCP', all);
  });

  it('an empty ingress list with Ingress type allows nothing', () => {
    const s = withPolicies([
      np('x', 'none', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [],
        policyTypes: ['Ingress'],
      }),
    ]);
    expectTable(s, 80, 'TCP', (_f, t) => t !== 'x/a');
  });

  it('default-deny egress in x blocks everything out of x', () => {
    const s = withPolicies([np('x', 'deny-eg', { podSelector: {}, policyTypes: ['Egress'] })]);
    expectTable(s, 80, 'UDP', (f) => ns(f) !== 'x');
  });

  it('podSelector peer: x/a accepts only from x/b', () => {
    const s = withPolicies([
      np('x', 'a-from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => t !== 'x/a' || f === 'x/b');
  });

  it('namespaceSelector peer: x/a accepts from every pod of y', () => {
    const s = withPolicies([
      np('x', 'a-from-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ]);
    expectTable(s, 81, 'TCP', (f, t) => t !== 'x/a' || ns(f) === 'y');
  });

  it('namespaceSelector AND podSelector in one peer: only y/b', () => {
    const s = withPolicies([
      np('x', 'and', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { ns: 'y' } },
                podSelector: { matchLabels: { pod: 'b' } },
              },
            ],
          },
        ],
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => t !== 'x/a' || f === 'y/b');
  });

  it('namespaceSelector OR podSelector as two peers: all of y, plus x/b', () => {
    const s = withPolicies([
      np('x', 'or', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } } },
              { podSelector: { matchLabels: { pod: 'b' } } },
            ],
          },
        ],
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => t !== 'x/a' || ns(f) === 'y' || f === 'x/b');
  });

  it('matchExpressions: namespace NotIn (x), pod In (b, c)', () => {
    const s = withPolicies([
      np('x', 'expr', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a'] }] },
        ingress: [
          {
            from: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }],
                },
                podSelector: {
                  matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }],
                },
              },
            ],
          },
        ],
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => t !== 'x/a' || (ns(f) !== 'x' && pod(f) !== 'a'));
  });

  it('Exists / DoesNotExist expressions and kubernetes.io/metadata.name', () => {
    const s = withPolicies([
      np('x', 'exists', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }],
          },
        ],
      }),
      np('y', 'dne', {
        podSelector: { matchExpressions: [{ key: 'nothere', operator: 'DoesNotExist' }] },
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => (ns(t) === 'x' ? ns(f) === 'z' : ns(t) !== 'y'));
  });

  it('an empty namespaceSelector selects every namespace', () => {
    const s = withPolicies([
      np('x', 'all-ns', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ]);
    expectTable(s, 80, 'TCP', all);
  });

  it('numeric port: only TCP/80 into x', () => {
    const s = withPolicies([
      np('x', 'p80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }),
    ]);
    expectTable(s, 80, 'TCP', all);
    expectTable(s, 81, 'TCP', (_f, t) => ns(t) !== 'x');
    expectTable(s, 80, 'UDP', (_f, t) => ns(t) !== 'x');
  });

  it('ports AND peers: from y only on 81', () => {
    const s = withPolicies([
      np('x', 'y81', {
        podSelector: {},
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }] },
        ],
      }),
    ]);
    expectTable(s, 81, 'TCP', (f, t) => ns(t) !== 'x' || ns(f) === 'y');
    expectTable(s, 80, 'TCP', (_f, t) => ns(t) !== 'x');
  });

  it('named ports resolve on the destination pod', () => {
    const s = withPolicies([
      np('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] }),
    ]);
    expectTable(s, 81, 'TCP', all);
    expectTable(s, 80, 'TCP', (_f, t) => ns(t) !== 'x');
    expectTable(s, 81, 'UDP', (_f, t) => ns(t) !== 'x');
  });

  it('a named port maps to different numbers on different pods', () => {
    const s = withPolicies([
      np('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] }),
    ]);
    const pods = s.pods.map((p) => {
      if (p.metadata?.namespace !== 'x') return p;
      const port = p.metadata.name === 'a' ? 80 : 81;
      return {
        ...p,
        spec: {
          ...p.spec,
          containers: [{ name: 'web', ports: [{ name: 'web', containerPort: port }] }],
        },
      };
    });
    const s2 = { ...s, pods };
    expectTable(s2, 80, 'TCP', (_f, t) => ns(t) !== 'x' || t === 'x/a');
    expectTable(s2, 81, 'TCP', (_f, t) => ns(t) !== 'x' || t !== 'x/a');
  });

  it('named port with UDP protocol', () => {
    const s = withPolicies([
      np('x', 'named-udp', {
        podSelector: {},
        ingress: [{ ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }],
      }),
    ]);
    expectTable(s, 80, 'UDP', all);
    expectTable(s, 80, 'TCP', (_f, t) => ns(t) !== 'x');
  });

  it('endPort makes an inclusive range', () => {
    const s = withPolicies([
      np('x', 'range', { podSelector: {}, ingress: [{ ports: [{ port: 79, endPort: 80 }] }] }),
    ]);
    expectTable(s, 80, 'TCP', all);
    expectTable(s, 81, 'TCP', (_f, t) => ns(t) !== 'x');
    const s2 = withPolicies([
      np('x', 'range', { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 81 }] }] }),
    ]);
    expectTable(s2, 81, 'TCP', all);
  });

  it('SCTP and UDP are distinct protocols', () => {
    const s = withPolicies([
      np('x', 'sctp', { podSelector: {}, ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] }),
    ]);
    expectTable(s, 80, 'SCTP', all);
    expectTable(s, 80, 'TCP', (_f, t) => ns(t) !== 'x');
    expectTable(s, 80, 'UDP', (_f, t) => ns(t) !== 'x');
  });

  it('ipBlock with except (pod IPs match ipBlocks)', () => {
    const s = withPolicies([
      np('x', 'cidr', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.88.0.0/24', except: ['10.88.0.14/32'] } }] }],
      }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => t !== 'x/a' || f !== 'y/b');
  });

  it('egress to y on 80 only; ingress still applies at the destination', () => {
    const s = withPolicies([
      np('x', 'eg', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          { to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] },
        ],
      }),
      np('y', 'deny-c', { podSelector: { matchLabels: { pod: 'c' } } }),
    ]);
    expectTable(s, 80, 'TCP', (f, t) => (ns(f) !== 'x' || ns(t) === 'y') && t !== 'y/c');
    expectTable(s, 81, 'TCP', (f, t) => ns(f) !== 'x' && t !== 'y/c');
  });

  it('egress named port resolves on the destination pod', () => {
    const s = withPolicies([
      np('x', 'eg-named', {
        podSelector: {},
        egress: [{ ports: [{ port: 'serve-80-tcp' }] }],
        policyTypes: ['Egress'],
      }),
    ]);
    expectTable(s, 80, 'TCP', all);
    expectTable(s, 81, 'TCP', (f) => ns(f) !== 'x');
  });

  it('policyTypes defaulting: egress present means Ingress+Egress; [Ingress] ignores egress rules', () => {
    const both = withPolicies([np('x', 'both', { podSelector: {}, egress: [] })]);
    expectTable(both, 80, 'TCP', (f, t) => ns(f) !== 'x' && ns(t) !== 'x');
    const ingOnly = withPolicies([
      np('x', 'ing', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}], egress: [] }),
    ]);
    expectTable(ingOnly, 80, 'TCP', all);
  });

  it('a label change moves a pod into or out of a policy', () => {
    const base = withPolicies([
      np('x', 'a-from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ]);
    const relabel = {
      ...base,
      pods: base.pods.map((p) =>
        p.metadata?.namespace === 'x' && p.metadata.name === 'c'
          ? { ...p, metadata: { ...p.metadata, labels: { pod: 'b' } } }
          : p,
      ),
    };
    expect(evaluate(base, { src: 'x/c', dst: 'x/a', port: 80 }).verdict).toBe('deny');
    expect(evaluate(relabel, { src: 'x/c', dst: 'x/a', port: 80 }).verdict).toBe('allow');
  });

  it('ingress from the pod’s own node is always allowed; replies are not evaluated', () => {
    const s = withPolicies([np('x', 'deny', { podSelector: {} })]);
    const r = evaluate(s, { src: '10.88.0.1', dst: 'x/a', port: 80 });
    expect(r.verdict).toBe('allow');
    expect(r.explanation.ingress.decidedBy).toBe('node-local');
    expect(evaluate(s, { src: '192.0.2.7', dst: 'x/a', port: 80 }).verdict).toBe('deny');
  });

  it('host-network pods are never selected and never match selector peers', () => {
    const s = withPolicies([
      np('x', 'from-pods', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ]);
    s.pods = [
      ...s.pods,
      {
        metadata: { name: 'h', namespace: 'y', labels: { pod: 'h' } },
        spec: { containers: [], hostNetwork: true, nodeName: 'node-2' },
        status: { podIP: '10.77.0.2', hostIP: '10.77.0.2' },
      },
    ];
    expect(evaluate(s, { src: 'y/h', dst: 'x/a', port: 80 }).verdict).toBe('deny');
    expect(evaluate(s, { src: 'x/a', dst: 'y/h', port: 80 }).explanation.ingress.decidedBy).toBe(
      'host-network',
    );
  });

  it('explains a denial: the isolating policy and why nothing allows', () => {
    const s = withPolicies([
      np('x', 'a-from-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ]);
    const r = evaluate(s, { src: 'y/c', dst: 'x/a', protocol: 'TCP', port: 80 });
    expect(r.verdict).toBe('deny');
    expect(r.explanation.ingress.isolatedBy).toEqual([
      { kind: 'NetworkPolicy', namespace: 'x', name: 'a-from-b' },
    ]);
    expect(r.explanation.ingress.reason).toContain(
      'x/a is isolated for ingress by NetworkPolicy x/a-from-b',
    );
    expect(r.explanation.summary).toMatch(/^y\/c -> x\/a TCP\/80: DENIED\./);
    const ok = evaluate(s, { src: 'x/b', dst: 'x/a', protocol: 'TCP', port: 80 });
    expect(ok.explanation.ingress.rule).toEqual({
      kind: 'NetworkPolicy',
      namespace: 'x',
      name: 'a-from-b',
      direction: 'ingress',
      index: 0,
    });
  });

  it('ICMP is allowed only by rules without ports', () => {
    const s = withPolicies([
      np('x', 'p80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }),
    ]);
    expect(evaluate(s, { src: 'y/a', dst: 'x/a', protocol: 'ICMP' }).verdict).toBe('deny');
    const s2 = withPolicies([
      np('x', 'any', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ]);
    expect(evaluate(s2, { src: 'y/a', dst: 'x/a', protocol: 'ICMP' }).verdict).toBe('allow');
  });

  it('rejects unknown pods and bad ports with INVALID_FLOW', () => {
    const ev = new PolicyEvaluator(xyzModel());
    for (const f of [
      { src: 'x/nope', dst: 'x/a', port: 80 },
      { src: 'x/a', dst: 'x/b', port: 0 },
      { src: 'x/a', dst: 'x/b', port: 80, protocol: 'GRE' as 'TCP' },
    ]) {
      const e = (() => {
        try {
          ev.evaluate(f);
        } catch (err) {
          return err;
        }
      })();
      expect(NetpolError.isInstance(e) && e.code).toBe('INVALID_FLOW');
    }
  });
});

describe('ClusterNetworkPolicy tiers and priority', () => {
  const xSubject = { namespaces: { matchLabels: { ns: 'x' } } };

  it('Admin Deny overrides a NetworkPolicy allow', () => {
    const s = withPolicies(
      [np('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
      [
        cnp('deny-y', 'Admin', 10, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{ namespaces: { matchLabels: { ns: 'y' } } }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => !(ns(t) === 'x' && ns(f) === 'y'));
    const r = evaluate(s, { src: 'y/a', dst: 'x/a', port: 80 });
    expect(r.explanation.ingress.decidedBy).toBe('admin');
    expect(r.explanation.ingress.rule).toMatchObject({
      kind: 'ClusterNetworkPolicy',
      name: 'deny-y',
      action: 'Deny',
      index: 0,
    });
  });

  it('Admin Accept overrides a NetworkPolicy deny', () => {
    const s = withPolicies(
      [np('x', 'deny', { podSelector: {} })],
      [
        cnp('accept-z', 'Admin', 10, {
          subject: xSubject,
          ingress: [{ action: 'Accept', from: [{ namespaces: { matchLabels: { ns: 'z' } } }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(t) !== 'x' || ns(f) === 'z');
  });

  it('Admin Pass hands the decision to NetworkPolicy, skipping lower-precedence admin rules', () => {
    const s = withPolicies(
      [
        np('x', 'allow-y', {
          podSelector: {},
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
        }),
      ],
      [
        cnp('pass-y', 'Admin', 5, {
          subject: xSubject,
          ingress: [{ action: 'Pass', from: [{ namespaces: { matchLabels: { ns: 'y' } } }] }],
        }),
        cnp('deny-all', 'Admin', 6, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(t) !== 'x' || ns(f) === 'y');
    const r = evaluate(s, { src: 'y/b', dst: 'x/a', port: 80 });
    expect(r.explanation.ingress.passed[0]).toMatchObject({ name: 'pass-y' });
    expect(r.explanation.ingress.decidedBy).toBe('networkpolicy');
  });

  it('lower priority value wins; first matching rule wins within a policy', () => {
    const s = withPolicies(
      [],
      [
        cnp('accept-80', 'Admin', 1, {
          subject: xSubject,
          ingress: [
            {
              action: 'Accept',
              from: [{ namespaces: {} }],
              protocols: [{ tcp: { destinationPort: { number: 80 } } }],
            },
            { action: 'Deny', from: [{ namespaces: {} }] },
          ],
        }),
        cnp('accept-all', 'Admin', 2, {
          subject: xSubject,
          ingress: [{ action: 'Accept', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', all);
    expectTable(s, 81, 'TCP', (_f, t) => ns(t) !== 'x');
    const swapped = withPolicies(
      [],
      [
        cnp('accept-all', 'Admin', 0, {
          subject: xSubject,
          ingress: [{ action: 'Accept', from: [{ namespaces: {} }] }],
        }),
        cnp('deny', 'Admin', 3, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(swapped, 81, 'TCP', all);
  });

  it('Baseline applies only to pods no NetworkPolicy selects', () => {
    const s = withPolicies(
      [
        np('x', 'allow-y-to-a', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
        }),
      ],
      [
        cnp('baseline-deny', 'Baseline', 10, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(t) !== 'x' || (t === 'x/a' && ns(f) === 'y'));
    expect(evaluate(s, { src: 'z/a', dst: 'x/b', port: 80 }).explanation.ingress.decidedBy).toBe(
      'baseline',
    );
  });

  it('Baseline priority and Pass fall through to the default allow', () => {
    const s = withPolicies(
      [],
      [
        cnp('b-accept', 'Baseline', 1, {
          subject: xSubject,
          ingress: [
            {
              action: 'Accept',
              from: [
                { pods: { namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } } },
              ],
            },
          ],
        }),
        cnp('b-pass', 'Baseline', 2, {
          subject: xSubject,
          ingress: [{ action: 'Pass', from: [{ namespaces: { matchLabels: { ns: 'z' } } }] }],
        }),
        cnp('b-deny', 'Baseline', 3, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(t) !== 'x' || pod(f) === 'b' || ns(f) === 'z');
  });

  it('Admin runs before NetworkPolicy, Baseline after; subject by pods selector', () => {
    const s = withPolicies(
      [np('y', 'deny', { podSelector: {} })],
      [
        cnp('admin-accept-x', 'Admin', 100, {
          subject: {
            pods: {
              namespaceSelector: { matchLabels: { ns: 'y' } },
              podSelector: { matchLabels: { pod: 'c' } },
            },
          },
          ingress: [{ action: 'Accept', from: [{ namespaces: { matchLabels: { ns: 'x' } } }] }],
        }),
        cnp('base-accept-all', 'Baseline', 0, {
          subject: { namespaces: {} },
          ingress: [{ action: 'Accept', from: [{ namespaces: {} }] }],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(t) !== 'y' || (t === 'y/c' && ns(f) === 'x'));
  });

  it('egress networks peer, and protocols with a named port and a port range', () => {
    const s = withPolicies(
      [],
      [
        cnp('eg', 'Admin', 1, {
          subject: xSubject,
          egress: [
            {
              action: 'Accept',
              to: [{ networks: ['10.88.0.13/32'] }],
              protocols: [{ destinationNamedPort: 'serve-80-tcp' }],
            },
            {
              action: 'Accept',
              to: [{ networks: ['10.88.0.14/32'] }],
              protocols: [{ udp: { destinationPort: { range: { start: 80, end: 81 } } } }],
            },
            { action: 'Deny', to: [{ networks: ['0.0.0.0/0'] }] },
          ],
        }),
      ],
    );
    expectTable(s, 80, 'TCP', (f, t) => ns(f) !== 'x' || t === 'y/a');
    expectTable(s, 81, 'UDP', (f, t) => ns(f) !== 'x' || t === 'y/b');
  });

  it('nodes peer matches node addresses', () => {
    const s = withPolicies(
      [],
      [
        cnp('no-nodes', 'Admin', 1, {
          subject: xSubject,
          egress: [{ action: 'Deny', to: [{ nodes: { matchLabels: { role: 'infra' } } }] }],
        }),
      ],
    );
    s.nodes = [
      {
        metadata: { name: 'n1', labels: { role: 'infra' } },
        status: { addresses: [{ type: 'InternalIP', address: '192.0.2.10' }] },
      },
    ];
    expect(evaluate(s, { src: 'x/a', dst: '192.0.2.10', port: 443 }).verdict).toBe('deny');
    expect(evaluate(s, { src: 'x/a', dst: '192.0.2.11', port: 443 }).verdict).toBe('allow');
  });

  it('unsupported peers fail closed: Accept matches nothing, Deny matches everything', () => {
    const acc = withPolicies(
      [np('x', 'deny-eg', { podSelector: {}, policyTypes: ['Egress'] })],
      [
        cnp('dns', 'Admin', 1, {
          subject: xSubject,
          egress: [{ action: 'Accept', to: [{ domainNames: ['example.com'] }] }],
        }),
      ],
    );
    expect(evaluate(acc, { src: 'x/a', dst: '93.184.216.34', port: 443 }).verdict).toBe('deny');
    const deny = withPolicies(
      [],
      [
        cnp('odd', 'Admin', 1, {
          subject: xSubject,
          ingress: [{ action: 'Deny', from: [{} as never] }],
        }),
      ],
    );
    expectTable(deny, 80, 'TCP', (_f, t) => ns(t) !== 'x');
  });
});
