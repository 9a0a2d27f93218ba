import { describe, expect, it } from 'vitest';
import {
  type ClusterNetworkPolicy,
  type ClusterState,
  FqdnEgressWriter,
  NetpolCompiler,
  compilePolicies,
  fqdnPlanAffected,
  fqdnSetNames,
  fqdnTargets,
  matchDomainName,
  planFqdn,
  renderFqdnElements,
} from '../src/index.js';
import { liveTimeoutElements } from '../src/syncer.js';

describe('matchDomainName (network-policy-api DomainName)', () => {
  it.each([
    ['kubernetes.io', 'kubernetes.io', true],
    ['kubernetes.io', 'KUBERNETES.IO.', true],
    ['kubernetes.io', 'www.kubernetes.io', false],
    ['kubernetes.io', 'my-kubernetes.io', false],
    ['blog.kubernetes.io', 'blog.kubernetes.io', true],
    ['blog.kubernetes.io', 'kubernetes.io', false],
    ['*.kubernetes.io', 'www.kubernetes.io', true],
    ['*.kubernetes.io', 'latest.blog.kubernetes.io', true],
    ['*.kubernetes.io', 'kubernetes.io', false],
    ['*.kubernetes.io', 'my-kubernetes.io', false],
    ['*.kubernetes.io', 'wikipedia.org', false],
    ['*.Kubernetes.IO.', 'WWW.kubernetes.io', true],
  ])('%s ~ %s → %s', (pattern, name, want) => {
    expect(matchDomainName(pattern, name)).toBe(want);
  });
});

const cnp = (name: string, egress: unknown[], subject: unknown = { namespaces: {} }) =>
  ({
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: { tier: 'Admin', priority: 10, subject, egress },
  }) as ClusterNetworkPolicy;

const state: ClusterState = {
  namespaces: [
    { metadata: { name: 'web', labels: { team: 'web' } } },
    { metadata: { name: 'db', labels: { team: 'db' } } },
  ],
  pods: [
    {
      metadata: { name: 'a', namespace: 'web', labels: { app: 'a' } },
      spec: { nodeName: 'n1', containers: [] },
      status: { podIP: '10.244.1.2', podIPs: [{ ip: '10.244.1.2' }, { ip: 'fd00::1:2' }] },
    },
    {
      metadata: { name: 'b', namespace: 'db', labels: { app: 'b' } },
      spec: { nodeName: 'n1', containers: [] },
      status: { podIP: '10.244.1.3' },
    },
    {
      metadata: { name: 'c', namespace: 'web', labels: { app: 'c' } },
      spec: { nodeName: 'n2', containers: [] },
      status: { podIP: '10.244.2.2' },
    },
  ],
  clusterNetworkPolicies: [
    cnp(
      'allow-api',
      [
        {
          action: 'Accept',
          to: [{ domainNames: ['api.example.com', '*.cdn.example.net'] }],
          protocols: [{ tcp: { destinationPort: { number: 443 } } }],
        },
        { action: 'Deny', to: [{ networks: ['0.0.0.0/0'] }] },
      ],
      { namespaces: { matchLabels: { team: 'web' } } },
    ),
    cnp('no-dns-names', [{ action: 'Deny', to: [{ networks: ['192.0.2.0/24'] }] }]),
  ],
};

const PATTERNS = ['api.example.com', '*.cdn.example.net'];

describe('fqdnSetNames', () => {
  it('names the sets after the policy, the rule and its domain names in any order', () => {
    const a = fqdnSetNames('allow-api', 0, PATTERNS);
    expect(a.ipv4).toMatch(/^fqdn_[0-9a-f]{8}_0_4$/);
    expect(a.ipv6).toBe(`${a.ipv4.slice(0, -2)}_6`);
    expect(fqdnSetNames('allow-api', 0, ['*.CDN.example.net.', 'api.example.com'])).toEqual(a);
    expect(fqdnSetNames('allow-api', 0, [...PATTERNS, 'api.example.com'])).toEqual(a);
    expect(fqdnSetNames('allow-api', 0, ['api.example.com'])).not.toEqual(a);
    expect(fqdnSetNames('allow-apis', 0, PATTERNS)).not.toEqual(a);
    expect(fqdnSetNames('allow-api', 1, PATTERNS).ipv4).toBe(`${a.ipv4.slice(0, -4)}_1_4`);
  });

  it('gives a rule new sets when its domain names change, and keeps them for other edits', () => {
    const c = new NetpolCompiler({ nodeName: 'n1' });
    c.load(state);
    c.takeScript();
    const before = fqdnSetNames('allow-api', 0, PATTERNS);
    expect(c.fqdnSets().sort()).toEqual([before.ipv4, before.ipv6].sort());
    const policy = state.clusterNetworkPolicies?.[0] as ClusterNetworkPolicy;
    const egress = policy.spec.egress ?? [];
    c.upsertClusterNetworkPolicy({
      ...policy,
      spec: {
        ...policy.spec,
        egress: [{ ...egress[0]!, to: [{ domainNames: ['api.example.com'] }] }, ...egress.slice(1)],
      },
    });
    const after = fqdnSetNames('allow-api', 0, ['api.example.com']);
    const script = c.takeScript();
    expect(script).toContain(`delete set inet podnet_netpol ${before.ipv4}`);
    expect(script).toContain(`add set inet podnet_netpol ${after.ipv4}`);
    expect(c.fqdnSets().sort()).toEqual([after.ipv4, after.ipv6].sort());
  });
});

describe('liveTimeoutElements (what a rebuild carries over)', () => {
  const listing = (elem: unknown[]) =>
    JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { set: { family: 'inet', name: 'fqdn_x_0_4', table: 't', flags: ['timeout'], elem } },
      ],
    });
  it.each([
    [
      'elements with the time they have left',
      [
        { elem: { val: { concat: ['10.0.0.1', '192.0.2.1'] }, timeout: 60, expires: 42 } },
        { elem: { val: { concat: ['fd00::1', '2001:db8::1'] }, timeout: 90, expires: 89.7 } },
      ],
      ['10.0.0.1 . 192.0.2.1 timeout 42s', 'fd00::1 . 2001:db8::1 timeout 89s'],
    ],
    [
      'not those about to expire or without an expiry',
      [
        { elem: { val: { concat: ['10.0.0.1', '192.0.2.1'] }, timeout: 60, expires: 0 } },
        { elem: { val: { concat: ['10.0.0.1', '192.0.2.2'] } } },
        '10.0.0.9',
      ],
      [],
    ],
    [
      'nothing that is not an address',
      [{ elem: { val: { concat: ['10.0.0.1', '1.2.3.4 }; flush ruleset'] }, expires: 9 } }],
      [],
    ],
  ])('%s', (_what, elem, want) => {
    expect(liveTimeoutElements(listing(elem))).toEqual(want);
  });
  it('reads nothing from an empty or broken answer', () => {
    expect(liveTimeoutElements('')).toEqual([]);
    expect(liveTimeoutElements('{"nftables": 3}')).toEqual([]);
    expect(liveTimeoutElements('null')).toEqual([]);
  });
});

describe('planFqdn', () => {
  it('lists the rules with domain names, their sets and the local pods they apply to', () => {
    const plan = planFqdn(state, { nodeName: 'n1' });
    expect(plan).toEqual({
      table: 'podnet_netpol',
      rules: [
        {
          policy: 'allow-api',
          rule: 0,
          patterns: ['api.example.com', '*.cdn.example.net'],
          sets: fqdnSetNames('allow-api', 0, PATTERNS),
        },
      ],
      pods: { '10.244.1.2': [0], 'fd00::1:2': [0] },
    });
    expect(Object.keys(planFqdn(state).pods)).toEqual(['10.244.1.2', 'fd00::1:2', '10.244.2.2']);
    expect(fqdnSetNames('allow-api', 0, PATTERNS).ipv4).toMatch(/^fqdn_[0-9a-f]{8}_0_4$/);
  });

  it('is affected by pods and namespaces only while a rule has domain names', () => {
    const withRules = planFqdn(state, { nodeName: 'n1' });
    const empty = planFqdn({ ...state, clusterNetworkPolicies: [] }, { nodeName: 'n1' });
    expect(empty.rules).toEqual([]);
    expect(fqdnPlanAffected(empty, ['Pod', 'Namespace', 'NetworkPolicy', 'Service'])).toBe(false);
    expect(fqdnPlanAffected(empty, ['Pod', 'ClusterNetworkPolicy'])).toBe(true);
    expect(fqdnPlanAffected(withRules, ['Pod'])).toBe(true);
    expect(fqdnPlanAffected(withRules, ['Namespace'])).toBe(true);
    expect(fqdnPlanAffected(withRules, ['NetworkPolicy', 'EndpointSlice'])).toBe(false);
  });

  it('answers which sets an answer goes to', () => {
    const plan = planFqdn(state, { nodeName: 'n1' });
    const sets = fqdnSetNames('allow-api', 0, PATTERNS);
    expect(fqdnTargets(plan, '10.244.1.2', 'api.example.com')).toEqual([sets]);
    expect(fqdnTargets(plan, '10.244.1.2', 'img.cdn.example.net')).toEqual([sets]);
    expect(fqdnTargets(plan, '10.244.1.2', 'other.example.com')).toEqual([]);
    expect(fqdnTargets(plan, '10.244.1.3', 'api.example.com')).toEqual([]);
  });

  it("renders one add per set with the timeout, for the pod's family only", () => {
    const sets = fqdnSetNames('p', 1);
    const other = fqdnSetNames('q', 0);
    expect(
      renderFqdnElements(
        't',
        [sets, other],
        '10.244.1.2',
        ['192.0.2.1', '2001:db8::1', '192.0.2.2'],
        30.2,
      ),
    ).toBe(
      [
        `add element inet t ${sets.ipv4} { 10.244.1.2 . 192.0.2.1 timeout 31s, 10.244.1.2 . 192.0.2.2 timeout 31s }`,
        `add element inet t ${other.ipv4} { 10.244.1.2 . 192.0.2.1 timeout 31s, 10.244.1.2 . 192.0.2.2 timeout 31s }`,
        '',
      ].join('\n'),
    );
    expect(renderFqdnElements('t', [sets], 'fd00::1', ['2001:db8::1'], 0)).toBe(
      `add element inet t ${sets.ipv6} { fd00::1 . 2001:db8::1 timeout 1s }\n`,
    );
    expect(renderFqdnElements('t', [sets], 'fd00::1', ['192.0.2.1'], 30)).toBe('');
  });
});

describe('compiling domainNames peers', () => {
  it('matches the rule on the pod . destination sets with timeouts instead of failing closed', () => {
    const rs = compilePolicies(state, { nodeName: 'n1' });
    const sets = fqdnSetNames('allow-api', 0, PATTERNS);
    expect(rs.sets.filter((s) => s.name.startsWith('fqdn_'))).toEqual([
      {
        name: sets.ipv4,
        type: 'ipv4_addr . ipv4_addr',
        interval: false,
        elements: [],
        timeout: true,
      },
      {
        name: sets.ipv6,
        type: 'ipv6_addr . ipv6_addr',
        interval: false,
        elements: [],
        timeout: true,
      },
    ]);
    const rules = rs.chains.flatMap((c) => c.rules);
    expect(
      rules.some((r) => r.includes(`ip saddr . ip daddr @${sets.ipv4}`) && r.includes('443')),
    ).toBe(true);
    expect(rules.some((r) => r.includes(`ip6 saddr . ip6 daddr @${sets.ipv6}`))).toBe(true);
  });

  it('keeps the sets across a policy update and drops them with the policy', () => {
    const c = new NetpolCompiler({ nodeName: 'n1' });
    c.load(state);
    const first = c.takeScript();
    const sets = fqdnSetNames('allow-api', 0, PATTERNS);
    expect(first).toContain(
      `add set inet podnet_netpol ${sets.ipv4} { type ipv4_addr . ipv4_addr; flags timeout; }`,
    );
    const policy = state.clusterNetworkPolicies?.[0] as ClusterNetworkPolicy;
    c.upsertClusterNetworkPolicy({ ...policy, spec: { ...policy.spec, priority: 20 } });
    const update = c.takeScript();
    expect(update).not.toContain(`set inet podnet_netpol ${sets.ipv4}`);
    c.deleteClusterNetworkPolicy('allow-api');
    expect(c.takeScript()).toContain(`delete set inet podnet_netpol ${sets.ipv4}`);
  });
});

describe('FqdnEgressWriter', () => {
  it('writes answers for watched pods and matching names only, batching while a write runs', async () => {
    const scripts: string[] = [];
    let release: () => void = () => undefined;
    const writer = new FqdnEgressWriter(
      (script) =>
        new Promise<void>((r) => {
          scripts.push(script);
          release = r;
        }),
      { floorSeconds: 30 },
    );
    writer.setPlan(planFqdn(state, { nodeName: 'n1' }));
    expect(writer.watches('10.244.1.2')).toBe(true);
    expect(writer.watches('10.244.1.3')).toBe(false);
    await writer.onAnswer({ ip: '10.244.1.2' }, 'www.example.org', ['192.0.2.9'], 300);
    expect(scripts).toEqual([]);
    const one = writer.onAnswer({ ip: '10.244.1.2' }, 'api.example.com', ['192.0.2.1'], 5);
    await Promise.resolve();
    const two = writer.onAnswer({ ip: '10.244.1.2' }, 'a.cdn.example.net', ['192.0.2.2'], 120);
    const three = writer.onAnswer({ ip: '10.244.1.2' }, 'b.cdn.example.net', ['192.0.2.3'], 60);
    await new Promise((r) => setTimeout(r, 10));
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toContain('10.244.1.2 . 192.0.2.1 timeout 30s');
    release();
    await one;
    await new Promise((r) => setTimeout(r, 10));
    expect(scripts).toHaveLength(2);
    expect(scripts[1]).toContain('10.244.1.2 . 192.0.2.2 timeout 120s');
    expect(scripts[1]).toContain('10.244.1.2 . 192.0.2.3 timeout 60s');
    release();
    await Promise.all([two, three]);
    expect(writer.stats).toEqual({ batches: 2, answers: 3, failures: 0 });
  });

  it('refuses a bad floor, naming it', () => {
    expect(() => new FqdnEgressWriter(async () => undefined, { floorSeconds: 0 })).toThrow(
      /floorSeconds/,
    );
  });
});
