import { canonicalIp, formatCidr, parseCidr, parseIp } from './addr.js';
import { IpamError } from './errors.js';
import { type RangeSet, parseRangeSets } from './range.js';

/** A route returned with every allocation (host-local's `routes`). */
export interface IpamRoute {
  dst: string;
  gw?: string;
}

/** A validated podnet-ipam / host-local configuration. */
export interface IpamConfig {
  /** One address is allocated from each range set (e.g. one IPv4 and one IPv6 set). */
  rangeSets: RangeSet[];
  routes: IpamRoute[];
  /** Parent directory of the per-network store (host-local default `/var/lib/cni/networks`). */
  dataDir: string;
  /** A resolv.conf whose nameserver/domain/search/options become the result's `dns`. */
  resolvConf?: string;
}

/** host-local's default data directory. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

function invalid(field: string, message: string, value?: unknown): never {
  throw new IpamError('INVALID_CONFIG', `${field}: ${message}`, { field, value });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates the `ipam` object of a CNI network configuration, accepting host-local's keys
 * (`ranges`, `routes`, `dataDir`, `resolvConf`, and the legacy single-range `subnet`,
 * `rangeStart`, `rangeEnd`, `gateway`). Errors are `IpamError` `INVALID_CONFIG` whose `field`
 * is the path below `ipam`, e.g. `ipam.ranges[0][0].gateway`.
 */
export function parseIpamConfig(ipam: unknown): IpamConfig {
  if (!isRecord(ipam)) invalid('ipam', 'want an object', ipam);
  const rawSets: unknown[] = [];
  if (ipam.subnet !== undefined) {
    rawSets.push([
      {
        subnet: ipam.subnet,
        rangeStart: ipam.rangeStart,
        rangeEnd: ipam.rangeEnd,
        gateway: ipam.gateway,
      },
    ]);
  }
  if (ipam.ranges !== undefined) {
    if (!Array.isArray(ipam.ranges))
      invalid('ipam.ranges', 'want an array of range sets', ipam.ranges);
    rawSets.push(...ipam.ranges);
  }
  if (rawSets.length === 0) invalid('ipam.ranges', 'no IP ranges specified', ipam.ranges);
  const rangeSets = parseRangeSets(rawSets, 'ipam.ranges');
  const routes: IpamRoute[] = [];
  if (ipam.routes !== undefined && ipam.routes !== null) {
    if (!Array.isArray(ipam.routes)) invalid('ipam.routes', 'want an array', ipam.routes);
    ipam.routes.forEach((r, i) => {
      const f = `ipam.routes[${i}]`;
      if (!isRecord(r)) invalid(f, 'want an object with dst', r);
      const dst = parseCidr(r.dst);
      if (!dst) invalid(`${f}.dst`, 'want a CIDR', r.dst);
      const route: IpamRoute = { dst: formatCidr(dst.family, dst.network, dst.prefixLength) };
      if (r.gw !== undefined && r.gw !== '') {
        const gw = parseIp(r.gw);
        if (!gw || gw.family !== dst.family)
          invalid(`${f}.gw`, 'want an address of the same family as dst', r.gw);
        route.gw = canonicalIp(r.gw);
      }
      routes.push(route);
    });
  }
  let dataDir = DEFAULT_DATA_DIR;
  if (ipam.dataDir !== undefined && ipam.dataDir !== '') {
    if (typeof ipam.dataDir !== 'string' || !ipam.dataDir.startsWith('/')) {
      invalid('ipam.dataDir', 'want an absolute path', ipam.dataDir);
    }
    dataDir = ipam.dataDir;
  }
  const config: IpamConfig = { rangeSets, routes, dataDir };
  if (ipam.resolvConf !== undefined && ipam.resolvConf !== '') {
    if (typeof ipam.resolvConf !== 'string')
      invalid('ipam.resolvConf', 'want a path', ipam.resolvConf);
    config.resolvConf = ipam.resolvConf;
  }
  return config;
}
