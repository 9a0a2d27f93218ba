/** IPv4 arithmetic the controllers and the explainer share (IPv6: ip-family.ts). Pure. */
import { inCidr6 } from './ip-family.js';

const V4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** An IPv4 address as a number (`10.0.0.1` → 167772161). */
export function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** A number as an IPv4 address. */
export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * True when `ip` lies in `cidr` of the same family (IPv4 `a.b.c.d/len`, or IPv6); false for
 * anything else.
 */
export function inCidr(ip: string, cidr: string): boolean {
  if (ip.includes(':') || cidr.includes(':')) return inCidr6(ip, cidr);
  const [base, bits] = cidr.split('/');
  if (!base || !V4.test(ip) || !V4.test(base)) return false;
  const len = bits === undefined ? 32 : Number(bits);
  if (!Number.isInteger(len) || len < 0 || len > 32) return false;
  const size = 2 ** (32 - len);
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}
