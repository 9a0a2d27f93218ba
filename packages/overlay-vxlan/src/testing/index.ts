import type { ObservedOverlay, ObservedUplink } from '../types.js';

/** An observed state with only an uplink: what a fresh node looks like to the planner. */
export function emptyObserved(
  uplink: ObservedUplink = { ifname: 'eth0', mtu: 1500, addrs: [] },
): ObservedOverlay {
  return { uplink, deviceAddrs: [], neighbours: [], fdb: [], routes: [] };
}

/** `count` synthetic peers (`node-1` … on 10.0.x.y, pod CIDRs 10.x.y.0/24) for tests and benchmarks. */
export function syntheticPeers(count: number, opts: { podBase?: number; underlay?: string } = {}) {
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
