const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

function fnv1a(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function base36(n: number, width: number): string {
  let out = '';
  let v = n;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 36] + out;
    v = Math.floor(v / 36);
  }
  return out;
}

/** A 12-character base-36 digest of `s` (two independent 32-bit FNV-1a hashes). Pure, stable. */
export function shortHash(s: string): string {
  return base36(fnv1a(s, 0x811c9dc5), 6) + base36(fnv1a(s, 0x2545f491), 6);
}

/** Builds a chain or set name: `prefix-hash-readable`, cut to 64 characters of `[A-Za-z0-9_.-]`. */
export function objectName(prefix: string, identity: string, readable: string): string {
  const clean = readable.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${prefix}-${shortHash(identity)}-${clean}`.slice(0, 64);
}

/** Builds `prefix-hash-readable` from an already computed hash (see {@link objectName}). */
export function chainName(prefix: string, hash: string, readable: string): string {
  return `${prefix}-${hash}-${readable.replace(/[^A-Za-z0-9_.-]/g, '_')}`.slice(0, 64);
}
