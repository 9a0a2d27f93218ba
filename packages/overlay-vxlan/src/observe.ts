import { canonicalIfaceCidr, canonicalIp } from './addr.js';
import type { FdbEntry, NeighbourEntry, ObservedOverlay, RouteEntry } from './types.js';

/** The raw `-json` answers {@link parseObserved} reads. */
export interface RawOverlayReads {
  /** `ip -d -j link show` */
  links: unknown;
  /** `ip -j addr show` */
  addrs: unknown;
  /** `ip -j neigh show dev DEVICE nud permanent` (empty when the device is absent) */
  neighbours: unknown;
  /** `bridge -j fdb show dev DEVICE` (empty when the device is absent) */
  fdb: unknown;
  /** `ip -j -4 route show table main proto P` and the same with `-6`, concatenated */
  routes: unknown;
}

interface RawLink {
  ifname?: string;
  mtu?: number;
  address?: string;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: {
      id?: number;
      local?: string;
      local6?: string;
      link?: string;
      port?: number;
      learning?: boolean;
    };
  };
}

interface RawAddr {
  ifname?: string;
  addr_info?: { local?: string; prefixlen?: number; scope?: string }[];
}

function list<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function globalAddrs(addrs: RawAddr[], ifname: string): string[] {
  const entry = addrs.find((a) => a.ifname === ifname);
  return (entry?.addr_info ?? [])
    .filter((a) => a.scope === 'global' && typeof a.local === 'string')
    .map((a) => canonicalIfaceCidr(`${a.local}/${a.prefixlen}`))
    .filter((c): c is string => !!c)
    .sort();
}

/** Turns the kernel's JSON answers into an {@link ObservedOverlay}. Pure. */
export function parseObserved(
  raw: RawOverlayReads,
  names: { uplink: string; deviceName: string },
): ObservedOverlay {
  const links = list<RawLink>(raw.links);
  const addrs = list<RawAddr>(raw.addrs);
  const up = links.find((l) => l.ifname === names.uplink);
  const dev = links.find((l) => l.ifname === names.deviceName);
  const data = dev?.linkinfo?.info_data;
  const observed: ObservedOverlay = {
    uplink: up && {
      ifname: names.uplink,
      mtu: up.mtu ?? 1500,
      addrs: globalAddrs(addrs, names.uplink),
    },
    device: dev && {
      ifname: names.deviceName,
      kind: dev.linkinfo?.info_kind ?? '',
      vni: data?.id,
      port: data?.port,
      local: canonicalIp(data?.local ?? data?.local6),
      link: data?.link,
      learning: data?.learning,
      mac: dev.address?.toLowerCase(),
      mtu: dev.mtu,
      up: (dev.flags ?? []).includes('UP'),
    },
    deviceAddrs: dev ? globalAddrs(addrs, names.deviceName) : [],
    neighbours: [],
    fdb: [],
    routes: [],
  };
  if (!dev) return observed;
  for (const n of list<{ dst?: string; lladdr?: string; state?: string[] }>(raw.neighbours)) {
    const dst = canonicalIp(n.dst);
    if (dst && n.lladdr && (n.state ?? []).includes('PERMANENT')) {
      observed.neighbours.push({ dst, mac: n.lladdr.toLowerCase() } satisfies NeighbourEntry);
    }
  }
  for (const f of list<{ mac?: string; dst?: string; ifname?: string }>(raw.fdb)) {
    const dst = canonicalIp(f.dst);
    if (dst && f.mac && f.mac !== '00:00:00:00:00:00') {
      observed.fdb.push({ mac: f.mac.toLowerCase(), dst } satisfies FdbEntry);
    }
  }
  for (const r of list<{ dst?: string; gateway?: string; dev?: string; flags?: string[] }>(
    raw.routes,
  )) {
    const dst = r.dst && r.dst !== 'default' ? canonicalIfaceCidr(r.dst) : undefined;
    const via = canonicalIp(r.gateway);
    if (dst && via && r.dev) {
      observed.routes.push({
        dst,
        via,
        dev: r.dev,
        onlink: (r.flags ?? []).includes('onlink'),
      } satisfies RouteEntry);
    }
  }
  return observed;
}
