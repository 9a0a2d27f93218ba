import { describe, expect, it } from 'vitest';
import {
  compileServices,
  diffRulesets,
  LB_MAX_ENDPOINTS,
  lbTarget,
  type NftTable,
  type Ruleset,
  fullTransaction,
  renderFullRuleset,
  renderRuleset,
  renderTransaction,
  ServiceLbError,
} from '../src/index.js';
import { makeEndpointSlice, makeService, syntheticCluster } from '../src/testing/index.js';
import { FEATURE_CASES, NODE } from './fixtures.js';

const v4 = (r: Ruleset): NftTable => r.tables.find((t) => t.family === 'ip')!;
const v6 = (r: Ruleset): NftTable => r.tables.find((t) => t.family === 'ip6')!;
const elements = (t: NftTable, set: string) =>
  t.elements.filter((e) => e.set === set).map((e) => (e.value ? `${e.key} : ${e.value}` : e.key));
const chain = (t: NftTable, prefix: string) => t.chains.filter((c) => c.name.startsWith(prefix));
const SKELETON_CHAINS = 15;

describe('golden rulesets', () => {
  for (const [name, state] of Object.entries(FEATURE_CASES)) {
    it(`${name} renders the committed golden ruleset`, async () => {
      const text = renderRuleset(compileServices(state, NODE));
      await expect(text).toMatchFileSnapshot(`golden/${name}.nft`);
    });
  }

  it('is deterministic and independent of input order', () => {
    const s = FEATURE_CASES['internal-traffic-local']!;
    const a = renderRuleset(compileServices(s, NODE));
    const b = renderRuleset(
      compileServices(
        { services: [...s.services].reverse(), endpointSlices: [...s.endpointSlices].reverse() },
        NODE,
      ),
    );
    expect(b).toBe(a);
  });
});

describe('compileServices features', () => {
  it('balances a multi-port ClusterIP through the lb-N sets and the lb chain, no chain of its own', () => {
    const t = v4(compileServices(FEATURE_CASES['clusterip-multiport']!, NODE));
    expect(elements(t, 'service-ips')).toEqual([]);
    expect(elements(t, 'lb-2')).toEqual([
      '10.96.0.20 . tcp . 80',
      '10.96.0.20 . udp . 53',
      '10.96.0.20 . sctp . 3868',
    ]);
    expect(chain(t, 'svc-')).toHaveLength(0);
    expect(chain(t, 'ep-')).toHaveLength(0);
    const lb = t.chains.find((c) => c.name === 'lb')!;
    expect(lb.rules).toHaveLength(1 + LB_MAX_ENDPOINTS);
    expect(lb.rules.slice(0, 3)).toEqual([
      'ip saddr != @pod-cidrs jump mark-for-masquerade',
      'ip daddr . meta l4proto . th dport @lb-1 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @lb-endpoints',
      'ip daddr . meta l4proto . th dport @lb-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @lb-endpoints',
    ]);
    expect(t.chains.find((c) => c.name === 'services')!.rules[1]).toBe(
      'ip daddr @cluster-ips goto lb',
    );
    expect(elements(t, 'lb-endpoints').filter((e) => e.includes('sctp'))).toEqual([
      '10.96.0.20 . sctp . 3868 . 0 : 10.244.0.7 . 3868',
      '10.96.0.20 . sctp . 3868 . 1 : 10.244.1.7 . 3868',
    ]);
    expect(elements(t, 'hairpin-endpoints')).toEqual([
      '10.244.0.7 . 10.244.0.7',
      '10.244.1.7 . 10.244.1.7',
    ]);
    expect(elements(t, 'cluster-ips')).toEqual(['10.96.0.20']);
  });

  it('lbTarget reads where the lb chain sends a key: its lb-N set and the endpoints of its slots', () => {
    const r = compileServices(FEATURE_CASES['dual-stack']!, NODE);
    expect(lbTarget(v4(r), '10.96.0.10 . tcp . 80')).toEqual({
      set: 'lb-3',
      endpoints: [
        { ip: '10.244.0.5', port: 8080 },
        { ip: '10.244.1.5', port: 8080 },
        { ip: '10.244.2.5', port: 8080 },
      ],
    });
    expect(lbTarget(v6(r), 'fd00:96::10 . tcp . 80')).toEqual({
      set: 'lb-2',
      endpoints: [
        { ip: 'fd00:244:1::5', port: 8080 },
        { ip: 'fd00:244::5', port: 8080 },
      ],
    });
    expect(lbTarget(v4(r), '10.96.0.10 . tcp . 81')).toBeUndefined();
    const aff = v4(compileServices(FEATURE_CASES['session-affinity']!, NODE));
    expect(lbTarget(aff, '10.96.0.10 . tcp . 80')).toBeUndefined();
  });

  it('balances up to LB_MAX_ENDPOINTS endpoints through lb, more through a chain of its own', () => {
    const many = (n: number) =>
      v4(
        compileServices(
          {
            services: [
              makeService('default', 'big', {
                clusterIP: '10.96.0.30',
                ports: [{ name: 'http', port: 80 }],
              }),
            ],
            endpointSlices: [
              makeEndpointSlice(
                'default',
                'big',
                Array.from({ length: n }, (_, i) => ({ ip: `10.244.3.${i + 1}` })),
                [{ name: 'http', port: 8080 }],
              ),
            ],
          },
          NODE,
        ),
      );
    const atLimit = many(LB_MAX_ENDPOINTS);
    expect(lbTarget(atLimit, '10.96.0.30 . tcp . 80')!.endpoints).toHaveLength(LB_MAX_ENDPOINTS);
    expect(chain(atLimit, 'svc-')).toEqual([]);
    const over = many(LB_MAX_ENDPOINTS + 1);
    expect(lbTarget(over, '10.96.0.30 . tcp . 80')).toBeUndefined();
    expect(elements(over, 'service-ips')).toEqual([
      expect.stringMatching(/^10\.96\.0\.30 \. tcp \. 80 : goto svc-/),
    ]);
    expect(elements(over, 'hairpin-endpoints')).toEqual([]);
  });

  it('keeps per-service and per-endpoint chains only where needed (NodePort, affinity, Local)', () => {
    const np = v4(compileServices(FEATURE_CASES.nodeport!, NODE));
    expect(elements(np, 'service-ips')).toEqual([]);
    expect(elements(np, 'lb-3')).toEqual(['10.96.0.10 . tcp . 80']);
    expect(chain(np, 'svc-')).toHaveLength(1);
    expect(chain(np, 'ep-')).toHaveLength(3);
    const aff = v4(compileServices(FEATURE_CASES['session-affinity']!, NODE));
    expect(elements(aff, 'lb-endpoints')).toEqual([]);
    expect(elements(aff, 'service-ips')).toEqual([
      expect.stringMatching(/^10\.96\.0\.10 \. tcp \. 80 : goto svc-/),
    ]);
  });

  it('balances a per-service chain with a numgen cascade up to 16 endpoints and one numgen vmap above', () => {
    const many = (n: number) =>
      v4(
        compileServices(
          {
            services: [
              makeService('default', 'big', {
                type: 'NodePort',
                clusterIP: '10.96.0.30',
                ports: [{ name: 'http', port: 80, nodePort: 30030 }],
              }),
            ],
            endpointSlices: [
              makeEndpointSlice(
                'default',
                'big',
                Array.from({ length: n }, (_, i) => ({ ip: `10.244.3.${i + 1}` })),
                [{ name: 'http', port: 8080 }],
              ),
            ],
          },
          NODE,
        ),
      );
    const cascade = chain(many(16), 'svc-')[0]!.rules.slice(1);
    expect(cascade.map((r) => /mod (\d+) == 0/.exec(r)?.[1])).toEqual([
      ...Array.from({ length: 15 }, (_, i) => String(16 - i)),
      undefined,
    ]);
    const vmap = chain(many(17), 'svc-')[0]!.rules.slice(1);
    expect(vmap).toEqual([
      expect.stringMatching(
        /^numgen random mod 17 vmap \{ 0 : goto ep-\S+, .* 16 : goto ep-\S+ \}$/,
      ),
    ]);
  });

  it('sends NodePorts and externalIPs through an ext chain that masquerades (Cluster policy)', () => {
    const np = v4(compileServices(FEATURE_CASES.nodeport!, NODE));
    const [ext] = chain(np, 'ext-');
    expect(ext!.rules).toEqual(['jump mark-for-masquerade', expect.stringMatching(/^goto svc-/)]);
    expect(elements(np, 'service-nodeports')).toEqual([`tcp . 30080 : goto ${ext!.name}`]);
    const ex = v4(compileServices(FEATURE_CASES['external-ips']!, NODE));
    expect(elements(ex, 'service-ips')).toContainEqual(
      expect.stringMatching(/^198\.51\.100\.7 \. tcp \. 80 : goto ext-/),
    );
  });

  it('filters LoadBalancer sources by loadBalancerSourceRanges (normalised) and leaves NodePorts open', () => {
    const t = v4(compileServices(FEATURE_CASES['loadbalancer-source-ranges']!, NODE));
    const [fw] = chain(t, 'fw-');
    expect(fw!.rules).toEqual(['ip saddr != { 192.168.50.0/24, 203.0.113.128/25 } drop']);
    expect(elements(t, 'firewall-ips')).toEqual([`203.0.113.10 . tcp . 80 : goto ${fw!.name}`]);
    expect(elements(t, 'service-nodeports')).toHaveLength(1);
  });

  it('pins ClientIP affinity with a per-endpoint timeout set checked before random balancing', () => {
    const t = v4(compileServices(FEATURE_CASES['session-affinity']!, NODE));
    expect(t.sets.filter((s) => s.name.startsWith('aff-'))).toHaveLength(3);
    expect(t.sets.find((s) => s.name.startsWith('aff-'))).toMatchObject({
      flags: ['dynamic', 'timeout'],
      timeout: 600,
    });
    const [svc] = chain(t, 'svc-');
    expect(svc!.rules.filter((r) => /^ip saddr @aff-\S+ goto ep-/.test(r))).toHaveLength(3);
    for (const ep of chain(t, 'ep-'))
      expect(ep.rules[1]).toMatch(/^update @aff-\S+ \{ ip saddr \}$/);
  });

  it('internalTrafficPolicy Local: only local endpoints; none local → drop, not reject', () => {
    const t = v4(compileServices(FEATURE_CASES['internal-traffic-local']!, NODE));
    const [local] = chain(t, 'local-');
    expect(local!.rules).toEqual([expect.stringMatching(/^goto ep-\S+10\.244\.0\.5\.8080$/)]);
    expect(elements(t, 'service-ips')).toEqual([`10.96.0.10 . tcp . 80 : goto ${local!.name}`]);
    expect(elements(t, 'no-endpoint-services')).toEqual(['10.96.0.11 . tcp . 80 : drop']);
  });

  it('externalTrafficPolicy Local: external traffic to local endpoints unmasqueraded, none local → drop', () => {
    const t = v4(compileServices(FEATURE_CASES['external-traffic-local']!, NODE));
    const [ext] = chain(t, 'ext-');
    expect(ext!.rules).toEqual([
      expect.stringMatching(/^ip saddr @pod-cidrs goto svc-/),
      'fib saddr type local jump mark-for-masquerade',
      expect.stringMatching(/^fib saddr type local goto svc-/),
      expect.stringMatching(/^goto local-/),
    ]);
    expect(elements(t, 'no-endpoint-nodeports')).toEqual(['tcp . 30081 : drop']);
    expect(elements(t, 'lb-1')).toEqual(['10.96.0.11 . tcp . 80']);
  });

  it('uses ready endpoints, else serving+terminating ones; never not-serving ones', () => {
    const t = v4(compileServices(FEATURE_CASES['endpoint-conditions']!, NODE));
    expect(elements(t, 'lb-endpoints')).toEqual([
      '10.96.0.12 . tcp . 80 . 0 : 10.244.0.8 . 8080',
      '10.96.0.10 . tcp . 80 . 0 : 10.244.0.5 . 8080',
    ]);
  });

  it('rejects traffic to a Service without endpoints and to unknown ports of a ClusterIP', () => {
    const t = v4(compileServices(FEATURE_CASES['no-endpoints']!, NODE));
    expect(elements(t, 'service-ips')).toEqual([]);
    expect(elements(t, 'no-endpoint-services')).toEqual([
      '10.96.0.10 . tcp . 80 : goto reject-chain',
    ]);
    expect(elements(t, 'no-endpoint-nodeports')).toEqual(['tcp . 30080 : goto reject-chain']);
    expect(elements(t, 'cluster-ips')).toEqual(['10.96.0.10']);
    expect(t.chains.find((c) => c.name === 'cluster-ips-check')!.rules).toEqual([
      'ip daddr @cluster-ips reject',
      'ip daddr 10.96.0.0/16 drop',
    ]);
    expect(t.chains.find((c) => c.name === 'reject-chain')!.rules).toEqual(['reject']);
  });

  it('produces no rules for headless Services', () => {
    const r = compileServices(FEATURE_CASES.headless!, NODE);
    for (const t of r.tables) {
      expect(t.chains).toHaveLength(SKELETON_CHAINS);
      expect(t.elements.filter((e) => e.set !== 'pod-cidrs')).toEqual([]);
    }
  });

  it('programs each family in its own table (dual stack)', () => {
    const r = compileServices(FEATURE_CASES['dual-stack']!, NODE);
    expect(elements(v6(r), 'lb-2')).toEqual(['fd00:96::10 . tcp . 80']);
    expect(elements(v6(r), 'lb-endpoints')).toEqual([
      'fd00:96::10 . tcp . 80 . 0 : fd00:244:1::5 . 8080',
      'fd00:96::10 . tcp . 80 . 1 : fd00:244::5 . 8080',
    ]);
    expect(v6(r).chains.find((c) => c.name === 'lb')!.rules[1]).toContain('dnat ip6 to ip6 daddr');
    expect(elements(v4(r), 'lb-3')).toEqual(['10.96.0.10 . tcp . 80']);
    expect(v6(r).chains.find((c) => c.name === 'services')!.rules[2]).toContain('ip6 daddr != ::1');
  });

  it('PreferClose keeps endpoints hinted for the node zone, and falls back when hints are missing', () => {
    const eps = (t: NftTable) => elements(t, 'lb-endpoints').length;
    const t = v4(compileServices(FEATURE_CASES['prefer-close']!, NODE));
    expect(eps(t)).toBe(2);
    const other = v4(compileServices(FEATURE_CASES['prefer-close']!, { ...NODE, zone: 'zone-c' }));
    expect(eps(other)).toBe(3);
    const s = FEATURE_CASES['prefer-close']!;
    const slice = structuredClone(s.endpointSlices[0]!);
    delete slice.endpoints![2]!.hints;
    const partial = v4(compileServices({ services: s.services, endpointSlices: [slice] }, NODE));
    expect(eps(partial)).toBe(3);
  });

  it('drops pod CIDRs covered by another (interval sets refuse overlaps)', () => {
    const t = v4(
      compileServices(FEATURE_CASES.nodeport!, {
        ...NODE,
        clusterCIDRs: ['10.244.0.0/16', '10.0.0.0/8', '10.0.0.0/8', '192.168.0.0/16'],
      }),
    );
    expect(elements(t, 'pod-cidrs')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
  });

  it('uses the NodePort address set when node addresses are given', () => {
    const t = v4(
      compileServices(FEATURE_CASES.nodeport!, { ...NODE, addresses: ['192.168.50.1'] }),
    );
    expect(elements(t, 'nodeport-ips')).toEqual(['192.168.50.1']);
    expect(t.chains.find((c) => c.name === 'services')!.rules[2]).toBe(
      'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    );
  });

  it('names only its own table and honours the table option', () => {
    const text = renderRuleset(
      compileServices(FEATURE_CASES.nodeport!, NODE, { table: 'my-svc', families: ['ip'] }),
    );
    const tables = new Set([...text.matchAll(/ (?:ip|ip6|inet) (\S+)/g)].map((m) => m[1]));
    expect(
      [...text.matchAll(/^\w+ \w+ (ip6?) (\S+)/gm)].every(
        (m) => m[1] === 'ip' && m[2] === 'my-svc',
      ),
    ).toBe(true);
    expect(tables.has('podnet-svc')).toBe(false);
  });
});

describe('validation', () => {
  const bad = (svc: object) => () =>
    compileServices({ services: [svc as never], endpointSlices: [] }, NODE);
  it.each([
    [
      { metadata: { name: 'x' }, spec: { clusterIP: '10.96.0.300', ports: [{ port: 80 }] } },
      'spec.clusterIPs[0]',
    ],
    [
      { metadata: { name: 'x' }, spec: { clusterIP: '10.96.0.3', ports: [{ port: 70000 }] } },
      'spec.ports[0].port',
    ],
    [
      {
        metadata: { name: 'x' },
        spec: { clusterIP: '10.96.0.3', ports: [{ port: 80, protocol: 'ICMP' }] },
      },
      'spec.ports[0].protocol',
    ],
    [
      {
        metadata: { name: 'x' },
        spec: { clusterIP: '10.96.0.3', externalIPs: ['nope'], ports: [] },
      },
      'spec.externalIPs[0]',
    ],
    [
      {
        metadata: { name: 'x' },
        spec: {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.3',
          loadBalancerSourceRanges: ['1.2.3.4/40'],
          ports: [],
        },
      },
      'spec.loadBalancerSourceRanges[0]',
    ],
    [
      {
        metadata: { name: 'x' },
        spec: {
          clusterIP: '10.96.0.3',
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } },
          ports: [],
        },
      },
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
    ],
    [
      {
        metadata: { name: 'x' },
        spec: { clusterIP: '10.96.0.3', externalTrafficPolicy: 'Nearby', ports: [] },
      },
      'spec.externalTrafficPolicy',
    ],
    [{ metadata: {}, spec: {} }, 'metadata.name'],
    [{ metadata: { name: 'x' } }, 'spec'],
  ])('rejects %j naming %s', (svc, field) => {
    const err = (() => {
      try {
        bad(svc)();
      } catch (e) {
        return e;
      }
    })();
    expect(ServiceLbError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ code: 'INVALID_SERVICE', field });
    expect((err as Error).message).toContain(field);
  });

  it('rejects a bad EndpointSlice address and bad node facts', () => {
    const slice = makeEndpointSlice('default', 'web', [{ ip: 'fd00::1' }], [{ port: 80 }], {
      addressType: 'IPv4',
    });
    expect(() => compileServices({ services: [], endpointSlices: [slice] }, NODE)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ENDPOINT_SLICE',
        field: 'endpoints[0].addresses[0]',
      }),
    );
    expect(() => compileServices({ services: [], endpointSlices: [] }, { name: '' })).toThrow(
      expect.objectContaining({ code: 'INVALID_NODE', field: 'name' }),
    );
    expect(() =>
      compileServices(
        { services: [], endpointSlices: [] },
        { name: 'n', clusterCIDRs: ['10.0.0.0'] },
      ),
    ).toThrow(expect.objectContaining({ code: 'INVALID_NODE', field: 'clusterCIDRs[0]' }));
    expect(() =>
      compileServices({ services: [], endpointSlices: [] }, NODE, { table: 'bad name' }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('ignores FQDN slices and slices without a service-name label', () => {
    const fq = {
      ...makeEndpointSlice('default', 'web', [{ ip: '10.244.0.5' }], [{ port: 80 }]),
      addressType: 'FQDN',
    };
    const unlabeled = {
      ...makeEndpointSlice('default', 'web', [{ ip: '10.244.0.5' }], [{ port: 80 }]),
      metadata: { name: 'x' },
    };
    const r = compileServices(
      {
        services: [
          makeService('default', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }),
        ],
        endpointSlices: [fq, unlabeled],
      },
      NODE,
    );
    expect(elements(v4(r), 'no-endpoint-services')).toEqual([
      '10.96.0.10 . tcp . 80 : goto reject-chain',
    ]);
  });
});

describe('diffRulesets', () => {
  const base = FEATURE_CASES['clusterip-multiport']!;
  const withEndpoints = (ips: string[]) => ({
    services: [
      ...base.services,
      makeService('default', 'web', {
        clusterIP: '10.96.0.10',
        ports: [{ name: 'http', port: 80 }],
      }),
    ],
    endpointSlices: [
      ...base.endpointSlices,
      makeEndpointSlice(
        'default',
        'web',
        ips.map((ip) => ({ ip })),
        [{ name: 'http', port: 8080 }],
      ),
    ],
  });

  it('is empty when nothing changed', () => {
    const a = compileServices(withEndpoints(['10.244.0.5', '10.244.1.5']), NODE);
    expect(
      diffRulesets(a, compileServices(withEndpoints(['10.244.0.5', '10.244.1.5']), NODE)),
    ).toEqual({ full: false, ops: [] });
  });

  it('one endpoint added moves only set and map elements, none a verdict: lb-2 → lb-3, its slot, its hairpin pair', () => {
    const a = compileServices(withEndpoints(['10.244.0.5', '10.244.1.5']), NODE);
    const b = compileServices(withEndpoints(['10.244.0.5', '10.244.1.5', '10.244.2.5']), NODE);
    const tx = diffRulesets(a, b);
    expect(tx.full).toBe(false);
    expect(tx.ops.length).toBeLessThanOrEqual(10);
    expect(tx.ops.every((op) => op.kind === 'element' && !/goto|jump/.test(op.value ?? ''))).toBe(
      true,
    );
    expect(renderTransaction(tx)).toMatchInlineSnapshot(`
      "delete element ip podnet-svc lb-2 { 10.96.0.10 . tcp . 80 }
      add element ip podnet-svc lb-3 { 10.96.0.10 . tcp . 80 }
      add element ip podnet-svc lb-endpoints { 10.96.0.10 . tcp . 80 . 2 : 10.244.2.5 . 8080 }
      add element ip podnet-svc hairpin-endpoints { 10.244.2.5 . 10.244.2.5 }
      "
    `);
  });

  it('last endpoint removed: lb-1 membership swapped for a reject, its slot and hairpin pair deleted', () => {
    const a = compileServices(withEndpoints(['10.244.0.5']), NODE);
    const b = compileServices(withEndpoints([]), NODE);
    const tx = diffRulesets(a, b);
    const kinds = tx.ops.map(
      (op) => `${op.op} ${op.kind}${op.kind === 'element' ? ` ${op.set}` : ''}`,
    );
    expect(kinds).toEqual([
      'delete element lb-1',
      'delete element lb-endpoints',
      'delete element hairpin-endpoints',
      'add element no-endpoint-services',
    ]);
  });

  it('a chain-owning Service that loses its last endpoint flushes its chains and deletes them after the swap', () => {
    const nodePort = (ips: string[]) => {
      const s = withEndpoints(ips);
      const web = s.services.at(-1)!;
      web.spec = {
        ...web.spec,
        type: 'NodePort',
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
      };
      return s;
    };
    const tx = diffRulesets(
      compileServices(nodePort(['10.244.0.5']), NODE),
      compileServices(nodePort([]), NODE),
    );
    const kinds = tx.ops.map(
      (op) => `${op.op} ${op.kind}${op.kind === 'element' ? ` ${op.set}` : ''}`,
    );
    expect(kinds).toEqual([
      'delete element lb-1',
      'delete element lb-endpoints',
      'delete element service-nodeports',
      'delete element hairpin-endpoints',
      'add element no-endpoint-services',
      'add element no-endpoint-nodeports',
      'flush chain',
      'flush chain',
      'flush chain',
      'delete chain',
      'delete chain',
      'delete chain',
    ]);
  });

  it('falls back to a full transaction when a table appears or disappears', () => {
    const a = compileServices(withEndpoints([]), NODE, { families: ['ip'] });
    const b = compileServices(withEndpoints([]), NODE);
    expect(diffRulesets(b, a).full).toBe(true);
    expect(diffRulesets(undefined, a).full).toBe(true);
  });

  it('a full transaction atomically recreates only podnet tables', () => {
    const text = renderRuleset(compileServices(withEndpoints([]), NODE));
    expect(text.split('\n').slice(0, 3)).toEqual([
      'add table ip podnet-svc',
      'delete table ip podnet-svc',
      'add table ip podnet-svc',
    ]);
  });
});

describe('renderFullRuleset', () => {
  const viaTransaction = (r: Ruleset) => {
    const tx = fullTransaction(r);
    return { script: renderTransaction(tx), operations: tx.ops.length };
  };

  it('writes the text and operation count of the full transaction, for every feature case', () => {
    for (const [name, state] of Object.entries(FEATURE_CASES)) {
      const r = compileServices(state, NODE);
      expect(renderFullRuleset(r), name).toEqual(viaTransaction(r));
    }
  });

  it('splits long sets at 500 elements a line, as the transaction renderer does', () => {
    const r = compileServices(syntheticCluster(120, 10), NODE);
    const mine = renderFullRuleset(r);
    expect(mine).toEqual(viaTransaction(r));
    expect(mine.script).toMatch(/^add element ip podnet-svc lb-endpoints \{ /m);
    expect(
      mine.script
        .split('\n')
        .filter((l) => l.startsWith('add element ip podnet-svc lb-endpoints {')).length,
    ).toBe(3);
  });

  it('keeps one element per key (the last value) and orders families and sets by name', () => {
    const t = (family: 'ip' | 'ip6', name: string): NftTable => ({
      family,
      name,
      sets: [
        { name: 'm', type: 'ipv4_addr', map: 'verdict' },
        { name: 'a', type: 'ipv4_addr' },
      ],
      chains: [{ name: 'c1', rules: ['counter', 'accept'] }],
      elements: [
        { set: 'm', key: '10.0.0.1', value: 'drop' },
        { set: 'a', key: '10.0.0.2' },
        { set: 'm', key: '10.0.0.1', value: 'accept' },
        { set: 'm', key: '10.0.0.3', value: 'drop' },
      ],
    });
    const r: Ruleset = { tables: [t('ip6', 'x'), t('ip', 'x'), t('ip', 'y')] };
    const mine = renderFullRuleset(r);
    expect(mine).toEqual(viaTransaction(r));
    expect(mine.script).toContain('add element ip x m { 10.0.0.1 : accept, 10.0.0.3 : drop }');
    expect(renderFullRuleset({ tables: [] })).toEqual({ script: '', operations: 0 });
  });
});
