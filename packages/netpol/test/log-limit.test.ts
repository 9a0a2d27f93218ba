import { describe, expect, it } from 'vitest';
import {
  compilePolicies,
  limitedLogRules,
  type NetworkPolicy,
  NetpolCompiler,
  parseLogLimitedCounter,
  renderRuleset,
} from '../src/index.js';
import { xyzModel } from '../src/testing/index.js';

const np = (namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({
  metadata: { namespace, name },
  spec,
});

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

const LOG = (p: string) => `log group 100 snaplen 96 queue-threshold 1 prefix "${p}"`;

describe('log rate limit: compiled rules', () => {
  const limited = compilePolicies(state, {
    logAccepted: true,
    logRateLimit: { rate: 50, burst: 20 },
  });
  const rules = limited.chains.flatMap((c) => c.rules);

  it.each([
    {
      what: 'isolated, no rule allows: drop',
      logged: `limit name "log_rate" ${LOG('podnet:drop:in:np:x/from-y:* ')} drop`,
      over: 'counter name "log_limited" drop',
    },
    {
      what: 'NetworkPolicy rule: accept',
      logged: `limit name "log_rate" ${LOG('podnet:accept:in:np:x/from-y:0 ')} accept`,
      over: 'counter name "log_limited" accept',
    },
    {
      what: 'Admin Deny rule: drop',
      logged: `limit name "log_rate" ${LOG('podnet:drop:eg:admin:no-z:0=block-z ')} drop`,
      over: 'counter name "log_limited" drop',
    },
  ])(
    '$what: a logged rule under the limit, then the same match counted and given the same verdict',
    ({ logged, over }) => {
      const i = rules.findIndex((r) => r.endsWith(logged));
      expect(i).toBeGreaterThanOrEqual(0);
      const match = (rules[i] as string).slice(0, -logged.length);
      expect(rules[i + 1]).toBe(`${match}${over}`);
    },
  );

  it('every log statement takes from the limit; every limited rule has its counted twin', () => {
    const logs = rules.filter((r) => r.includes(' log ') || r.startsWith('log '));
    expect(logs.length).toBeGreaterThanOrEqual(3);
    for (const r of logs) expect(r).toContain('limit name "log_rate" log ');
    expect(rules.filter((r) => r.includes('counter name "log_limited"'))).toHaveLength(logs.length);
  });

  it('declares the limit and the counter in the ruleset and the script', () => {
    expect(limited.logLimit).toEqual({
      limit: 'log_rate',
      counter: 'log_limited',
      rate: 50,
      burst: 20,
    });
    const script = renderRuleset(limited).split('\n');
    const limitAt = script.indexOf(
      'add limit inet podnet_netpol log_rate { rate 50/second burst 20 packets }',
    );
    expect(limitAt).toBeGreaterThan(0);
    expect(script).toContain('add counter inet podnet_netpol log_limited');
    // declared before the first rule that names them
    expect(limitAt).toBeLessThan(script.findIndex((l) => l.includes('limit name')));
  });

  it('burst defaults to the rate; no limit: one rule per verdict and no objects', () => {
    expect(compilePolicies(state, { logRateLimit: { rate: 7 } }).logLimit?.burst).toBe(7);
    const plain = compilePolicies(state, { logAccepted: true });
    expect(plain.logLimit).toBeUndefined();
    const flat = plain.chains.flatMap((c) => c.rules);
    expect(flat.some((r) => r.includes('limit') || r.includes('counter'))).toBe(false);
    expect(renderRuleset(plain)).not.toContain('add counter');
    expect(flat).toContain(`${LOG('podnet:drop:in:np:x/from-y:* ')} drop`);
  });

  it('no logging: the limit adds no rules', () => {
    const rs = compilePolicies(state, { log: false, logRateLimit: { rate: 10 } });
    const flat = rs.chains.flatMap((c) => c.rules);
    expect(flat.some((r) => r.includes('limit name') || r.includes('counter name'))).toBe(false);
  });

  it('kernel-log mode is limited the same way', () => {
    const rs = compilePolicies(state, { log: 'kernel', logRateLimit: { rate: 10 } });
    const flat = rs.chains.flatMap((c) => c.rules);
    expect(flat).toContain('limit name "log_rate" log prefix "podnet:drop:in:np:x/from-y:* " drop');
    expect(flat).toContain('counter name "log_limited" drop');
  });

  it.each([
    [{ rate: 0 }, 'logRateLimit.rate'],
    [{ rate: 1.5 }, 'logRateLimit.rate'],
    [{ rate: 10, burst: 0 }, 'logRateLimit.burst'],
    [{ rate: 2_000_000 }, 'logRateLimit.rate'],
  ])('refuses %j naming %s', (limit, field) => {
    expect(() => new NetpolCompiler({ logRateLimit: limit })).toThrow(field);
  });

  it('incremental updates keep the limited pair', () => {
    const c = new NetpolCompiler({ logRateLimit: { rate: 5 } }).load(state);
    c.takeScript();
    c.upsertNetworkPolicy(
      np('y', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'], ingress: [] }),
    );
    const delta = c.takeScript();
    expect(delta).toContain(`limit name "log_rate" ${LOG('podnet:drop:in:np:y/deny-all:* ')} drop`);
    expect(delta).toContain('counter name "log_limited" drop');
    // the objects live with the table: a delta never redeclares them
    expect(delta).not.toContain('add limit');
  });
});

describe('limitedLogRules', () => {
  it.each([
    ['', 'log prefix "p" ', 'drop', undefined, ['log prefix "p" drop']],
    ['tcp dport 80', '', 'accept', undefined, ['tcp dport 80 accept']],
    [
      'tcp dport 80',
      'log prefix "p" ',
      'accept',
      { limit: 'l', counter: 'c', rate: 1, burst: 1 },
      ['tcp dport 80 limit name "l" log prefix "p" accept', 'tcp dport 80 counter name "c" accept'],
    ],
    ['', '', 'drop', { limit: 'l', counter: 'c', rate: 1, burst: 1 }, ['drop']],
  ])('%j %j %j', (match, log, verdict, spec, want) => {
    expect(limitedLogRules(match, log, verdict, spec)).toEqual(want);
  });
});

describe('parseLogLimitedCounter', () => {
  const doc = (counters: object[]) =>
    JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }, ...counters] });
  it.each([
    [
      doc([
        {
          counter: {
            family: 'inet',
            name: 'log_limited',
            table: 'podnet_netpol',
            handle: 2,
            packets: 9000,
            bytes: 756000,
          },
        },
      ]),
      9000,
    ],
    [
      doc([{ counter: { family: 'inet', name: 'log_limited', table: 'other', packets: 5 } }]),
      undefined,
    ],
    [
      doc([{ counter: { family: 'inet', name: 'x', table: 'podnet_netpol', packets: 5 } }]),
      undefined,
    ],
    [doc([]), undefined],
    ['Error: No such file or directory', undefined],
  ])('%s → %s', (json, want) => {
    expect(parseLogLimitedCounter(json)).toBe(want);
  });
});
