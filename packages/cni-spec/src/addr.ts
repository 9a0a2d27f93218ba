const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX = /^[0-9a-fA-F]{1,4}$/;

/** True for a dotted-quad IPv4 address. */
export function isIPv4(s: string): boolean {
  return V4.test(s);
}

/** True for an IPv6 address in any RFC 4291 text form (no zone, no prefix). */
export function isIPv6(s: string): boolean {
  if (!s.includes(':') || s.length > 45) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return false;
  const all = [...head, ...tail];
  let width = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i] ?? '';
    if (i === all.length - 1 && g.includes('.')) {
      if (!isIPv4(g)) return false;
      width += 2;
    } else if (HEX.test(g)) {
      width += 1;
    } else {
      return false;
    }
  }
  return halves.length === 2 ? width <= 7 : width === 8;
}

/** The family of an IP address, or undefined when `s` is not one. */
export function ipFamily(s: unknown): 4 | 6 | undefined {
  if (typeof s !== 'string') return undefined;
  if (isIPv4(s)) return 4;
  if (isIPv6(s)) return 6;
  return undefined;
}

/** The family of `address/prefix`, or undefined when `s` is not a valid CIDR. */
export function cidrFamily(s: unknown): 4 | 6 | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const fam = ipFamily(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (!fam || !/^(0|[1-9]\d{0,2})$/.test(len)) return undefined;
  return Number(len) <= (fam === 4 ? 32 : 128) ? fam : undefined;
}
