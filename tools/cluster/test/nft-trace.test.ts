import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Explanation } from '../src/explain.js';
import {
  compareLive,
  formatLive,
  type KernelObservation,
  observeKernel,
  TRACE_PORTS,
  traceTableScript,
} from '../src/live-explain.js';
import { groupTraces, parseNftTrace, parsePacketHeaders } from '../src/nft-trace.js';
import { parseCommandLine } from '../src/cli-args.js';

// `nft -a monitor trace` output captured on this kernel (nftables 1.0.6) in a 2-node podnet
// cluster: x/a (10.244.1.2, node1) to x/b (10.244.2.2, node2), a NetworkPolicy admitting only
// TCP 80 into x/b; Service x/web 10.96.0.11:8080 → x/b:80. The probe's source port is 61234.
const fixture = (name: string) =>
  readFileSync(new URL(`fixtures/nft-trace/${name}.txt`, import.meta.url), 'utf8');

describe('parseNftTrace', () => {
  it('reads packet, rule (with handle and verdict target) and policy lines', () => {
    const events = parseNftTrace(fixture('drop-node2'));
    expect(events.length).toBe(40);
    expect(events[0]).toMatchObject({
      family: 'inet',
      table: 'podnet_trace_fixture',
      chain: 'pre',
      kind: 'packet',
      packet: {
        iif: 'eth0',
        saddr: '10.244.1.2',
        daddr: '10.244.2.2',
        l4proto: 'tcp',
        sport: 61234,
        dport: 81,
      },
    });
    const goto = events.find((e) => e.kind === 'rule' && e.verdict === 'goto');
    expect(goto).toMatchObject({
      table: 'podnet_netpol',
      chain: 'ingress',
      rule: 'ip daddr vmap @in_4',
      handle: 13,
      target: 'in3',
    });
    const drop = events.find((e) => e.verdict === 'drop');
    expect(drop).toEqual({
      id: drop!.id,
      family: 'inet',
      table: 'podnet_netpol',
      chain: 'in3_t',
      kind: 'rule',
      rule: 'log prefix "podnet:drop:in:np:x/b-81-deny:* " group 100 drop',
      handle: 26,
      verdict: 'drop',
    });
    expect(events.find((e) => e.kind === 'policy')).toMatchObject({ verdict: 'accept' });
  });

  it('reads IPv6 headers (ip6 saddr/daddr, nexthdr)', () => {
    const [first] = parseNftTrace(fixture('drop6-node2'));
    expect(first!.packet).toEqual({
      iif: 'eth0',
      saddr: 'fd00:10:244:1::2',
      daddr: 'fd00:10:244:2::2',
      l4proto: 'tcp',
      sport: 61234,
      dport: 81,
    });
  });

  it('skips lines that are not trace events, and rules without the handle (no -a)', () => {
    const text = [
      'garbage',
      'trace id 1a inet t c rule tcp dport 80 accept (verdict accept)',
      'trace id 1a inet t c verdict continue',
    ].join('\n');
    expect(parseNftTrace(text)).toEqual([
      {
        id: '1a',
        family: 'inet',
        table: 't',
        chain: 'c',
        kind: 'rule',
        rule: 'tcp dport 80 accept',
        verdict: 'accept',
      },
      { id: '1a', family: 'inet', table: 't', chain: 'c', kind: 'verdict', verdict: 'continue' },
    ]);
  });

  it('parsePacketHeaders reads udp ports and interfaces', () => {
    expect(
      parsePacketHeaders(
        'iif "pn1" oif "eth0" ip saddr 1.2.3.4 ip daddr 5.6.7.8 udp sport 61000 udp dport 53',
      ),
    ).toEqual({
      iif: 'pn1',
      oif: 'eth0',
      saddr: '1.2.3.4',
      daddr: '5.6.7.8',
      l4proto: 'udp',
      sport: 61000,
      dport: 53,
    });
  });
});

describe('groupTraces', () => {
  it('one trace per packet: the SYN and its retransmission, each dropped by the netpol rule', () => {
    const traces = groupTraces(parseNftTrace(fixture('drop-node2')));
    expect(traces.length).toBe(2);
    for (const t of traces) {
      expect(t.dropped).toEqual({
        family: 'inet',
        table: 'podnet_netpol',
        chain: 'in3_t',
        rule: 'log prefix "podnet:drop:in:np:x/b-81-deny:* " group 100 drop',
        handle: 26,
        verdict: 'drop',
      });
    }
  });

  it('splits packets that reuse a trace id (a packet line for a hook the packet already met)', () => {
    const traces = groupTraces(parseNftTrace(fixture('svc-node1')));
    // SYN (DNATed), then four packets of the established connection, all ids distinct here
    expect(traces.length).toBe(5);
    const reused = fixture('svc-node1')
      .split('\n')
      .filter((l) => l.includes('05b8c2e2') || l.includes('62e657c4'))
      .map((l) => l.replace('62e657c4', '05b8c2e2'))
      .join('\n');
    const split = groupTraces(parseNftTrace(reused));
    expect(split.length).toBe(2);
    expect(split[0]!.packet.daddr).toBe('10.96.0.11');
    expect(split[0]!.lastPacket.daddr).toBe('10.244.2.2');
  });
});

describe('observeKernel', () => {
  const ns = (label: string, name: string) => ({
    label,
    netns: `pnc-${label}`,
    text: fixture(name),
  });

  it('a dropped probe: where, by which rule, every podnet chain met in order', () => {
    const k = observeKernel(
      [ns('node1', 'drop-node1'), ns('node2', 'drop-node2'), ns('pod x/a', 'drop-pod')],
      61234,
      { ok: false, error: 'timeout' },
    );
    expect(k.verdict).toBe('deny');
    expect(k.dropped).toMatchObject({ label: 'node2', decision: { chain: 'in3_t', handle: 26 } });
    expect(k.dnat).toBeUndefined();
    expect(k.hops.map((h) => h.label)).toEqual(['node1', 'node2', 'pod x/a']);
    expect(k.hops[1]!.chains).toEqual([
      'podnet-svc filter-prerouting',
      'podnet-svc nat-prerouting',
      'podnet-agent prerouting',
      'podnet-svc filter-forward',
      'podnet_netpol egress',
      'podnet_netpol ingress',
      'podnet_netpol in3',
      'podnet_netpol in3_t',
    ]);
    expect(k.hops[2]!.chains).toEqual([]);
  });

  it('a Service probe: the DNAT the kernel chose and the netpol rule that accepted it', () => {
    const k = observeKernel([ns('node1', 'svc-node1'), ns('node2', 'svc-node2')], 61234, {
      ok: true,
      reply: 'b 10.244.1.2',
    });
    expect(k.verdict).toBe('allow');
    expect(k.dnat).toEqual({ ip: '10.244.2.2', port: 80, label: 'node1' });
    expect(k.hops[0]!.dnat).toEqual({ from: '10.96.0.11:8080', to: '10.244.2.2:80' });
    expect(k.accepted).toMatchObject({
      label: 'node2',
      decision: { chain: 'p1_in', rule: 'tcp dport 80 accept', handle: 18 },
    });
    expect(k.hops[0]!.rules.map((r) => `${r.chain}#${r.handle} ${r.verdict}`)).toEqual([
      'nat-prerouting#65 jump',
      'services#69 goto',
      'lb#82 accept',
      'filter-forward#60 jump',
      'filter-forward#61 jump',
      'nat-postrouting#67 jump',
      'masquerading#77 return',
    ]);
  });

  it('another source port is not this probe', () => {
    const k = observeKernel([ns('node2', 'drop-node2')], 61235, { ok: false, error: 'timeout' });
    expect(k.hops).toEqual([]);
    expect(k.verdict).toBe('deny');
  });
});

describe('compareLive', () => {
  const decision = {
    family: 'inet',
    table: 'podnet_netpol',
    chain: 'in3_t',
    rule: 'drop',
    handle: 26,
    verdict: 'drop',
  };
  const kernel = (over: Partial<KernelObservation>): KernelObservation => ({
    sport: 61000,
    probe: { ok: true, reply: 'b' },
    hops: [],
    verdict: 'allow',
    ...over,
  });
  const model = (over: Partial<Explanation>): Explanation => ({
    steps: [],
    verdict: 'allow',
    ...over,
  });
  const dnat = {
    node: 'node1',
    action: 'dnat' as const,
    endpoints: [
      { ip: '10.244.1.3', port: 8080 },
      { ip: '10.244.3.2', port: 8080 },
    ],
    masquerade: false,
    affinity: false,
  };
  const policies = [
    {
      ip: '10.244.1.3',
      port: 8080,
      src: 'default/client',
      verdict: 'allow' as const,
      summary: 'ok',
    },
    {
      ip: '10.244.3.2',
      port: 8080,
      src: 'default/client',
      verdict: 'deny' as const,
      summary: 'isolated by default/np',
    },
  ];
  const dropped = { label: 'node2', decision };

  it.each([
    ['allow / allow', model({}), kernel({}), []],
    ['deny / dropped', model({ verdict: 'deny' }), kernel({ verdict: 'deny', dropped }), []],
    [
      'allow / dropped',
      model({}),
      kernel({ verdict: 'deny', dropped, probe: { ok: false, error: 'timeout' } }),
      [
        'verdict: the model says allow; the kernel dropped the probe on node2 in inet podnet_netpol chain in3_t rule "drop" (handle 26)',
      ],
    ],
    [
      'deny / let through',
      model({ verdict: 'deny' }),
      kernel({
        accepted: {
          label: 'node2',
          decision: {
            ...decision,
            chain: 'p1_in',
            rule: 'tcp dport 80 accept',
            handle: 18,
            verdict: 'accept',
          },
        },
      }),
      [
        'verdict: the model says deny; the kernel let the probe through, accepted on node2 by inet podnet_netpol chain p1_in rule "tcp dport 80 accept" (handle 18)',
      ],
    ],
    [
      'allow / silent loss',
      model({}),
      kernel({ verdict: 'deny', probe: { ok: false, error: 'timeout' } }),
      [
        'verdict: the model says allow; the probe got no answer (timeout) and no traced rule dropped it',
      ],
    ],
    [
      'reject / reject by service-lb',
      model({ verdict: 'reject' }),
      kernel({
        verdict: 'reject',
        dropped: {
          label: 'node1',
          decision: {
            ...decision,
            table: 'podnet-svc',
            chain: 'reject-chain',
            rule: 'reject',
            verdict: 'reject',
          },
        },
      }),
      [],
    ],
    [
      'DNAT to a modelled endpoint: the verdict of that endpoint counts',
      model({ verdict: 'deny', dnat, policies }),
      kernel({ dnat: { ip: '10.244.1.3', port: 8080, label: 'node1' } }),
      [],
    ],
    [
      'DNAT to an endpoint the model does not know',
      model({ dnat, policies }),
      kernel({ dnat: { ip: '10.244.9.9', port: 8080, label: 'node1' } }),
      [
        'DNAT: the model balances over 10.244.1.3:8080, 10.244.3.2:8080; the kernel chose 10.244.9.9:8080 on node1',
      ],
    ],
    [
      'the kernel DNATs what the model does not',
      model({}),
      kernel({ dnat: { ip: '10.244.1.3', port: 80, label: 'node1' } }),
      ['DNAT: the model has no DNAT for this flow; the kernel DNATed it to 10.244.1.3:80 on node1'],
    ],
    [
      'the model DNATs, the kernel does not; the denied endpoint is not the reason',
      model({ dnat, policies, verdict: 'deny' }),
      kernel({}),
      [
        'DNAT: the model DNATs to 10.244.1.3:8080, 10.244.3.2:8080; the kernel did not DNAT the probe',
        'verdict: the model says deny (ok; isolated by default/np); the kernel let the probe through',
      ],
    ],
    [
      'unknown target: only DNAT is compared',
      model({ verdict: 'unknown' }),
      kernel({ verdict: 'deny' }),
      [],
    ],
  ] as const)('%s', (_, m, k, want) => {
    expect(compareLive(m, k)).toEqual(want);
  });

  it('formatLive prints the model, the probe, each hop and the disagreement', () => {
    const m = model({ steps: [{ kind: 'source', detail: 'pod x/a' }] });
    const k = kernel({
      verdict: 'deny',
      dropped,
      probe: { ok: false, error: 'timeout' },
      hops: [
        {
          label: 'node2',
          chains: ['podnet_netpol ingress', 'podnet_netpol in3_t'],
          rules: [decision],
          dropped: decision,
        },
      ],
    });
    const flow = { from: 'x/a', to: 'x/b', port: 80, protocol: 'TCP' as const };
    expect(formatLive({ flow, model: m, kernel: k, disagreements: compareLive(m, k) })).toEqual([
      'source   pod x/a',
      'model    verdict allow',
      'probe    from source port 61000: blocked (timeout)',
      'trace    node2: podnet_netpol ingress → podnet_netpol in3_t; drop by inet podnet_netpol chain in3_t rule "drop" (handle 26)',
      'kernel   verdict deny',
      'DISAGREE verdict: the model says allow; the kernel dropped the probe on node2 in inet podnet_netpol chain in3_t rule "drop" (handle 26)',
    ]);
  });
});

describe('traceTableScript', () => {
  it('traces the probes by source port before every podnet chain, in both hooks', () => {
    const pre =
      '  chain pre { type filter hook prerouting priority -350; policy accept; ' +
      'tcp flags & (syn | ack) == syn tcp sport 61000-61080 meta nftrace set 1; ' +
      'meta l4proto { udp, sctp } th sport 61000-61080 meta nftrace set 1; }';
    expect(traceTableScript('podnet_trace_1_61000', { first: 61000, last: 61080 })).toBe(
      [
        'table inet podnet_trace_1_61000 {',
        pre,
        pre.replace('chain pre', 'chain out').replace('hook prerouting', 'hook output'),
        '}',
        '',
      ].join('\n'),
    );
    expect(traceTableScript('podnet_trace_x', { first: 61000, last: 61000 })).toContain(
      'tcp sport 61000 meta',
    );
  });

  it('refuses a table name that is not its own, naming it', () => {
    expect(() => traceTableScript('podnet_netpol', { first: 61000, last: 61000 })).toThrow(
      /trace table: bad name "podnet_netpol"/,
    );
  });

  it('the probe ports lie above the ephemeral range', () => {
    expect(TRACE_PORTS.first).toBeGreaterThan(60999);
  });
});

describe('explain --live on the command line', () => {
  it('is an option of explain, for tcp and udp', () => {
    expect(parseCommandLine(['explain', 'x/a', 'x/b:80/udp', '--live', '-6']).command).toEqual({
      cmd: 'explain',
      from: 'x/a',
      target: { to: 'x/b', port: 80, proto: 'udp', family: 6 },
      live: true,
    });
    expect(parseCommandLine(['explain', 'x/a', 'x/b:80']).command).not.toHaveProperty('live');
    expect(() => parseCommandLine(['probe', 'x/a', 'x/b:80', '--live'])).toThrow(
      'probe: --live is an option of explain',
    );
    expect(() => parseCommandLine(['explain', 'x/a', 'x/b:80/http', '--live'])).toThrow(
      'explain --live: PROTO: want tcp or udp, got http',
    );
  });
});
