import type { UdpServicePort } from './compile.js';
import type { IpFamily } from './types.js';

/** One `conntrack -D` filter: UDP entries to a service address/port that were (or were not) DNATed. */
export interface ConntrackDeletion {
  family: IpFamily;
  /** Original destination address (a service VIP); absent for NodePort entries. */
  origDst?: string;
  /** Original destination port (service port or NodePort). */
  origPortDst: number;
  /** Only entries DNATed to this endpoint address; absent = every entry to the VIP and port. */
  dstNat?: string;
}

function epAddress(hostPort: string): string {
  return hostPort.startsWith('[')
    ? hostPort.slice(1, hostPort.indexOf(']'))
    : hostPort.slice(0, hostPort.lastIndexOf(':'));
}

const portId = (p: UdpServicePort) => `${p.family}|${p.port}|${p.vips.join(',')}`;

/**
 * The UDP conntrack entries to delete when a Service's UDP ports change from `prev` to `next`
 * (as kube-proxy does): entries DNATed to an endpoint that went away, and entries to a VIP that
 * just got its first endpoints (they were created while nothing answered). Pure.
 */
export function planConntrackCleanup(
  prev: readonly UdpServicePort[],
  next: readonly UdpServicePort[],
): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const seen = new Set<string>();
  const push = (d: ConntrackDeletion) => {
    const id = JSON.stringify(d);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(d);
    }
  };
  const nextById = new Map(next.map((p) => [portId(p), p]));
  const prevById = new Map(prev.map((p) => [portId(p), p]));
  for (const p of prev) {
    const n = nextById.get(portId(p));
    const keep = new Set(n?.endpoints ?? []);
    for (const ep of p.endpoints) {
      if (keep.has(ep)) continue;
      const dstNat = epAddress(ep);
      for (const vip of p.vips)
        push({ family: p.family, origDst: vip, origPortDst: p.port, dstNat });
      if (p.nodePort !== undefined) push({ family: p.family, origPortDst: p.nodePort, dstNat });
    }
  }
  for (const n of next) {
    if (n.endpoints.length === 0) continue;
    const p = prevById.get(portId(n));
    if (p && p.endpoints.length > 0) continue;
    for (const vip of n.vips) push({ family: n.family, origDst: vip, origPortDst: n.port });
  }
  return out;
}

/** The `conntrack` argv for one deletion (Debian's conntrack-tools). Pure. */
export function conntrackArgv(d: ConntrackDeletion): string[] {
  return [
    'conntrack',
    '-D',
    '-f',
    d.family === 'ip' ? 'ipv4' : 'ipv6',
    '-p',
    'udp',
    ...(d.origDst !== undefined ? ['--orig-dst', d.origDst] : []),
    '--orig-port-dst',
    String(d.origPortDst),
    ...(d.dstNat !== undefined ? ['--dst-nat', d.dstNat] : []),
  ];
}

/** Parses `N flow entries have been deleted` from conntrack's stderr (0 when absent). */
export function parseConntrackDeleted(stderr: string): number {
  const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(stderr);
  return m ? Number(m[1]) : 0;
}
