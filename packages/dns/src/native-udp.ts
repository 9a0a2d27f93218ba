import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How a {@link DnsServer} receives and answers UDP: the native batch path or `node:dgram`. */
export type UdpPath = 'native' | 'dgram';

/** Bytes of one received datagram slot; longer datagrams are dropped (DNS queries are small). */
export const NATIVE_IN_SLOT = 4096;
/** Bytes of one sender address slot (a `sockaddr_in6`). */
export const NATIVE_PEER_BYTES = 28;

interface NativeOpen {
  handle: object;
  port: number;
  input: ArrayBuffer;
  output: ArrayBuffer;
  meta: ArrayBuffer;
  peers: ArrayBuffer;
  stats: ArrayBuffer;
}

interface NativeBinding {
  open(
    ipv6: boolean,
    address: string,
    port: number,
    batch: number,
    outBytes: number,
    recvBufBytes: number,
    sendBufBytes: number,
    onBatch: (count: number) => void,
    reusePort: boolean,
  ): NativeOpen;
  send(handle: object, bytes: Uint8Array, peer: Uint8Array): number;
  close(handle: object): void;
  releasePages?(start: number, length: number): number;
}

let binding: NativeBinding | null | undefined;

function loadBinding(): NativeBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  // dist/*.js sit next to dns-udp.node; dist/bin/ one level down; src/ reaches into ../dist/
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['./dns-udp.node', '../dns-udp.node', '../dist/dns-udp.node']) {
    try {
      const mod = { exports: {} as NativeBinding };
      process.dlopen(mod, join(here, rel));
      if (typeof mod.exports.open === 'function') {
        binding = mod.exports;
        break;
      }
    } catch {
      // not built here: try the next place, then fall back to node:dgram
    }
  }
  return binding;
}

/**
 * madvise(MADV_DONTNEED) over `[start, start + length)` through the native helper: 0, the errno,
 * or `null` when the helper is not built (or is an older build without it). Only for ranges
 * `releasableMappings` (working-set.ts) chose: anywhere else it throws away memory in use.
 */
export function nativeReleasePages(start: number, length: number): number | null {
  const b = loadBinding();
  if (!b || typeof b.releasePages !== 'function') return null;
  return b.releasePages(start, length);
}

/**
 * Whether the native UDP fast path (`dist/dns-udp.node`, built by the package's build from
 * `native/udp.c`) is available in this process. `PODNET_DNS_UDP=dgram` in the environment
 * makes servers choose `dgram` by default even when it is.
 */
export function nativeUdpAvailable(): boolean {
  return loadBinding() !== null;
}

/** Counters of a native UDP socket. */
export interface NativeUdpStats {
  /** Datagrams received. */
  datagrams: number;
  /** recvmmsg calls that returned datagrams (each one JavaScript call). */
  batches: number;
  /** Most datagrams one recvmmsg call returned. */
  largestBatch: number;
  /** Answers sent. */
  sent: number;
  /** Answers the kernel refused (full send buffer, unreachable peer). */
  sendErrors: number;
  /** Datagrams longer than {@link NATIVE_IN_SLOT}, dropped. */
  truncated: number;
}

/**
 * Called once per batch. Answer datagram `i` by writing it into `output` and setting
 * `meta[i*4+1]` (offset) and `meta[i*4+2]` (length); leave the length at -1 for no answer.
 * `meta[i*4]` is the datagram's length (-1: dropped, too long).
 */
export type NativeBatchHandler = (count: number, socket: NativeUdpSocket) => void;

/** A UDP socket served by the native batch path (see `native/udp.c`). */
export class NativeUdpSocket {
  /** The bound port. */
  readonly port: number;
  /** Received datagrams, slot `i` at `i * NATIVE_IN_SLOT`. */
  readonly input: Uint8Array;
  /** Answers of the current batch. */
  readonly output: Uint8Array;
  /** Per datagram: length, answer offset, answer length, unused. */
  readonly meta: Int32Array;
  /** Per datagram: the sender's socket address. */
  readonly peers: Uint8Array;
  private readonly statsView: Float64Array;
  private handle: object | null;
  private readonly native: NativeBinding;

  private constructor(native: NativeBinding, opened: NativeOpen) {
    this.native = native;
    this.handle = opened.handle;
    this.port = opened.port;
    this.input = new Uint8Array(opened.input);
    this.output = new Uint8Array(opened.output);
    this.meta = new Int32Array(opened.meta);
    this.peers = new Uint8Array(opened.peers);
    this.statsView = new Float64Array(opened.stats);
  }

  /**
   * Binds `address:port` and starts polling. Throws when the addon is not built, or the
   * bind fails (the error has `code` `EADDRINUSE` for a taken port). With `reusePort` the
   * socket sets SO_REUSEPORT before binding, so several sockets (one per worker thread, each
   * opened in its own thread) share the address and the kernel spreads senders over them.
   */
  static open(
    address: string,
    port: number,
    options: { ipv6: boolean; batch: number; bufferBytes: number; reusePort?: boolean },
    onBatch: NativeBatchHandler,
  ): NativeUdpSocket {
    const native = loadBinding();
    if (!native) throw new Error('the native UDP fast path is not built');
    let socket: NativeUdpSocket | null = null;
    const opened = native.open(
      options.ipv6,
      address,
      port,
      options.batch,
      options.batch * 2048,
      options.bufferBytes,
      options.bufferBytes,
      (count) => {
        if (socket) onBatch(count, socket);
      },
      options.reusePort === true,
    );
    socket = new NativeUdpSocket(native, opened);
    return socket;
  }

  /** Copies the sender address of datagram `i` (to answer it later with {@link sendTo}). */
  peer(i: number): Uint8Array {
    return this.peers.slice(i * NATIVE_PEER_BYTES, (i + 1) * NATIVE_PEER_BYTES);
  }

  /** Sends one datagram now to a peer from {@link peer}; returns 0 or an errno. */
  sendTo(bytes: Uint8Array, peer: Uint8Array): number {
    if (!this.handle) return 9; // EBADF
    return this.native.send(this.handle, bytes, peer);
  }

  /** The socket's counters. */
  stats(): NativeUdpStats {
    const s = this.statsView;
    return {
      datagrams: s[0] as number,
      batches: s[1] as number,
      largestBatch: s[2] as number,
      sent: s[3] as number,
      sendErrors: s[4] as number,
      truncated: s[5] as number,
    };
  }

  /**
   * Copies the socket's counters, in {@link NativeUdpSocket.stats}' order (datagrams, batches,
   * largest batch, sent, send errors, truncated), into `target` from index `at`, with no object
   * made: a worker does it after every batch.
   */
  statsInto(target: Float64Array, at: number): void {
    target.set(this.statsView, at);
  }

  /** Closes the socket (the port is free when this returns). Idempotent. */
  close(): void {
    const h = this.handle;
    this.handle = null;
    if (h) this.native.close(h);
  }
}
