import { Host } from '@podnet/host';
import { describe, expect, it } from 'vitest';
import {
  type LocalNode,
  OverlayReconciler,
  type PeerNode,
  applyOverlayPlan,
  ensureOverlay,
  observedAfter,
  planOverlay,
  readOverlayState,
} from '../src/index.js';
import { emptyObserved, fakeFreshNodeRunner, syntheticPeers } from '../src/testing/index.js';

const uplink = { ifname: 'eth0', mtu: 1500, addrs: ['192.168.1.1/24'] };
const local: LocalNode = {
  nodeName: 'n1',
  uplink: 'eth0',
  nodeIPs: ['192.168.1.1'],
  podCIDRs: ['10.244.1.0/24'],
};

function batches(runner: ReturnType<typeof fakeFreshNodeRunner>) {
  return runner.requests
    .filter((r) => r.argv.includes('-batch'))
    .map((r) => `${r.argv[0]}\n${r.stdin}`);
}

describe('readOverlayState and applyOverlayPlan through a Host', () => {
  it('reads a fresh node through five JSON reads and plans a device', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const observed = await readOverlayState(new Host({ runner, netns: { name: 'node1' } }), local);
    expect(observed).toEqual(emptyObserved(uplink));
    expect(runner.requests.every((r) => (r.netns as { name: string }).name === 'node1')).toBe(true);
    expect(runner.commands).toEqual(
      expect.arrayContaining([
        'ip -json -details link show',
        'ip -json addr show',
        'ip -json -4 route show table main proto 152',
        'ip -json -6 route show table main proto 152',
      ]),
    );
  });

  it('applies a plan as ip, bridge, ip batches and starts nothing for an empty plan', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const host = new Host({ runner });
    const plan = await ensureOverlay(host, local, syntheticPeers(2));
    expect(plan.operations.length).toBeGreaterThan(0);
    expect(batches(runner).map((b) => b.split('\n')[0])).toEqual(['ip', 'bridge', 'ip']);
    runner.clear();
    expect(await applyOverlayPlan(host, { operations: [] })).toBe(0);
    expect(runner.requests).toEqual([]);
  });

  it('refuses a plan with an unsafe value before starting any process', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const err = await applyOverlayPlan(new Host({ runner }), {
      operations: [
        { op: 'neigh-replace', dev: 'podnet.1', dst: '10.0.0.0', mac: '02:00:00:00:00:01' },
        { op: 'route-delete', dst: '10.0.0.0/24;reboot', via: '1.1.1.1', dev: 'x', proto: 152 },
      ],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'APPLY_FAILED' });
    expect(runner.requests).toEqual([]);
  });

  it('wraps a failing batch as APPLY_FAILED naming the line', async () => {
    const runner = fakeFreshNodeRunner(uplink).respondTo(['ip', '-batch', '-'], {
      code: 1,
      stderr: 'Error: Nexthop has invalid gateway.\nCommand failed -:1',
    });
    const err = await applyOverlayPlan(
      new Host({ runner }),
      planOverlay(local, [], emptyObserved(uplink)),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'APPLY_FAILED',
      message: expect.stringContaining('line: link add podnet.1'),
    });
  });
});

describe('OverlayReconciler', () => {
  it('first sync reads and creates; a one-peer change plans and runs only that peer', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const r = new OverlayReconciler(new Host({ runner }), local);
    const peers = syntheticPeers(1000);
    const first = await r.sync(peers);
    expect(first.peers).toHaveLength(1000);
    runner.clear();
    const moved = peers.map((p, i) => (i === 10 ? { ...p, nodeIPs: ['172.31.9.9'] } : p));
    const plan = await r.sync(moved);
    expect(plan.operations).toEqual([
      expect.objectContaining({ op: 'fdb-replace', dst: '172.31.9.9', peer: 'node-11' }),
    ]);
    expect(plan.peers).toHaveLength(1000);
    expect(runner.requests.map((q) => q.argv.join(' '))).toEqual(['bridge -batch -']);
    runner.clear();
    expect((await r.sync(moved)).operations).toEqual([]);
    expect(runner.requests).toEqual([]);
  });

  it('incremental syncs agree with a full plan through adds, removals, changes and collisions', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const r = new OverlayReconciler(new Host({ runner }), { ...local, directRouting: 'auto' });
    let peers: PeerNode[] = syntheticPeers(40);
    await r.sync(peers);
    const steps: ((p: PeerNode[]) => PeerNode[])[] = [
      (p) => p.slice(1),
      (p) => [...p, { nodeName: 'late', nodeIPs: ['192.168.1.77'], podCIDRs: ['10.250.0.0/24'] }],
      (p) => p.map((x) => (x.nodeName === 'node-5' ? { ...x, podCIDRs: ['10.251.0.0/24'] } : x)),
      (p) => p.map((x) => (x.nodeName === 'node-6' ? { ...x, vtepMac: '02:00:00:00:06:06' } : x)),
      (p) => [...p, { nodeName: 'clash', nodeIPs: ['172.31.7.7'], podCIDRs: ['10.251.0.128/25'] }],
      (p) => p.filter((x) => x.nodeName !== 'node-5'),
      (p) => p.map((x) => (x.nodeName === 'late' ? { ...x, nodeIPs: ['172.31.3.3'] } : x)),
    ];
    for (const step of steps) {
      peers = step(peers);
      const plan = await r.sync(peers);
      const full = planOverlay({ ...local, directRouting: 'auto' }, peers, emptyObserved(uplink));
      expect(plan.peers.map((p) => p.nodeName).sort()).toEqual(
        full.peers.map((p) => p.nodeName).sort(),
      );
      expect(
        planOverlay({ ...local, directRouting: 'auto' }, peers, observedAfter(plan, uplink))
          .operations,
      ).toEqual([]);
    }
    const names = (await r.sync(peers)).peers.map((p) => p.nodeName);
    expect(names).toContain('clash');
    expect(names).not.toContain('node-5');
  });

  it('a skipped peer is re-checked and accepted once its conflict goes away', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const r = new OverlayReconciler(new Host({ runner }), local);
    const a = { nodeName: 'a', nodeIPs: ['172.31.0.2'], podCIDRs: ['10.244.2.0/24'] };
    const b = { nodeName: 'b', nodeIPs: ['172.31.0.3'], podCIDRs: ['10.244.2.0/24'] };
    const first = await r.sync([a, b]);
    expect(first.events).toContainEqual(
      expect.objectContaining({ reason: 'PeerSkipped', nodeName: 'b' }),
    );
    const second = await r.sync([b]);
    expect(second.peers.map((p) => p.nodeName)).toEqual(['b']);
    expect(second.operations.map((o) => o.op)).toEqual([
      'fdb-delete',
      'fdb-replace',
      'neigh-replace',
    ]);
  });

  it('after a failed apply the next sync reads the kernel again', async () => {
    const runner = fakeFreshNodeRunner(uplink);
    const r = new OverlayReconciler(new Host({ runner }), local);
    await r.sync(syntheticPeers(3));
    runner.respondTo(['bridge', '-batch', '-'], {
      code: 1,
      stderr: 'RTNETLINK answers: No such device',
    });
    await expect(r.sync(syntheticPeers(4))).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    runner.clear();
    await r.sync(syntheticPeers(4)).catch(() => {});
    expect(runner.commands).toContain('ip -json -details link show');
  });
});
