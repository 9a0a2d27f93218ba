import { DnsError } from './errors.js';
import {
  ENTRY_HEADER,
  MAX_UDP_PAYLOAD,
  type ParsedQuery,
  type PlainQuestion,
  type PreparedZone,
  buildResponse,
  scanPlainQuery,
} from './prepared.js';
import { TYPE_CODES } from './wire.js';
import type { DnsZone } from './zone.js';

/*
 * The prepared answers UDP worker threads read, in shared memory: one copy for every worker, not
 * one per worker. A table is one SharedArrayBuffer, written once on the main thread and never
 * changed after it is handed out (so readers need no locks); an update hands out new tables.
 *
 * Layout (byte offsets; Int32 fields little-endian as the platform's):
 *   [0, 32)              header: MAGIC, names, hash slots, wire bytes, slab bytes, 0, 0, 0
 *   [32, +slots*4)       open-addressing hash table on the wire name's FNV-1a: name index + 1, 0 empty
 *   [.., +names*4)       per name: offset of its wire name in the wire area
 *   [.., +names*4)       per name: `offset * 16 + count` of its entries in the slab, -1 none
 *   [.., +wire bytes)    lower-case wire names back to back
 *   [.., +slab bytes)    entries in the prepared format (ENTRY_HEADER fields, then the body)
 *
 * A zone is a base table (every name at the last full build or fold) and an overlay table (the
 * names patched since, looked at first; -1 there: the name has no answer the workers give, the
 * main thread answers it). The overlay is folded into a new base once it holds more than an
 * eighth of the names, so a patch costs the overlay, not the zone.
 */

const MAGIC = 0x50444e53; // "PDNS"
const HEADER_BYTES = 32;
const MAX_ENTRIES = 15;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** What a UDP worker needs to answer from shared memory; posted to every worker on each update. */
export interface SharedZoneTables {
  /** Increases with every update; workers compare it with the published generation. */
  readonly generation: number;
  readonly base: SharedArrayBuffer | null;
  readonly overlay: SharedArrayBuffer | null;
}

/**
 * The lower-case wire form of a zone key (`a.b.c`) as a latin1 string, or null when the name
 * has escapes or labels the fast path does not take (those are answered on the main thread).
 */
export function wireKeyOf(name: string): string | null {
  if (name.length === 0 || name.length > 253) return null;
  const out = keyScratch;
  let lenAt = 0;
  let pos = 1;
  for (let i = 0; i <= name.length; i++) {
    const c = i === name.length ? 0x2e : name.charCodeAt(i);
    if (c === 0x2e) {
      const len = pos - lenAt - 1;
      if (len === 0 || len > 63) return null;
      out[lenAt] = len;
      lenAt = pos++;
      continue;
    }
    if (c === 0x5c || c > 0xff) return null;
    out[pos++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  out[lenAt] = 0;
  return String.fromCharCode.apply(null, out.subarray(0, pos) as unknown as number[]);
}

const plainScratch: PlainQuestion = { hash: 0, nameEnd: 0, qtype: 0, questionEnd: 0, ednsSize: -1 };

/** Room for the wire form of a 253-character name. */
const keyScratch = new Uint8Array(256);

function hashKey(key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/**
 * Encodes a table: each wire key (from {@link wireKeyOf}) with its entries back to back, or null
 * for "no answer here" (an overlay's tombstone).
 */
export function encodeSharedTable(
  names: Iterable<readonly [string, Uint8Array | null]>,
): SharedArrayBuffer {
  const list = [...names];
  let wireBytes = 0;
  let slabBytes = 0;
  for (const [key, entries] of list) {
    wireBytes += key.length;
    slabBytes += entries?.length ?? 0;
  }
  let slots = 8;
  while (slots < list.length * 2) slots *= 2;
  const tableOff = HEADER_BYTES;
  const atOff = tableOff + slots * 4;
  const nodeOff = atOff + list.length * 4;
  const wireOff = nodeOff + list.length * 4;
  const slabOff = wireOff + wireBytes;
  const sab = new SharedArrayBuffer(slabOff + slabBytes);
  const header = new Int32Array(sab, 0, 8);
  header.set([MAGIC, list.length, slots, wireBytes, slabBytes]);
  const table = new Int32Array(sab, tableOff, slots);
  const wireAt = new Int32Array(sab, atOff, list.length);
  const node = new Int32Array(sab, nodeOff, list.length);
  const wire = new Uint8Array(sab, wireOff, wireBytes);
  const slab = new Uint8Array(sab, slabOff, slabBytes);
  let w = 0;
  let s = 0;
  for (let i = 0; i < list.length; i++) {
    const [key, entries] = list[i] as readonly [string, Uint8Array | null];
    wireAt[i] = w;
    for (let j = 0; j < key.length; j++) wire[w++] = key.charCodeAt(j);
    if (entries === null) node[i] = -1;
    else {
      node[i] = s * 16 + countEntries(entries);
      slab.set(entries, s);
      s += entries.length;
    }
    let slot = hashKey(key) & (slots - 1);
    while (table[slot] !== 0) slot = (slot + 1) & (slots - 1);
    table[slot] = i + 1;
  }
  return sab;
}

function countEntries(entries: Uint8Array): number {
  let n = 0;
  for (let off = 0; off < entries.length; n++)
    off += ENTRY_HEADER + (((entries[off + 10] as number) << 8) | (entries[off + 11] as number));
  if (n > MAX_ENTRIES) throw new DnsError('INVALID_ARGUMENT', `${n} entries for one name`);
  return n;
}

/** A read-only view of one table from {@link encodeSharedTable}. */
export class SharedTable {
  readonly names: number;
  private readonly table: Int32Array;
  private readonly wireAt: Int32Array;
  private readonly node: Int32Array;
  private readonly wire: Uint8Array;
  /** The entries (prepared format). */
  readonly slab: Uint8Array;

  constructor(sab: SharedArrayBuffer) {
    const header = new Int32Array(sab, 0, 8);
    if (header[0] !== MAGIC)
      throw new DnsError('INVALID_ARGUMENT', 'not a shared zone table', { field: 'table' });
    const names = header[1] as number;
    const slots = header[2] as number;
    const wireBytes = header[3] as number;
    const slabBytes = header[4] as number;
    this.names = names;
    let at = HEADER_BYTES;
    this.table = new Int32Array(sab, at, slots);
    at += slots * 4;
    this.wireAt = new Int32Array(sab, at, names);
    at += names * 4;
    this.node = new Int32Array(sab, at, names);
    at += names * 4;
    this.wire = new Uint8Array(sab, at, wireBytes);
    at += wireBytes;
    this.slab = new Uint8Array(sab, at, slabBytes);
  }

  /**
   * Looks the query's wire name (at offset 12 of `msg`, `nameLen` bytes, FNV-1a of its lower
   * case `h`) up: `offset * 16 + count` of its entries, -1 for a tombstone, -2 when absent.
   */
  probe(msg: Uint8Array, nameLen: number, h: number): number {
    const table = this.table;
    const wire = this.wire;
    const mask = table.length - 1;
    let slot = h & mask;
    for (;;) {
      const idx = table[slot] as number;
      if (idx === 0) return -2;
      const at = this.wireAt[idx - 1] as number;
      let same = at + nameLen <= wire.length && wire[at + nameLen - 1] === 0;
      for (let i = 0; same && i < nameLen; i++) {
        const c = msg[12 + i] as number;
        same = wire[at + i] === (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
      }
      if (same) return this.node[idx - 1] as number;
      slot = (slot + 1) & mask;
    }
  }

  /** Every name: its wire key and its entries (null: tombstone). */
  *entries(): Generator<[string, Uint8Array | null]> {
    for (let i = 0; i < this.names; i++) {
      const at = this.wireAt[i] as number;
      let end = at;
      for (;;) {
        const len = this.wire[end] as number;
        end += len + 1;
        if (len === 0) break;
      }
      const key = String.fromCharCode(...this.wire.subarray(at, end));
      const packed = this.node[i] as number;
      if (packed < 0) {
        yield [key, null];
        continue;
      }
      const count = packed % 16;
      const off = (packed - count) / 16;
      let len = 0;
      for (let j = 0; j < count; j++)
        len +=
          ENTRY_HEADER +
          (((this.slab[off + len + 10] as number) << 8) | (this.slab[off + len + 11] as number));
      yield [key, this.slab.slice(off, off + len)];
    }
  }
}

/**
 * The answers the workers give for one name: its prepared positive RRsets, in the prepared entry
 * format, back to back; null when there are none. A CNAME (an ExternalName) is there only for
 * CNAME queries: other types are followed on the main thread.
 */
export function nameEntries(
  prepared: PreparedZone,
  name: string,
  types: Iterable<number>,
): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const t of new Set(types)) {
    const a = prepared.lookup(name, t, 0);
    if (!a) continue;
    const b = a.bytes;
    if ((((b[a.off] as number) << 8) | (b[a.off + 1] as number)) !== t) continue;
    const len = ENTRY_HEADER + (((b[a.off + 10] as number) << 8) | (b[a.off + 11] as number));
    parts.push(b.subarray(a.off, a.off + len));
    total += len;
    if (parts.length === MAX_ENTRIES) break;
  }
  if (parts.length === 0) return null;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function typesOf(zone: DnsZone, name: string): number[] {
  const node = zone.nodes.get(name);
  if (!node) return [];
  return node.records.map((r) => (typeof r.type === 'number' ? r.type : TYPE_CODES[r.type]));
}

/**
 * The main thread's side: keeps the shared tables in step with a {@link PreparedZone} (after
 * each full build or patch of it) and hands out {@link SharedZoneTables}.
 */
export class SharedZoneWriter {
  private base: SharedArrayBuffer | null = null;
  private baseNames = 0;
  private overlay: SharedArrayBuffer | null = null;
  /** Names patched since the base was written, by wire key. */
  private readonly patched = new Map<string, Uint8Array | null>();
  private generation = 0;

  /** After a full build: a new base with every name of `zone`, no overlay. */
  full(prepared: PreparedZone, zone: DnsZone): SharedZoneTables {
    const names: [string, Uint8Array][] = [];
    for (const name of zone.nodes.keys()) {
      const key = wireKeyOf(name);
      if (key === null) continue;
      const entries = nameEntries(prepared, name, typesOf(zone, name));
      if (entries) names.push([key, entries]);
    }
    this.base = encodeSharedTable(names);
    this.baseNames = names.length;
    this.overlay = null;
    this.patched.clear();
    return this.tables();
  }

  /**
   * After `prepared.patch(zone, names)`: the names' new answers go into a new overlay (or, once
   * it is large, a new base).
   */
  patch(prepared: PreparedZone, zone: DnsZone, names: Iterable<string>): SharedZoneTables {
    for (const name of names) {
      const key = wireKeyOf(name);
      if (key === null) continue;
      this.patched.set(key, nameEntries(prepared, name, typesOf(zone, name)));
    }
    if (this.patched.size > 32 + this.baseNames / 8) this.fold();
    else this.overlay = this.patched.size ? encodeSharedTable(this.patched) : null;
    return this.tables();
  }

  /** The current tables (a new generation each call). */
  tables(): SharedZoneTables {
    this.generation++;
    return { generation: this.generation, base: this.base, overlay: this.overlay };
  }

  /** Bytes of shared memory the current tables hold. */
  get bytes(): number {
    return (this.base?.byteLength ?? 0) + (this.overlay?.byteLength ?? 0);
  }

  private fold(): void {
    const merged = new Map<string, Uint8Array>();
    if (this.base)
      for (const [k, e] of new SharedTable(this.base).entries()) if (e) merged.set(k, e);
    for (const [k, e] of this.patched) {
      if (e) merged.set(k, e);
      else merged.delete(k);
    }
    this.base = encodeSharedTable(merged);
    this.baseNames = merged.size;
    this.overlay = null;
    this.patched.clear();
  }
}

/** Scratch query for {@link buildResponse} (only id, flags, question end and EDNS are read). */
const scratchQuery: ParsedQuery = {
  id: 0,
  echoFlags: 0,
  key: '',
  qtype: 0,
  qclass: 1,
  questionEnd: 0,
  ednsSize: -1,
  ednsVersion: 0,
};

/**
 * A worker's side: answers the common query (as `PreparedZone.fastResponse` does: one question,
 * class IN, no records but at most an EDNS version 0 OPT, a name with an RRset of exactly the
 * asked type) from the shared tables; null for anything else, which the main thread answers.
 */
export class SharedZoneReader {
  private base: SharedTable | null = null;
  private overlay: SharedTable | null = null;
  /**
   * Negative answers of the zone the main thread gave for these tables, as prepared entries, by
   * lower-case wire name and type ({@link remember}); emptied with every new generation.
   */
  private readonly negative = new Map<string, Uint8Array>();
  /** Generation of the tables in use (0: none yet). */
  generation = 0;
  /** Query type of the last answer {@link respond} gave. */
  lastQtype = 0;

  /**
   * @param nxdomain whether NXDOMAIN answers may be remembered (not with autopath, which
   *   answers a pod's NXDOMAIN by walking its search path)
   */
  constructor(private readonly nxdomain = true) {}

  /** Takes new tables (ignored when older than the ones in use). */
  use(tables: SharedZoneTables): void {
    if (tables.generation <= this.generation) return;
    this.generation = tables.generation;
    this.base = tables.base ? new SharedTable(tables.base) : null;
    this.overlay = tables.overlay ? new SharedTable(tables.overlay) : null;
    this.negative.clear();
  }

  /** Negative answers remembered for the tables in use. */
  get remembered(): number {
    return this.negative.size;
  }

  /**
   * Remembers `answer`, which the main thread made from the zone of `generation`, when it is a
   * negative answer of the zone (authoritative, no answer records, NODATA or NXDOMAIN, not
   * truncated): later queries for the same name and type are then answered here. Answers made
   * for other tables than the ones in use are ignored. Returns whether it was kept.
   */
  remember(answer: Uint8Array, generation: number): boolean {
    if (generation !== this.generation || this.base === null || answer.length < 17) return false;
    const flags = ((answer[2] as number) << 8) | (answer[3] as number);
    const rcode = flags & 0xf;
    if (
      (flags & 0x8000) === 0 ||
      (flags & 0x0400) === 0 ||
      (flags & 0x7a00) !== 0 ||
      !(rcode === 0 || (rcode === 3 && this.nxdomain)) ||
      answer[4] !== 0 ||
      answer[5] !== 1 ||
      answer[6] !== 0 ||
      answer[7] !== 0
    )
      return false;
    let pos = 12;
    let key = '';
    for (;;) {
      const len = answer[pos] as number;
      if (len > 63 || pos + len + 1 >= answer.length) return false;
      key += String.fromCharCode(len);
      if (len === 0) break;
      for (let i = pos + 1; i <= pos + len; i++) {
        const c = answer[i] as number;
        key += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
      }
      pos += len + 1;
    }
    const questionEnd = pos + 5;
    if (questionEnd > answer.length || answer[pos + 3] !== 0 || answer[pos + 4] !== 1) return false;
    const qtype = ((answer[pos + 1] as number) << 8) | (answer[pos + 2] as number);
    let end = answer.length;
    let ar = ((answer[10] as number) << 8) | (answer[11] as number);
    // our OPT record (a query with EDNS) comes last: each query gets its own
    if (
      ar > 0 &&
      end - 11 >= questionEnd &&
      answer[end - 11] === 0 &&
      answer[end - 10] === 0 &&
      answer[end - 9] === TYPE_CODES.OPT
    ) {
      end -= 11;
      ar--;
    }
    if (ar !== 0) return false;
    const body = answer.subarray(questionEnd, end);
    const entry = new Uint8Array(ENTRY_HEADER + body.length);
    entry[0] = qtype >> 8;
    entry[1] = qtype & 0xff;
    entry[2] = (flags & 0x040f) >> 8;
    entry[3] = flags & 0x0f;
    entry[6] = answer[8] as number;
    entry[7] = answer[9] as number;
    entry[10] = body.length >> 8;
    entry[11] = body.length & 0xff;
    entry.set(body, ENTRY_HEADER);
    if (this.negative.size >= NEGATIVE_LIMIT) this.negative.clear();
    this.negative.set(negativeKey(key, qtype), entry);
    return true;
  }

  /** The answer to `msg` written through `alloc`, or null (the main thread answers it). */
  respond(msg: Uint8Array, udp: boolean, alloc: (size: number) => Uint8Array): Uint8Array | null {
    const base = this.base;
    if (base === null) return null;
    const q = plainScratch;
    if (!scanPlainQuery(msg, q)) return null;
    const { qtype, questionEnd, ednsSize, hash: h } = q;
    const nameLen = q.nameEnd - 12;
    let table = base;
    let packed = -2;
    if (this.overlay !== null) {
      packed = this.overlay.probe(msg, nameLen, h);
      if (packed === -1)
        return this.respondNegative(msg, nameLen, qtype, questionEnd, ednsSize, udp, alloc);
      if (packed >= 0) table = this.overlay;
    }
    if (packed === -2) packed = base.probe(msg, nameLen, h);
    if (packed >= 0) {
      const b = table.slab;
      const count = packed % 16;
      let off = (packed - count) / 16;
      for (let i = 0; i < count; i++) {
        const t = ((b[off] as number) << 8) | (b[off + 1] as number);
        if (t === qtype) return this.write(msg, b, off, qtype, questionEnd, ednsSize, udp, alloc);
        if (t === TYPE_CODES.CNAME) return null;
        off += ENTRY_HEADER + (((b[off + 10] as number) << 8) | (b[off + 11] as number));
      }
    }
    return this.respondNegative(msg, nameLen, qtype, questionEnd, ednsSize, udp, alloc);
  }

  private respondNegative(
    msg: Uint8Array,
    nameLen: number,
    qtype: number,
    questionEnd: number,
    ednsSize: number,
    udp: boolean,
    alloc: (size: number) => Uint8Array,
  ): Uint8Array | null {
    if (this.negative.size === 0) return null;
    let key = '';
    for (let i = 12; i < 12 + nameLen; i++) {
      const c = msg[i] as number;
      key += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
    }
    const entry = this.negative.get(negativeKey(key, qtype));
    if (entry === undefined) return null;
    return this.write(msg, entry, 0, qtype, questionEnd, ednsSize, udp, alloc);
  }

  private write(
    msg: Uint8Array,
    b: Uint8Array,
    off: number,
    qtype: number,
    questionEnd: number,
    ednsSize: number,
    udp: boolean,
    alloc: (size: number) => Uint8Array,
  ): Uint8Array {
    const q = scratchQuery;
    q.id = ((msg[0] as number) << 8) | (msg[1] as number);
    q.echoFlags = (((msg[2] as number) << 8) | (msg[3] as number)) & 0x0110;
    q.questionEnd = questionEnd;
    q.ednsSize = ednsSize;
    this.lastQtype = qtype;
    const limit = !udp
      ? 65535
      : ednsSize < 0
        ? 512
        : Math.max(512, Math.min(ednsSize, MAX_UDP_PAYLOAD));
    return buildResponse(msg, q, { bytes: b, off }, limit, alloc);
  }
}

/** Most negative answers a worker remembers per generation. */
const NEGATIVE_LIMIT = 10_000;

function negativeKey(wireName: string, qtype: number): string {
  return `${wireName}${String.fromCharCode(qtype >> 8, qtype & 0xff)}`;
}
