import ipaddr from 'ipaddr.js';

/** Address family of a parsed value. */
export type Family = 'ipv4' | 'ipv6';

const V4 =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const CACHE_LIMIT = 100_000;
const ipCache = new Map<string, string | null>();
const netCache = new Map<string, Net | null>();

function remember<T>(
  cache: Map<string, T | null>,
  key: string,
  value: T | undefined,
): T | undefined {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value ?? null);
  return value;
}

/** The canonical text of an IP address (`fd00:0::1` → `fd00::1`), or undefined when invalid. */
export function canonicalIp(ip: unknown): string | undefined {
  if (typeof ip !== 'string') return undefined;
  const hit = ipCache.get(ip);
  if (hit !== undefined) return hit ?? undefined;
  return remember(ipCache, ip, parseIpText(ip));
}

function parseIpText(ip: string): string | undefined {
  if (V4.test(ip)) return ip;
  if (ip.includes('%') || ip.includes('/') || !ip.includes(':') || !ipaddr.IPv6.isValid(ip)) {
    return undefined;
  }
  const a = ipaddr.IPv6.parse(ip);
  return a.isIPv4MappedAddress() ? undefined : a.toString();
}

function v4ToInt(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

function intToV4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The family of a valid address. */
export function familyOf(ip: string): Family {
  return ip.includes(':') ? 'ipv6' : 'ipv4';
}

/** A parsed network: canonical `network/prefix`, its network address, prefix and family. */
export interface Net {
  cidr: string;
  network: string;
  prefix: number;
  family: Family;
}

/** Parses `addr/prefix` to its network (host bits cleared), or undefined when invalid. */
export function parseNet(cidr: unknown): Net | undefined {
  if (typeof cidr !== 'string') return undefined;
  const hit = netCache.get(cidr);
  if (hit !== undefined) return hit ?? undefined;
  return remember(netCache, cidr, parseNetText(cidr));
}

function parseNetText(cidr: string): Net | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return undefined;
  const ip = canonicalIp(cidr.slice(0, slash));
  const len = cidr.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(len)) return undefined;
  const family = familyOf(ip);
  const prefix = Number(len);
  if (prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  const network =
    family === 'ipv4'
      ? intToV4(prefix === 0 ? 0 : (v4ToInt(ip) & (0xffffffff << (32 - prefix))) >>> 0)
      : ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${prefix}`).toString();
  return { cidr: `${network}/${prefix}`, network, prefix, family };
}

/** True when `ip` lies inside `net`. */
export function netContains(net: Net, ip: string): boolean {
  if (familyOf(ip) !== net.family) return false;
  if (net.family === 'ipv4') {
    const mask = net.prefix === 0 ? 0 : (0xffffffff << (32 - net.prefix)) >>> 0;
    return (v4ToInt(ip) & mask) >>> 0 === v4ToInt(net.network);
  }
  return ipaddr.parse(ip).match(ipaddr.parse(net.network), net.prefix);
}

/** True when two networks of one family overlap. */
export function netsOverlap(a: Net, b: Net): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  return ipaddr.parse(a.network).match(ipaddr.parse(b.network), p);
}

/** Canonical CIDR text keeping the address (`10.0.0.5/24` stays, only normalised), or undefined. */
export function canonicalIfaceCidr(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  const ip = canonicalIp(slash < 0 ? cidr : cidr.slice(0, slash));
  if (!ip) return undefined;
  const prefix = slash < 0 ? (familyOf(ip) === 'ipv4' ? 32 : 128) : Number(cidr.slice(slash + 1));
  return `${ip}/${prefix}`;
}

/** True when `mac` is a unicast (not multicast/broadcast) non-zero MAC. */
export function isUnicastMac(mac: string): boolean {
  const first = Number.parseInt(mac.slice(0, 2), 16);
  return (first & 1) === 0 && mac !== '00:00:00:00:00:00';
}

function toBig(ip: string): bigint {
  let v = 0n;
  for (const b of ipaddr.parse(ip).toByteArray()) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Disjoint networks of both families with an O(log n) overlap query, so checking n pod CIDRs
 * against each other costs O(n log n) rather than O(n²).
 */
export class NetSet<T> {
  private readonly byFamily = {
    ipv4: [] as { start: number | bigint; end: number | bigint; net: Net; value: T }[],
    ipv6: [] as { start: number | bigint; end: number | bigint; net: Net; value: T }[],
  };

  /** The stored network (and its value) that overlaps `net`, if any. */
  overlapping(net: Net): { net: Net; value: T } | undefined {
    const list = this.byFamily[net.family];
    const { start, end } = range(net);
    let lo = 0;
    let hi = list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.start <= end) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const hit = found >= 0 ? list[found]! : undefined;
    return hit && hit.end >= start ? { net: hit.net, value: hit.value } : undefined;
  }

  /** Removes a stored network (exact match); true when it was there. */
  delete(net: Net): boolean {
    const list = this.byFamily[net.family];
    const i = this.indexOfStart(list, range(net).start);
    if (i < 0 || list[i]!.net.cidr !== net.cidr) return false;
    list.splice(i, 1);
    return true;
  }

  private indexOfStart(list: { start: number | bigint }[], start: number | bigint): number {
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = list[mid]!.start;
      if (s === start) return mid;
      if (s < start) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Adds a network that does not overlap any stored one. */
  add(net: Net, value: T): void {
    const list = this.byFamily[net.family];
    const r = range(net);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.start < r.start) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, { ...r, net, value });
  }
}

function range(net: Net): { start: number | bigint; end: number | bigint } {
  if (net.family === 'ipv4') {
    const start = v4ToInt(net.network);
    return { start, end: start + 2 ** (32 - net.prefix) - 1 };
  }
  const bits = 128n;
  const start = toBig(net.network);
  const size = 1n << (bits - BigInt(net.prefix));
  return { start, end: start + size - 1n };
}
