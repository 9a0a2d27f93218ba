import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { DnsError } from './errors.js';
import type { DnsTcpLimits } from './tcp-limits.js';

/** Why the server closed TCP connections (or refused new ones), counted since start. */
export interface DnsTcpClosed {
  /** Nothing arrived, was answered or waited to be sent for `idleTimeoutMs`. */
  idle: number;
  /** A query did not finish arriving within `messageTimeoutMs` of its first byte. */
  messageTimeout: number;
  /** Answers waited for a client that did not read them for `messageTimeoutMs`. */
  writeTimeout: number;
  /** An answer became ready while `maxBufferedBytes` were already waiting to be sent. */
  overflow: number;
  /** Closed to make room for a new connection (the global or the per-source limit). */
  evicted: number;
  /** New connections refused: their source had `maxConnectionsPerSource` busy connections. */
  refusedSource: number;
  /** New connections refused: `maxConnections` connections, all busy. */
  refusedFull: number;
  /** A message too short to hold a DNS header. */
  malformed: number;
}

/** Counters and gauges of the TCP listener. */
export interface DnsTcpStats {
  /** Open connections. */
  connections: number;
  /** Distinct source addresses with open connections. */
  sources: number;
  /** Connections whose reading is paused (answers not draining, or too many queries pending). */
  paused: number;
  /** Queries being answered (waiting for an upstream), over all connections. */
  pendingQueries: number;
  /** Answer bytes waiting in the server to be sent, over all connections. */
  bufferedBytes: number;
  /** The most answer bytes one connection had waiting right after a write, since start. */
  peakBufferedBytes: number;
  /** The most queries one connection had pending at once, since start. */
  peakPendingQueries: number;
  /** Times a connection's reading was paused for backpressure, since start. */
  pauses: number;
  /** Connections accepted, since start. */
  accepted: number;
  /** Connections closed or refused by the server, by reason, since start. */
  closed: DnsTcpClosed;
}

/** One open TCP connection, as {@link DnsTcpStats} sees it. */
export interface DnsTcpConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  /** Answer bytes waiting in the server to be sent. */
  bufferedBytes: number;
  /** Received bytes not yet taken as whole queries. */
  inputBytes: number;
  pendingQueries: number;
  /** Reading paused for backpressure. */
  paused: boolean;
}

/** Answers one query: bytes, null to close the connection, or a promise of either. */
export type TcpAnswer = (
  msg: Uint8Array,
  source: string,
) => Uint8Array | null | Promise<Uint8Array | null>;

const EMPTY = Buffer.alloc(0);

interface Conn {
  readonly sock: net.Socket;
  readonly source: string;
  /** Received bytes not yet taken as whole messages. */
  buf: Buffer;
  /** Queries handed to `answer` whose promise has not settled. */
  pending: number;
  /** Writes handed to the socket whose callback has not run (not yet in the kernel). */
  unflushed: number;
  paused: boolean;
  closed: boolean;
  /** When the incomplete message at the head of `buf` started arriving; null when there is none. */
  messageStart: number | null;
  /** Last time a write reached the kernel, or output started waiting. */
  lastProgress: number;
  /** Last time anything arrived or was sent. */
  lastActivity: number;
  timer: NodeJS.Timeout | null;
  timerDue: number;
}

/**
 * The DNS-over-TCP listener: length-prefixed, pipelined queries with answers sent as they are
 * ready (RFC 7766 allows any order), under the limits of {@link DnsTcpLimits}: backpressure
 * (reading stops while answers do not drain or too many are pending), a deadline for each whole
 * message, an idle timeout, per-source and global connection limits that close the longest-idle
 * connection rather than refuse a new client.
 */
export class TcpDnsListener {
  private readonly conns = new Set<Conn>();
  private readonly perSource = new Map<string, number>();
  private readonly counters: Omit<
    DnsTcpStats,
    'connections' | 'sources' | 'paused' | 'pendingQueries' | 'bufferedBytes'
  > = {
    peakBufferedBytes: 0,
    peakPendingQueries: 0,
    pauses: 0,
    accepted: 0,
    closed: {
      idle: 0,
      messageTimeout: 0,
      writeTimeout: 0,
      overflow: 0,
      evicted: 0,
      refusedSource: 0,
      refusedFull: 0,
      malformed: 0,
    },
  };

  private constructor(
    private readonly server: net.Server,
    private readonly limits: DnsTcpLimits,
    private readonly answer: TcpAnswer,
  ) {}

  /** Listens on `address:port` (0 picks a port); throws `DnsError` `BIND_FAILED`. */
  static listen(
    address: string,
    port: number,
    limits: DnsTcpLimits,
    answer: TcpAnswer,
  ): Promise<TcpDnsListener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      const listener = new TcpDnsListener(server, limits, answer);
      server.on('connection', (sock) => listener.accept(sock));
      server.once('error', (err) =>
        reject(new DnsError('BIND_FAILED', `cannot bind TCP ${address}:${port}`, { cause: err })),
      );
      server.listen({ port, host: address, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', () => undefined);
        resolve(listener);
      });
    });
  }

  /** The bound port. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Counters and gauges (a snapshot). */
  stats(): DnsTcpStats {
    let paused = 0;
    let pendingQueries = 0;
    let bufferedBytes = 0;
    for (const c of this.conns) {
      if (c.paused) paused++;
      pendingQueries += c.pending;
      bufferedBytes += c.sock.writableLength;
    }
    return {
      connections: this.conns.size,
      sources: this.perSource.size,
      paused,
      pendingQueries,
      bufferedBytes,
      ...this.counters,
      closed: { ...this.counters.closed },
    };
  }

  /** Every open connection (a snapshot). */
  connections(): DnsTcpConnectionInfo[] {
    return [...this.conns].map((c) => ({
      remoteAddress: c.source,
      remotePort: c.sock.remotePort ?? 0,
      bufferedBytes: c.sock.writableLength,
      inputBytes: c.buf.length,
      pendingQueries: c.pending,
      paused: c.paused,
    }));
  }

  /** Closes every connection and the listening socket. */
  close(): Promise<void> {
    for (const c of [...this.conns]) this.drop(c);
    return new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(sock: net.Socket): void {
    const source = sourceOf(sock.remoteAddress);
    if (source === null) {
      sock.destroy();
      return;
    }
    sock.on('error', () => undefined);
    if ((this.perSource.get(source) ?? 0) >= this.limits.maxConnectionsPerSource) {
      const victim = this.victim(source);
      if (!victim) {
        this.counters.closed.refusedSource++;
        sock.destroy();
        return;
      }
      this.closeFor(victim, 'evicted');
    }
    if (this.conns.size >= this.limits.maxConnections) {
      const victim = this.victim(null);
      if (!victim) {
        this.counters.closed.refusedFull++;
        sock.destroy();
        return;
      }
      this.closeFor(victim, 'evicted');
    }
    const now = performance.now();
    const c: Conn = {
      sock,
      source,
      buf: EMPTY,
      pending: 0,
      unflushed: 0,
      paused: false,
      closed: false,
      messageStart: null,
      lastProgress: now,
      lastActivity: now,
      timer: null,
      timerDue: Number.POSITIVE_INFINITY,
    };
    this.conns.add(c);
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    this.counters.accepted++;
    sock.setNoDelay(true);
    sock.on('close', () => this.drop(c));
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('drain', () => this.pump(c));
    this.arm(c, now);
  }

  /**
   * The connection to close for a newcomer (of `source`, or of anyone when null): the one idle
   * the longest, else the one stalled the longest (an unfinished query, or answers not read);
   * never one whose queries are being answered.
   */
  private victim(source: string | null): Conn | null {
    let idle: Conn | null = null;
    let stalled: Conn | null = null;
    let stalledSince = Number.POSITIVE_INFINITY;
    for (const c of this.conns) {
      if (source !== null && c.source !== source) continue;
      if (isIdle(c)) {
        if (!idle || c.lastActivity < idle.lastActivity) idle = c;
        continue;
      }
      const since =
        c.unflushed > 0
          ? c.lastProgress
          : c.messageStart !== null && c.pending === 0
            ? c.messageStart
            : null;
      if (since !== null && since < stalledSince) {
        stalled = c;
        stalledSince = since;
      }
    }
    return idle ?? stalled;
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (c.closed) return;
    c.lastActivity = performance.now();
    c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
    this.pump(c);
  }

  /** True while the connection may not take another query. */
  private blocked(c: Conn): boolean {
    const s = c.sock;
    return (
      c.pending >= this.limits.maxPendingQueries ||
      s.writableNeedDrain ||
      s.writableLength >= this.limits.maxBufferedBytes
    );
  }

  /** Takes whole queries while the connection may, then pauses or resumes reading. */
  private pump(c: Conn): void {
    if (c.closed) return;
    while (!this.blocked(c) && c.buf.length >= 2) {
      const len = c.buf.readUInt16BE(0);
      if (c.buf.length < 2 + len) break;
      const msg = c.buf.subarray(2, 2 + len);
      c.buf = c.buf.length === 2 + len ? EMPTY : c.buf.subarray(2 + len);
      c.messageStart = null;
      this.dispatch(c, msg);
      if (c.closed) return;
    }
    const now = performance.now();
    const blocked = this.blocked(c);
    if (blocked && !c.paused) {
      c.paused = true;
      this.counters.pauses++;
      c.sock.pause();
    } else if (!blocked && c.paused) {
      c.paused = false;
      c.sock.resume();
      // The client may have been held up by the pause: its unfinished query gets a fresh clock.
      if (c.messageStart !== null) c.messageStart = now;
    }
    if (c.messageStart === null && c.buf.length > 0 && !wholeMessage(c.buf)) c.messageStart = now;
    this.arm(c, now);
  }

  private dispatch(c: Conn, msg: Uint8Array): void {
    const out = this.answer(msg, c.source);
    if (!(out instanceof Promise)) {
      this.send(c, out);
      return;
    }
    c.pending++;
    if (c.pending > this.counters.peakPendingQueries) this.counters.peakPendingQueries = c.pending;
    out.then(
      (r) => this.settle(c, r),
      () => this.settle(c, null),
    );
  }

  private settle(c: Conn, out: Uint8Array | null): void {
    c.pending--;
    if (c.closed) return;
    this.send(c, out);
    this.pump(c);
  }

  private send(c: Conn, out: Uint8Array | null): void {
    if (out === null) {
      this.closeFor(c, 'malformed');
      return;
    }
    const s = c.sock;
    if (s.writableLength >= this.limits.maxBufferedBytes) {
      this.closeFor(c, 'overflow');
      return;
    }
    const frame = Buffer.allocUnsafe(2 + out.length);
    frame.writeUInt16BE(out.length, 0);
    frame.set(out, 2);
    if (c.unflushed === 0) c.lastProgress = performance.now();
    c.unflushed++;
    s.write(frame, () => this.flushed(c));
    if (s.writableLength > this.counters.peakBufferedBytes)
      this.counters.peakBufferedBytes = s.writableLength;
  }

  private flushed(c: Conn): void {
    c.unflushed--;
    if (c.closed) return;
    const now = performance.now();
    c.lastProgress = now;
    c.lastActivity = now;
    if (c.unflushed === 0) this.arm(c, now);
  }

  /** Makes sure a timer runs no later than the connection's next deadline. */
  private arm(c: Conn, now: number): void {
    const due = this.nextDeadline(c);
    if (due === Number.POSITIVE_INFINITY || (c.timer && c.timerDue <= due)) return;
    if (c.timer) clearTimeout(c.timer);
    c.timerDue = due;
    c.timer = setTimeout(() => this.onTimer(c), Math.max(0, Math.ceil(due - now)));
    c.timer.unref();
  }

  private nextDeadline(c: Conn): number {
    const { messageTimeoutMs, idleTimeoutMs } = this.limits;
    let due = Number.POSITIVE_INFINITY;
    if (c.unflushed > 0) due = c.lastProgress + messageTimeoutMs;
    if (!c.paused && c.messageStart !== null)
      due = Math.min(due, c.messageStart + messageTimeoutMs);
    if (isIdle(c)) due = Math.min(due, c.lastActivity + idleTimeoutMs);
    return due;
  }

  private onTimer(c: Conn): void {
    c.timer = null;
    c.timerDue = Number.POSITIVE_INFINITY;
    if (c.closed) return;
    const now = performance.now();
    const { messageTimeoutMs, idleTimeoutMs } = this.limits;
    if (!c.paused && c.messageStart !== null && now >= c.messageStart + messageTimeoutMs)
      this.closeFor(c, 'messageTimeout');
    else if (c.unflushed > 0 && now >= c.lastProgress + messageTimeoutMs)
      this.closeFor(c, 'writeTimeout');
    else if (isIdle(c) && now >= c.lastActivity + idleTimeoutMs) this.closeFor(c, 'idle');
    else this.arm(c, now);
  }

  private closeFor(c: Conn, reason: keyof DnsTcpClosed): void {
    if (c.closed) return;
    this.counters.closed[reason]++;
    this.drop(c);
  }

  /** Forgets a connection and destroys its socket (idempotent). */
  private drop(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    c.buf = EMPTY;
    this.conns.delete(c);
    const n = (this.perSource.get(c.source) ?? 1) - 1;
    if (n > 0) this.perSource.set(c.source, n);
    else this.perSource.delete(c.source);
    c.sock.destroy();
  }
}

function isIdle(c: Conn): boolean {
  return c.buf.length === 0 && c.pending === 0 && c.unflushed === 0;
}

function wholeMessage(buf: Buffer): boolean {
  return buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0);
}

/** The source address a connection counts against (IPv4-mapped IPv6 as plain IPv4). */
function sourceOf(address: string | undefined): string | null {
  if (!address) return null;
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
