import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';
import type { DnsQuestion, DnsRecord, RecordType } from './types.js';

/** Numeric codes of the record types known by name. */
export const TYPE_CODES: Readonly<Record<RecordType, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
};

const TYPE_NAMES = new Map<number, RecordType>(
  Object.entries(TYPE_CODES).map(([name, code]) => [code, name as RecordType]),
);

/** Numeric response codes. */
export const RCODES = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** The `IN` class. */
export const CLASS_IN = 1;

/** The numeric code of a record type given by name or number. */
export function typeCode(type: RecordType | number): number {
  return typeof type === 'number' ? type : TYPE_CODES[type];
}

/** The name of a record type when it has one, else its number. */
export function typeName(code: number): RecordType | number {
  return TYPE_NAMES.get(code) ?? code;
}

/** EDNS0 (OPT pseudo-record) fields of a message. */
export interface EdnsInfo {
  /** Requestor's UDP payload size. */
  udpSize: number;
  /** Upper 8 bits of the extended rcode. */
  extendedRcode: number;
  version: number;
  /** DNSSEC OK bit. */
  do: boolean;
  /** Raw option bytes (RDATA of the OPT record); empty when none. */
  options: Uint8Array;
}

/** A whole DNS message. Header flags are spelled out; OPT lives in `edns`, not in `additionals`. */
export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
  edns?: EdnsInfo;
}

/** Options of {@link encodeMessage}. */
export interface EncodeOptions {
  /** Compress names (RFC 1035 4.1.4); default true. */
  compress?: boolean;
}

/** Splits a presentation name into raw labels, honouring `\.` and `\\` escapes. */
export function nameToLabels(name: string): Uint8Array[] {
  return splitName(name).labels;
}

interface SplitName {
  labels: Uint8Array[];
  /** Index in the presentation text where each label starts. */
  starts: number[];
  /** The text without a trailing dot. */
  text: string;
}

function splitName(name: string): SplitName {
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Uint8Array[] = [];
  const starts: number[] = [];
  if (text.length === 0) return { labels, starts, text };
  let total = 1;
  let i = 0;
  const n = text.length;
  while (i <= n) {
    starts.push(i);
    const bytes: number[] = [];
    for (; i < n; i++) {
      let c = text.charCodeAt(i);
      if (c === 0x2e) break;
      if (c === 0x5c && i + 1 < n) c = text.charCodeAt(++i);
      if (c > 0xff)
        throw new DnsError('INVALID_ARGUMENT', `name "${name}" has a non-latin1 character`, {
          value: name,
        });
      bytes.push(c);
    }
    if (bytes.length === 0)
      throw new DnsError('INVALID_ARGUMENT', `name "${name}" has an empty label`, { value: name });
    if (bytes.length > 63)
      throw new DnsError('INVALID_ARGUMENT', `name "${name}" has a label longer than 63 octets`, {
        value: name,
      });
    labels.push(Uint8Array.from(bytes));
    total += bytes.length + 1;
    i++;
  }
  if (total > 255)
    throw new DnsError('INVALID_ARGUMENT', `name "${name}" is longer than 255 octets`, {
      value: name,
    });
  return { labels, starts, text };
}

function labelText(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    if (c === 0x2e || c === 0x5c) s += '\\';
    s += String.fromCharCode(c);
  }
  return s;
}

/** A growable buffer that writes DNS wire format, with optional name compression. */
export class WireWriter {
  private buf: Uint8Array;
  private view: DataView;
  /** Bytes written so far. */
  length = 0;
  private readonly names = new Map<string, number>();

  constructor(
    private readonly compress = true,
    initialSize = 512,
  ) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v & 0xffff);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Overwrites a 16-bit value at `offset`. */
  patchU16(offset: number, v: number): void {
    this.view.setUint16(offset, v & 0xffff);
  }

  /** Writes a domain name; `allowPointer` false still registers its suffixes as targets. */
  name(name: string, allowPointer = true): void {
    const { labels, starts, text } = splitName(name);
    const lower = this.compress ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : '';
    for (let i = 0; i < labels.length; i++) {
      if (this.compress) {
        const key = lower.slice(starts[i] as number);
        const at = this.names.get(key);
        if (at !== undefined && allowPointer) {
          this.u16(0xc000 | at);
          return;
        }
        if (at === undefined && this.length < 0x4000) this.names.set(key, this.length);
      }
      const label = labels[i] as Uint8Array;
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }

  /** The bytes written (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** The bytes written from `start` on, as a view (valid until the next write or reset). */
  written(start = 0): Uint8Array {
    return this.buf.subarray(start, this.length);
  }

  /** Forgets what was written (and the compression targets), keeping the buffer for reuse. */
  reset(): void {
    this.length = 0;
    this.names.clear();
  }
}

function writeRecord(w: WireWriter, rr: DnsRecord): void {
  const code = typeCode(rr.type as RecordType | number);
  w.name(rr.name);
  w.u16(code);
  w.u16(CLASS_IN);
  w.u32(rr.ttl);
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  switch (rr.type) {
    case 'A': {
      const parts = rr.data.split('.');
      if (parts.length !== 4)
        throw new DnsError(
          'INVALID_ARGUMENT',
          `A record ${rr.name} has a bad address "${rr.data}"`,
          { value: rr.data },
        );
      for (const p of parts) w.u8(Number(p));
      break;
    }
    case 'AAAA':
      w.bytes(ipv6Bytes(rr.data));
      break;
    case 'CNAME':
    case 'PTR':
    case 'NS':
      w.name(rr.data);
      break;
    case 'SRV':
      w.u16(rr.data.priority);
      w.u16(rr.data.weight);
      w.u16(rr.data.port);
      w.name(rr.data.target, false);
      break;
    case 'SOA':
      w.name(rr.data.mname);
      w.name(rr.data.rname);
      w.u32(rr.data.serial);
      w.u32(rr.data.refresh);
      w.u32(rr.data.retry);
      w.u32(rr.data.expire);
      w.u32(rr.data.minimum);
      break;
    case 'TXT':
      for (const s of rr.data) {
        const b = latin1Bytes(s);
        if (b.length > 255)
          throw new DnsError(
            'INVALID_ARGUMENT',
            `TXT string of ${rr.name} is longer than 255 octets`,
            { value: s },
          );
        w.u8(b.length);
        w.bytes(b);
      }
      break;
    default:
      w.bytes(rr.data as Uint8Array);
  }
  w.patchU16(lengthAt, w.length - start);
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** The 16 bytes of an IPv6 address in text form. */
export function ipv6Bytes(text: string): Uint8Array {
  if (!ipaddr.IPv6.isValid(text))
    throw new DnsError('INVALID_ARGUMENT', `bad IPv6 address "${text}"`, { value: text });
  return Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
}

/** RFC 5952 text of 16 IPv6 bytes at `at`. */
export function ipv6Text(b: Uint8Array, at = 0): string {
  return ipaddr.fromByteArray(Array.from(b.subarray(at, at + 16))).toString();
}

/** Encodes a message (header flags from the fields, OPT from `edns`). */
export function encodeMessage(msg: DnsMessage, options: EncodeOptions = {}): Uint8Array {
  const w = new WireWriter(options.compress ?? true);
  writeMessage(w, msg);
  return w.finish();
}

/**
 * Writes `msg` into `w` (from its current length; compression as `w` was made). For callers that
 * encode many messages with one reused writer ({@link WireWriter.reset}).
 */
export function writeMessage(w: WireWriter, msg: DnsMessage): void {
  writeHeader(w, msg, msg.additionals.length + (msg.edns ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(typeCode(q.type));
    w.u16(q.class === undefined || q.class === 'IN' ? CLASS_IN : q.class);
  }
  for (const rr of msg.answers) writeRecord(w, rr);
  for (const rr of msg.authorities) writeRecord(w, rr);
  for (const rr of msg.additionals) writeRecord(w, rr);
  if (msg.edns) writeOpt(w, msg.edns);
}

/**
 * Encodes a recursion-desired query for one question; with `udpSize`, it carries an EDNS0 OPT
 * record advertising that payload size.
 */
export function encodeQuery(q: {
  id: number;
  name: string;
  type: RecordType | number;
  udpSize?: number;
}): Uint8Array {
  return encodeMessage({
    id: q.id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name: q.name, type: q.type }],
    answers: [],
    authorities: [],
    additionals: [],
    edns:
      q.udpSize === undefined
        ? undefined
        : {
            udpSize: q.udpSize,
            extendedRcode: 0,
            version: 0,
            do: false,
            options: new Uint8Array(0),
          },
  });
}

/** Writes the 12-byte header. */
export function writeHeader(w: WireWriter, msg: DnsMessage, arcount: number): void {
  w.u16(msg.id);
  w.u16(flagsWord(msg));
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authorities.length);
  w.u16(arcount);
}

/** The 16-bit flags word of a header. */
export function flagsWord(
  m: Pick<DnsMessage, 'qr' | 'opcode' | 'aa' | 'tc' | 'rd' | 'ra' | 'ad' | 'cd' | 'rcode'>,
): number {
  return (
    (m.qr ? 0x8000 : 0) |
    ((m.opcode & 0xf) << 11) |
    (m.aa ? 0x400 : 0) |
    (m.tc ? 0x200 : 0) |
    (m.rd ? 0x100 : 0) |
    (m.ra ? 0x80 : 0) |
    (m.ad ? 0x20 : 0) |
    (m.cd ? 0x10 : 0) |
    (m.rcode & 0xf)
  );
}

/** Writes an OPT pseudo-record. */
export function writeOpt(w: WireWriter, edns: EdnsInfo): void {
  w.u8(0);
  w.u16(TYPE_CODES.OPT);
  w.u16(edns.udpSize);
  w.u8(edns.extendedRcode);
  w.u8(edns.version);
  w.u16(edns.do ? 0x8000 : 0);
  w.u16(edns.options.length);
  w.bytes(edns.options);
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it. */
export function readName(b: Uint8Array, offset: number): { name: string; end: number } {
  let pos = offset;
  let end = -1;
  let jumps = 0;
  let total = 1;
  const parts: string[] = [];
  for (;;) {
    if (pos >= b.length) throw malformed('name runs past the end of the message');
    const len = b[pos] as number;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= b.length) throw malformed('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | (b[pos + 1] as number);
      if (end < 0) end = pos + 2;
      if (target >= pos || ++jumps > 64)
        throw malformed('compression pointer does not point backwards');
      pos = target;
      continue;
    }
    if (kind !== 0) throw malformed('unsupported label type');
    if (pos + 1 + len > b.length) throw malformed('label runs past the end of the message');
    total += len + 1;
    if (total > 255) throw malformed('name longer than 255 octets');
    parts.push(labelText(b, pos + 1, pos + 1 + len));
    pos += len + 1;
  }
  return { name: parts.join('.'), end };
}

function malformed(message: string): DnsError {
  return new DnsError('MALFORMED_MESSAGE', message);
}

function u16(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) throw malformed('message truncated');
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32(b: Uint8Array, at: number): number {
  if (at + 4 > b.length) throw malformed('message truncated');
  return (
    (((b[at] as number) << 24) |
      ((b[at + 1] as number) << 16) |
      ((b[at + 2] as number) << 8) |
      (b[at + 3] as number)) >>>
    0
  );
}

function readRecord(
  b: Uint8Array,
  offset: number,
): { rr: DnsRecord | null; edns?: EdnsInfo; end: number } {
  const { name, end: afterName } = readName(b, offset);
  const code = u16(b, afterName);
  const cls = u16(b, afterName + 2);
  const ttl = u32(b, afterName + 4);
  const rdlen = u16(b, afterName + 8);
  const start = afterName + 10;
  const end = start + rdlen;
  if (end > b.length) throw malformed('record data runs past the end of the message');
  if (code === TYPE_CODES.OPT) {
    if (name !== '') throw malformed('OPT record not at the root name');
    return {
      rr: null,
      end,
      edns: {
        udpSize: cls,
        extendedRcode: ttl >>> 24,
        version: (ttl >>> 16) & 0xff,
        do: (ttl & 0x8000) !== 0,
        options: b.slice(start, end),
      },
    };
  }
  if (cls !== CLASS_IN) throw malformed(`record class ${cls} is not IN`);
  const type = typeName(code);
  const nameIn = (at: number): string => {
    const r = readName(b, at);
    if (r.end > end) throw malformed('name runs past the record data');
    return r.name;
  };
  const nameEnd = (at: number): number => readName(b, at).end;
  let rr: DnsRecord;
  switch (type) {
    case 'A':
      if (rdlen !== 4) throw malformed('A record data is not 4 bytes');
      rr = {
        name,
        type,
        class: 'IN',
        ttl,
        data: `${b[start]}.${b[start + 1]}.${b[start + 2]}.${b[start + 3]}`,
      };
      break;
    case 'AAAA':
      if (rdlen !== 16) throw malformed('AAAA record data is not 16 bytes');
      rr = { name, type, class: 'IN', ttl, data: ipv6Text(b, start) };
      break;
    case 'CNAME':
    case 'PTR':
    case 'NS': {
      const data = nameIn(start);
      if (nameEnd(start) !== end) throw malformed(`${type} record data has trailing bytes`);
      rr = { name, type, class: 'IN', ttl, data };
      break;
    }
    case 'SRV': {
      if (rdlen < 7) throw malformed('SRV record data too short');
      const target = nameIn(start + 6);
      if (nameEnd(start + 6) !== end) throw malformed('SRV record data has trailing bytes');
      rr = {
        name,
        type,
        class: 'IN',
        ttl,
        data: {
          priority: u16(b, start),
          weight: u16(b, start + 2),
          port: u16(b, start + 4),
          target,
        },
      };
      break;
    }
    case 'SOA': {
      const m = readName(b, start);
      const r = readName(b, m.end);
      if (r.end + 20 !== end) throw malformed('SOA record data has a bad length');
      rr = {
        name,
        type,
        class: 'IN',
        ttl,
        data: {
          mname: m.name,
          rname: r.name,
          serial: u32(b, r.end),
          refresh: u32(b, r.end + 4),
          retry: u32(b, r.end + 8),
          expire: u32(b, r.end + 12),
          minimum: u32(b, r.end + 16),
        },
      };
      break;
    }
    case 'TXT': {
      const data: string[] = [];
      for (let p = start; p < end; ) {
        const len = b[p] as number;
        if (p + 1 + len > end) throw malformed('TXT string runs past the record data');
        data.push(String.fromCharCode(...b.subarray(p + 1, p + 1 + len)));
        p += 1 + len;
      }
      rr = { name, type, class: 'IN', ttl, data };
      break;
    }
    default:
      rr = { name, type: code, class: 'IN', ttl, data: b.slice(start, end) };
  }
  return { rr, end };
}

/** Decodes a whole message; throws `DnsError` `MALFORMED_MESSAGE` on any defect. */
export function decodeMessage(b: Uint8Array): DnsMessage {
  if (b.length < 12) throw malformed('message shorter than a header');
  const flags = u16(b, 2);
  const counts = [u16(b, 4), u16(b, 6), u16(b, 8), u16(b, 10)] as const;
  const msg: DnsMessage = {
    id: u16(b, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x400) !== 0,
    tc: (flags & 0x200) !== 0,
    rd: (flags & 0x100) !== 0,
    ra: (flags & 0x80) !== 0,
    ad: (flags & 0x20) !== 0,
    cd: (flags & 0x10) !== 0,
    rcode: flags & 0xf,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  let pos = 12;
  for (let i = 0; i < counts[0]; i++) {
    const { name, end } = readName(b, pos);
    const cls = u16(b, end + 2);
    msg.questions.push({ name, type: typeName(u16(b, end)), class: cls === CLASS_IN ? 'IN' : cls });
    pos = end + 4;
  }
  const sections = [msg.answers, msg.authorities, msg.additionals];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < (counts[s + 1] as number); i++) {
      const { rr, edns, end } = readRecord(b, pos);
      if (edns) {
        if (s !== 2 || msg.edns) throw malformed('misplaced or repeated OPT record');
        msg.edns = edns;
      } else if (rr) {
        (sections[s] as DnsRecord[]).push(rr);
      }
      pos = end;
    }
  }
  if (pos !== b.length) throw malformed('trailing bytes after the last record');
  return msg;
}
