import { underlayFamilyOf, vxlanOverhead } from '@podnet/overlay-vxlan';

/**
 * The pod interface MTU of a node whose uplink has `uplinkMtu`: the uplink's MTU minus the VXLAN
 * overhead of the underlay the overlay tunnels over, whose family is that of the first node IP
 * (as the overlay picks it): 50 bytes over IPv4, 70 over IPv6. Pure.
 */
export function podMtu(uplinkMtu: number, nodeIps: readonly string[]): number {
  return uplinkMtu - vxlanOverhead(underlayFamilyOf(nodeIps));
}
