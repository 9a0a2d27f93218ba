const HEX = /^[0-9a-fA-F]{1,4}$/;

/**
 * The value of a strict dotted quad (four decimal octets, no leading zeros), or -1. A character
 * loop rather than a regular expression: a plugin process checks a handful of addresses and
 * would spend longer compiling the expression than matching it.
 */
export function ipv4Value(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** True for a dotted-quad IPv4 address. */
export function isIPv4(s: string): boolean {
  return ipv4Value(s) >= 0;
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
  if (!fam || slash === s.length - 1 || slash < s.length - 4) return undefined;
  let len = 0;
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57 || (len === 0 && i > slash + 1)) return undefined;
    len = len * 10 + (c - 48);
  }
  return len <= (fam === 4 ? 32 : 128) ? fam : undefined;
}
