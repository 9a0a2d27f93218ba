import { DnsError } from './errors.js';
import { NATIVE_PEER_BYTES } from './native-udp.js';

/*
 * What the main thread and its UDP worker threads share (pure: no I/O). Each worker has:
 * - a counters block (Float64Array over a SharedArrayBuffer) it alone writes and the main thread
 *   reads for /metrics (see the COUNTER_* offsets);
 * - the control block (Int32Array over a SharedArrayBuffer, one for all workers): the published
 *   zone generation at CONTROL_GENERATION; a worker that sees a generation newer than its tables
 *   takes the posted tables off its zone port (synchronously) before it answers anything;
 * - datagram lists, packed in one buffer per message, for the queries a worker hands to the main
 *   thread and the answers that come back: per datagram a 16-bit length, the sender's 28-byte
 *   socket address, then the datagram.
 */

/** Offset of the published zone generation in the control block. */
export const CONTROL_GENERATION = 0;
/** Int32 slots of the control block. */
export const CONTROL_SLOTS = 2;

/** Per query type (0-255): queries the worker answered itself. */
export const COUNTER_TYPES = 0;
/** Per rcode (0-15): responses the worker sent itself. */
export const COUNTER_RCODES = 256;
/** Latency histogram of the worker's own answers, in the buckets of `DnsMetrics`. */
export const COUNTER_BUCKETS = 272;
/** Room for the histogram's buckets. */
export const COUNTER_BUCKET_SLOTS = 24;
export const COUNTER_DURATION_SUM = 296;
export const COUNTER_DURATION_COUNT = 297;
/** Datagrams dropped without an answer (too long). */
export const COUNTER_DROPPED = 298;
/** Queries handed to the main thread (no prepared answer of the asked type in the worker). */
export const COUNTER_TO_MAIN = 299;
/** The socket's own counters: datagrams, batches, largest batch, sent, send errors, truncated. */
export const COUNTER_SOCKET = 300;
/** Float64 slots of a counters block. */
export const COUNTER_SLOTS = 306;

/** A datagram and the socket address of its sender (or receiver, for answers). */
export interface PeerDatagram {
  readonly bytes: Uint8Array;
  readonly peer: Uint8Array;
}

/** Packs datagrams for one message (see the module comment). */
export function packDatagrams(list: readonly PeerDatagram[]): Uint8Array {
  let size = 0;
  for (const d of list) {
    if (d.bytes.length > 0xffff)
      throw new DnsError('INVALID_ARGUMENT', `datagram of ${d.bytes.length} bytes`, {
        field: 'bytes',
      });
    if (d.peer.length !== NATIVE_PEER_BYTES)
      throw new DnsError(
        'INVALID_ARGUMENT',
        `peer must be ${NATIVE_PEER_BYTES} bytes, got ${d.peer.length}`,
        { field: 'peer' },
      );
    size += 2 + NATIVE_PEER_BYTES + d.bytes.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const d of list) {
    out[at] = d.bytes.length >> 8;
    out[at + 1] = d.bytes.length & 0xff;
    out.set(d.peer, at + 2);
    out.set(d.bytes, at + 2 + NATIVE_PEER_BYTES);
    at += 2 + NATIVE_PEER_BYTES + d.bytes.length;
  }
  return out;
}

/** The datagrams of a packed list (views into `packed`); throws on a cut-off list. */
export function unpackDatagrams(packed: Uint8Array): PeerDatagram[] {
  const out: PeerDatagram[] = [];
  let at = 0;
  while (at < packed.length) {
    if (at + 2 + NATIVE_PEER_BYTES > packed.length)
      throw new DnsError('INVALID_ARGUMENT', 'packed datagrams cut off', { field: 'packed' });
    const len = ((packed[at] as number) << 8) | (packed[at + 1] as number);
    const start = at + 2 + NATIVE_PEER_BYTES;
    if (start + len > packed.length)
      throw new DnsError('INVALID_ARGUMENT', 'packed datagrams cut off', { field: 'packed' });
    out.push({
      peer: packed.subarray(at + 2, start),
      bytes: packed.subarray(start, start + len),
    });
    at = start + len;
  }
  return out;
}

/** Counters of one UDP worker thread, as /metrics and {@link DnsServer.udpWorkerStats} show them. */
export interface UdpWorkerStats {
  /** Datagrams the worker's socket received. */
  datagrams: number;
  /** recvmmsg batches. */
  batches: number;
  /** Queries the worker answered from the shared zone itself. */
  answered: number;
  /** Queries it handed to the main thread (negative answers, forwarding, autopath, ...). */
  toMain: number;
  /** Answers sent from the worker's socket (its own and the main thread's). */
  sent: number;
  sendErrors: number;
  /** Most datagrams one recvmmsg returned. */
  largestBatch: number;
  /** Datagrams too long for a slot (dropped). */
  truncated: number;
  dropped: number;
}

/** Reads a counters block. */
export function workerStats(counters: Float64Array): UdpWorkerStats {
  let answered = 0;
  for (let i = 0; i < 16; i++) answered += counters[COUNTER_RCODES + i] as number;
  return {
    datagrams: counters[COUNTER_SOCKET] as number,
    batches: counters[COUNTER_SOCKET + 1] as number,
    answered,
    toMain: counters[COUNTER_TO_MAIN] as number,
    sent: counters[COUNTER_SOCKET + 3] as number,
    sendErrors: counters[COUNTER_SOCKET + 4] as number,
    largestBatch: counters[COUNTER_SOCKET + 2] as number,
    truncated: counters[COUNTER_SOCKET + 5] as number,
    dropped: counters[COUNTER_DROPPED] as number,
  };
}

/**
 * How many UDP workers `udpWorkers` asks for on a machine with `cpus` CPUs: `auto` is one per
 * CPU (as knotd's `udp-workers` default and CoreDNS, which uses every CPU); a number is taken as
 * given (1: no worker threads, the main thread serves UDP).
 */
export function resolveUdpWorkers(value: unknown, cpus: number, field = 'udpWorkers'): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.max(1, Math.min(cpus, MAX_UDP_WORKERS));
  if (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 1 &&
    value <= MAX_UDP_WORKERS
  )
    return value;
  throw new DnsError(
    'INVALID_ARGUMENT',
    `${field} must be auto or an integer 1-${MAX_UDP_WORKERS}, got ${JSON.stringify(value)}`,
    { field, value },
  );
}

/** Most UDP workers a server runs. */
export const MAX_UDP_WORKERS = 64;
