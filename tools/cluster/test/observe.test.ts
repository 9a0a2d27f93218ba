import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/cli-args.js';
import {
  FlowMerger,
  flowQuery,
  flowSources,
  formatFlowHeader,
  formatFlowLine,
  type ObservedEvent,
} from '../src/observe.js';

const flow = (node: string, seq: number, time: string, over: Partial<ObservedEvent> = {}) =>
  ({
    type: 'flow',
    seq,
    time,
    node,
    verdict: 'drop',
    direction: 'ingress',
    protocol: 'TCP',
    source: { kind: 'pod', ip: '10.244.1.3', namespace: 'y', name: 'b', port: 40312 },
    destination: { kind: 'pod', ip: '10.244.2.5', namespace: 'x', name: 'a', port: 80 },
    tier: 'NetworkPolicy',
    policies: ['x/deny-all'],
    summary: 's',
    ...over,
  }) as ObservedEvent;

describe('podnet observe: arguments', () => {
  it('reads the filters, follow and -o json', () => {
    expect(
      parseCommandLine([
        'observe',
        '--pod',
        'x/a',
        '--namespace',
        'x',
        '--verdict',
        'would-drop',
        '--since',
        '5m',
        '--follow',
        '-o',
        'json',
      ]).command,
    ).toEqual({
      cmd: 'observe',
      options: {
        pod: 'x/a',
        namespace: 'x',
        verdict: 'would-drop',
        since: '5m',
        follow: true,
        output: 'json',
      },
    });
    expect(parseCommandLine(['observe']).command).toEqual({ cmd: 'observe', options: {} });
  });

  it('names the flag of a bad value', () => {
    const err = (argv: string[]) => {
      try {
        parseCommandLine(argv);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(['observe', '--verdict', 'dropped'])).toMatch(
      /^--verdict: want drop, allow, would-drop/,
    );
    expect(err(['observe', '--pod', 'a'])).toMatch(/^--pod: want NAMESPACE\/NAME/);
    expect(err(['observe', '--since', 'yesterday'])).toMatch(/^--since: want a duration/);
    expect(err(['observe', '-o', 'yaml'])).toMatch(
      /^-o: unknown format "yaml" \(supported: json\)/,
    );
    expect(err(['observe', 'x/a'])).toMatch(/^observe: unexpected x\/a/);
  });
});

describe('podnet observe: query and sources', () => {
  it('makes --since absolute once, so every node filters from the same instant', () => {
    const now = Date.parse('2026-12-07T03:00:00Z');
    expect(flowQuery({ pod: 'x/a', verdict: 'drop', since: '90s', follow: true }, now)).toBe(
      `/flows?pod=x%2Fa&verdict=drop&since=${now - 90_000}&follow=1`,
    );
    expect(flowQuery({})).toBe('/flows');
  });

  it('reads each node agent inside its namespace; IPv6 in brackets; none for a reference network', () => {
    const plan = {
      network: 'podnet',
      nodes: [
        { name: 'node1', netns: 'pn-a-node1', ip: '192.168.50.2' },
        { name: 'node2', netns: 'pn-a-node2', ip: 'fd00:50::3' },
      ],
    };
    expect(flowSources(plan, '/flows', 9098)).toEqual([
      { node: 'node1', netns: 'pn-a-node1', url: 'http://192.168.50.2:9098/flows' },
      { node: 'node2', netns: 'pn-a-node2', url: 'http://[fd00:50::3]:9098/flows' },
    ]);
    expect(() => flowSources({ ...plan, network: 'reference' }, '/flows')).toThrow(
      /no node agents/,
    );
  });
});

describe('podnet observe: merging nodes', () => {
  it('prints in time order across nodes (ties by node, then sequence)', () => {
    const m = new FlowMerger(0);
    m.push(flow('node2', 5, '2026-12-07T03:00:00.300Z'), 0);
    m.push(flow('node1', 9, '2026-12-07T03:00:00.100Z'), 0);
    m.push(flow('node1', 10, '2026-12-07T03:00:00.300Z'), 0);
    m.push(flow('node2', 6, '2026-12-07T03:00:00.200Z'), 0);
    expect(m.take().map((e) => `${e.node}#${e.seq}`)).toEqual([
      'node1#9',
      'node2#6',
      'node1#10',
      'node2#5',
    ]);
    expect(m.take()).toEqual([]);
  });

  it('when following, holds each record for the window so a slower node can catch up', () => {
    const m = new FlowMerger(250);
    m.push(flow('node1', 1, '2026-12-07T03:00:00.200Z'), 1000);
    m.push(flow('node2', 1, '2026-12-07T03:00:00.100Z'), 1100);
    expect(m.take(1200)).toEqual([]);
    expect(m.take(1250).map((e) => e.node)).toEqual(['node1']);
    expect(m.take(1350).map((e) => e.node)).toEqual(['node2']);
  });
});

describe('podnet observe: table', () => {
  it('shows time, node, verdict, direction, both ends, protocol and the deciding policy and rule', () => {
    expect(formatFlowHeader()).toBe(
      'TIME         NODE     VERDICT    DIR     SOURCE                 DESTINATION            PROTO POLICY',
    );
    expect(formatFlowLine(flow('node1', 1, '2026-12-07T03:00:00.123Z'))).toBe(
      '03:00:00.123 node1    DROP       ingress y/b:40312              x/a:80                 TCP   x/deny-all',
    );
    const audit = flow('node2', 2, '2026-12-07T03:00:01.000Z', {
      verdict: 'would-drop',
      tier: 'Admin',
      policies: ['no-z'],
      rule: { index: 0, name: 'deny-z' },
      destination: { kind: 'service', ip: '10.96.0.10', namespace: 'x', name: 'web', port: 80 },
    } as Partial<ObservedEvent>);
    expect(formatFlowLine(audit)).toContain(
      'WOULD-DROP ingress y/b:40312              svc:x/web:80',
    );
    expect(formatFlowLine(audit).endsWith('Admin:no-z[deny-z]')).toBe(true);
    const lost: ObservedEvent = {
      type: 'lost',
      seq: 7,
      time: '2026-12-07T03:00:02.000Z',
      node: 'node1',
      count: 12,
      reason: 'slow-reader',
      message: '12 flow records were overwritten',
    };
    expect(formatFlowLine(lost)).toBe(
      '03:00:02.000 node1    LOST       12 records (slow-reader): 12 flow records were overwritten',
    );
  });
});
