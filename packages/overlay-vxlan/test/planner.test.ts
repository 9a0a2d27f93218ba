import { describe, expect, it } from 'vitest';
import {
  type LocalNode,
  type ObservedOverlay,
  OverlayError,
  type PeerNode,
  observedAfter,
  planOverlay,
  renderPlan,
  vtepMacFor,
} from '../src/index.js';
import { emptyObserved, syntheticPeers } from '../src/testing/index.js';

const uplink = { ifname: 'eth0', mtu: 1500, addrs: ['192.168.1.1/24'] };
const local: LocalNode = {
  nodeName: 'n1',
  uplink: 'eth0',
  nodeIPs: ['192.168.1.1'],
  podCIDRs: ['10.244.1.0/24'],
  directRouting: 'never',
};
const n2: PeerNode = { nodeName: 'n2', nodeIPs: ['192.168.1.2'], podCIDRs: ['10.244.2.0/24'] };
const n3: PeerNode = { nodeName: 'n3', nodeIPs: ['192.168.2.3'], podCIDRs: ['10.244.3.0/24'] };
const mac2 = vtepMacFor('n2');
const mac3 = vtepMacFor('n3');

function applied(l: LocalNode, peers: PeerNode[], obs: ObservedOverlay = emptyObserved(uplink)) {
  return observedAfter(planOverlay(l, peers, obs), obs.uplink);
}

function ops(l: LocalNode, peers: PeerNode[], obs: ObservedOverlay) {
  return planOverlay(l, peers, obs).operations.map((o) => {
    const { peer: _peer, ...rest } = o as typeof o & { peer?: string };
    return rest;
  });
}

describe('planOverlay: desired × observed → operations', () => {
  it('a fresh node: device, address, then FDB, neighbour, route per peer', () => {
    const plan = planOverlay(local, [n2], emptyObserved(uplink));
    expect(plan.device).toEqual({
      name: 'podnet.1',
      vni: 1,
      port: 8472,
      local: '192.168.1.1',
      uplink: 'eth0',
      mtu: 1450,
      mac: vtepMacFor('n1'),
      learning: false,
      addrs: ['10.244.1.0/32'],
    });
    expect(plan.operations.map((o) => o.op)).toEqual([
      'device-create',
      'device-set',
      'address-replace',
      'fdb-replace',
      'neigh-replace',
      'route-replace',
    ]);
    expect(renderPlan(plan)).toEqual([
      {
        tool: 'ip',
        lines: [
          [
            'link',
            'add',
            'podnet.1',
            'address',
            vtepMacFor('n1'),
            'mtu',
            '1450',
            'type',
            'vxlan',
            'id',
            '1',
            'local',
            '192.168.1.1',
            'dev',
            'eth0',
            'dstport',
            '8472',
            'nolearning',
          ],
          ['link', 'set', 'podnet.1', 'up'],
          ['addr', 'replace', '10.244.1.0/32', 'dev', 'podnet.1'],
        ],
      },
      {
        tool: 'bridge',
        lines: [
          ['fdb', 'replace', mac2, 'dev', 'podnet.1', 'dst', '192.168.1.2', 'self', 'permanent'],
        ],
      },
      {
        tool: 'ip',
        lines: [
          ['neigh', 'replace', '10.244.2.0', 'lladdr', mac2, 'dev', 'podnet.1', 'nud', 'permanent'],
          [
            'route',
            'replace',
            '10.244.2.0/24',
            'via',
            '10.244.2.0',
            'dev',
            'podnet.1',
            'onlink',
            'proto',
            '152',
          ],
        ],
      },
    ]);
    expect(plan.events).toEqual([
      expect.objectContaining({ reason: 'DeviceCreated', type: 'Normal' }),
    ]);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('nothing to do: an applied plan re-plans to zero operations', () => {
    const obs = applied(local, [n2, n3]);
    const plan = planOverlay(local, [n2, n3], obs);
    expect(plan.operations).toEqual([]);
    expect(renderPlan(plan)).toEqual([]);
    expect(plan.events).toEqual([]);
  });

  it('peer added: FDB, neighbour, route for that peer only', () => {
    expect(ops(local, [n2, n3], applied(local, [n2]))).toEqual([
      { op: 'fdb-replace', dev: 'podnet.1', mac: mac3, dst: '192.168.2.3' },
      { op: 'neigh-replace', dev: 'podnet.1', dst: '10.244.3.0', mac: mac3 },
      {
        op: 'route-replace',
        dst: '10.244.3.0/24',
        via: '10.244.3.0',
        dev: 'podnet.1',
        onlink: true,
        proto: 152,
      },
    ]);
  });

  it('peer removed: route, FDB, neighbour for that peer only', () => {
    expect(ops(local, [n2], applied(local, [n2, n3]))).toEqual([
      { op: 'route-delete', dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'podnet.1', proto: 152 },
      { op: 'fdb-delete', dev: 'podnet.1', mac: mac3, dst: '192.168.2.3' },
      { op: 'neigh-delete', dev: 'podnet.1', dst: '10.244.3.0' },
    ]);
  });

  it('peer changed IP: one FDB replace', () => {
    const moved = { ...n3, nodeIPs: ['192.168.2.33'] };
    expect(ops(local, [n2, moved], applied(local, [n2, n3]))).toEqual([
      { op: 'fdb-replace', dev: 'podnet.1', mac: mac3, dst: '192.168.2.33' },
    ]);
  });

  it('peer changed MAC: old FDB entry goes, new one and the neighbour are replaced', () => {
    const remac = { ...n3, vtepMac: '02:00:00:00:00:33' };
    expect(ops(local, [n2, remac], applied(local, [n2, n3]))).toEqual([
      { op: 'fdb-delete', dev: 'podnet.1', mac: mac3, dst: '192.168.2.3' },
      { op: 'fdb-replace', dev: 'podnet.1', mac: '02:00:00:00:00:33', dst: '192.168.2.3' },
      { op: 'neigh-replace', dev: 'podnet.1', dst: '10.244.3.0', mac: '02:00:00:00:00:33' },
    ]);
  });

  it('peer changed pod CIDR: old route and neighbour go, new ones come', () => {
    const moved = { ...n3, podCIDRs: ['10.244.30.0/24'] };
    expect(ops(local, [n2, moved], applied(local, [n2, n3]))).toEqual([
      { op: 'route-delete', dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'podnet.1', proto: 152 },
      { op: 'neigh-delete', dev: 'podnet.1', dst: '10.244.3.0' },
      { op: 'neigh-replace', dev: 'podnet.1', dst: '10.244.30.0', mac: mac3 },
      {
        op: 'route-replace',
        dst: '10.244.30.0/24',
        via: '10.244.30.0',
        dev: 'podnet.1',
        onlink: true,
        proto: 152,
      },
    ]);
  });

  it.each([
    ['another VNI', { vni: 7 }, 'VNI 7'],
    ['another port', { port: 4789 }, 'port 4789'],
    ['another local address', { local: '192.168.1.9' }, 'local address'],
    ['another uplink', { link: 'eth1' }, 'bound to eth1'],
    ['learning on', { learning: true }, 'learning is on'],
    ['not vxlan', { kind: 'bridge' }, 'bridge'],
  ])('device incompatible (%s): replaced and every entry re-added', (_name, change, why) => {
    const obs = applied(local, [n2]);
    obs.device = { ...obs.device!, ...change };
    obs.routes.push({ dst: '10.244.9.0/24', via: '192.168.1.9', dev: 'eth0', onlink: false });
    const plan = planOverlay(local, [n2], obs);
    expect(plan.operations.map((o) => o.op)).toEqual([
      'device-delete',
      'device-create',
      'device-set',
      'address-replace',
      'route-delete',
      'fdb-replace',
      'neigh-replace',
      'route-replace',
    ]);
    expect(plan.operations[0]).toMatchObject({ reason: expect.stringContaining(why) });
    expect(plan.events).toContainEqual(
      expect.objectContaining({ reason: 'DeviceReplaced', type: 'Warning' }),
    );
  });

  it('compatible device with wrong MTU, MAC and down: adopted with one link set', () => {
    const obs = applied(local, [n2]);
    obs.device = { ...obs.device!, mtu: 1400, mac: '02:aa:aa:aa:aa:aa', up: false };
    expect(ops(local, [n2], obs)).toEqual([
      { op: 'device-set', name: 'podnet.1', mtu: 1450, mac: vtepMacFor('n1'), up: true },
    ]);
  });

  it('stray state: foreign addresses, neighbours, FDB entries and owned routes are removed', () => {
    const obs = applied(local, [n2]);
    obs.deviceAddrs.push('10.9.9.9/32');
    obs.neighbours.push({ dst: '10.244.99.0', mac: '02:00:00:00:00:99' });
    obs.fdb.push(
      { mac: mac2, dst: '192.168.1.222' },
      { mac: '02:00:00:00:00:99', dst: '192.168.1.99' },
    );
    obs.routes.push({ dst: '10.244.99.0/24', via: '10.244.99.0', dev: 'podnet.1', onlink: true });
    expect(ops(local, [n2], obs)).toEqual([
      { op: 'address-delete', dev: 'podnet.1', cidr: '10.9.9.9/32' },
      {
        op: 'route-delete',
        dst: '10.244.99.0/24',
        via: '10.244.99.0',
        dev: 'podnet.1',
        proto: 152,
      },
      { op: 'fdb-delete', dev: 'podnet.1', mac: mac2, dst: '192.168.1.222' },
      { op: 'fdb-delete', dev: 'podnet.1', mac: '02:00:00:00:00:99', dst: '192.168.1.99' },
      { op: 'neigh-delete', dev: 'podnet.1', dst: '10.244.99.0' },
    ]);
  });

  it('port, VNI, device name and MTU are configurable', () => {
    const plan = planOverlay(
      { ...local, vni: 42, port: 4789, deviceName: 'vx42', mtu: 1400 },
      [n2],
      emptyObserved(uplink),
    );
    expect(plan.operations[0]).toMatchObject({
      op: 'device-create',
      name: 'vx42',
      vni: 42,
      port: 4789,
      mtu: 1400,
    });
    expect(planOverlay({ ...local, vni: 42 }, [], emptyObserved(uplink)).device.name).toBe(
      'podnet.42',
    );
  });

  it('MACs given in upper case are planned in lower case', () => {
    const plan = planOverlay(
      { ...local, vtepMac: '0A:11:22:33:44:55' },
      [{ ...n2, vtepMac: '0E:AA:BB:CC:DD:EE' }],
      emptyObserved(uplink),
    );
    expect(plan.device.mac).toBe('0a:11:22:33:44:55');
    expect(plan.peers[0]?.fdb.map((f) => f.mac)).toEqual(['0e:aa:bb:cc:dd:ee']);
  });

  it('MTU follows the uplink: − 50 for IPv4, − 70 for IPv6 underlay', () => {
    const jumbo = { ifname: 'eth0', mtu: 9000, addrs: [] };
    expect(planOverlay(local, [], emptyObserved(jumbo)).device.mtu).toBe(8950);
    const v6 = { ...local, nodeIPs: ['fd00::1'] };
    expect(planOverlay(v6, [], emptyObserved(jumbo)).device.mtu).toBe(8930);
  });
});

describe('DirectRouting', () => {
  const auto = { ...local, directRouting: 'auto' as const };

  it('auto: a peer on the uplink subnet gets a plain route; others VXLAN', () => {
    const plan = planOverlay(auto, [n2, n3], emptyObserved(uplink));
    expect(plan.peers).toEqual([
      {
        nodeName: 'n2',
        mode: 'direct',
        neighbours: [],
        fdb: [],
        routes: [{ dst: '10.244.2.0/24', via: '192.168.1.2', dev: 'eth0', onlink: false }],
      },
      {
        nodeName: 'n3',
        mode: 'vxlan',
        neighbours: [{ dst: '10.244.3.0', mac: mac3 }],
        fdb: [{ mac: mac3, dst: '192.168.2.3' }],
        routes: [{ dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'podnet.1', onlink: true }],
      },
    ]);
  });

  it('always: every peer routed directly (onlink when off-subnet); never: every peer VXLAN', () => {
    const always = planOverlay(
      { ...local, directRouting: 'always' },
      [n2, n3],
      emptyObserved(uplink),
    );
    expect(always.peers.map((p) => [p.mode, p.routes[0]?.onlink])).toEqual([
      ['direct', false],
      ['direct', true],
    ]);
    const never = planOverlay(local, [n2, n3], emptyObserved(uplink));
    expect(never.peers.map((p) => p.mode)).toEqual(['vxlan', 'vxlan']);
  });

  it('switching a peer from VXLAN to direct replaces its route and drops its entries', () => {
    const obs = applied(local, [n2]);
    expect(ops(auto, [n2], obs)).toEqual([
      { op: 'fdb-delete', dev: 'podnet.1', mac: mac2, dst: '192.168.1.2' },
      { op: 'neigh-delete', dev: 'podnet.1', dst: '10.244.2.0' },
      {
        op: 'route-replace',
        dst: '10.244.2.0/24',
        via: '192.168.1.2',
        dev: 'eth0',
        onlink: false,
        proto: 152,
      },
    ]);
  });
});

describe('dual stack and IPv6 underlay', () => {
  it('IPv4 underlay carries both families; each CIDR gets its neighbour and route, one FDB entry', () => {
    const l = { ...local, podCIDRs: ['10.244.1.0/24', 'fd10:1::/64'] };
    const p = {
      ...n3,
      nodeIPs: ['192.168.2.3', 'fd00:2::3'],
      podCIDRs: ['10.244.3.0/24', 'fd10:3::/64'],
    };
    const plan = planOverlay(l, [p], emptyObserved(uplink));
    expect(plan.device.addrs).toEqual(['10.244.1.0/32', 'fd10:1::/128']);
    expect(plan.peers[0]).toEqual({
      nodeName: 'n3',
      mode: 'vxlan',
      neighbours: [
        { dst: '10.244.3.0', mac: mac3 },
        { dst: 'fd10:3::', mac: mac3 },
      ],
      fdb: [{ mac: mac3, dst: '192.168.2.3' }],
      routes: [
        { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'podnet.1', onlink: true },
        { dst: 'fd10:3::/64', via: 'fd10:3::', dev: 'podnet.1', onlink: true },
      ],
    });
  });

  it('IPv6 underlay: device bound to the IPv6 address, FDB to the peer IPv6', () => {
    const l: LocalNode = {
      ...local,
      nodeIPs: ['192.168.1.1', 'fd00:1::1'],
      underlayFamily: 'ipv6',
      podCIDRs: ['fd10:1::/64'],
    };
    const p = {
      nodeName: 'n9',
      nodeIPs: ['192.168.9.9', 'FD00:9:0::9'],
      podCIDRs: ['fd10:9::/64'],
    };
    const plan = planOverlay(l, [p], emptyObserved(uplink));
    expect(plan.device.local).toBe('fd00:1::1');
    expect(plan.device.mtu).toBe(1430);
    expect(plan.peers[0]?.fdb).toEqual([{ mac: vtepMacFor('n9'), dst: 'fd00:9::9' }]);
  });

  it('a pod CIDR that needs an underlay address the peer lacks is skipped with an event', () => {
    const l: LocalNode = { ...local, nodeIPs: ['fd00:1::1'], podCIDRs: ['10.244.1.0/24'] };
    const plan = planOverlay(l, [n2], emptyObserved(uplink));
    expect(plan.peers).toEqual([]);
    expect(plan.events).toContainEqual(
      expect.objectContaining({ reason: 'PodCIDRSkipped', nodeName: 'n2' }),
    );
  });
});

describe('bad peers are skipped with an event; the others are unaffected', () => {
  it.each([
    ['bad node IP', { ...n3, nodeIPs: ['300.1.1.1'] }, 'node IP'],
    ['bad pod CIDR', { ...n3, podCIDRs: ['10.244.3.0/33'] }, 'pod CIDR'],
    [
      'overlapping pod CIDR',
      { ...n3, podCIDRs: ['10.244.2.128/25'] },
      'overlaps 10.244.2.0/24 of n2',
    ],
    [
      'overlapping the local CIDR',
      { ...n3, podCIDRs: ['10.244.1.128/25'] },
      'overlaps 10.244.1.0/24 of n1',
    ],
    ['duplicate name', { ...n3, nodeName: 'n2', podCIDRs: ['10.244.33.0/24'] }, 'duplicate'],
    ['bad MAC', { ...n3, vtepMac: 'zz:00:00:00:00:00' }, 'VTEP MAC'],
    ['multicast MAC', { ...n3, vtepMac: '01:00:5e:00:00:01' }, 'VTEP MAC'],
    ['upper-case multicast MAC', { ...n3, vtepMac: '0F:00:5E:00:00:01' }, 'VTEP MAC'],
    ['MAC that is not a string', { ...n3, vtepMac: 42 }, 'VTEP MAC'],
    ['MAC already used', { ...n3, vtepMac: mac2 }, 'already used by n2'],
    ['bad name', { ...n3, nodeName: 'Not A Name' }, 'not a node name'],
    ['no pod CIDR', { ...n3, podCIDRs: [] }, 'no pod CIDR'],
  ])('%s', (_name, bad, why) => {
    const plan = planOverlay(local, [n2, bad as PeerNode], emptyObserved(uplink));
    expect(plan.peers.map((p) => p.nodeName)).toEqual(['n2']);
    expect(plan.events).toContainEqual(
      expect.objectContaining({
        type: 'Warning',
        reason: 'PeerSkipped',
        message: expect.stringContaining(why),
      }),
    );
  });
});

describe('bad local input throws OverlayError naming the field', () => {
  it.each([
    ['local.nodeName', { nodeName: '' }],
    ['local.uplink', { uplink: 'a bad name' }],
    ['local.nodeIPs', { nodeIPs: [] }],
    ['local.nodeIPs[0]', { nodeIPs: ['1.2.3'] }],
    ['local.podCIDRs[0]', { podCIDRs: ['10.0.0.0'] }],
    ['local.podCIDRs', { podCIDRs: ['10.0.0.0/24', '10.1.0.0/24'] }],
    ['local.vni', { vni: 0 }],
    ['local.port', { port: 70000 }],
    ['local.directRouting', { directRouting: 'sometimes' }],
    ['local.deviceName', { deviceName: 'eth0' }],
    ['local.deviceName', { deviceName: 'podnet.123456789' }],
    ['local.deviceName', { deviceName: 42 }],
    ['local.uplink', { uplink: '-eth0' }],
    ['local.uplink', { uplink: 7 }],
    ['local.vtepMac', { vtepMac: '02:00:00:00:00' }],
    ['local.vtepMac', { vtepMac: 42 }],
    ['local.vtepMac', { vtepMac: 'ff:ff:ff:ff:ff:ff' }],
    ['local.mtu', { mtu: 100 }],
    ['local.nodeIPs', { underlayFamily: 'ipv6' }],
  ])('%s', (field, change) => {
    const err = (() => {
      try {
        planOverlay({ ...local, ...change } as LocalNode, [], emptyObserved(uplink));
      } catch (e) {
        return e;
      }
    })();
    expect(OverlayError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ code: 'INVALID_LOCAL', field });
  });

  it('a missing uplink is UPLINK_NOT_FOUND', () => {
    expect(() => planOverlay(local, [], { ...emptyObserved(), uplink: undefined })).toThrow(
      expect.objectContaining({ code: 'UPLINK_NOT_FOUND', field: 'local.uplink' }),
    );
  });
});

describe('the local node among the peers', () => {
  it('is ignored without an event', () => {
    const self = { nodeName: 'n1', nodeIPs: ['192.168.1.1'], podCIDRs: ['10.244.1.0/24'] };
    const plan = planOverlay(local, [self, n2], emptyObserved(uplink));
    expect(plan.peers.map((p) => p.nodeName)).toEqual(['n2']);
    expect(plan.events.filter((e) => e.type === 'Warning')).toEqual([]);
  });
});

describe('scale', () => {
  it('1,000 peers: one entry of each kind per peer; one changed peer yields its operations only', () => {
    const peers = syntheticPeers(1000);
    const full = planOverlay(local, peers, emptyObserved(uplink));
    expect(full.operations.filter((o) => o.op === 'route-replace')).toHaveLength(1000);
    expect(full.operations.filter((o) => o.op === 'fdb-replace')).toHaveLength(1000);
    expect(full.operations.filter((o) => o.op === 'neigh-replace')).toHaveLength(1000);
    expect(renderPlan(full).map((b) => b.tool)).toEqual(['ip', 'bridge', 'ip']);
    const obs = observedAfter(full, uplink);
    const changed = peers.map((p, i) => (i === 500 ? { ...p, nodeIPs: ['172.31.200.200'] } : p));
    expect(planOverlay(local, changed, obs).operations).toEqual([
      expect.objectContaining({ op: 'fdb-replace', dst: '172.31.200.200', peer: 'node-501' }),
    ]);
  });
});
