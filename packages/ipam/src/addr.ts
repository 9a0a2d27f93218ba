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
  if (typeof text !== 'string' || text.includes('%')) return undefined;
  let family: 4 | 6;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) family = 4;
  else if (text.includes(':') && ipaddr.IPv6.isValid(text)) family = 6;
  else return undefined;
  const bytes = ipaddr.parse(text).toByteArray();
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family, value };
}

/** Formats a numeric address canonically (dotted quad, RFC 5952 for IPv6), as Go's net.IP does. */
export function formatIp(ip: NumericIp): string {
  const n = ip.family === 4 ? 4 : 16;
  const bytes = new Array<number>(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
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
  if (!ip || !/^\d{1,3}$/.test(len)) return undefined;
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
