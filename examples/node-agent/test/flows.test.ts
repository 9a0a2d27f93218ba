import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Delta, Node, Pod, Service } from '@podnet/cluster-state';
import type { VerdictLogRecord } from '@podnet/netpol';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFlowConfig } from '../src/flow-config.js';
import { FLOWS_PATH, serveFlowStream } from '../src/flow-http.js';
import { canonicalIp, FlowIndex, formatEndpoint } from '../src/flow-index.js';
import {
  type FlowEvent,
  FlowRecorder,
  matchesFlowFilter,
  parseDuration,
  parseFlowFilter,
} from '../src/flows.js';
import { serveHttp } from '../src/http.js';

const pod = (ns: string, name: string, ips: string[], extra: Partial<Pod['spec']> = {}): Pod => ({
  metadata: { namespace: ns, name },
  spec: { containers: [{ name: 'c' }], nodeName: 'node1', ...extra },
  status: { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
});
const added = (kind: 'Pod' | 'Service' | 'Node', key: string, object: unknown): Delta =>
  ({ type: 'added', kind, key, object }) as Delta;
const deleted = (kind: 'Pod' | 'Service' | 'Node', key: string, old: unknown): Delta =>
  ({ type: 'deleted', kind, key, old }) as Delta;

const svc: Service = {
  metadata: { namespace: 'x', name: 'web' },
  spec: {
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10', 'fd00:96::a'],
    ports: [{ port: 80 }],
  },
  status: { loadBalancer: { ingress: [{ ip: '203.0.113.201' }] } },
};
const node: Node = {
  metadata: { name: 'node2' },
  status: {
    addresses: [
      { type: 'InternalIP', address: '192.168.50.3' },
      { type: 'Hostname', address: 'node2' },
    ],
  },
};

function index(): FlowIndex {
  const i = new FlowIndex();
  i.apply([
    added('Pod', 'x/a', pod('x', 'a', ['10.244.1.5', 'fd00:244:1:0:0:0:0:5'])),
    added('Pod', 'y/b', pod('y', 'b', ['10.244.2.7'])),
    added(
      'Pod',
      'kube-system/host',
      pod('kube-system', 'host', ['192.168.50.3'], { hostNetwork: true }),
    ),
    added('Service', 'x/web', svc),
    added('Node', 'node2', node),
  ]);
  return i;
}

const rec = (over: Partial<VerdictLogRecord> = {}): VerdictLogRecord => ({
  time: '2026-12-07T03:00:00.000Z',
  verdict: 'drop',
  direction: 'ingress',
  tier: 'NetworkPolicy',
  policies: [{ namespace: 'x', name: 'deny-all' }],
  morePolicies: 0,
  protocol: 'TCP',
  src: '10.244.2.7',
  dst: '10.244.1.5',
  srcPort: 40000,
  dstPort: 80,
  message: 'm',
  ...over,
});

describe('FlowIndex', () => {
  it('resolves pods (both families), Services (ClusterIPs, LB), nodes, and the rest as external', () => {
    const i = index();
    expect(i.resolve('10.244.1.5')).toEqual({
      kind: 'pod',
      ip: '10.244.1.5',
      namespace: 'x',
      name: 'a',
      node: 'node1',
    });
    expect(formatEndpoint(i.resolve('fd00:244:1::5'))).toBe('x/a');
    expect(formatEndpoint(i.resolve('fd00:96:0::a'))).toBe('svc:x/web');
    expect(formatEndpoint(i.resolve('203.0.113.201'))).toBe('svc:x/web');
    // a host-network pod's address is its node's
    expect(i.resolve('192.168.50.3')).toEqual({ kind: 'node', ip: '192.168.50.3', name: 'node2' });
    expect(i.resolve('8.8.8.8')).toEqual({ kind: 'external', ip: '8.8.8.8' });
  });

  it('canonical addresses: the same answer asked once or many times (answers are cached)', () => {
    for (let k = 0; k < 2; k++) {
      expect(canonicalIp('10.244.1.5')).toBe('10.244.1.5');
      expect(canonicalIp('fd00:244:1:0:0:0:0:5')).toBe('fd00:244:1::5');
      expect(canonicalIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
      expect(canonicalIp('not-an-ip')).toBeUndefined();
    }
    // more distinct addresses than the cache holds: still right after it was cleared
    for (let n = 0; n < 5000; n++) canonicalIp(`10.${n >> 8}.${n & 255}.1`);
    expect(canonicalIp('fd00:244:1:0:0:0:0:5')).toBe('fd00:244:1::5');
  });

  it('resolved ends are fresh objects: the port of a record does not leak into the index', () => {
    const i = index();
    const r = new FlowRecorder({ node: 'node1', index: i });
    const rec = r.add({
      verdict: 'drop',
      direction: 'ingress',
      tier: 'NetworkPolicy',
      policies: [{ namespace: 'x', name: 'p' }],
      morePolicies: 0,
      rule: { index: 1, name: 'r' },
      protocol: 'TCP',
      src: '8.8.8.8',
      dst: '10.244.1.5',
      srcPort: 1234,
      dstPort: 80,
      message: 'm',
    });
    expect(rec?.source).toEqual({ kind: 'external', ip: '8.8.8.8', port: 1234 });
    expect(rec?.destination).toMatchObject({ kind: 'pod', name: 'a', port: 80 });
    expect(rec?.rule).toEqual({ index: 1, name: 'r' });
    expect(i.resolve('10.244.1.5')).not.toHaveProperty('port');
  });

  it('follows updates and deletions; an address two pods hold goes to the one that took it last', () => {
    const i = index();
    i.apply([added('Pod', 'z/new', pod('z', 'new', ['10.244.1.5']))]);
    expect(formatEndpoint(i.resolve('10.244.1.5'))).toBe('z/new');
    i.apply([deleted('Pod', 'z/new', pod('z', 'new', ['10.244.1.5']))]);
    expect(formatEndpoint(i.resolve('10.244.1.5'))).toBe('x/a');
    i.apply([
      {
        type: 'updated',
        kind: 'Pod',
        key: 'x/a',
        object: pod('x', 'a', ['10.244.1.99']),
        old: pod('x', 'a', ['10.244.1.5']),
      },
    ]);
    expect(i.resolve('10.244.1.5').kind).toBe('external');
    expect(formatEndpoint(i.resolve('10.244.1.99'))).toBe('x/a');
    i.apply([deleted('Service', 'x/web', svc), deleted('Node', 'node2', node)]);
    expect(i.resolve('10.96.0.10').kind).toBe('external');
    expect(i.resolve('192.168.50.3').kind).toBe('external');
    expect(i.sizes).toEqual({ pods: 2, services: 0, nodes: 0 });
  });
});

describe('FlowRecorder', () => {
  it('makes records naming the policy, the rule and both ends', () => {
    const r = new FlowRecorder({ node: 'node1', index: index() });
    const f = r.add(rec());
    expect(f).toMatchObject({
      type: 'flow',
      seq: 1,
      node: 'node1',
      verdict: 'drop',
      direction: 'ingress',
      policies: ['x/deny-all'],
      source: { kind: 'pod', namespace: 'y', name: 'b', port: 40000 },
      destination: { kind: 'pod', namespace: 'x', name: 'a', port: 80 },
    });
    expect(f?.summary).toBe(
      'DROP y/b -> x/a TCP/80: ingress isolated by NetworkPolicy x/deny-all, no rule allows it',
    );
    const w = r.add(
      rec({
        verdict: 'would-drop',
        tier: 'Admin',
        policies: [{ name: 'no-z' }],
        rule: { index: 0, name: 'r0' },
      }),
    );
    expect(w?.verdict).toBe('would-drop');
    expect(w?.summary).toBe(
      'WOULD-DROP y/b -> x/a TCP/80: ClusterNetworkPolicy (Admin) no-z ingress rule 0 "r0" (audit: let through)',
    );
    expect(r.add(rec({ verdict: 'accept' }))?.verdict).toBe('allow');
  });

  it('keeps the last `capacity` events and reports what a slow reader lost, counted', () => {
    const r = new FlowRecorder({ node: 'n', index: index(), capacity: 4 });
    const slow = r.cursor();
    for (let k = 0; k < 10; k++) r.add(rec({ srcPort: 1000 + k }));
    const got = r.read(slow);
    expect(got[0]).toMatchObject({ type: 'lost', count: 6, reason: 'slow-reader' });
    expect(got.slice(1).map((e) => (e.type === 'flow' ? e.source.port : -1))).toEqual([
      1006, 1007, 1008, 1009,
    ]);
    expect(slow.lost).toBe(6);
    expect(r.read(slow)).toEqual([]);
    r.add(rec({ srcPort: 2000 }));
    expect(r.read(slow).map((e) => e.seq)).toEqual([11]);
    expect(r.stats.lostSlowReader).toBe(6);
    // a reader that keeps up loses nothing
    const fast = r.cursor(true);
    for (let k = 0; k < 10; k++) {
      r.add(rec());
      expect(r.read(fast).every((e) => e.type === 'flow')).toBe(true);
    }
    expect(fast.lost).toBe(0);
    expect(r.read(fast, 1)).toEqual([]);
  });

  it('puts capture restarts in the stream and the counters', () => {
    const r = new FlowRecorder({ node: 'n', index: index(), now: () => 0 });
    const c = r.cursor();
    r.addLoss('reader-restart', 0, 'tcpdump exited 1');
    expect(r.read(c)).toEqual([
      {
        type: 'lost',
        seq: 1,
        time: '1970-01-01T00:00:00.000Z',
        node: 'n',
        count: 0,
        reason: 'reader-restart',
        message: 'tcpdump exited 1',
      },
    ]);
    expect(r.stats.readerRestarts).toBe(1);
  });

  it('samples allowed records (never drops) and counts the sampled-out ones apart from losses', () => {
    const r = new FlowRecorder({ node: 'n', index: index(), sampleAllowed: 0.25 });
    let kept = 0;
    for (let k = 0; k < 100; k++) if (r.add(rec({ verdict: 'accept' }))) kept++;
    for (let k = 0; k < 10; k++) expect(r.add(rec())).toBeDefined();
    expect(kept).toBe(25);
    expect(r.stats.sampledOut).toBe(75);
  });

  it('counts per policy x verdict x direction with at most maxPolicyLabels policies, then "other"', () => {
    const r = new FlowRecorder({ node: 'n', index: index(), maxPolicyLabels: 2 });
    for (const name of ['p1', 'p2', 'p3', 'p4'])
      r.add(rec({ policies: [{ namespace: 'x', name }] }));
    r.add(
      rec({
        policies: [{ namespace: 'x', name: 'p1' }],
        verdict: 'would-drop',
        direction: 'egress',
      }),
    );
    const fam = r.metricFamilies().find((f) => f.name === 'podnet_policy_verdicts_total');
    expect(fam?.samples).toEqual([
      { labels: { policy: 'other', verdict: 'drop', direction: 'ingress' }, value: 2 },
      { labels: { policy: 'x/p1', verdict: 'drop', direction: 'ingress' }, value: 1 },
      { labels: { policy: 'x/p1', verdict: 'would-drop', direction: 'egress' }, value: 1 },
      { labels: { policy: 'x/p2', verdict: 'drop', direction: 'ingress' }, value: 1 },
    ]);
  });

  it('refuses a bad buffer size or sample fraction, naming the field', () => {
    expect(() => new FlowRecorder({ node: 'n', index: index(), capacity: 0 })).toThrow(
      /flows.bufferSize/,
    );
    expect(() => new FlowRecorder({ node: 'n', index: index(), sampleAllowed: 2 })).toThrow(
      /flows.sampleAllowed/,
    );
  });
});

describe('flow filters', () => {
  const r = new FlowRecorder({ node: 'n', index: index() });
  const drop = r.add(rec()) as FlowEvent;
  const allowToSvc = r.add(
    rec({ verdict: 'accept', dst: '10.96.0.10', src: '8.8.8.8', time: '2026-12-07T03:10:00Z' }),
  ) as FlowEvent;
  const pass = (q: string, e: FlowEvent) =>
    matchesFlowFilter(
      e,
      parseFlowFilter(new URLSearchParams(q), Date.parse('2026-12-07T03:20:00Z')),
    );

  it('filters by pod, namespace, verdict and since (ISO, epoch ms or a duration back)', () => {
    expect(pass('pod=x/a', drop)).toBe(true);
    expect(pass('pod=y/b', drop)).toBe(true);
    expect(pass('pod=x/b', drop)).toBe(false);
    expect(pass('namespace=x', allowToSvc)).toBe(true);
    expect(pass('namespace=y', allowToSvc)).toBe(false);
    expect(pass('verdict=drop', drop)).toBe(true);
    expect(pass('verdict=allow', drop)).toBe(false);
    expect(pass('since=15m', drop)).toBe(false);
    expect(pass('since=15m', allowToSvc)).toBe(true);
    expect(pass('since=2026-12-07T03:05:00Z', allowToSvc)).toBe(true);
    expect(pass(`since=${Date.parse('2026-12-07T03:11:00Z')}`, allowToSvc)).toBe(false);
    // losses always pass
    expect(matchesFlowFilter({ type: 'lost' } as FlowEvent, { verdict: 'drop', pod: 'a/b' })).toBe(
      true,
    );
  });

  it('names the parameter of a bad filter', () => {
    const bad = (q: string) => () => parseFlowFilter(new URLSearchParams(q));
    expect(bad('verdict=dropped')).toThrow(/^verdict: want one of drop, allow, would-drop/);
    expect(bad('pod=a')).toThrow(/^pod: want NAMESPACE\/NAME/);
    expect(bad('namespace=A_B')).toThrow(/^namespace:/);
    expect(bad('since=yesterday')).toThrow(/^since:/);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('5 min', '--since')).toThrow(/^--since: want a duration/);
  });
});

describe('flow config', () => {
  it('reads flows settings and names a bad field', () => {
    expect(parseFlowConfig({ nflogGroup: 7, bufferSize: 64, sampleAllowed: 0.5 })).toEqual({
      nflogGroup: 7,
      bufferSize: 64,
      sampleAllowed: 0.5,
    });
    expect(() => parseFlowConfig({ bufferSize: 1 })).toThrow(/config.flows.bufferSize/);
    expect(() => parseFlowConfig({ sampleAllowed: -1 })).toThrow(/config.flows.sampleAllowed/);
    expect(() => parseFlowConfig({ colour: 1 })).toThrow(/config.flows.colour: unknown field/);
  });
});

describe('GET /flows', () => {
  const servers: { close(): void; closeAllConnections(): void }[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
  });

  async function serve(r: FlowRecorder): Promise<number> {
    const s = await serveHttp('127.0.0.1', 0, {
      healthy: () => true,
      notReady: () => [],
      metrics: () => '',
      routes: { [FLOWS_PATH]: (req, res) => serveFlowStream(r, req, res) },
    });
    servers.push(s);
    return (s.address() as AddressInfo).port;
  }

  const get = (port: number, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });

  it('answers the filtered records as NDJSON, and 400 naming a bad parameter', async () => {
    const r = new FlowRecorder({ node: 'n', index: index() });
    r.add(rec());
    r.add(rec({ verdict: 'accept' }));
    const port = await serve(r);
    const all = await get(port, '/flows');
    expect(all.status).toBe(200);
    expect(
      all.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).verdict),
    ).toEqual(['drop', 'allow']);
    const drops = await get(port, '/flows?verdict=drop&pod=x/a');
    expect(drops.body.trim().split('\n')).toHaveLength(1);
    const bad = await get(port, '/flows?verdict=nope');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/^verdict:/);
  });

  it('follows: new records arrive on the open stream', async () => {
    const r = new FlowRecorder({ node: 'n', index: index() });
    const port = await serve(r);
    const lines: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/flows?follow=1&verdict=drop' }, (res) => {
        let buf = '';
        res.on('data', (d) => {
          buf += d;
          const parts = buf.split('\n');
          buf = parts.pop() ?? '';
          lines.push(...parts);
          if (lines.length >= 2) {
            res.destroy();
            resolve();
          }
        });
      })
        .on('error', reject)
        .end();
    });
    await new Promise((res) => setTimeout(res, 50));
    r.add(rec({ verdict: 'accept' }));
    r.add(rec({ srcPort: 1 }));
    r.add(rec({ srcPort: 2 }));
    await done;
    expect(lines.map((l) => JSON.parse(l).source.port)).toEqual([1, 2]);
  });
});
