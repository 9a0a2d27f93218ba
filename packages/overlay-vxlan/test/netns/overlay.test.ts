import { Host, type RunRequest, type RunResult, type Runner } from '@podnet/host';
import { ExecRunner } from '@podnet/host';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANNOTATION_KEYS,
  encodeNodeAnnotations,
  peersFromNodes,
  type LocalNode,
  type ObservedOverlay,
  OverlayReconciler,
  type PeerNode,
  ensureOverlay,
  readOverlayState,
  removeOverlay,
  vtepMacFor,
} from '../../src/index.js';

/** Counts the processes a Host starts. */
class CountingRunner implements Runner {
  readonly argv: string[][] = [];
  private readonly inner = new ExecRunner();
  run(request: RunRequest): Promise<RunResult> {
    this.argv.push([...request.argv]);
    return this.inner.run(request);
  }
}

interface Node {
  name: string;
  ns: string;
  pod: string;
  local: LocalNode;
  peer: PeerNode;
  podIPs: string[];
}

async function makePod(net: TestNet, node: string, short: string, idx: number, v6: boolean) {
  const pod = await net.ns(short);
  await net.veth(
    { ns: node, name: 'vpod', addrs: [`10.244.${idx}.1/24`, ...(v6 ? [`fd10:${idx}::1/64`] : [])] },
    { ns: pod, name: 'eth0', addrs: [`10.244.${idx}.2/24`, ...(v6 ? [`fd10:${idx}::2/64`] : [])] },
  );
  await net
    .host(pod)
    .ipBatch([
      ['route', 'add', 'default', 'via', `10.244.${idx}.1`],
      ...(v6 ? [['route', 'add', 'default', 'via', `fd10:${idx}::1`]] : []),
    ]);
  await net.exec(node, [
    'sysctl',
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
  ]);
  return pod;
}

function echoServer(net: TestNet, ns: string, host: string) {
  const code = `require('net').createServer((s)=>s.pipe(s)).listen(8080, ${JSON.stringify(host)})`;
  net.spawn(ns, [process.execPath, '-e', code]);
}

async function tcpEcho(net: TestNet, ns: string, ip: string): Promise<string> {
  const script = `exec 3<>/dev/tcp/${ip}/8080 && echo 'hello over the overlay' >&3 && read -r -t 5 line <&3 && printf %s "$line"`;
  const r = await net.exec(ns, ['timeout', '10', 'bash', '-c', script], {
    allowFail: true,
    timeoutMs: 15_000,
  });
  return r.stdout;
}

async function txPackets(net: TestNet, ns: string, dev: string): Promise<number> {
  const links = await net
    .host(ns)
    .ipJson<{ stats64: { tx: { packets: number } } }[]>(['-s', 'link', 'show', dev]);
  return links[0]!.stats64.tx.packets;
}

function entriesOf(o: ObservedOverlay): string[] {
  return [
    ...o.neighbours.map((n) => `neigh ${n.dst} ${n.mac}`),
    ...o.fdb.map((f) => `fdb ${f.mac} ${f.dst}`),
    ...o.routes.map((r) => `route ${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''}`),
  ].sort();
}

describe('VXLAN overlay across three node namespaces (two L2 segments)', () => {
  let net: TestNet;
  let a: Node;
  let b: Node;
  let c: Node;
  const reconcilers = new Map<string, OverlayReconciler>();
  const peersOf = (n: Node, all: Node[]) => all.filter((x) => x !== n).map((x) => x.peer);

  beforeAll(async () => {
    net = createTestNet();
    const ul = await net.ns('ul');
    const nsA = await net.ns('na');
    const nsB = await net.ns('nb');
    const nsC = await net.ns('nc');
    await net.exec(ul, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await net.veth({ ns: nsA, name: 'eth0', addrs: ['192.168.10.1/24'] }, { ns: ul, name: 'pa' });
    await net.veth({ ns: nsB, name: 'eth0', addrs: ['192.168.10.2/24'] }, { ns: ul, name: 'pb' });
    await net.bridge(ul, 'br1', { addrs: ['192.168.10.254/24'], ports: ['pa', 'pb'] });
    await net.veth(
      { ns: nsC, name: 'eth0', addrs: ['192.168.20.3/24'] },
      { ns: ul, name: 'pc', addrs: ['192.168.20.254/24'] },
    );
    await net.host(nsA).ipBatch([['route', 'add', 'default', 'via', '192.168.10.254']]);
    await net.host(nsB).ipBatch([['route', 'add', 'default', 'via', '192.168.10.254']]);
    await net.host(nsC).ipBatch([['route', 'add', 'default', 'via', '192.168.20.254']]);
    const mk = async (
      name: string,
      ns: string,
      idx: number,
      ip: string,
      v6: boolean,
    ): Promise<Node> => {
      const podCIDRs = [`10.244.${idx}.0/24`, ...(v6 ? [`fd10:${idx}::/64`] : [])];
      return {
        name,
        ns,
        pod: await makePod(net, ns, `p${name}`, idx, v6),
        local: { nodeName: name, uplink: 'eth0', nodeIPs: [ip], podCIDRs, directRouting: 'auto' },
        peer: { nodeName: name, nodeIPs: [ip], podCIDRs, vtepMac: vtepMacFor(name) },
        podIPs: [`10.244.${idx}.2`, ...(v6 ? [`fd10:${idx}::2`] : [])],
      };
    };
    a = await mk('node-a', nsA, 1, '192.168.10.1', true);
    b = await mk('node-b', nsB, 2, '192.168.10.2', true);
    c = await mk('node-c', nsC, 3, '192.168.20.3', false);
    // node-a applies through long-lived ip/bridge sessions (as the node agent does), the others
    // through a process per batch: the peer-change tests below run on node-a
    for (const n of [a, b, c]) {
      const r = new OverlayReconciler(net.host(n.ns), n.local, { sessions: n === a });
      reconcilers.set(n.name, r);
      const plan = await r.sync(peersOf(n, [a, b, c]));
      expect(plan.events.filter((e) => e.type === 'Warning')).toEqual([]);
    }
    for (const n of [a, b, c]) echoServer(net, n.pod, '::');
    for (const n of [a, b, c]) await net.waitForTcp(n.pod, '127.0.0.1', 8080, 30_000);
  });
  afterAll(() => {
    for (const r of reconcilers.values()) r.close();
    return net.cleanup();
  });

  it('programs VXLAN for the off-segment peer and DirectRouting for the same-segment one', async () => {
    const state = await readOverlayState(net.host(a.ns), a.local);
    expect(state.device).toMatchObject({
      kind: 'vxlan',
      vni: 1,
      port: 8472,
      local: '192.168.10.1',
      link: 'eth0',
      learning: false,
      mtu: 1450,
      mac: vtepMacFor('node-a'),
      up: true,
    });
    expect(entriesOf(state)).toEqual(
      [
        `neigh 10.244.3.0 ${vtepMacFor('node-c')}`,
        `fdb ${vtepMacFor('node-c')} 192.168.20.3`,
        'route 10.244.3.0/24 via 10.244.3.0 dev podnet.1 onlink',
        'route 10.244.2.0/24 via 192.168.10.2 dev eth0',
        `neigh fd10:2:: ${vtepMacFor('node-b')}`,
        `fdb ${vtepMacFor('node-b')} 192.168.10.2`,
        'route fd10:2::/64 via fd10:2:: dev podnet.1 onlink',
      ].sort(),
    );
  });

  it('pods ping each other across nodes, both paths, both families', async () => {
    for (const [from, to] of [
      [a, b],
      [a, c],
      [b, c],
      [c, a],
      [b, a],
      [c, b],
    ] as const) {
      await net.waitForPing(from.pod, to.podIPs[0]!, 20_000);
    }
    await net.waitForPing(a.pod, 'fd10:2::2', 20_000);
    await net.waitForPing(b.pod, 'fd10:1::2', 20_000);
  });

  it('TCP flows pod to pod through VXLAN and through DirectRouting', async () => {
    for (const [from, to] of [
      [a, c],
      [c, b],
      [a, b],
      [b, a],
    ] as const) {
      await waitFor(
        async () => (await tcpEcho(net, from.pod, to.podIPs[0]!)) === 'hello over the overlay',
        {
          timeoutMs: 20_000,
          what: `tcp ${from.name} → ${to.name}`,
        },
      );
    }
    expect(await tcpEcho(net, a.pod, 'fd10:2::2')).toBe('hello over the overlay');
  });

  it('encapsulates only the VXLAN path: the device counts packets to node-c, not to node-b (IPv4)', async () => {
    // The device may send a few IPv6 control packets of its own (router solicitations, MLD).
    const before = await txPackets(net, a.ns, 'podnet.1');
    expect(await net.ping(a.pod, b.podIPs[0]!, { count: 30, extra: ['-i', '0.02'] })).toBe(true);
    const afterB = await txPackets(net, a.ns, 'podnet.1');
    expect(afterB - before).toBeLessThan(5);
    expect(await net.ping(a.pod, c.podIPs[0]!, { count: 30, extra: ['-i', '0.02'] })).toBe(true);
    expect((await txPackets(net, a.ns, 'podnet.1')) - afterB).toBeGreaterThanOrEqual(30);
  });

  it('a 1400-byte do-not-fragment ping crosses VXLAN; one over the device MTU is refused', async () => {
    expect(await net.ping(a.pod, c.podIPs[0]!, { extra: ['-M', 'do', '-s', '1400'] })).toBe(true);
    expect(await net.ping(c.pod, a.podIPs[0]!, { extra: ['-M', 'do', '-s', '1400'] })).toBe(true);
    expect(await net.ping(a.pod, c.podIPs[0]!, { extra: ['-M', 'do', '-s', '1440'] })).toBe(false);
  });

  it('a second apply starts no process and changes nothing', async () => {
    const runner = new CountingRunner();
    const host = new Host({ runner, netns: { name: a.ns } });
    const before = await readOverlayState(net.host(a.ns), a.local);
    const plan = await ensureOverlay(host, a.local, peersOf(a, [a, b, c]));
    expect(plan.operations).toEqual([]);
    expect(runner.argv.filter((x) => x.includes('-batch'))).toEqual([]);
    expect(await readOverlayState(net.host(a.ns), a.local)).toEqual(before);
  });

  it('removing a peer removes exactly its neighbour, FDB entry and route; re-adding restores them', async () => {
    const r = reconcilers.get('node-a')!;
    const before = entriesOf(await readOverlayState(net.host(a.ns), a.local));
    const plan = await r.sync([b.peer]);
    expect(plan.operations.map((o) => o.op)).toEqual([
      'route-delete',
      'fdb-delete',
      'neigh-delete',
    ]);
    const after = entriesOf(await readOverlayState(net.host(a.ns), a.local));
    expect(before.filter((e) => !after.includes(e))).toEqual(
      [
        `neigh 10.244.3.0 ${vtepMacFor('node-c')}`,
        `fdb ${vtepMacFor('node-c')} 192.168.20.3`,
        'route 10.244.3.0/24 via 10.244.3.0 dev podnet.1 onlink',
      ].sort(),
    );
    expect(after.filter((e) => !before.includes(e))).toEqual([]);
    expect(await net.ping(a.pod, c.podIPs[0]!, { timeoutS: 1 })).toBe(false);
    await r.sync([b.peer, c.peer]);
    expect(entriesOf(await readOverlayState(net.host(a.ns), a.local))).toEqual(before);
    await net.waitForPing(a.pod, c.podIPs[0]!, 20_000);
  });

  it('a peer changing its node IP gets its FDB entry repointed', async () => {
    const r = reconcilers.get('node-a')!;
    const moved = { ...c.peer, nodeIPs: ['192.168.20.33'] };
    const plan = await r.sync([b.peer, moved]);
    expect(plan.operations).toEqual([
      expect.objectContaining({ op: 'fdb-replace', dst: '192.168.20.33' }),
    ]);
    const state = await readOverlayState(net.host(a.ns), a.local);
    expect(state.fdb).toContainEqual({ mac: vtepMacFor('node-c'), dst: '192.168.20.33' });
    await r.sync([b.peer, c.peer]);
    await net.waitForPing(a.pod, c.podIPs[0]!, 20_000);
  });

  it('a node with bad annotations is skipped with an event; the other peers keep working', async () => {
    const node = (n: Node) => ({
      name: n.name,
      podCIDRs: n.peer.podCIDRs,
      annotations: encodeNodeAnnotations({
        backendType: 'vxlan',
        vtepMac: vtepMacFor(n.name),
        vni: 1,
        publicIPs: n.peer.nodeIPs,
      }),
    });
    const broken = {
      ...node(c),
      annotations: { ...node(c).annotations, [ANNOTATION_KEYS.vtepMac]: 'not-a-mac' },
    };
    const { peers, events } = peersFromNodes([node(a), node(b), broken], { localNodeName: a.name });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'PeerSkipped',
        nodeName: 'node-c',
        message: expect.stringContaining('vtep-mac'),
      }),
    ]);
    const r = reconcilers.get('node-a')!;
    await r.sync(peers);
    expect(await net.ping(a.pod, b.podIPs[0]!)).toBe(true);
    expect(await net.ping(a.pod, 'fd10:2::2')).toBe(true);
    const fixed = peersFromNodes([node(a), node(b), node(c)], { localNodeName: a.name });
    expect(fixed.events).toEqual([]);
    await r.sync(fixed.peers);
    await net.waitForPing(a.pod, c.podIPs[0]!, 20_000);
  });

  it('a restarted reconciler adopts the device and entries without losing a ping at 10 ms intervals', async () => {
    const ping = net.exec(
      a.pod,
      ['ping', '-n', '-q', '-i', '0.01', '-c', '300', '-W', '1', c.podIPs[0]!],
      {
        allowFail: true,
        timeoutMs: 60_000,
      },
    );
    await new Promise((r) => setTimeout(r, 300));
    const restarted = new OverlayReconciler(net.host(a.ns), a.local);
    const plan = await restarted.sync(peersOf(a, [a, b, c]));
    expect(plan.operations).toEqual([]);
    expect(plan.events).toEqual([]);
    const result = await ping;
    expect(result.stdout).toMatch(/300 packets transmitted, 300 received, 0% packet loss/);
    reconcilers.set('node-a', restarted);
  });

  it("a reread repairs entries removed behind the reconciler's back", async () => {
    const r = reconcilers.get('node-a')!;
    await net.host(a.ns).ipBatch([
      ['route', 'del', '10.244.3.0/24', 'dev', 'podnet.1'],
      ['neigh', 'del', '10.244.3.0', 'dev', 'podnet.1'],
    ]);
    expect(await net.ping(a.pod, c.podIPs[0]!, { timeoutS: 1 })).toBe(false);
    expect((await r.sync(peersOf(a, [a, b, c]))).operations).toEqual([]);
    const repaired = await r.sync(peersOf(a, [a, b, c]), { reread: true });
    expect(repaired.operations.map((o) => o.op)).toEqual(['neigh-replace', 'route-replace']);
    await net.waitForPing(a.pod, c.podIPs[0]!, 20_000);
  });

  it('an incompatible device under the overlay name is replaced and traffic recovers', async () => {
    await net.host(b.ns).ipBatch([
      ['link', 'del', 'podnet.1'],
      ['link', 'add', 'podnet.1', 'type', 'vxlan', 'id', '99', 'dstport', '4789', 'dev', 'eth0'],
    ]);
    const plan = await ensureOverlay(net.host(b.ns), b.local, peersOf(b, [a, b, c]));
    expect(plan.operations[0]).toMatchObject({ op: 'device-delete', reason: 'VNI 99 ≠ 1' });
    expect(plan.events).toContainEqual(expect.objectContaining({ reason: 'DeviceReplaced' }));
    const state = await readOverlayState(net.host(b.ns), b.local);
    expect(state.device).toMatchObject({
      vni: 1,
      port: 8472,
      learning: false,
      local: '192.168.10.2',
    });
    await net.waitForPing(b.pod, c.podIPs[0]!, 20_000);
    await net.waitForPing(c.pod, b.podIPs[0]!, 20_000);
    expect(
      (await ensureOverlay(net.host(b.ns), b.local, peersOf(b, [a, b, c]))).operations,
    ).toEqual([]);
  });
});

describe('removeOverlay', () => {
  let net: TestNet;
  beforeAll(() => {
    net = createTestNet();
  });
  afterAll(() => net.cleanup());

  it('removes the device, its entries and every owned route, and nothing else', async () => {
    const n = await net.ns('rm');
    const other = await net.ns('ro');
    await net.veth(
      { ns: n, name: 'eth0', addrs: ['192.168.60.1/24'] },
      { ns: other, name: 'eth0', addrs: ['192.168.60.2/24'] },
    );
    await net.host(n).ipBatch([['route', 'add', '10.77.0.0/16', 'via', '192.168.60.2']]);
    const local: LocalNode = {
      nodeName: 'rm',
      uplink: 'eth0',
      nodeIPs: ['192.168.60.1'],
      podCIDRs: ['10.244.1.0/24'],
    };
    const peers = [
      { nodeName: 'same-l2', nodeIPs: ['192.168.60.2'], podCIDRs: ['10.244.2.0/24'] },
      { nodeName: 'far', nodeIPs: ['192.168.99.3'], podCIDRs: ['10.244.3.0/24'] },
    ];
    await ensureOverlay(net.host(n), local, peers);
    const routesBefore = await net.host(n).ip(['route', 'show']);
    expect(routesBefore).toContain('10.244.2.0/24 via 192.168.60.2');
    expect(routesBefore).toContain('10.244.3.0/24 via 10.244.3.0 dev podnet.1');
    await removeOverlay(net.host(n), local);
    const state = await readOverlayState(net.host(n), local);
    expect(state.device).toBeUndefined();
    expect(state.routes).toEqual([]);
    const routesAfter = await net.host(n).ip(['route', 'show']);
    expect(routesAfter).toContain('10.77.0.0/16 via 192.168.60.2');
    expect(routesAfter).not.toContain('10.244.');
    const runner = new CountingRunner();
    await removeOverlay(new Host({ runner, netns: { name: n } }), local);
    expect(runner.argv.filter((x) => x.includes('-batch'))).toEqual([]);
  });
});

describe('IPv6 underlay', () => {
  let net: TestNet;
  beforeAll(() => {
    net = createTestNet();
  });
  afterAll(() => net.cleanup());

  it('carries IPv4 and IPv6 pods over an IPv6-only underlay with MTU − 70', async () => {
    const n1 = await net.ns('v1');
    const n2 = await net.ns('v2');
    await net.veth(
      { ns: n1, name: 'eth0', addrs: ['fd00:77::1/64'], mtu: 1500 },
      { ns: n2, name: 'eth0', addrs: ['fd00:77::2/64'], mtu: 1500 },
    );
    const p1 = await makePod(net, n1, 'q1', 1, true);
    const p2 = await makePod(net, n2, 'q2', 2, true);
    const mk = (name: string, ip: string, idx: number) => ({
      local: {
        nodeName: name,
        uplink: 'eth0',
        nodeIPs: [ip],
        podCIDRs: [`10.244.${idx}.0/24`, `fd10:${idx}::/64`],
        directRouting: 'never' as const,
        port: 4789,
      },
      peer: { nodeName: name, nodeIPs: [ip], podCIDRs: [`10.244.${idx}.0/24`, `fd10:${idx}::/64`] },
    });
    const x = mk('v6-one', 'fd00:77::1', 1);
    const y = mk('v6-two', 'fd00:77::2', 2);
    await ensureOverlay(net.host(n1), x.local, [y.peer]);
    await ensureOverlay(net.host(n2), y.local, [x.peer]);
    const state = await readOverlayState(net.host(n1), x.local);
    expect(state.device).toMatchObject({ local: 'fd00:77::1', mtu: 1430, port: 4789 });
    expect(state.fdb).toEqual([{ mac: vtepMacFor('v6-two'), dst: 'fd00:77::2' }]);
    await net.waitForPing(p1, '10.244.2.2', 20_000);
    await net.waitForPing(p1, 'fd10:2::2', 20_000);
    await net.waitForPing(p2, '10.244.1.2', 20_000);
    expect(await net.ping(p1, '10.244.2.2', { extra: ['-M', 'do', '-s', '1380'] })).toBe(true);
    expect((await ensureOverlay(net.host(n1), x.local, [y.peer])).operations).toEqual([]);
  });
});
