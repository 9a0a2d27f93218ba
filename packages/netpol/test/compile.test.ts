import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import {
  compilePolicies,
  NetpolCompiler,
  NetpolError,
  type NetworkPolicy,
  PolicySyncer,
  renderRuleset,
} from '../src/index.js';
import { xyzModel } from '../src/testing/index.js';

const np = (namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({
  metadata: { namespace, name },
  spec,
});

describe('compilePolicies', () => {
  const state = {
    ...xyzModel(),
    networkPolicies: [
      np('x', 'a-from-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } } },
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.88.0.0/16'] } },
            ],
            ports: [{ port: 'serve-80-tcp' }, { port: 80, endPort: 81, protocol: 'UDP' }],
          },
        ],
      }),
      np('y', 'b-from-y', {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
  };

  it('shares one address set per selector and uses interval sets for ipBlock minus except', () => {
    const rs = compilePolicies(state);
    const setNames = rs.sets.map((s) => s.name);
    const ySel = rs.sets.filter(
      (s) =>
        s.type === 'ipv4_addr' &&
        !s.interval &&
        s.elements.join() === '10.88.0.13,10.88.0.14,10.88.0.15',
    );
    expect(ySel).toHaveLength(1);
    const block = rs.sets.find((s) => s.interval);
    expect(block?.type).toBe('ipv4_addr . ipv4_addr');
    expect(block?.elements).toEqual([
      '10.0.0.0-10.87.255.255 . 10.0.0.0-10.87.255.255',
      '10.89.0.0-10.255.255.255 . 10.89.0.0-10.255.255.255',
    ]);
    const named = rs.sets.find((s) => s.type === 'ipv4_addr . inet_proto . inet_service');
    expect(named?.elements).toHaveLength(9);
    expect(named?.elements).toContain('10.88.0.10 . tcp . 80');
    expect(setNames.length).toBe(new Set(setNames).size);
  });

  it('dispatches only isolated local pods through verdict maps to per-signature chains', () => {
    const rs = compilePolicies(state);
    const inMap = rs.maps.find((m) => m.name === 'in_4');
    expect(inMap?.elements.map(([k]) => k).sort()).toEqual(['10.88.0.10', '10.88.0.14']);
    expect(rs.maps.find((m) => m.name === 'eg_4')?.elements).toEqual([]);
    const base = rs.chains.filter((c) => c.hook);
    expect(base.map((c) => [c.name, c.hook?.hook])).toEqual([
      ['egress', 'forward'],
      ['ingress', 'forward'],
      ['egress_local', 'input'],
    ]);
    expect(base[1]?.rules[0]).toBe('ct state established,related accept');
    const tail = rs.chains.find((c) =>
      c.rules.some((r) => r.includes('podnet:drop:in:np:x/a-from-y:*')),
    );
    expect(tail?.rules.at(-1)).toMatch(
      /^log group 100 snaplen 96 queue-threshold 1 prefix "podnet:drop:in:np:x\/a-from-y:\* " drop$/,
    );
  });

  it('only pods on the named node are dispatched', () => {
    const pods = state.pods.map((p, i) =>
      i < 3 ? p : { ...p, spec: { containers: [], ...p.spec, nodeName: 'node-2' } },
    );
    const rs = compilePolicies({ ...state, pods }, { nodeName: 'node-2' });
    expect(rs.maps.find((m) => m.name === 'in_4')?.elements.map(([k]) => k)).toEqual([
      '10.88.0.14',
    ]);
  });

  it('renders one atomic replace script', () => {
    const script = renderRuleset(compilePolicies(state));
    expect(script.split('\n').slice(0, 3)).toEqual([
      'add table inet podnet_netpol',
      'delete table inet podnet_netpol',
      'add table inet podnet_netpol',
    ]);
    // no NFQUEUE verdicts (the log statement's queue-threshold is NFLOG batching, not a queue)
    expect(script).not.toMatch(/(^|\s)queue(\s|$)/m);
  });

  it('a label change is a few element updates, independent of the number of policies', () => {
    const many = Array.from({ length: 200 }, (_, i) =>
      np('x', `p${i}`, {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: `v${i}` } } }] }],
      }),
    );
    const c = new NetpolCompiler().load({
      ...state,
      networkPolicies: [...state.networkPolicies, ...many],
    });
    c.takeScript();
    const pod = state.pods[1];
    if (!pod) throw new Error('model');
    c.upsertPod({ ...pod, metadata: { ...pod.metadata, labels: { pod: 'b', app: 'v7' } } });
    const delta = c.takeScript();
    expect(delta).not.toContain('flush');
    expect(delta.trim().split('\n')).toHaveLength(1);
    expect(delta).toMatch(/^add element inet podnet_netpol s\d+_4 \{ 10\.88\.0\.11 \}\n$/);
    expect(c.takeScript()).toBe('');
  });

  it('a pod leaving a policy moves its map entry and drops the unused signature chains', () => {
    const c = new NetpolCompiler().load(state);
    c.takeScript();
    const pod = state.pods[4];
    if (!pod) throw new Error('model');
    c.upsertPod({ ...pod, metadata: { ...pod.metadata, labels: { pod: 'z' } } });
    const delta = c.takeScript();
    expect(delta).toContain('delete element inet podnet_netpol in_4 { 10.88.0.14 }');
    expect(delta).toMatch(/delete chain inet podnet_netpol in\d+_t/);
  });

  it('deleting a policy removes its chains and sets', () => {
    const c = new NetpolCompiler().load(state);
    c.takeScript();
    c.deleteNetworkPolicy('x/a-from-y');
    const delta = c.takeScript();
    expect(delta).toMatch(/delete chain inet podnet_netpol p\d+_in/);
    expect(delta).toMatch(/delete set inet podnet_netpol b\d+_4/);
    const rs = c.ruleset();
    expect(rs.sets.some((s) => s.interval)).toBe(false);
  });

  it('rejects invalid policies with the field path', () => {
    const c = new NetpolCompiler();
    expect(() =>
      c.upsertNetworkPolicy(
        np('x', 'bad', { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }),
      ),
    ).toThrowError(/spec\.ingress\[0\]\.ports\[0\]\.endPort/);
  });
});

describe('PolicySyncer through a recording runner', () => {
  it('applies one nft batch per change, skips invalid policies and rebuilds after a failed apply', async () => {
    let fail = false;
    const runner = new RecordingRunner().respond(() =>
      fail ? { code: 1, stderr: 'boom' } : { code: 0 },
    );
    const syncer = new PolicySyncer({ host: new Host({ runner, netns: { name: 'node1' } }) });
    const bad = np('x', 'bad', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }],
    });
    const r = await syncer.sync({
      ...xyzModel(),
      networkPolicies: [np('x', 'deny', { podSelector: {} }), bad],
    });
    expect(r.full).toBe(true);
    expect(r.invalid.map((i) => i.object)).toEqual(['x/bad']);
    expect(runner.requests).toHaveLength(1);
    expect(runner.requests[0]?.argv).toEqual(['nft', '-f', '-']);
    const again = await syncer.sync({
      ...xyzModel(),
      networkPolicies: [np('x', 'deny', { podSelector: {} })],
    });
    expect(again.script).toBe('');
    fail = true;
    const err = await syncer.deleteNetworkPolicy('x/deny').catch((e: unknown) => e);
    expect(NetpolError.isInstance(err) && err.code).toBe('APPLY_FAILED');
    fail = false;
    const next = await syncer.upsertNetworkPolicy(np('y', 'deny', { podSelector: {} }));
    expect(next.full).toBe(true);
  });
});

describe('port dispatch for pods selected by many policies', () => {
  it('routes numeric-port policies through one vmap on l4proto . dport, named/port-less ones by jump', () => {
    const nps = [
      np('x', 'p1', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] }),
      np('x', 'p2', {
        podSelector: {},
        ingress: [
          {
            ports: [
              { port: 79, endPort: 81 },
              { port: 53, protocol: 'UDP' },
            ],
          },
        ],
      }),
      np('x', 'p3', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp' }] }] }),
    ];
    const rs = compilePolicies({ ...xyzModel(), networkPolicies: nps });
    const tail = rs.chains.find(
      (c) => c.name.endsWith('_t') && c.rules.some((r) => r.includes('vmap')),
    );
    expect(tail).toBeDefined();
    const vmap = tail?.rules.find((r) => r.includes('vmap')) ?? '';
    const q = (seg: string) =>
      new RegExp(`${seg.replace(/\./g, '\\.')} : jump (in\\d+_q\\d+)`).exec(vmap)?.[1];
    expect(vmap).toMatch(/^meta l4proto \. th dport vmap \{ /);
    const only2 = q('tcp . 79');
    const both = q('tcp . 80');
    expect(q('tcp . 81')).toBe(only2);
    expect(q('udp . 53')).toBe(only2);
    const chain = (n: string | undefined) => rs.chains.find((c) => c.name === n)?.rules;
    expect(chain(both)).toHaveLength(2);
    expect(chain(only2)).toHaveLength(1);
    expect(tail?.rules.filter((r) => r.startsWith('jump '))).toHaveLength(1);
  });
});

describe('dual stack', () => {
  it('puts IPv6 pod addresses in the _6 sets and dispatch map, and IPv6 ipBlocks in v6 interval sets', () => {
    const s = xyzModel();
    const pods = s.pods.map((p, i) => ({
      ...p,
      status: {
        ...p.status,
        podIPs: [{ ip: p.status?.podIP as string }, { ip: `fd00::${10 + i}` }],
      },
    }));
    const rs = compilePolicies({
      ...s,
      pods,
      networkPolicies: [
        np('x', 'v6', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            {
              from: [
                { podSelector: {} },
                { ipBlock: { cidr: 'fd00::/64', except: ['fd00::10/127'] } },
              ],
              ports: [{ port: 'serve-80-tcp' }],
            },
          ],
        }),
      ],
    });
    expect(rs.maps.find((m) => m.name === 'in_6')?.elements).toEqual([
      ['fd00::10', expect.stringMatching(/^goto in\d+$/)],
    ]);
    const sel6 = rs.sets.find(
      (x) => x.type === 'ipv6_addr' && !x.interval && x.elements.length === 3,
    );
    expect(sel6?.elements).toEqual(['fd00::10', 'fd00::11', 'fd00::12']);
    expect(rs.sets.find((x) => x.interval && x.type === 'ipv6_addr . ipv6_addr')?.elements).toEqual(
      [
        'fd00::-fd00::f . fd00::-fd00::f',
        'fd00::12-fd00::ffff:ffff:ffff:ffff . fd00::12-fd00::ffff:ffff:ffff:ffff',
      ],
    );
    const named6 = rs.sets.find((x) => x.type === 'ipv6_addr . inet_proto . inet_service');
    expect(named6?.elements).toContain('fd00::10 . tcp . 80');
    const policyChain = rs.chains.find((c) => /^p\d+_in$/.test(c.name));
    expect(
      policyChain?.rules.some(
        (r) =>
          r.startsWith('ip6 saddr . ip6 saddr @b') &&
          r.includes('ip6 daddr . meta l4proto . th dport @n'),
      ),
    ).toBe(true);
  });
});

describe('verdict logging options', () => {
  const state = {
    ...xyzModel(),
    networkPolicies: [
      np('x', 'from-y', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
    clusterNetworkPolicies: [
      {
        metadata: { name: 'no-z' },
        spec: {
          tier: 'Admin' as const,
          priority: 3,
          subject: { namespaces: {} },
          egress: [
            {
              name: 'block-z',
              action: 'Deny' as const,
              to: [{ namespaces: { matchLabels: { ns: 'z' } } }],
            },
          ],
        },
      },
    ],
  };

  it('logs allowed flows when asked, naming policy and rule', () => {
    const rs = compilePolicies(state, { logAccepted: true, log: { group: 5 } });
    const rules = rs.chains.flatMap((c) => c.rules);
    expect(
      rules.some((r) =>
        r.endsWith(
          'log group 5 snaplen 96 queue-threshold 1 prefix "podnet:accept:in:np:x/from-y:0 " accept',
        ),
      ),
    ).toBe(true);
    expect(
      rules.some((r) =>
        r.endsWith(
          'log group 5 snaplen 96 queue-threshold 1 prefix "podnet:drop:eg:admin:no-z:0=block-z " drop',
        ),
      ),
    ).toBe(true);
  });

  it('kernel-log and no-log modes', () => {
    const kernel = compilePolicies(state, { log: 'kernel' }).chains.flatMap((c) => c.rules);
    expect(kernel.some((r) => r === 'log prefix "podnet:drop:in:np:x/from-y:* " drop')).toBe(true);
    const none = compilePolicies(state, { log: false }).chains.flatMap((c) => c.rules);
    expect(none.some((r) => r.includes('log'))).toBe(false);
    expect(none).toContain('drop');
  });
});
