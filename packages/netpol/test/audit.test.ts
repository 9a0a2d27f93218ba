import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import {
  type ClusterNetworkPolicy,
  type ClusterState,
  compilePolicies,
  decodeLogPrefix,
  encodeLogPrefix,
  evaluate,
  type NetworkPolicy,
  NetpolError,
  parseNflogPacket,
  PolicySyncer,
  type Ruleset,
  validateClusterNetworkPolicy,
  validateNetworkPolicy,
} from '../src/index.js';
import { xyzModel } from '../src/testing/index.js';
import { canonicalRuleset, FakeNftTable } from './nft-model.js';

const AUDIT = { 'podnet.io/enforcement': 'audit' };

const denyAllIngress = (annotations?: Record<string, string>): NetworkPolicy => ({
  metadata: { namespace: 'x', name: 'deny-all', ...(annotations ? { annotations } : {}) },
  spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [] },
});
const allowFromY: NetworkPolicy = {
  metadata: { namespace: 'x', name: 'allow-from-y' },
  spec: {
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
  },
};
const denyZ = (annotations?: Record<string, string>): ClusterNetworkPolicy => ({
  metadata: { name: 'deny-z', ...(annotations ? { annotations } : {}) },
  spec: {
    tier: 'Admin',
    priority: 10,
    subject: { namespaces: { matchLabels: { ns: 'x' } } },
    ingress: [
      {
        name: 'no-z',
        action: 'Deny',
        from: [{ namespaces: { matchLabels: { ns: 'z' } } }],
      },
    ],
  },
});

const state = (extra: Partial<ClusterState>): ClusterState => ({ ...xyzModel(), ...extra });
const chainRules = (rs: Ruleset) => rs.chains.flatMap((c) => c.rules);
/** What the enforcing base chains reach (through the dispatch maps, jumps and gotos). */
function enforcingPart(rs: Ruleset): Ruleset {
  const chains = new Map(rs.chains.map((c) => [c.name, c]));
  const maps = new Map(rs.maps.map((m) => [m.name, m]));
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const texts = [
      ...(chains.get(name)?.rules ?? []),
      ...(maps.get(name)?.elements.map(([, v]) => v) ?? []),
    ];
    for (const t of texts)
      for (const m of t.matchAll(/(?:@|jump |goto )(\w+)/g)) visit(m[1] as string);
  };
  for (const base of ['ingress', 'egress', 'egress_local']) visit(base);
  return {
    ...rs,
    sets: rs.sets.filter((x) => seen.has(x.name)),
    maps: rs.maps.filter((x) => seen.has(x.name)),
    chains: rs.chains.filter((x) => seen.has(x.name)),
  };
}

describe('audit mode: compiled ruleset', () => {
  it('an audited policy changes nothing enforced: the enforcing part equals the ruleset without it', () => {
    const audited = compilePolicies(state({ networkPolicies: [denyAllIngress(AUDIT)] }));
    const without = compilePolicies(state({ networkPolicies: [] }));
    expect(canonicalRuleset(enforcingPart(audited))).toEqual(
      canonicalRuleset(enforcingPart(without)),
    );
    // nothing isolated: no pod in the enforcing dispatch maps, no drop anywhere
    expect(audited.maps.find((m) => m.name === 'in_4')?.elements).toEqual([]);
    expect(chainRules(audited).some((r) => r.endsWith(' drop') || r === 'drop')).toBe(false);
  });

  it('dispatches the pods it selects to audit chains after the enforcing ones, logging would-drop', () => {
    const rs = compilePolicies(state({ networkPolicies: [denyAllIngress(AUDIT)] }));
    const hooks = rs.chains
      .filter((c) => c.hook)
      .map((c) => [c.name, c.hook?.hook, c.hook?.priority]);
    expect(hooks).toEqual(
      expect.arrayContaining([
        ['audit_eg', 'forward', 1],
        ['audit_in', 'forward', 2],
        ['audit_eg_local', 'input', 1],
      ]),
    );
    const ain = rs.maps.find((m) => m.name === 'ain_4');
    expect(ain?.elements.map(([ip]) => ip).sort()).toEqual([
      '10.88.0.10',
      '10.88.0.11',
      '10.88.0.12',
    ]);
    const tail = rs.chains.find((c) => c.name === `${(ain?.elements[0]?.[1] ?? '').slice(5)}_t`);
    expect(tail?.rules).toEqual([
      'log group 100 snaplen 96 queue-threshold 1 prefix "podnet:would-drop:in:np:x/deny-all:* " accept',
    ]);
  });

  it('names only the audited policies in would-drop when enforcing ones select the pod too', () => {
    const rs = compilePolicies(state({ networkPolicies: [denyAllIngress(AUDIT), allowFromY] }));
    const rules = chainRules(rs);
    expect(rules).toContain(
      'log group 100 snaplen 96 queue-threshold 1 prefix "podnet:drop:in:np:x/allow-from-y:* " drop',
    );
    expect(rules).toContain(
      'log group 100 snaplen 96 queue-threshold 1 prefix "podnet:would-drop:in:np:x/deny-all:* " accept',
    );
    const wouldDrop = rules.filter((r) => r.includes('would-drop'));
    expect(wouldDrop.length).toBeGreaterThan(0);
    expect(wouldDrop.every((r) => r.includes(':x/deny-all:'))).toBe(true);
  });

  it('an audited ClusterNetworkPolicy Deny logs would-drop with its rule and accepts', () => {
    const rs = compilePolicies(state({ clusterNetworkPolicies: [denyZ(AUDIT)] }));
    const rules = chainRules(rs);
    expect(
      rules.some((r) => r.endsWith('prefix "podnet:would-drop:in:admin:deny-z:0=no-z " accept')),
    ).toBe(true);
    expect(rules.some((r) => r.endsWith(' drop'))).toBe(false);
    const enforced = chainRules(compilePolicies(state({ clusterNetworkPolicies: [denyZ()] })));
    expect(
      enforced.some((r) => r.endsWith('prefix "podnet:drop:in:admin:deny-z:0=no-z " drop')),
    ).toBe(true);
    expect(enforced.some((r) => r.includes('would-drop'))).toBe(false);
  });

  it('podnet.io/log-allowed logs the policy’s accepts, and audit chains jump to a copy without logs', () => {
    const logged: NetworkPolicy = {
      ...allowFromY,
      metadata: { ...allowFromY.metadata, annotations: { 'podnet.io/log-allowed': 'true' } },
    };
    const rs = compilePolicies(state({ networkPolicies: [logged, denyAllIngress(AUDIT)] }));
    const rules = chainRules(rs);
    expect(
      rules.some((r) => r.includes('prefix "podnet:accept:in:np:x/allow-from-y:0 " accept')),
    ).toBe(true);
    const quiet = rs.chains.filter((c) => c.name.endsWith('_in_n'));
    expect(quiet).toHaveLength(1);
    expect(quiet[0]?.rules.every((r) => !r.includes(' log '))).toBe(true);
    expect(rules).toContain(`jump ${quiet[0]?.name}`);
    // without the annotation: no accept logs and no copy
    const plain = compilePolicies(state({ networkPolicies: [allowFromY] }));
    expect(chainRules(plain).some((r) => r.includes('podnet:accept'))).toBe(false);
    expect(plain.chains.some((c) => c.name.endsWith('_n'))).toBe(false);
  });
});

describe('audit mode: switching incrementally', () => {
  it('audit -> enforce -> audit -> deleted, each one incremental transaction a kernel accepts', async () => {
    const runner = new RecordingRunner();
    const syncer = new PolicySyncer({ host: new Host({ runner }), session: false });
    const kernel = new FakeNftTable('podnet_netpol');
    const apply = async (p: Promise<{ script: string; full: boolean }>) => {
      const r = await p;
      kernel.apply(r.script);
      return r;
    };
    const first = await apply(syncer.sync(state({ networkPolicies: [denyAllIngress(AUDIT)] })));
    expect(first.full).toBe(true);
    const enforce = await apply(syncer.update({ networkPolicies: [denyAllIngress()] }));
    expect(enforce.full).toBe(false);
    expect(enforce.script).toContain('podnet:drop:in:np:x/deny-all');
    expect(enforce.script).toContain('delete chain inet podnet_netpol audit_in');
    expect(enforce.script).not.toContain('would-drop');
    const back = await apply(syncer.update({ networkPolicies: [denyAllIngress(AUDIT)] }));
    expect(back.full).toBe(false);
    expect(back.script).toContain('would-drop:in:np:x/deny-all');
    const gone = await apply(syncer.update({ deletedNetworkPolicies: ['x/deny-all'] }));
    expect(gone.full).toBe(false);
    expect(canonicalRuleset(kernel.dump() as Ruleset)).toEqual(
      canonicalRuleset(compilePolicies(state({}))),
    );
  });
});

describe('audit mode: annotations are validated', () => {
  it('names the annotation field of a bad value', () => {
    const bad = denyAllIngress({ 'podnet.io/enforcement': 'dry-run' });
    expect(validateNetworkPolicy(bad)).toEqual([
      {
        path: 'metadata.annotations["podnet.io/enforcement"]',
        message: 'want one of "enforce", "audit", got "dry-run"',
      },
    ]);
    expect(validateClusterNetworkPolicy(denyZ({ 'podnet.io/log-allowed': 'yes' }))[0]?.path).toBe(
      'metadata.annotations["podnet.io/log-allowed"]',
    );
    const syncer = new PolicySyncer({ host: new Host({ runner: new RecordingRunner() }) });
    expect(() => syncer.compiler.upsertNetworkPolicy(bad)).toThrow(NetpolError);
  });
});

describe('audit mode: the evaluator', () => {
  it('leaves audited policies out of the verdict and reports them apart, with would-drop', () => {
    const s = state({ networkPolicies: [denyAllIngress(AUDIT)] });
    const e = evaluate(s, { src: 'z/b', dst: 'x/a', port: 80 });
    expect(e.verdict).toBe('allow');
    expect(e.explanation.ingress.decidedBy).toBe('default');
    expect(e.audit?.policies).toEqual([
      { kind: 'NetworkPolicy', namespace: 'x', name: 'deny-all' },
    ]);
    expect(e.audit?.verdict).toBe('deny');
    expect(e.audit?.wouldDrop).toBe(true);
    expect(e.audit?.ingress.isolatedBy.map((p) => p.name)).toEqual(['deny-all']);
    // a flow no audited policy selects has no audit part
    expect(evaluate(s, { src: 'x/a', dst: 'y/b', port: 80 }).audit).toBeUndefined();
  });

  it('an audited Deny behind an enforcing Deny is no would-drop (the flow is dropped anyway)', () => {
    const enforcing = { ...denyZ(), metadata: { name: 'deny-z-enforced' } };
    const s = state({ clusterNetworkPolicies: [denyZ(AUDIT), enforcing] });
    const e = evaluate(s, { src: 'z/a', dst: 'x/a', port: 80 });
    expect(e.verdict).toBe('deny');
    expect(e.audit?.verdict).toBe('deny');
    expect(e.audit?.wouldDrop).toBe(false);
    expect(e.audit?.policies.map((p) => p.name)).toEqual(['deny-z']);
  });
});

describe('audit mode: verdict records', () => {
  it('encodes and decodes would-drop prefixes', () => {
    const p = encodeLogPrefix({
      verdict: 'would-drop',
      direction: 'egress',
      kind: 'baseline',
      policies: ['b1'],
      more: 0,
      rule: 2,
      ruleName: 'r',
    });
    expect(p).toBe('podnet:would-drop:eg:baseline:b1:2=r ');
    expect(decodeLogPrefix(p)).toEqual({
      verdict: 'would-drop',
      direction: 'egress',
      kind: 'baseline',
      policies: ['b1'],
      more: 0,
      rule: 2,
      ruleName: 'r',
    });
  });

  it('reads a would-drop NFLOG record', () => {
    const prefix = new TextEncoder().encode('podnet:would-drop:in:np:x/deny-all:* \0');
    const ip = new Uint8Array(24);
    ip.set([0x45, 0, 0, 24, 0, 0, 0, 0, 64, 6, 0, 0, 10, 88, 0, 16, 10, 88, 0, 10]);
    ip.set([0x9c, 0x40, 0, 80], 20);
    const attr = (type: number, value: Uint8Array) => {
      const len = 4 + value.length;
      const out = new Uint8Array((len + 3) & ~3);
      new DataView(out.buffer).setUint16(0, len, true);
      new DataView(out.buffer).setUint16(2, type, true);
      out.set(value, 4);
      return out;
    };
    const parts = [new Uint8Array(4), attr(10, prefix), attr(9, ip)];
    const pkt = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      pkt.set(p, o);
      o += p.length;
    }
    const r = parseNflogPacket(pkt);
    expect(r).toMatchObject({
      verdict: 'would-drop',
      direction: 'ingress',
      tier: 'NetworkPolicy',
      policies: [{ namespace: 'x', name: 'deny-all' }],
      src: '10.88.0.16',
      dst: '10.88.0.10',
      srcPort: 40000,
      dstPort: 80,
      protocol: 'TCP',
    });
    expect(r?.message).toContain('(audit mode: let through)');
  });
});
