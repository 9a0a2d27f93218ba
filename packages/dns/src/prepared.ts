import { DnsError } from './errors.js';
import type { DnsRecord, Resolution } from './types.js';
import {
  CLASS_IN,
  RCODES,
  TYPE_CODES,
  WireWriter,
  encodeMessage,
  typeName,
  writeMessage,
} from './wire.js';
import { type DnsZone, type ZoneNode, authorityOf, resolve, soaRecord } from './zone.js';

/** Largest UDP payload the server sends (DNS flag day 2020). */
export const MAX_UDP_PAYLOAD = 1232;

/** A query as the server needs it: parsed once, never re-encoded. */
export interface ParsedQuery {
  id: number;
  /** RD and CD bits of the query, copied into the response. */
  echoFlags: number;
  /** Lower-case presentation name (the cache and zone key). */
  key: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question (name, type, class). */
  questionEnd: number;
  /** Requestor's EDNS UDP size, or -1 without EDNS. */
  ednsSize: number;
  ednsVersion: number;
}

/** Outcome of {@link parseQuery}: a query, an error response to send, or nothing (drop). */
export type QueryParse =
  | { kind: 'query'; query: ParsedQuery }
  | { kind: 'reply'; response: Uint8Array }
  | { kind: 'drop' };

/**
 * A prepared answer: `bytes[off..]` holds an entry of six 16-bit fields (qtype, flags without
 * QR/RD/CD, ancount, nscount, arcount, body length) followed by the encoded sections that come
 * after the question. Many entries share one slab.
 */
export interface PreparedAnswer {
  readonly bytes: Uint8Array;
  readonly off: number;
}

/** Size of the fixed fields in front of each prepared body. */
export const ENTRY_HEADER = 12;

const AA = 0x400;
const QR_RA = 0x8080;

/** Scratch space for the lower-case key of a question name (escapes can double 255 octets). */
const keyCodes = new Uint16Array(512);

/** Parses a query without allocating more than its name; answers FORMERR/NOTIMP itself. */
export function parseQuery(msg: Uint8Array): QueryParse {
  if (msg.length < 12) return { kind: 'drop' };
  const flags = ((msg[2] as number) << 8) | (msg[3] as number);
  if (flags & 0x8000) return { kind: 'drop' };
  const id = ((msg[0] as number) << 8) | (msg[1] as number);
  const echoFlags = flags & 0x0110;
  const opcode = (flags >> 11) & 0xf;
  const qd = ((msg[4] as number) << 8) | (msg[5] as number);
  if (opcode !== 0)
    return { kind: 'reply', response: errorResponse(id, opcode, echoFlags, RCODES.NOTIMP) };
  if (qd !== 1) return { kind: 'reply', response: errorResponse(id, 0, echoFlags, RCODES.FORMERR) };
  let pos = 12;
  let n = 0;
  for (;;) {
    if (pos >= msg.length) return formerr(id, echoFlags);
    const len = msg[pos] as number;
    if (len === 0) {
      pos++;
      break;
    }
    if (len > 63 || pos + 1 + len > msg.length || pos + len > 12 + 254)
      return formerr(id, echoFlags);
    if (n > 0) keyCodes[n++] = 0x2e;
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = msg[i] as number;
      if (c >= 0x41 && c <= 0x5a) keyCodes[n++] = c | 0x20;
      else if (c === 0x2e || c === 0x5c) {
        keyCodes[n++] = 0x5c;
        keyCodes[n++] = c;
      } else keyCodes[n++] = c;
    }
    pos += len + 1;
  }
  const key = String.fromCharCode.apply(null, keyCodes.subarray(0, n) as unknown as number[]);
  if (pos + 4 > msg.length) return formerr(id, echoFlags);
  const qtype = ((msg[pos] as number) << 8) | (msg[pos + 1] as number);
  const qclass = ((msg[pos + 2] as number) << 8) | (msg[pos + 3] as number);
  const questionEnd = pos + 4;
  pos = questionEnd;
  let ednsSize = -1;
  let ednsVersion = 0;
  const an = ((msg[6] as number) << 8) | (msg[7] as number);
  const ns = ((msg[8] as number) << 8) | (msg[9] as number);
  const ar = ((msg[10] as number) << 8) | (msg[11] as number);
  for (let i = 0; i < an + ns + ar; i++) {
    const nameStart = pos;
    pos = skipName(msg, pos);
    if (pos < 0 || pos + 10 > msg.length) return formerr(id, echoFlags);
    const type = ((msg[pos] as number) << 8) | (msg[pos + 1] as number);
    const rdlen = ((msg[pos + 8] as number) << 8) | (msg[pos + 9] as number);
    if (type === TYPE_CODES.OPT) {
      if (i < an + ns || ednsSize >= 0 || msg[nameStart] !== 0) return formerr(id, echoFlags);
      ednsSize = ((msg[pos + 2] as number) << 8) | (msg[pos + 3] as number);
      ednsVersion = msg[pos + 5] as number;
    }
    pos += 10 + rdlen;
    if (pos > msg.length) return formerr(id, echoFlags);
  }
  if (pos !== msg.length) return formerr(id, echoFlags);
  return {
    kind: 'query',
    query: { id, echoFlags, key, qtype, qclass, questionEnd, ednsSize, ednsVersion },
  };
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

function formerr(id: number, echoFlags: number): QueryParse {
  return { kind: 'reply', response: errorResponse(id, 0, echoFlags, RCODES.FORMERR) };
}

/** A header-only response (no question) with `rcode`. */
export function errorResponse(
  id: number,
  opcode: number,
  echoFlags: number,
  rcode: number,
): Uint8Array {
  const out = new Uint8Array(12);
  const flags = QR_RA | (opcode << 11) | echoFlags | rcode;
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  return out;
}

/**
 * Builds the response to `query` (the raw `msg`) from a prepared answer: copies the question,
 * patches the ID, and sets TC (with no records) when it would exceed `limit` bytes.
 */
export function buildResponse(
  msg: Uint8Array,
  query: ParsedQuery,
  answer: PreparedAnswer,
  limit: number,
  alloc: (size: number) => Uint8Array = newBytes,
): Uint8Array {
  return writeResponse(
    msg,
    query.id,
    query.echoFlags,
    query.questionEnd,
    query.ednsSize >= 0,
    answer.bytes,
    answer.off,
    limit,
    alloc,
  );
}

function writeResponse(
  msg: Uint8Array,
  id: number,
  echoFlags: number,
  questionEnd: number,
  edns: boolean,
  b: Uint8Array,
  o: number,
  limit: number,
  alloc: (size: number) => Uint8Array,
): Uint8Array {
  const len = ((b[o + 10] as number) << 8) | (b[o + 11] as number);
  const qlen = questionEnd - 12;
  let total = 12 + qlen + len + (edns ? 11 : 0);
  let truncated = false;
  if (total > limit) {
    truncated = true;
    total = 12 + qlen + (edns ? 11 : 0);
  }
  const out = alloc(total);
  const flags =
    QR_RA |
    (((b[o + 2] as number) << 8) | (b[o + 3] as number)) |
    echoFlags |
    (truncated ? 0x200 : 0);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = 1;
  let ar = edns ? 1 : 0;
  if (truncated) {
    out.fill(0, 6, 10);
  } else {
    out[6] = b[o + 4] as number;
    out[7] = b[o + 5] as number;
    out[8] = b[o + 6] as number;
    out[9] = b[o + 7] as number;
    ar += ((b[o + 8] as number) << 8) | (b[o + 9] as number);
  }
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
  let pos = 12;
  if (qlen < 64) {
    for (let i = 12; i < questionEnd; i++) out[pos++] = msg[i] as number;
  } else {
    out.set(msg.subarray(12, questionEnd), 12);
    pos += qlen;
  }
  if (!truncated) {
    if (len < 64) {
      const end = o + ENTRY_HEADER + len;
      for (let i = o + ENTRY_HEADER; i < end; i++) out[pos++] = b[i] as number;
    } else {
      out.set(b.subarray(o + ENTRY_HEADER, o + ENTRY_HEADER + len), pos);
      pos += len;
    }
  }
  if (edns) writeOptAt(out, pos, 0);
  return out;
}

function newBytes(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** Writes our OPT record (payload 1232, no options) at `pos`. */
export function writeOptAt(out: Uint8Array, pos: number, extendedRcode: number): void {
  out[pos] = 0;
  out[pos + 1] = 0;
  out[pos + 2] = TYPE_CODES.OPT;
  out[pos + 3] = MAX_UDP_PAYLOAD >> 8;
  out[pos + 4] = MAX_UDP_PAYLOAD & 0xff;
  out[pos + 5] = extendedRcode;
  out[pos + 6] = 0;
  out[pos + 7] = 0;
  out[pos + 8] = 0;
  out[pos + 9] = 0;
  out[pos + 10] = 0;
}

/** The UDP size limit for a query: 512 without EDNS, else min(client size, 1232) (at least 512). */
export function udpLimit(query: ParsedQuery): number {
  if (query.ednsSize < 0) return 512;
  return Math.max(512, Math.min(query.ednsSize, MAX_UDP_PAYLOAD));
}

/** Encodes a resolution for `name`/`qtype` as a standalone {@link PreparedAnswer}. */
export function prepareAnswer(
  name: string,
  qtype: number,
  resolution: Extract<Resolution, { kind: 'answer' }>,
): PreparedAnswer {
  const w = new WireWriter(false, 128);
  writeEntry(w, name, qtype, resolution);
  return { bytes: w.finish(), off: 0 };
}

/** The header prepared answers are encoded with: an authoritative reply (the ID is patched per query). */
const AUTHORITATIVE_REPLY = {
  id: 0,
  qr: true,
  opcode: 0,
  aa: true,
  tc: false,
  rd: false,
  ra: false,
  ad: false,
  cd: false,
  rcode: 0,
} as const;

/** One compressing writer reused for every entry (a zone build writes one per name and type). */
const scratch = new WireWriter(true, 4096);

function writeEntry(
  w: WireWriter,
  name: string,
  qtype: number,
  resolution: Extract<Resolution, { kind: 'answer' }>,
): void {
  scratch.reset();
  writeMessage(scratch, {
    ...AUTHORITATIVE_REPLY,
    questions: [{ name, type: typeName(qtype), class: CLASS_IN }],
    answers: resolution.answers,
    authorities: resolution.authorities,
    additionals: resolution.additionals,
  });
  const body = scratch.written(12 + wireNameLength(name) + 4);
  w.u16(qtype);
  w.u16(AA | RCODES[resolution.rcode]);
  w.u16(resolution.answers.length);
  w.u16(resolution.authorities.length);
  w.u16(resolution.additionals.length);
  w.u16(body.length);
  w.bytes(body);
}

function wireNameLength(name: string): number {
  if (name.length === 0) return 1;
  let n = 2;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c) {
      i++;
      n++;
    } else n++;
  }
  return n;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** What {@link scanPlainQuery} read from a query; one reused object per caller. */
export interface PlainQuestion {
  /** FNV-1a over the lower-case wire name (the prepared tables' hash), unsigned. */
  hash: number;
  /** Offset just past the name. */
  nameEnd: number;
  qtype: number;
  /** Offset just past the question. */
  questionEnd: number;
  /** The OPT record's UDP size, or -1 without EDNS. */
  ednsSize: number;
}

/**
 * Whether `msg` is a query the prepared fast paths may answer: a standard query with one
 * question of class IN, no answer or authority records, at most an OPT record (version 0)
 * ending the message, a name of plain labels. Fills `out` (nothing allocated): the fast paths of
 * {@link PreparedZone} and of the UDP workers' shared tables read the question this one way.
 */
export function scanPlainQuery(msg: Uint8Array, out: PlainQuestion): boolean {
  const end = msg.length;
  if (
    end < 17 ||
    ((msg[2] as number) & 0xf8) !== 0 ||
    msg[4] !== 0 ||
    msg[5] !== 1 ||
    msg[6] !== 0 ||
    msg[7] !== 0 ||
    msg[8] !== 0 ||
    msg[9] !== 0 ||
    msg[10] !== 0 ||
    (msg[11] as number) > 1
  )
    return false;
  let pos = 12;
  let h = FNV_OFFSET;
  for (;;) {
    const len = msg[pos] as number;
    h = Math.imul(h ^ len, FNV_PRIME);
    if (len === 0) break;
    if (len > 63 || pos + len + 1 >= end || pos + len > 12 + 254) return false;
    const stop = pos + len;
    while (pos < stop) {
      const c = msg[++pos] as number;
      h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
    }
    pos++;
  }
  const nameEnd = pos + 1;
  const questionEnd = nameEnd + 4;
  if (questionEnd > end) return false;
  const qtype = ((msg[nameEnd] as number) << 8) | (msg[nameEnd + 1] as number);
  if (msg[nameEnd + 2] !== 0 || msg[nameEnd + 3] !== 1) return false;
  let ednsSize = -1;
  if (msg[11] === 1) {
    if (
      questionEnd + 11 > end ||
      msg[questionEnd] !== 0 ||
      msg[questionEnd + 1] !== 0 ||
      msg[questionEnd + 2] !== TYPE_CODES.OPT ||
      msg[questionEnd + 6] !== 0 ||
      questionEnd +
        11 +
        (((msg[questionEnd + 9] as number) << 8) | (msg[questionEnd + 10] as number)) !==
        end
    )
      return false;
    ednsSize = ((msg[questionEnd + 3] as number) << 8) | (msg[questionEnd + 4] as number);
  } else if (questionEnd !== end) return false;
  out.hash = h >>> 0;
  out.nameEnd = nameEnd;
  out.qtype = qtype;
  out.questionEnd = questionEnd;
  out.ednsSize = ednsSize;
  return true;
}

const plainScratch: PlainQuestion = { hash: 0, nameEnd: 0, qtype: 0, questionEnd: 0, ednsSize: -1 };

/** Lower-case wire form of a zone key, or null when it has escapes (those take the full path). */
function wireKey(name: string): number[] | null {
  if (name.length === 0 || name.includes('\\')) return null;
  const out: number[] = [];
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > 63) return null;
    out.push(label.length);
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c > 0xff) return null;
      out.push(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
    }
  }
  out.push(0);
  return out.length > 255 ? null : out;
}

/**
 * Writes the lower-case wire form of a zone key at `out[at]` (room for `name.length + 2` bytes
 * needed); returns the end, or -1 when the name has escapes or bad labels (as {@link wireKey}).
 */
function writeWireKey(name: string, out: Uint8Array, at: number): number {
  if (name.length === 0 || name.length > 253) return -1;
  let lenAt = at;
  let pos = at + 1;
  for (let i = 0; i <= name.length; i++) {
    const c = i === name.length ? 0x2e : name.charCodeAt(i);
    if (c === 0x2e) {
      const len = pos - lenAt - 1;
      if (len === 0 || len > 63) return -1;
      out[lenAt] = len;
      lenAt = pos++;
      continue;
    }
    if (c === 0x5c || c > 0xff) return -1;
    out[pos++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  out[lenAt] = 0;
  return pos;
}

function hashWire(bytes: ArrayLike<number>, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), FNV_PRIME);
  return h >>> 0;
}

const NEGATIVE_CACHE_LIMIT = 4096;
const DYNAMIC_CACHE_LIMIT = 10_000;

/** Total bytes of the `count` entries at `off`. */
function entriesLength(b: Uint8Array, off: number, count: number): number {
  let len = 0;
  for (let i = 0; i < count; i++) {
    const at = off + len;
    len += ENTRY_HEADER + (((b[at + 10] as number) << 8) | (b[at + 11] as number));
  }
  return len;
}

/**
 * Looks a query's wire name (at offset 12 of `msg`, `nameLen` bytes, hash `h`) up in a wire-name
 * index: the packed slab position, or -2 when the name is not indexed.
 */
function probe(
  table: Int32Array,
  wire: Uint8Array,
  wireAt: Int32Array,
  wireNode: Int32Array,
  msg: Uint8Array,
  nameLen: number,
  h: number,
): number {
  const mask = table.length - 1;
  let slot = (h >>> 0) & mask;
  for (;;) {
    const idx = table[slot] as number;
    if (idx === 0) return -2;
    const at = wireAt[idx - 1] as number;
    let same = wire[at + nameLen - 1] === 0;
    for (let i = 0; same && i < nameLen; i++) {
      const c = msg[12 + i] as number;
      same = wire[at + i] === (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
    }
    if (same) return wireNode[idx - 1] as number;
    slot = (slot + 1) & mask;
  }
}

/**
 * Looks the wire name `key[keyAt..keyAt+len)` (hash `h`) up in a wire-name index: its entry
 * number, or -1 when the name is not indexed.
 */
function lookupWire(
  table: Int32Array,
  wire: Uint8Array,
  wireAt: Int32Array,
  key: Uint8Array,
  keyAt: number,
  len: number,
  h: number,
): number {
  if (table.length === 0) return -1;
  const mask = table.length - 1;
  let slot = (h >>> 0) & mask;
  for (;;) {
    const idx = table[slot] as number;
    if (idx === 0) return -1;
    const at = wireAt[idx - 1] as number;
    let same = true;
    for (let i = 0; same && i < len; i++) same = wire[at + i] === key[keyAt + i];
    if (same) return idx - 1;
    slot = (slot + 1) & mask;
  }
}

/** The end (just past the root label) of the wire name at `wire[at]`. */
function wireEnd(wire: Uint8Array, at: number): number {
  let pos = at;
  while (wire[pos] !== 0) pos += (wire[pos] as number) + 1;
  return pos + 1;
}

/** Scratch space for the wire form of a name looked up by {@link PreparedZone}'s full path. */
const findKey = new Uint8Array(256);

/** Builds a wire-name index: the names' wire forms back to back, their positions, the hash table. */
class IndexBuilder {
  wire: Uint8Array;
  wireAt: Int32Array;
  wireNode: Int32Array;
  hashes: Int32Array;
  at = 0;
  n = 0;

  constructor(names: number) {
    this.wire = new Uint8Array(Math.max(1024, names * 32));
    this.wireAt = new Int32Array(Math.max(16, names));
    this.wireNode = new Int32Array(this.wireAt.length);
    this.hashes = new Int32Array(this.wireAt.length);
  }

  /** Indexes `name` at `packed`; false (nothing added) when it has no wire form the index takes. */
  add(name: string, packed: number): boolean {
    if (this.at + name.length + 2 > this.wire.length)
      this.wire = grown(this.wire, this.at + name.length + 2);
    const end = writeWireKey(name, this.wire, this.at);
    if (end < 0) return false;
    this.push(this.at, end, hashWire(this.wire, this.at, end), packed);
    return true;
  }

  /** Indexes the wire name `src[start..end)` (hash `h`) at `packed`. */
  addWire(src: Uint8Array, start: number, end: number, h: number, packed: number): void {
    const len = end - start;
    if (this.at + len > this.wire.length) this.wire = grown(this.wire, this.at + len);
    this.wire.set(src.subarray(start, end), this.at);
    this.push(this.at, this.at + len, h, packed);
  }

  private push(at: number, end: number, h: number, packed: number): void {
    const n = this.n;
    if (n === this.wireAt.length) {
      this.wireAt = grown(this.wireAt, n + 1);
      this.wireNode = grown(this.wireNode, n + 1);
      this.hashes = grown(this.hashes, n + 1);
    }
    this.wireAt[n] = at;
    this.wireNode[n] = packed;
    this.hashes[n] = h;
    this.n = n + 1;
    this.at = end;
  }

  /** The open-addressing table: entry number + 1 per slot, 0 empty. */
  table(): Int32Array {
    let size = 8;
    while (size < this.n * 2) size *= 2;
    const table = new Int32Array(size);
    for (let i = 0; i < this.n; i++) {
      let slot = (this.hashes[i] as number) & (size - 1);
      while (table[slot] !== 0) slot = (slot + 1) & (size - 1);
      table[slot] = i + 1;
    }
    return table;
  }
}

function grown<T extends Uint8Array | Int32Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  let size = Math.max(16, a.length * 2);
  while (size < need) size *= 2;
  const next = new (a.constructor as new (n: number) => T)(size);
  next.set(a);
  return next;
}

/**
 * The zone with every positive answer encoded up front into one slab, so a query costs a map
 * lookup, a copy of its question and an ID patch. A name maps to `offset * 8 + count` of its
 * entries in the slab (count 0: an empty non-terminal). ANY is answered with the first RRset
 * of the name (RFC 8482). Negative and pod answers are encoded on first use and kept.
 *
 * {@link patch} replaces the answers of some names: they are encoded into an overlay (a slab
 * of its own with its own wire-name index, looked at before the main one), which is folded into
 * a fresh main slab once it indexes more than an eighth of the names ({@link compact}).
 */
export class PreparedZone {
  private settings: DnsZone;
  /** ExternalName targets by lower-case owner name. */
  private readonly cnames = new Map<string, string>();
  /*
   * Where each name's entries are: `off * 8 + count` in `slab` (count 0: an empty non-terminal),
   * found through the wire-name index (no Map of name strings: at 10,000 Services the zone has
   * 20,000 names, ~1 MB as Map entries); names whose wire form the index does not take (escapes,
   * non-latin1) are in `odd`, as `off * 8 + count`, or `-1 - (off * 8 + count)` in `over`.
   */
  private readonly odd = new Map<string, number>();
  /** Number of names in the zone. */
  private count = 0;
  private slab: Uint8Array;
  /** Bytes of `slab` no name points at any more. */
  private slabDead = 0;
  private readonly negative = new Map<string, PreparedAnswer>();
  private readonly dynamic = new Map<string, PreparedAnswer | null>();
  /** Lower-case wire names of the indexed names, back to back. */
  private wire: Uint8Array = new Uint8Array(0);
  /** Per indexed name: its offset in `wire` and its packed slab position. */
  private wireAt: Int32Array = new Int32Array(0);
  private wireNode: Int32Array = new Int32Array(0);
  /** Open addressing on the wire name's FNV-1a hash: index + 1 into `wireAt`, 0 empty. */
  private table: Int32Array = new Int32Array(1);
  // The overlay: entries of patched names, and an index of those names (packed -1: the name
  // is gone; count 0: it has no RRset now; the full path answers both).
  private over: Uint8Array = new Uint8Array(0);
  private overLen = 0;
  private overDead = 0;
  private ovWire: Uint8Array = new Uint8Array(0);
  private ovWireLen = 0;
  private ovAt: Int32Array = new Int32Array(0);
  private ovNode: Int32Array = new Int32Array(0);
  private ovHash: Int32Array = new Int32Array(0);
  private ovCount = 0;
  private ovTable: Int32Array = new Int32Array(0);
  /** Query type of the last {@link fastResponse} that answered. */
  fastQtype = 0;

  constructor(zone: DnsZone) {
    const w = new WireWriter(false, 64 * 1024);
    const index = new IndexBuilder(zone.nodes.size);
    for (const [name, node] of zone.nodes) {
      const packed = w.length * 8 + this.writeNode(w, zone, name, node);
      if (!index.add(name, packed)) this.odd.set(name, packed);
      this.count++;
    }
    this.slab = w.finish();
    this.settings = { ...zone, nodes: new Map() };
    this.useIndex(index);
  }

  /** The zone's settings; its `nodes` are empty (the answers live in the slab). */
  get zone(): DnsZone {
    return this.settings;
  }

  /** Number of names in the zone. */
  get names(): number {
    return this.count;
  }

  /**
   * Replaces the answers of `names` with those of `zone` (a name missing from `zone.nodes` is
   * removed) and takes the zone's settings (serial, namespaces, pod IPs, skipped objects) from
   * it; `zone.nodes` must also hold the targets of the SRV records of those names. Cost: the
   * names given, plus now and then a {@link compact}.
   */
  patch(zone: DnsZone, names: Iterable<string>): void {
    this.settings = { ...zone, nodes: new Map() };
    this.negative.clear();
    this.dynamic.clear();
    const w = new WireWriter(false, 4096);
    const base = this.overLen;
    for (const name of new Set(names)) {
      const was = this.find(name);
      if (was !== undefined) {
        if (was >= 0) this.slabDead += entriesLength(this.slab, Math.floor(was / 8), was % 8);
        else this.overDead += entriesLength(this.over, Math.floor((-1 - was) / 8), (-1 - was) % 8);
      }
      this.cnames.delete(name);
      const node = zone.nodes.get(name);
      let packed = -1;
      if (node) {
        packed = (base + w.length) * 8 + this.writeNode(w, zone, name, node);
        if (was === undefined) this.count++;
      } else if (was !== undefined) {
        this.count--;
      }
      const key = wireKey(name);
      if (key) this.indexOverlay(key, packed);
      else if (packed >= 0) this.odd.set(name, -1 - packed);
      else this.odd.delete(name);
    }
    const bytes = w.finish();
    this.over = grown(this.over, base + bytes.length);
    this.over.set(bytes, base);
    this.overLen = base + bytes.length;
    // the overlay is folded in once it indexes an eighth of the names, or once its replaced
    // entries (the SOA is encoded again by every patch) outweigh a quarter of the main slab
    if (this.ovCount > 32 + this.count / 8 || this.overDead > 65536 + this.slab.length / 4)
      this.compact();
  }

  /**
   * Folds the overlay into a fresh main slab and index (copying the encoded answers, not
   * encoding them again). {@link patch} calls it when the overlay has grown; cost proportional
   * to the zone.
   */
  compact(): void {
    const out = new Uint8Array(this.slab.length - this.slabDead + this.overLen - this.overDead);
    let pos = 0;
    /** Copies the entries at `packed` in `b` to `out`; returns their new position. */
    const copy = (b: Uint8Array, packed: number): number => {
      const count = packed % 8;
      const off = (packed - count) / 8;
      const len = entriesLength(b, off, count);
      if (pos + len > out.length) throw new DnsError('INVALID_STATE', 'prepared zone overflow');
      if (len < 256) for (let i = 0; i < len; i++) out[pos + i] = b[off + i] as number;
      else out.set(b.subarray(off, off + len), pos);
      const at = pos * 8 + count;
      pos += len;
      return at;
    };
    const index = new IndexBuilder(this.count);
    // the main index's names, but those the overlay has now (or has removed)
    for (let i = 0; i < this.wireAt.length; i++) {
      const at = this.wireAt[i] as number;
      const end = wireEnd(this.wire, at);
      const h = hashWire(this.wire, at, end);
      if (lookupWire(this.ovTable, this.ovWire, this.ovAt, this.wire, at, end - at, h) >= 0)
        continue;
      index.addWire(this.wire, at, end, h, copy(this.slab, this.wireNode[i] as number));
    }
    for (let i = 0; i < this.ovCount; i++) {
      const packed = this.ovNode[i] as number;
      if (packed < 0) continue;
      const at = this.ovAt[i] as number;
      index.addWire(
        this.ovWire,
        at,
        wireEnd(this.ovWire, at),
        this.ovHash[i] as number,
        copy(this.over, packed),
      );
    }
    for (const [name, v] of this.odd)
      this.odd.set(name, v >= 0 ? copy(this.slab, v) : copy(this.over, -1 - v));
    this.slab = out.subarray(0, pos);
    this.slabDead = 0;
    this.over = new Uint8Array(0);
    this.overLen = 0;
    this.overDead = 0;
    this.ovWire = new Uint8Array(0);
    this.ovWireLen = 0;
    this.ovAt = new Int32Array(0);
    this.ovNode = new Int32Array(0);
    this.ovHash = new Int32Array(0);
    this.ovCount = 0;
    this.ovTable = new Int32Array(0);
    this.useIndex(index);
  }

  /** Encodes the RRsets of one name into `w`; returns how many. */
  private writeNode(w: WireWriter, zone: DnsZone, name: string, node: ZoneNode): number {
    const cname = node.records.some((r) => r.type === 'CNAME');
    for (const r of node.records) if (r.type === 'CNAME') this.cnames.set(name, r.data);
    const types = cname
      ? [TYPE_CODES.CNAME]
      : [
          ...new Set<number>(
            node.records.map((r: DnsRecord) =>
              typeof r.type === 'number' ? r.type : TYPE_CODES[r.type],
            ),
          ),
        ];
    let count = 0;
    for (const t of types) {
      const res = resolve(zone, { name, type: t });
      if (res.kind !== 'answer' || res.answers.length === 0) continue;
      writeEntry(w, name, t, res);
      count++;
    }
    return count;
  }

  /** Makes `index` the main wire-name index (its positions are in the main slab). */
  private useIndex(index: IndexBuilder): void {
    this.table = index.table();
    this.wire = index.wire.slice(0, index.at);
    this.wireAt = index.wireAt.slice(0, index.n);
    this.wireNode = index.wireNode.slice(0, index.n);
  }

  /**
   * Where the entries of `name` are: `off * 8 + count` in the main slab, `-1 - (off * 8 + count)`
   * in the overlay; undefined when the zone does not have the name.
   */
  private find(name: string): number | undefined {
    const end = writeWireKey(name, findKey, 0);
    if (end < 0) return this.odd.get(name);
    const h = hashWire(findKey, 0, end);
    if (this.ovCount > 0) {
      const i = lookupWire(this.ovTable, this.ovWire, this.ovAt, findKey, 0, end, h);
      if (i >= 0) {
        const packed = this.ovNode[i] as number;
        return packed < 0 ? undefined : -1 - packed;
      }
    }
    const i = lookupWire(this.table, this.wire, this.wireAt, findKey, 0, end, h);
    return i < 0 ? undefined : (this.wireNode[i] as number);
  }

  /** Points the overlay index entry of wire name `key` at `packed` (adding it when new). */
  private indexOverlay(key: number[], packed: number): void {
    const h = hashWire(key, 0, key.length);
    if ((this.ovCount + 1) * 2 > this.ovTable.length) {
      const size = Math.max(16, this.ovTable.length * 2);
      this.ovTable = new Int32Array(size);
      for (let i = 0; i < this.ovCount; i++) {
        let slot = (this.ovHash[i] as number) & (size - 1);
        while (this.ovTable[slot] !== 0) slot = (slot + 1) & (size - 1);
        this.ovTable[slot] = i + 1;
      }
    }
    const mask = this.ovTable.length - 1;
    let slot = h & mask;
    for (;;) {
      const idx = this.ovTable[slot] as number;
      if (idx === 0) break;
      const at = this.ovAt[idx - 1] as number;
      let same = true;
      for (let i = 0; same && i < key.length; i++) same = this.ovWire[at + i] === key[i];
      if (same) {
        this.ovNode[idx - 1] = packed;
        return;
      }
      slot = (slot + 1) & mask;
    }
    const i = this.ovCount++;
    this.ovAt = grown(this.ovAt, i + 1);
    this.ovNode = grown(this.ovNode, i + 1);
    this.ovHash = grown(this.ovHash, i + 1);
    this.ovWire = grown(this.ovWire, this.ovWireLen + key.length);
    this.ovWire.set(key, this.ovWireLen);
    this.ovAt[i] = this.ovWireLen;
    this.ovWireLen += key.length;
    this.ovNode[i] = packed;
    this.ovHash[i] = h;
    this.ovTable[slot] = i + 1;
  }

  /**
   * The fast path for the common query, straight from the wire: one question, no answer or
   * authority records, at most an EDNS version 0 OPT, class IN, a name with a prepared RRset of
   * exactly the asked type. Writes the response (as {@link buildResponse} would) through
   * `alloc`, sets {@link fastQtype} and returns it; returns null for anything else, which then
   * takes the full path (parse, negative answers, forwarding, errors).
   */
  fastResponse(
    msg: Uint8Array,
    udp: boolean,
    alloc: (size: number) => Uint8Array,
  ): Uint8Array | null {
    const s = plainScratch;
    if (!scanPlainQuery(msg, s)) return null;
    const { qtype, questionEnd, ednsSize, hash: h } = s;
    const nameLen = s.nameEnd - 12;
    let b = this.slab;
    let packed = -2;
    if (this.ovCount > 0) {
      packed = probe(this.ovTable, this.ovWire, this.ovAt, this.ovNode, msg, nameLen, h);
      if (packed === -1) return null;
      if (packed >= 0) b = this.over;
    }
    if (packed === -2) {
      packed = probe(this.table, this.wire, this.wireAt, this.wireNode, msg, nameLen, h);
      if (packed < 0) return null;
    }
    const count = packed % 8;
    let off = (packed - count) / 8;
    for (let i = 0; i < count; i++) {
      const t = ((b[off] as number) << 8) | (b[off + 1] as number);
      if (t === qtype) {
        const limit = !udp
          ? 65535
          : ednsSize < 0
            ? 512
            : Math.max(512, Math.min(ednsSize, MAX_UDP_PAYLOAD));
        this.fastQtype = qtype;
        const flags = ((msg[2] as number) << 8) | (msg[3] as number);
        return writeResponse(
          msg,
          ((msg[0] as number) << 8) | (msg[1] as number),
          flags & 0x0110,
          questionEnd,
          ednsSize >= 0,
          b,
          off,
          limit,
          alloc,
        );
      }
      if (t === TYPE_CODES.CNAME) return null;
      off += ENTRY_HEADER + (((b[off + 10] as number) << 8) | (b[off + 11] as number));
    }
    return null;
  }

  /** The CNAME target of `key` (an ExternalName Service), if it has one. */
  cnameTarget(key: string): string | undefined {
    return this.cnames.size === 0 ? undefined : this.cnames.get(key);
  }

  /** The prepared answer for a parsed question, or `null` when it must be forwarded. */
  lookup(key: string, qtype: number, qlenWire: number): PreparedAnswer | null {
    const at = this.find(key);
    if (at !== undefined) {
      const packed = at >= 0 ? at : -1 - at;
      const count = packed % 8;
      let off = (packed - count) / 8;
      const b = at >= 0 ? this.slab : this.over;
      for (let i = 0; i < count; i++) {
        const t = ((b[off] as number) << 8) | (b[off + 1] as number);
        if (t === qtype || t === TYPE_CODES.CNAME || qtype === TYPE_CODES.ANY)
          return { bytes: b, off };
        off += ENTRY_HEADER + (((b[off + 10] as number) << 8) | (b[off + 11] as number));
      }
      return this.negativeAnswer(
        authorityOf(this.settings.zone, key) ?? this.settings.zone,
        qlenWire,
        'NOERROR',
      );
    }
    const apex = authorityOf(this.zone.zone, key);
    if (apex === null) return null;
    const memoKey = `${qtype}|${key}`;
    const memo = this.dynamic.get(memoKey);
    if (memo !== undefined) return memo;
    const res = resolve(this.zone, { name: key, type: qtype });
    let out: PreparedAnswer | null = null;
    if (res.kind === 'answer') {
      out =
        res.answers.length > 0
          ? prepareAnswer(key, qtype, res)
          : this.negativeAnswer(apex, qlenWire, res.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NOERROR');
    }
    if (this.dynamic.size >= DYNAMIC_CACHE_LIMIT) this.dynamic.clear();
    this.dynamic.set(memoKey, out);
    return out;
  }

  private negativeAnswer(
    apex: string,
    qlenWire: number,
    rcode: 'NOERROR' | 'NXDOMAIN',
  ): PreparedAnswer {
    const cacheKey = `${rcode}|${apex}|${qlenWire}`;
    const hit = this.negative.get(cacheKey);
    if (hit) return hit;
    const soa = encodeMessage({
      ...AUTHORITATIVE_REPLY,
      questions: [],
      answers: [],
      authorities: [soaRecord(this.zone, apex)],
      additionals: [],
    });
    // The SOA was encoded (compressed against itself) at offset 12; move it after the question.
    const body = rebaseRecord(soa.subarray(12), qlenWire + 4);
    const w = new WireWriter(false, ENTRY_HEADER + body.length);
    w.u16(0);
    w.u16(AA | RCODES[rcode]);
    w.u16(0);
    w.u16(1);
    w.u16(0);
    w.u16(body.length);
    w.bytes(body);
    const prepared: PreparedAnswer = { bytes: w.finish(), off: 0 };
    if (this.negative.size >= NEGATIVE_CACHE_LIMIT) this.negative.clear();
    this.negative.set(cacheKey, prepared);
    return prepared;
  }
}

/**
 * Shifts the compression pointers of one encoded record (whose names only point inside itself,
 * originally at message offset 12) by `delta`.
 */
function rebaseRecord(rec: Uint8Array, delta: number): Uint8Array {
  const out = rec.slice();
  const fix = (pos: number): number => {
    for (;;) {
      const len = out[pos] as number;
      if (len === 0) return pos + 1;
      if ((len & 0xc0) === 0xc0) {
        const target = (((len & 0x3f) << 8) | (out[pos + 1] as number)) + delta;
        if (target >= 0x4000)
          throw new DnsError('INVALID_ARGUMENT', 'name too far for a compression pointer');
        out[pos] = 0xc0 | (target >> 8);
        out[pos + 1] = target & 0xff;
        return pos + 2;
      }
      pos += len + 1;
    }
  };
  let p = fix(0) + 10;
  p = fix(p);
  fix(p);
  return out;
}
