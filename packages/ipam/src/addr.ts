import { ipv4Value } from '@podnet/cni-spec';
import ipaddr from 'ipaddr.js';

/** An address as a family and a 32- or 128-bit unsigned integer. */
export interface NumericIp {
  family: 4 | 6;
  value: bigint;
}

/** Bit width of an address family. */
export function familyBits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** Parses a strict IPv4 dotted quad or IPv6 address (no zone); undefined when invalid. */
export function parseIp(text: unknown): NumericIp | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = ipv4Value(text);
  if (v4 >= 0) return { family: 4, value: BigInt(v4) };
  if (text.includes('%') || !text.includes(':') || !ipaddr.IPv6.isValid(text)) return undefined;
  let value = 0n;
  for (const b of ipaddr.IPv6.parse(text).toByteArray()) value = (value << 8n) | BigInt(b);
  return { family: 6, value };
}

/** Formats a numeric address canonically (dotted quad, RFC 5952 for IPv6), as Go's net.IP does. */
export function formatIp(ip: NumericIp): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts = new Array<number>(8);
  let v = ip.value;
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  // RFC 5952: the longest run (first on a tie) of two or more zero groups becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    parts
      .slice(from, to)
      .map((p) => p.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Canonical text of an address, or undefined when it does not parse. */
export function canonicalIp(text: unknown): string | undefined {
  const ip = parseIp(text);
  return ip && formatIp(ip);
}

/** A parsed CIDR: the network address (host bits cleared) and the prefix length. */
export interface NumericCidr {
  family: 4 | 6;
  network: bigint;
  prefixLength: number;
  /** The address as written, before host bits were cleared. */
  address: bigint;
}

/** Parses `address/prefix`; undefined when invalid. */
export function parseCidr(text: unknown): NumericCidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const len = text.slice(slash + 1);
  if (!ip || len.length === 0 || len.length > 3) return undefined;
  for (let i = 0; i < len.length; i++) {
    const c = len.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const prefixLength = Number(len);
  const bits = familyBits(ip.family);
  if (prefixLength > bits) return undefined;
  return {
    family: ip.family,
    network: ip.value & prefixMask(ip.family, prefixLength),
    prefixLength,
    address: ip.value,
  };
}

/** The netmask of a prefix as an integer. */
export function prefixMask(family: 4 | 6, prefixLength: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefixLength))) & all;
}

/** The last address of a prefix. */
export function lastAddress(cidr: NumericCidr): bigint {
  const bits = BigInt(familyBits(cidr.family));
  return cidr.network | ((1n << (bits - BigInt(cidr.prefixLength))) - 1n);
}

/** Formats a prefix as canonical CIDR text. */
export function formatCidr(family: 4 | 6, network: bigint, prefixLength: number): string {
  return `${formatIp({ family, value: network })}/${prefixLength}`;
}
