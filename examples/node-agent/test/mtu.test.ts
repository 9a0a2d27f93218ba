import { vxlanOverhead } from '@podnet/overlay-vxlan';
import { describe, expect, it } from 'vitest';
import { podMtu } from '../src/mtu.js';

describe('podMtu', () => {
  it.each([
    { uplink: 1500, nodeIps: ['172.30.0.11'], want: 1450 },
    { uplink: 1500, nodeIps: ['fd00:30::11'], want: 1430 },
    // dual stack: the overlay tunnels over the first node IP's family
    { uplink: 1500, nodeIps: ['172.30.0.11', 'fd00:30::11'], want: 1450 },
    { uplink: 1500, nodeIps: ['fd00:30::11', '172.30.0.11'], want: 1430 },
    { uplink: 9000, nodeIps: ['fd00:30::11'], want: 8930 },
  ])('uplink $uplink over $nodeIps: $want', ({ uplink, nodeIps, want }) => {
    expect(podMtu(uplink, nodeIps)).toBe(want);
  });

  it('subtracts what the overlay sizes its VXLAN device with', () => {
    expect(vxlanOverhead('ipv4')).toBe(50);
    expect(vxlanOverhead('ipv6')).toBe(70);
  });
});
