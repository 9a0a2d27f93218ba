import type { ParsedQuery } from './prepared.js';
import { writeOptAt } from './prepared.js';
import { TYPE_CODES } from './wire.js';

/** Options of {@link ResponseCache}. */
export interface CacheOptions {
  /** Most entries kept; the oldest are evicted first. Default 10,000. */
  maxEntries?: number;
  /** Cap on the TTL of positive answers, in seconds (CoreDNS `cache 30`). Default 30. */
  maxTtl?: number;
  /** Cap on the TTL of negative answers (NXDOMAIN, NODATA), in seconds. Default 30. */
  maxNegativeTtl?: number;
  /** Clock in milliseconds; default `Date.now`. */
  now?: () => number;
}

/** A cached upstream response, stored without its OPT record. */
export interface CachedResponse {
  /** Header flags word of the upstream response (rcode, AA, RA...). */
  readonly flags: number;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  /** The records after the question, as received (names may point into the question). */
  readonly body: Uint8Array;
  /** Offsets in `body` of each record's TTL, with the TTL received. */
  readonly ttls: readonly { at: number; ttl: number }[];
  /** Length of the question section (name + type + class) in the upstream response. */
  readonly questionLength: number;
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly negative: boolean;
}

/** Result of scanning an upstream response. */
export interface ScannedResponse {
  flags: number;
  an: number;
  ns: number;
  ar: number;
  questionEnd: number;
  body: Uint8Array;
  ttls: { at: number; ttl: number }[];
  /** Seconds the response may be cached (RFC 2308 for negative answers), or -1 if not cacheable. */
  cacheTtl: number;
  negative: boolean;
}

function skipName(msg: Uint8Array, start: number): number {
  let pos = start;
  for (;;) {
    if (pos >= msg.length) return -1;
    const len = msg[pos] as number;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= msg.length ? pos + 2 : -1;
    if (len > 63) return -1;
    pos += len + 1;
  }
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32(b: Uint8Array, at: number): number {
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0
  );
}

/**
 * Walks an upstream response: finds every record's TTL, drops the OPT record, and works out
 * how long it may be cached. Returns null for a malformed message.
 */
export function scanResponse(msg: Uint8Array): ScannedResponse | null {
  if (msg.length < 12 || u16(msg, 4) !== 1) return null;
  const flags = u16(msg, 2);
  const rcode = flags & 0xf;
  const counts = [u16(msg, 6), u16(msg, 8), u16(msg, 10)] as const;
  let pos = skipName(msg, 12);
  if (pos < 0 || pos + 4 > msg.length) return null;
  const questionEnd = pos + 4;
  pos = questionEnd;
  const segments: [number, number][] = [];
  const ttls: { at: number; ttl: number }[] = [];
  let bodyLen = 0;
  let minTtl = Number.POSITIVE_INFINITY;
  let soaTtl = -1;
  let ar = counts[2];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < (counts[s] as number); i++) {
      const start = pos;
      pos = skipName(msg, pos);
      if (pos < 0 || pos + 10 > msg.length) return null;
      const type = u16(msg, pos);
      const ttl = u32(msg, pos + 4);
      const end = pos + 10 + u16(msg, pos + 8);
      if (end > msg.length) return null;
      if (type === TYPE_CODES.OPT) {
        if (s !== 2) return null;
        ar--;
      } else {
        ttls.push({ at: bodyLen + (pos - start) + 4, ttl });
        segments.push([start, end]);
        bodyLen += end - start;
        if (s < 2) minTtl = Math.min(minTtl, ttl);
        if (s === 1 && type === TYPE_CODES.SOA && end - 4 >= pos + 10) {
          soaTtl = Math.min(ttl, u32(msg, end - 4));
        }
      }
      pos = end;
    }
  }
  if (pos !== msg.length) return null;
  const body = new Uint8Array(bodyLen);
  let off = 0;
  for (const [a, b] of segments) {
    body.set(msg.subarray(a, b), off);
    off += b - a;
  }
  const negative = rcode === 3 || (rcode === 0 && counts[0] === 0);
  let cacheTtl = -1;
  if (!(flags & 0x200)) {
    if (negative) cacheTtl = soaTtl;
    else if (rcode === 0) cacheTtl = minTtl === Number.POSITIVE_INFINITY ? -1 : minTtl;
  }
  return { flags, an: counts[0], ns: counts[1], ar, questionEnd, body, ttls, cacheTtl, negative };
}

/** A TTL-honouring cache of upstream responses (positive and negative), keyed by name and type. */
export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();
  private readonly maxEntries: number;
  /** Cap on positive TTLs, in seconds. */
  readonly maxTtl: number;
  /** Cap on negative TTLs, in seconds. */
  readonly maxNegativeTtl: number;
  private readonly now: () => number;

  constructor(options: CacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxTtl = options.maxTtl ?? 30;
    this.maxNegativeTtl = options.maxNegativeTtl ?? 30;
    this.now = options.now ?? Date.now;
  }

  /** Number of entries held (expired ones included until looked up or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** Stores a scanned upstream response if it is cacheable; returns whether it was stored. */
  set(key: string, scanned: ScannedResponse): boolean {
    if (scanned.cacheTtl <= 0) return false;
    const ttl = Math.min(scanned.cacheTtl, scanned.negative ? this.maxNegativeTtl : this.maxTtl);
    if (ttl <= 0) return false;
    const now = this.now();
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, {
      flags: scanned.flags,
      an: scanned.an,
      ns: scanned.ns,
      ar: scanned.ar,
      body: scanned.body,
      ttls: scanned.ttls,
      questionLength: scanned.questionEnd - 12,
      storedAt: now,
      expiresAt: now + ttl * 1000,
      negative: scanned.negative,
    });
    return true;
  }

  /** The live entry for `key`, or undefined (expired entries are removed). */
  get(key: string): CachedResponse | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Empties the cache. */
  clear(): void {
    this.entries.clear();
  }

  /**
   * Builds the response to `query` from a cached entry: the client's ID and question, TTLs
   * lowered by the time spent in the cache (and capped at what remains), TC when over `limit`.
   */
  respond(
    msg: Uint8Array,
    query: ParsedQuery,
    entry: CachedResponse,
    limit: number,
  ): Uint8Array | null {
    const now = this.now();
    const elapsed = Math.floor((now - entry.storedAt) / 1000);
    const remaining = Math.max(0, Math.ceil((entry.expiresAt - now) / 1000));
    return renderResponse(msg, query, entry, limit, elapsed, remaining);
  }
}

/** The parts of a response {@link renderResponse} copies. */
export type ResponseParts = Pick<
  CachedResponse,
  'flags' | 'an' | 'ns' | 'ar' | 'body' | 'ttls' | 'questionLength'
>;

/** The parts of a scanned upstream response, ready for {@link renderResponse}. */
export function partsOf(scanned: ScannedResponse): ResponseParts {
  return { ...scanned, questionLength: scanned.questionEnd - 12 };
}

/**
 * Renders a stored response for `query`: the client's ID, flags and question, TTLs lowered by
 * `elapsed` and capped at `cap` seconds, TC with no records when over `limit`. Null when the
 * question lengths differ.
 */
export function renderResponse(
  msg: Uint8Array,
  query: ParsedQuery,
  entry: ResponseParts,
  limit: number,
  elapsed = 0,
  cap = 0x7fffffff,
): Uint8Array | null {
  const qlen = query.questionEnd - 12;
  if (qlen !== entry.questionLength) return null;
  const edns = query.ednsSize >= 0;
  let total = 12 + qlen + entry.body.length + (edns ? 11 : 0);
  const truncated = total > limit;
  if (truncated) total = 12 + qlen + (edns ? 11 : 0);
  const out = new Uint8Array(total);
  const flags = (entry.flags & ~0x0710) | 0x8080 | query.echoFlags | (truncated ? 0x200 : 0);
  out[0] = query.id >> 8;
  out[1] = query.id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[5] = 1;
  if (!truncated) {
    out[6] = entry.an >> 8;
    out[7] = entry.an & 0xff;
    out[8] = entry.ns >> 8;
    out[9] = entry.ns & 0xff;
  }
  const ar = (truncated ? 0 : entry.ar) + (edns ? 1 : 0);
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
  out.set(msg.subarray(12, query.questionEnd), 12);
  let pos = 12 + qlen;
  if (!truncated) {
    out.set(entry.body, pos);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const t of entry.ttls)
      view.setUint32(pos + t.at, Math.min(Math.max(0, t.ttl - elapsed), cap));
    pos += entry.body.length;
  }
  if (edns) writeOptAt(out, pos, 0);
  return out;
}
