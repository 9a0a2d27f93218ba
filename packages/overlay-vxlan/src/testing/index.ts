import { RecordingRunner } from '@podnet/host/testing';
import type { ObservedOverlay, ObservedUplink, PeerNode } from '../types.js';

/** An observed state with only an uplink: what a fresh node looks like to the planner. */
export function emptyObserved(
  uplink: ObservedUplink = { ifname: 'eth0', mtu: 1500, addrs: [] },
): ObservedOverlay {
  return { uplink, deviceAddrs: [], neighbours: [], fdb: [], routes: [] };
}

/** `count` synthetic peers (`node-1` … on 10.0.x.y, pod CIDRs 10.x.y.0/24) for tests and benchmarks. */
export function syntheticPeers(
  count: number,
  opts: { podBase?: number; underlay?: string } = {},
): PeerNode[] {
  const podBase = opts.podBase ?? 100;
  return Array.from({ length: count }, (_, i) => {
    const n = i + 1;
    return {
      nodeName: `node-${n}`,
      nodeIPs: [`${opts.underlay ?? '172.31'}.${(n >> 8) & 255}.${n & 255}`],
      podCIDRs: [`10.${podBase + (n >> 8)}.${n & 255}.0/24`],
    };
  });
}

/**
 * A `RecordingRunner` that answers the reads of `readOverlayState` as a fresh node with only
 * `uplink` (no overlay device yet) and accepts every batch. Pair it with `new Host({ runner })`
 * to test code that drives the overlay without root; `runner.requests` shows what ran.
 */
export function fakeFreshNodeRunner(
  uplink: ObservedUplink = { ifname: 'eth0', mtu: 1500, addrs: ['192.168.1.1/24'] },
): RecordingRunner {
  const addrInfo = uplink.addrs.map((cidr) => {
    const [local, prefixlen] = cidr.split('/');
    return { local, prefixlen: Number(prefixlen), scope: 'global' };
  });
  return new RecordingRunner()
    .respond((r) => (r.argv[0] === 'ip' && r.argv[1] === '-json' ? { stdout: '[]' } : undefined))
    .respondTo(['ip', '-json', '-details', 'link', 'show'], {
      stdout: JSON.stringify([{ ifname: uplink.ifname, mtu: uplink.mtu, flags: ['UP'] }]),
    })
    .respondTo(['ip', '-json', 'addr', 'show'], {
      stdout: JSON.stringify([{ ifname: uplink.ifname, addr_info: addrInfo }]),
    });
}
