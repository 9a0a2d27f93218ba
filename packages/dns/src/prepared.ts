import { DnsError } from './errors.js';
import type { DnsRecord, Resolution } from './types.js';
import { CLASS_IN, RCODES, TYPE_CODES, WireWriter, encodeMessage, typeName } from './wire.js';
import { type DnsZone, authorityOf, resolve, soaRecord } from './zone.js';

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

/** A prepared answer: header fields and the encoded sections after the question. */
export interface PreparedAnswer {
  readonly qtype: number;
  /** Flags without QR/RD/CD (AA and rcode). */
  readonly flags: number;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  readonly bytes: Uint8Array;
  readonly off: number;
  readonly len: number;
}

const AA = 0x400;
const QR_RA = 0x8080;

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
  let key = '';
  for (;;) {
    if (pos >= msg.length) return formerr(id, echoFlags);
    const len = msg[pos] as number;
    if (len === 0) {
      pos++;
      break;
    }
    if (len > 63 || pos + 1 + len > msg.length || pos + len > 12 + 254)
      return formerr(id, echoFlags);
    if (key.length > 0) key += '.';
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = msg[i] as number;
      if (c >= 0x41 && c <= 0x5a) key += String.fromCharCode(c | 0x20);
      else if (c === 0x2e || c === 0x5c) key += `\\${String.fromCharCode(c)}`;
      else key += String.fromCharCode(c);
    }
    pos += len + 1;
  }
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
): Uint8Array {
  const edns = query.ednsSize >= 0;
  const qlen = query.questionEnd - 12;
  let total = 12 + qlen + answer.len + (edns ? 11 : 0);
  let truncated = false;
  if (total > limit) {
    truncated = true;
    total = 12 + qlen + (edns ? 11 : 0);
  }
  const out = new Uint8Array(total);
  const flags = QR_RA | answer.flags | query.echoFlags | (truncated ? 0x200 : 0);
  out[0] = query.id >> 8;
  out[1] = query.id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[5] = 1;
  if (!truncated) {
    out[6] = answer.an >> 8;
    out[7] = answer.an & 0xff;
    out[8] = answer.ns >> 8;
    out[9] = answer.ns & 0xff;
  }
  const ar = (truncated ? 0 : answer.ar) + (edns ? 1 : 0);
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
  out.set(msg.subarray(12, query.questionEnd), 12);
  let pos = 12 + qlen;
  if (!truncated) {
    out.set(answer.bytes.subarray(answer.off, answer.off + answer.len), pos);
    pos += answer.len;
  }
  if (edns) writeOptAt(out, pos, 0);
  return out;
}

/** Writes our OPT record (payload 1232, no options) at `pos`. */
export function writeOptAt(out: Uint8Array, pos: number, extendedRcode: number): void {
  out[pos] = 0;
  out[pos + 1] = 0;
  out[pos + 2] = TYPE_CODES.OPT;
  out[pos + 3] = MAX_UDP_PAYLOAD >> 8;
  out[pos + 4] = MAX_UDP_PAYLOAD & 0xff;
  out[pos + 5] = extendedRcode;
  out.fill(0, pos + 6, pos + 11);
}

/** The UDP size limit for a query: 512 without EDNS, else min(client size, 1232) (at least 512). */
export function udpLimit(query: ParsedQuery): number {
  if (query.ednsSize < 0) return 512;
  return Math.max(512, Math.min(query.ednsSize, MAX_UDP_PAYLOAD));
}

/** Encodes a resolution for `name`/`qtype` into the sections that follow the question. */
export function prepareAnswer(
  name: string,
  qtype: number,
  resolution: Extract<Resolution, { kind: 'answer' }>,
): PreparedAnswer {
  const full = encodeMessage({
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
    questions: [{ name, type: typeName(qtype), class: CLASS_IN }],
    answers: resolution.answers,
    authorities: resolution.authorities,
    additionals: resolution.additionals,
  });
  const bodyStart = 12 + wireNameLength(name) + 4;
  return {
    qtype,
    flags: AA | RCODES[resolution.rcode],
    an: resolution.answers.length,
    ns: resolution.authorities.length,
    ar: resolution.additionals.length,
    bytes: full,
    off: bodyStart,
    len: full.length - bodyStart,
  };
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

interface PreparedNode {
  entries: PreparedAnswer[];
  /** A CNAME answers every type. */
  any?: PreparedAnswer;
}

const NEGATIVE_CACHE_LIMIT = 4096;
const DYNAMIC_CACHE_LIMIT = 10_000;

/**
 * The zone with every positive answer encoded up front (one slab of bytes), so a query costs
 * a map lookup, a copy of its question and an ID patch. Negative and pod answers are encoded
 * on first use and kept.
 */
export class PreparedZone {
  readonly zone: DnsZone;
  private readonly nodes = new Map<string, PreparedNode>();
  private readonly negative = new Map<string, PreparedAnswer>();
  private readonly dynamic = new Map<string, PreparedAnswer | null>();

  constructor(zone: DnsZone) {
    this.zone = zone;
    const pending: { node: PreparedNode; answers: PreparedAnswer[]; cname: boolean }[] = [];
    let total = 0;
    for (const [name, node] of zone.nodes) {
      const prepared: PreparedNode = { entries: [] };
      const answers: PreparedAnswer[] = [];
      const cname = node.records.some((r) => r.type === 'CNAME');
      if (cname) {
        const res = resolve(zone, { name, type: 'CNAME' });
        if (res.kind === 'answer') answers.push(prepareAnswer(name, TYPE_CODES.CNAME, res));
      } else if (node.records.length > 0) {
        const types = new Set<number>(
          node.records.map((r: DnsRecord) =>
            typeof r.type === 'number' ? r.type : TYPE_CODES[r.type],
          ),
        );
        types.add(TYPE_CODES.ANY);
        for (const t of types) {
          const res = resolve(zone, { name, type: t });
          if (res.kind === 'answer') answers.push(prepareAnswer(name, t, res));
        }
      }
      for (const a of answers) total += a.len;
      pending.push({ node: prepared, answers, cname });
      this.nodes.set(name, prepared);
    }
    const slab = new Uint8Array(total);
    let off = 0;
    for (const { node, answers, cname } of pending) {
      for (const a of answers) {
        slab.set(a.bytes.subarray(a.off, a.off + a.len), off);
        const packed: PreparedAnswer = { ...a, bytes: slab, off };
        off += a.len;
        if (cname) node.any = packed;
        node.entries.push(packed);
      }
    }
  }

  /** The prepared answer for a parsed question, or `null` when it must be forwarded. */
  lookup(key: string, qtype: number, qlenWire: number): PreparedAnswer | null {
    const apex = authorityOf(this.zone.zone, key);
    if (apex === null) return null;
    const node = this.nodes.get(key);
    if (node) {
      if (node.any) return node.any;
      const entries = node.entries;
      for (let i = 0; i < entries.length; i++)
        if ((entries[i] as PreparedAnswer).qtype === qtype) return entries[i] as PreparedAnswer;
      return this.negativeAnswer(apex, qtype, qlenWire, 'NOERROR');
    }
    const memo = this.dynamic.get(`${qtype}|${key}`);
    if (memo !== undefined) return memo;
    const res = resolve(this.zone, { name: key, type: qtype });
    let out: PreparedAnswer | null = null;
    if (res.kind === 'answer') {
      out =
        res.answers.length > 0
          ? prepareAnswer(key, qtype, res)
          : this.negativeAnswer(
              apex,
              qtype,
              qlenWire,
              res.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NOERROR',
            );
    }
    if (this.dynamic.size >= DYNAMIC_CACHE_LIMIT) this.dynamic.clear();
    this.dynamic.set(`${qtype}|${key}`, out);
    return out;
  }

  private negativeAnswer(
    apex: string,
    qtype: number,
    qlenWire: number,
    rcode: 'NOERROR' | 'NXDOMAIN',
  ): PreparedAnswer {
    const soa = soaRecord(this.zone, apex);
    const cacheKey = `${rcode}|${apex}|${qlenWire}`;
    const hit = this.negative.get(cacheKey);
    if (hit) return hit;
    const w = new WireWriter(true);
    w.bytes(new Uint8Array(12 + qlenWire + 4));
    const start = w.length;
    {
      const full = encodeMessage({
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
        questions: [],
        answers: [],
        authorities: [soa],
        additionals: [],
      });
      // Re-base the standalone SOA (compressed against itself) after the question.
      const rebased = rebaseRecord(full.subarray(12), start - 12);
      w.bytes(rebased);
    }
    const bytes = w.finish();
    const prepared: PreparedAnswer = {
      qtype,
      flags: AA | RCODES[rcode],
      an: 0,
      ns: 1,
      ar: 0,
      bytes,
      off: start,
      len: bytes.length - start,
    };
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
