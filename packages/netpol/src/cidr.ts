import ipaddr from 'ipaddr.js';

/** An IP family. */
export type IpFamily = 4 | 6;

/** The family of an address or CIDR. */
export function familyOf(ipOrCidr: string): IpFamily {
  return ipOrCidr.includes(':') ? 6 : 4;
}

/** True when `ip` lies inside `cidr` (families must agree). */
export function cidrContains(cidr: string, ip: string): boolean {
  try {
    const addr = ipaddr.parse(ip);
    const [net, bits] = ipaddr.parseCIDR(cidr);
    if (addr.kind() !== net.kind()) return false;
    return addr.match(net, bits);
  } catch {
    return false;
  }
}

/** True when every address of `inner` lies inside `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
  try {
    const [iNet, iBits] = ipaddr.parseCIDR(inner);
    const [oNet, oBits] = ipaddr.parseCIDR(outer);
    return iNet.kind() === oNet.kind() && iBits >= oBits && iNet.match(oNet, oBits);
  } catch {
    return false;
  }
}

function toBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, family: IpFamily): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = new Array(n);
  let x = v;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function cidrRange(cidr: string): { family: IpFamily; lo: bigint; hi: bigint } {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  const family: IpFamily = net.kind() === 'ipv6' ? 6 : 4;
  const width = family === 4 ? 32 : 128;
  const base = toBig(net.toByteArray());
  const size = 1n << BigInt(width - bits);
  const lo = (base / size) * size;
  return { family, lo, hi: lo + size - 1n };
}

/**
 * `cidr` minus every `except` CIDR, as inclusive address ranges (`a-b`, or one address) ready for
 * an nftables interval set.
 */
export function cidrMinus(cidr: string, except: readonly string[] = []): string[] {
  const whole = cidrRange(cidr);
  let ranges: [bigint, bigint][] = [[whole.lo, whole.hi]];
  for (const e of except) {
    const cut = cidrRange(e);
    if (cut.family !== whole.family) continue;
    const next: [bigint, bigint][] = [];
    for (const [lo, hi] of ranges) {
      if (cut.hi < lo || cut.lo > hi) {
        next.push([lo, hi]);
        continue;
      }
      if (cut.lo > lo) next.push([lo, cut.lo - 1n]);
      if (cut.hi < hi) next.push([cut.hi + 1n, hi]);
    }
    ranges = next;
  }
  return ranges.map(([lo, hi]) =>
    lo === hi
      ? fromBig(lo, whole.family)
      : `${fromBig(lo, whole.family)}-${fromBig(hi, whole.family)}`,
  );
}
