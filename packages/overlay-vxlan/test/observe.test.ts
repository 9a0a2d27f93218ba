import { describe, expect, it } from 'vitest';
import { parseObserved, planOverlayRemoval, renderPlan } from '../src/index.js';

// Shapes as printed by iproute2 6.x (`ip -d -j link show`, `ip -j addr show`, ...).
const links = [
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536 },
  {
    ifindex: 2,
    ifname: 'eth0',
    flags: ['BROADCAST', 'UP'],
    mtu: 9000,
    address: '0a:00:00:00:00:01',
    linkinfo: { info_kind: 'veth' },
  },
  {
    ifindex: 4,
    ifname: 'podnet.1',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 8950,
    address: '0A:11:22:33:44:55',
    linkinfo: {
      info_kind: 'vxlan',
      info_data: { id: 1, local: '192.168.5.1', link: 'eth0', port: 8472, learning: false, ttl: 0 },
    },
  },
];
const addrs = [
  {
    ifname: 'eth0',
    addr_info: [
      { family: 'inet', local: '192.168.5.1', prefixlen: 24, scope: 'global' },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
    ],
  },
  {
    ifname: 'podnet.1',
    addr_info: [
      { family: 'inet', local: '10.244.1.0', prefixlen: 32, scope: 'global' },
      { family: 'inet6', local: 'fd10:1::', prefixlen: 128, scope: 'global', nodad: true },
      { family: 'inet6', local: 'fe80::811:22ff:fe33:4455', prefixlen: 64, scope: 'link' },
    ],
  },
];
const neighbours = [
  { dst: '10.244.2.0', lladdr: '0a:00:00:00:00:02', state: ['PERMANENT'] },
  { dst: 'fd10:2::', lladdr: '0a:00:00:00:00:02', state: ['PERMANENT'] },
  { dst: '10.244.7.0', lladdr: '0a:00:00:00:00:07', state: ['REACHABLE'] },
];
const fdb = [
  { mac: '00:00:00:00:00:00', dst: '192.168.5.99', flags: ['self'], state: 'permanent' },
  { mac: '0a:00:00:00:00:02', dst: '192.168.5.2', flags: ['self'], state: 'permanent' },
  { mac: '0a:11:22:33:44:55', flags: ['self'], state: 'permanent' },
];
const routes = [
  { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'podnet.1', flags: ['onlink'] },
  { dst: '10.244.3.0/24', gateway: '192.168.5.3', dev: 'eth0', flags: [] },
  {
    dst: 'fd10:2::/64',
    gateway: 'fd10:2::',
    dev: 'podnet.1',
    metric: 1024,
    flags: ['onlink'],
    pref: 'medium',
  },
  { dst: '10.9.9.9', dev: 'eth0', flags: [] },
];

describe('parseObserved', () => {
  it('reads the kernel JSON into canonical observed state', () => {
    const observed = parseObserved(
      { links, addrs, neighbours, fdb, routes },
      { uplink: 'eth0', deviceName: 'podnet.1' },
    );
    expect(observed).toEqual({
      uplink: { ifname: 'eth0', mtu: 9000, addrs: ['192.168.5.1/24'] },
      device: {
        ifname: 'podnet.1',
        kind: 'vxlan',
        vni: 1,
        port: 8472,
        local: '192.168.5.1',
        link: 'eth0',
        learning: false,
        mac: '0a:11:22:33:44:55',
        mtu: 8950,
        up: true,
      },
      deviceAddrs: ['10.244.1.0/32', 'fd10:1::/128'],
      neighbours: [
        { dst: '10.244.2.0', mac: '0a:00:00:00:00:02' },
        { dst: 'fd10:2::', mac: '0a:00:00:00:00:02' },
      ],
      fdb: [{ mac: '0a:00:00:00:00:02', dst: '192.168.5.2' }],
      routes: [
        { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'podnet.1', onlink: true },
        { dst: '10.244.3.0/24', via: '192.168.5.3', dev: 'eth0', onlink: false },
        { dst: 'fd10:2::/64', via: 'fd10:2::', dev: 'podnet.1', onlink: true },
      ],
    });
  });

  it('without the device: no entries, and garbage input reads as nothing', () => {
    const observed = parseObserved(
      { links: [links[1]], addrs, neighbours, fdb, routes: [] },
      { uplink: 'eth0', deviceName: 'podnet.1' },
    );
    expect(observed.device).toBeUndefined();
    expect(observed.neighbours).toEqual([]);
    expect(
      parseObserved(
        { links: 'x', addrs: null, neighbours: 1, fdb: {}, routes: undefined },
        { uplink: 'eth0', deviceName: 'podnet.1' },
      ),
    ).toEqual({
      uplink: undefined,
      device: undefined,
      deviceAddrs: [],
      neighbours: [],
      fdb: [],
      routes: [],
    });
  });

  it('planOverlayRemoval deletes owned routes, then the device', () => {
    const observed = parseObserved(
      { links, addrs, neighbours, fdb, routes },
      { uplink: 'eth0', deviceName: 'podnet.1' },
    );
    expect(renderPlan(planOverlayRemoval({}, observed))).toEqual([
      {
        tool: 'ip',
        lines: [
          ['route', 'del', '10.244.2.0/24', 'proto', '152'],
          ['route', 'del', '10.244.3.0/24', 'proto', '152'],
          ['route', 'del', 'fd10:2::/64', 'proto', '152'],
          ['link', 'del', 'podnet.1'],
        ],
      },
    ]);
    expect(
      planOverlayRemoval({}, { deviceAddrs: [], neighbours: [], fdb: [], routes: [] }).operations,
    ).toEqual([]);
  });
});
