/**
 * Argument validators, also published as the pure subpath `@podnet/host/validate`: this module
 * and everything it imports must stay free of `node:*` so planners can use it anywhere.
 */
import ipaddr from 'ipaddr.js';
import { HostError } from './errors.js';

export { HostError, type HostErrorCode, type HostErrorDetails } from './errors.js';

const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const NFT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const NETNS_PATH = /^\/[A-Za-z0-9_./-]{1,254}$/;
const SAFE_TOKEN = /^[^\s"'\\#;`$]+$/;

function invalid(what: string, value: unknown, why: string): never {
  throw new HostError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(value)}: ${why}`, {
    value,
  });
}

/** True when `name` is a valid Linux interface name (1-15 characters, no `/`, spaces or leading `-`). */
export function isIfName(name: unknown): name is string {
  return typeof name === 'string' && IFNAME.test(name) && name !== '.' && name !== '..';
}

/** Throws `INVALID_ARGUMENT` unless `name` is a valid interface name; returns it. */
export function assertIfName(name: unknown): string {
  if (!isIfName(name)) {
    invalid(
      'interface name',
      name,
      'want 1-15 characters of [A-Za-z0-9_.@-], not starting with - or .',
    );
  }
  return name;
}

/** True when `ip` is an IPv4 or IPv6 address in canonical-parsable form (no zone, no prefix). */
export function isIp(ip: unknown): ip is string {
  // the strict checks alone decide: ipaddr.isValid before them parsed every IPv4 address twice
  return typeof ip === 'string' && !ip.includes('%') && isStrictIp(ip);
}

function isStrictIp(ip: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(ip) || (ip.includes(':') && ipaddr.IPv6.isValid(ip));
}

/** Throws `INVALID_ARGUMENT` unless `ip` is an IPv4 or IPv6 address; returns it. */
export function assertIp(ip: unknown): string {
  if (!isIp(ip)) invalid('IP address', ip, 'want an IPv4 dotted quad or an IPv6 address');
  return ip;
}

/** True when `cidr` is `address/prefix` with a prefix valid for the family. */
export function isCidr(cidr: unknown): cidr is string {
  if (typeof cidr !== 'string') return false;
  const slash = cidr.indexOf('/');
  if (slash < 0) return false;
  const addr = cidr.slice(0, slash);
  const len = cidr.slice(slash + 1);
  if (!isIp(addr) || !/^\d{1,3}$/.test(len)) return false;
  const max = addr.includes(':') ? 128 : 32;
  return Number(len) <= max;
}

/** Throws `INVALID_ARGUMENT` unless `cidr` is `address/prefix`; returns it. */
export function assertCidr(cidr: unknown): string {
  if (!isCidr(cidr)) invalid('CIDR', cidr, 'want address/prefix, e.g. 10.244.0.0/24 or fd00::/64');
  return cidr;
}

/** True when `mac` is six colon-separated hex octets. */
export function isMac(mac: unknown): mac is string {
  return typeof mac === 'string' && MAC.test(mac);
}

/** Throws `INVALID_ARGUMENT` unless `mac` is six colon-separated hex octets; returns it. */
export function assertMac(mac: unknown): string {
  if (!isMac(mac)) invalid('MAC address', mac, 'want six colon-separated hex octets');
  return mac;
}

/** True when `name` can name an nftables table, chain, set or map. */
export function isNftName(name: unknown): name is string {
  return typeof name === 'string' && NFT_NAME.test(name);
}

/** Throws `INVALID_ARGUMENT` unless `name` can name an nftables table, chain, set or map. */
export function assertNftName(name: unknown): string {
  if (!isNftName(name)) {
    invalid(
      'nftables name',
      name,
      'want 1-64 characters of [A-Za-z0-9_.-] starting with a letter or _',
    );
  }
  return name;
}

/** Throws `INVALID_ARGUMENT` unless `name` is a valid network namespace name. */
export function assertNetnsName(name: unknown): string {
  if (typeof name !== 'string' || !NETNS_NAME.test(name)) {
    invalid(
      'network namespace name',
      name,
      'want 1-64 characters of [A-Za-z0-9_.-], not starting with - or .',
    );
  }
  return name;
}

/** Throws `INVALID_ARGUMENT` unless `path` is an absolute path without `..` or odd characters. */
export function assertNetnsPath(path: unknown): string {
  if (typeof path !== 'string' || !NETNS_PATH.test(path) || path.split('/').includes('..')) {
    invalid(
      'network namespace path',
      path,
      'want an absolute path without .. or special characters',
    );
  }
  return path;
}

/** Throws `INVALID_ARGUMENT` unless `value` is an integer in `[min, max]`; returns it. */
export function assertInt(value: unknown, min: number, max: number, what = 'integer'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(what, value, `want an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * Throws `INVALID_ARGUMENT` unless `token` is safe as one word of a batch line: non-empty,
 * no whitespace or newline, no quote, `\`, `#`, `;`, backtick or `$`.
 */
export function assertBatchToken(token: unknown): string {
  if (typeof token !== 'string' || !SAFE_TOKEN.test(token)) {
    invalid(
      'batch token',
      token,
      'a batch word must be non-empty with no whitespace, quotes, \\ # ; ` or $',
    );
  }
  return token;
}
