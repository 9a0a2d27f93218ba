/*
 * Entry of a UDP worker thread (started by udp-workers.ts; built to dist/udp-worker.js). It opens
 * its own SO_REUSEPORT socket on the server's address:port through the native batch path,
 * answers what the shared zone holds, and hands everything else to the main thread, which sends
 * the answer back to be sent from this socket. It imports only the native seam and the shared
 * zone reader, so a worker costs a V8 isolate and little more.
 */
import { performance } from 'node:perf_hooks';
import {
  type MessagePort,
  parentPort,
  receiveMessageOnPort,
  workerData,
} from 'node:worker_threads';
import { DNS_DURATION_BUCKETS } from './metrics.js';
import { NATIVE_IN_SLOT, NATIVE_PEER_BYTES, NativeUdpSocket } from './native-udp.js';
import { SharedZoneReader, type SharedZoneTables } from './shared-zone.js';
import {
  CONTROL_GENERATION,
  COUNTER_BUCKETS,
  COUNTER_DROPPED,
  COUNTER_DURATION_COUNT,
  COUNTER_DURATION_SUM,
  COUNTER_RCODES,
  COUNTER_SOCKET,
  COUNTER_TO_MAIN,
  COUNTER_TYPES,
  type PeerDatagram,
  packDatagrams,
  unpackDatagrams,
} from './udp-worker-protocol.js';

/** What the main thread gives a worker (its `workerData`). */
export interface UdpWorkerInit {
  readonly index: number;
  readonly address: string;
  readonly port: number;
  readonly ipv6: boolean;
  readonly batch: number;
  readonly bufferBytes: number;
  readonly counters: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly zonePort: MessagePort;
  readonly tables: SharedZoneTables | null;
  /** Whether NXDOMAIN answers of the main thread may be remembered (autopath off). */
  readonly rememberNxdomain: boolean;
}

/** Messages a worker posts to the main thread. */
export type UdpWorkerMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'error'; readonly message: string; readonly code?: string }
  | { readonly type: 'queries'; readonly packed: Uint8Array }
  | { readonly type: 'closed' };

/** Messages the main thread posts to a worker. */
export type UdpMainMessage =
  | {
      readonly type: 'answers';
      readonly packed: Uint8Array;
      /** The zone generation they were made from; 0: not to be remembered. */
      readonly generation: number;
    }
  | { readonly type: 'close' };

function run(port: MessagePort, init: UdpWorkerInit): void {
  const reader = new SharedZoneReader(init.rememberNxdomain);
  if (init.tables) reader.use(init.tables);
  const counters = new Float64Array(init.counters);
  const control = new Int32Array(init.control);
  const zonePort = init.zonePort;
  zonePort.on('message', (tables: SharedZoneTables) => reader.use(tables));

  /** Takes every table posted before the generation now published; false when one is missing. */
  const catchUp = (): boolean => {
    const want = Atomics.load(control, CONTROL_GENERATION);
    while (reader.generation < want) {
      const next = receiveMessageOnPort(zonePort);
      if (next === undefined) return false;
      reader.use(next.message as SharedZoneTables);
    }
    return true;
  };

  let output: Uint8Array = new Uint8Array(0);
  let outPos = 0;
  const alloc = (size: number): Uint8Array => {
    const at = outPos;
    if (at + size <= output.length) {
      outPos = at + size;
      return output.subarray(at, at + size);
    }
    return new Uint8Array(size);
  };

  const onBatch = (count: number, sock: NativeUdpSocket): void => {
    const started = performance.now();
    // a query read after an update was published is answered from that update's tables
    const current = catchUp();
    const { input, meta, peers } = sock;
    output = sock.output;
    outPos = 0;
    let answered = 0;
    let toMain: PeerDatagram[] | null = null;
    for (let i = 0; i < count; i++) {
      const m = i * 4;
      const len = meta[m] as number;
      if (len < 0) {
        counters[COUNTER_DROPPED] = (counters[COUNTER_DROPPED] as number) + 1;
        continue;
      }
      const msg = input.subarray(i * NATIVE_IN_SLOT, i * NATIVE_IN_SLOT + len);
      let out: Uint8Array | null = null;
      try {
        if (current) out = reader.respond(msg, true, alloc);
      } catch {
        // a query the fast path cannot take goes to the main thread, whose answer never throws
        out = null;
      }
      if (out === null) {
        toMain ??= [];
        toMain.push({ bytes: msg.slice(), peer: sock.peer(i) });
        continue;
      }
      answered++;
      const t = COUNTER_TYPES + reader.lastQtype;
      if (reader.lastQtype < 256) counters[t] = (counters[t] as number) + 1;
      const r = COUNTER_RCODES + ((out[3] as number) & 0xf);
      counters[r] = (counters[r] as number) + 1;
      if (out.buffer === output.buffer) {
        meta[m + 1] = out.byteOffset;
        meta[m + 2] = out.length;
      } else {
        sock.sendTo(out, peers.subarray(i * NATIVE_PEER_BYTES, (i + 1) * NATIVE_PEER_BYTES));
      }
    }
    if (toMain !== null) {
      counters[COUNTER_TO_MAIN] = (counters[COUNTER_TO_MAIN] as number) + toMain.length;
      const packed = packDatagrams(toMain);
      port.postMessage({ type: 'queries', packed } satisfies UdpWorkerMessage, [
        packed.buffer as ArrayBuffer,
      ]);
    }
    if (answered > 0) {
      const seconds = (performance.now() - started) / 1000;
      counters[COUNTER_DURATION_SUM] =
        (counters[COUNTER_DURATION_SUM] as number) + seconds * answered;
      counters[COUNTER_DURATION_COUNT] = (counters[COUNTER_DURATION_COUNT] as number) + answered;
      for (let b = 0; b < DNS_DURATION_BUCKETS.length; b++) {
        if (seconds <= (DNS_DURATION_BUCKETS[b] as number)) {
          counters[COUNTER_BUCKETS + b] = (counters[COUNTER_BUCKETS + b] as number) + answered;
          break;
        }
      }
    }
    socketCounters(sock);
  };

  const socketCounters = (sock: NativeUdpSocket): void => {
    sock.statsInto(counters, COUNTER_SOCKET);
  };

  let sock: NativeUdpSocket;
  try {
    sock = NativeUdpSocket.open(
      init.address,
      init.port,
      { ipv6: init.ipv6, batch: init.batch, bufferBytes: init.bufferBytes, reusePort: true },
      onBatch,
    );
  } catch (err) {
    const e = err as { message?: string; code?: string };
    port.postMessage({
      type: 'error',
      message: String(e.message ?? err),
      code: e.code,
    } satisfies UdpWorkerMessage);
    return;
  }
  port.on('message', (m: UdpMainMessage) => {
    if (m.type === 'answers') {
      for (const a of unpackDatagrams(m.packed)) {
        sock.sendTo(a.bytes, a.peer);
        // a negative answer of the zone is answered here next time (until the next update)
        if (m.generation > 0) reader.remember(a.bytes, m.generation);
      }
      socketCounters(sock);
    } else if (m.type === 'close') {
      sock.close();
      zonePort.close();
      port.postMessage({ type: 'closed' } satisfies UdpWorkerMessage);
    }
  });
  port.postMessage({ type: 'listening', port: sock.port } satisfies UdpWorkerMessage);
}

if (parentPort !== null && workerData?.zonePort !== undefined)
  run(parentPort, workerData as UdpWorkerInit);
