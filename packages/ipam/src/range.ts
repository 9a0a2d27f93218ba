import {
  type NumericCidr,
  familyBits,
  formatCidr,
  formatIp,
  lastAddress,
  parseCidr,
  parseIp,
} from './addr.js';
import { IpamError } from './errors.js';

/** One range as written in host-local's configuration (`ranges[i][j]`). */
export interface RangeInput {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  /** podnet extension: addresses or CIDRs inside the subnet never handed out. */
  exclude?: string[];
}

/**
 * A validated, canonical range. Defaults follow host-local: the range runs from the subnet's
 * first host to its last (IPv4 stops before broadcast), and the gateway is the first host.
 * Unlike host-local, /31 and /127 use both addresses and /32 and /128 their single address
 * (point-to-point; no default gateway).
 */
export interface IpamRange {
  /** Canonical subnet CIDR (host bits cleared). */
  subnet: string;
  family: 4 | 6;
  prefixLength: number;
  /** First address handed out (inclusive). */
  rangeStart: string;
  /** Last address handed out (inclusive). */
  rangeEnd: string;
  /** Gateway reported with each address and never handed out; absent for /31, /32, /127, /128. */
  gateway?: string;
  /** Canonical CIDRs never handed out. */
  exclude: string[];
}

/** A set of same-family ranges; an allocation takes one address from each range set. */
export type RangeSet = IpamRange[];

interface Compiled {
  family: 4 | 6;
  network: bigint;
  last: bigint;
  start: bigint;
  end: bigint;
  gateway?: bigint;
  /** True when the network (and for IPv4 the broadcast) address is reserved. */
  reservesEdges: boolean;
  exclude: { from: bigint; to: bigint }[];
}

const compiledCache = new WeakMap<IpamRange, Compiled>();

function compile(range: IpamRange): Compiled {
  let c = compiledCache.get(range);
  if (c) return c;
  const cidr = parseCidr(range.subnet)!;
  c = {
    family: range.family,
    network: cidr.network,
    last: lastAddress(cidr),
    start: parseIp(range.rangeStart)!.value,
    end: parseIp(range.rangeEnd)!.value,
    gateway: range.gateway === undefined ? undefined : parseIp(range.gateway)!.value,
    reservesEdges: range.prefixLength <= familyBits(range.family) - 2,
    exclude: range.exclude.map((e) => {
      const x = parseCidr(e)!;
      return { from: x.network, to: lastAddress(x) };
    }),
  };
  compiledCache.set(range, c);
  return c;
}

function invalid(field: string, message: string, value?: unknown): never {
  throw new IpamError('INVALID_CONFIG', `${field}: ${message}`, { field, value });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates one range and fills in host-local's defaults; errors name `field`. */
export function parseRange(input: unknown, field: string): IpamRange {
  if (!isRecord(input)) invalid(field, 'want an object with a subnet', input);
  const cidr = parseCidr(input.subnet);
  if (!cidr) invalid(`${field}.subnet`, 'want a CIDR such as 10.22.0.0/16', input.subnet);
  const bits = familyBits(cidr.family);
  const last = lastAddress(cidr);
  const reservesEdges = cidr.prefixLength <= bits - 2;
  const inSubnet = (key: string): bigint | undefined => {
    const raw = input[key];
    if (raw === undefined || raw === null || raw === '') return undefined;
    const ip = parseIp(raw);
    if (!ip) invalid(`${field}.${key}`, 'want an IP address', raw);
    if (ip.family !== cidr.family) {
      invalid(`${field}.${key}`, `not the same family as subnet ${input.subnet}`, raw);
    }
    if (ip.value < cidr.network || ip.value > last) {
      invalid(`${field}.${key}`, `${raw} is not in subnet ${input.subnet}`, raw);
    }
    return ip.value;
  };
  const gatewayIn = inSubnet('gateway');
  const startIn = inSubnet('rangeStart');
  const endIn = inSubnet('rangeEnd');
  const gateway = gatewayIn ?? (reservesEdges ? cidr.network + 1n : undefined);
  const start = startIn ?? (reservesEdges ? cidr.network + 1n : cidr.network);
  const end = endIn ?? (reservesEdges && cidr.family === 4 ? last - 1n : last);
  if (start > end) {
    invalid(`${field}.rangeStart`, 'rangeStart is after rangeEnd', input.rangeStart);
  }
  const exclude: string[] = [];
  if (input.exclude !== undefined) {
    if (!Array.isArray(input.exclude)) invalid(`${field}.exclude`, 'want an array', input.exclude);
    input.exclude.forEach((raw, i) => {
      const f = `${field}.exclude[${i}]`;
      const x: NumericCidr | undefined =
        typeof raw === 'string' && !raw.includes('/')
          ? (() => {
              const ip = parseIp(raw);
              return (
                ip && {
                  family: ip.family,
                  network: ip.value,
                  address: ip.value,
                  prefixLength: familyBits(ip.family),
                }
              );
            })()
          : parseCidr(raw);
      if (!x) invalid(f, 'want an IP address or CIDR', raw);
      if (x.family !== cidr.family || x.network < cidr.network || lastAddress(x) > last) {
        invalid(f, `${raw} is not in subnet ${input.subnet}`, raw);
      }
      exclude.push(formatCidr(x.family, x.network, x.prefixLength));
    });
  }
  const fmt = (value: bigint) => formatIp({ family: cidr.family, value });
  const range: IpamRange = {
    subnet: formatCidr(cidr.family, cidr.network, cidr.prefixLength),
    family: cidr.family,
    prefixLength: cidr.prefixLength,
    rangeStart: fmt(start),
    rangeEnd: fmt(end),
    exclude,
  };
  if (gateway !== undefined) range.gateway = fmt(gateway);
  if (rangeSize(range) === 0n) invalid(`${field}`, 'the range has no usable address', input);
  return range;
}

function overlaps(a: IpamRange, b: IpamRange): boolean {
  if (a.family !== b.family) return false;
  const x = compile(a);
  const y = compile(b);
  return x.start <= y.end && y.start <= x.end;
}

/**
 * Validates host-local's `ranges` (an array of range sets) and returns canonical range sets.
 * Fails with `INVALID_CONFIG` naming the field for a bad address, a gateway outside its subnet,
 * `rangeStart` after `rangeEnd`, mixed families in one set, or overlapping ranges.
 */
export function parseRangeSets(input: unknown, field = 'ranges'): RangeSet[] {
  if (!Array.isArray(input) || input.length === 0) {
    invalid(field, 'want a non-empty array of range sets', input);
  }
  const sets: RangeSet[] = [];
  input.forEach((rawSet, i) => {
    const sf = `${field}[${i}]`;
    if (!Array.isArray(rawSet) || rawSet.length === 0) {
      invalid(sf, 'want a non-empty array of ranges', rawSet);
    }
    const set: RangeSet = [];
    rawSet.forEach((rawRange, j) => {
      const range = parseRange(rawRange, `${sf}[${j}]`);
      if (set.length > 0 && range.family !== set[0]!.family) {
        invalid(
          `${sf}[${j}].subnet`,
          `IPv${range.family} range in an IPv${set[0]!.family} range set`,
          range.subnet,
        );
      }
      sets.forEach((other, k) => {
        other.forEach((o, l) => {
          if (overlaps(o, range)) {
            invalid(`${sf}[${j}]`, `overlaps ${field}[${k}][${l}] (${o.subnet})`, range.subnet);
          }
        });
      });
      set.forEach((o, l) => {
        if (overlaps(o, range)) {
          invalid(`${sf}[${j}]`, `overlaps ${sf}[${l}] (${o.subnet})`, range.subnet);
        }
      });
      set.push(range);
    });
    sets.push(set);
  });
  return sets;
}

function isReserved(c: Compiled, v: bigint): boolean {
  if (v === c.gateway) return true;
  if (c.reservesEdges && (v === c.network || (c.family === 4 && v === c.last))) return true;
  for (const x of c.exclude) if (v >= x.from && v <= x.to) return true;
  return false;
}

/** Number of addresses in the range between rangeStart and rangeEnd (before reservations). */
export function rangeSize(range: IpamRange): bigint {
  const c = compile(range);
  return c.end - c.start + 1n;
}

/** The range of `set` from which `ip` could be handed out, or undefined. */
export function rangeFor(set: RangeSet, ip: string): IpamRange | undefined {
  const n = parseIp(ip);
  if (!n) return undefined;
  return set.find((r) => {
    const c = compile(r);
    return c.family === n.family && n.value >= c.start && n.value <= c.end;
  });
}

/** True when `ip` can be handed out by `set`: inside a range and not gateway, edge or excluded. */
export function isAllocatable(set: RangeSet, ip: string): boolean {
  const range = rangeFor(set, ip);
  return range !== undefined && !isReserved(compile(range), parseIp(ip)!.value);
}

/** True when `ip` lies in one of the set's subnets (host-local's `RangeSet.Contains`). */
export function rangeSetContains(set: RangeSet, ip: string): boolean {
  const n = parseIp(ip);
  if (!n) return false;
  return set.some((r) => {
    const c = compile(r);
    return c.family === n.family && n.value >= c.network && n.value <= c.last;
  });
}

/** An address picked for a range set, with the prefix and gateway to report. */
export interface PickedAddress {
  /** Canonical address, e.g. `10.22.0.5`. */
  ip: string;
  /** The address with the subnet's prefix length, e.g. `10.22.0.5/24`. */
  address: string;
  gateway?: string;
  range: IpamRange;
}

/** Reports `ip` as allocated from `range`. */
export function describeAddress(range: IpamRange, ip: string): PickedAddress {
  const picked: PickedAddress = { ip, address: `${ip}/${range.prefixLength}`, range };
  if (range.gateway !== undefined) picked.gateway = range.gateway;
  return picked;
}

/**
 * Picks the next free address of `set` the way host-local does: round-robin starting after
 * `lastReserved` (when it lies in the set), moving on to the next range at a range's end and
 * wrapping around, skipping the gateway, network and broadcast addresses, exclusions and every
 * address for which `isTaken` is true. Returns undefined when the set is exhausted.
 */
export function pickAddress(
  set: RangeSet,
  isTaken: (ip: string) => boolean,
  lastReserved?: string,
): PickedAddress | undefined {
  const compiled = set.map(compile);
  let idx = 0;
  let cur = compiled[0]!.start;
  const last = lastReserved === undefined ? undefined : parseIp(lastReserved);
  if (last) {
    const k = compiled.findIndex(
      (c) => c.family === last.family && last.value >= c.start && last.value <= c.end,
    );
    if (k >= 0) {
      idx = k;
      cur = last.value;
      if (cur === compiled[k]!.end) {
        idx = (k + 1) % compiled.length;
        cur = compiled[idx]!.start;
      } else {
        cur += 1n;
      }
    }
  }
  let remaining = compiled.reduce((sum, c) => sum + (c.end - c.start + 1n), 0n);
  while (remaining > 0n) {
    const c = compiled[idx]!;
    const skip = c.exclude.find((x) => cur >= x.from && cur <= x.to);
    if (skip && skip.to < c.end) {
      remaining -= skip.to - cur;
      cur = skip.to;
    } else if (skip) {
      remaining -= c.end - cur;
      cur = c.end;
    } else if (!isReserved(c, cur)) {
      const ip = formatIp({ family: c.family, value: cur });
      if (!isTaken(ip)) return describeAddress(set[idx]!, ip);
    }
    remaining -= 1n;
    if (cur === c.end) {
      idx = (idx + 1) % compiled.length;
      cur = compiled[idx]!.start;
    } else {
      cur += 1n;
    }
  }
  return undefined;
}

/** Human-readable form of a range set, as used in error messages. */
export function formatRangeSet(set: RangeSet): string {
  return set.map((r) => `${r.rangeStart}-${r.rangeEnd}`).join(',');
}
