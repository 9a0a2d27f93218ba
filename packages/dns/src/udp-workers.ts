import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { DnsError } from './errors.js';
import { DNS_DURATION_BUCKETS, type DnsMetrics } from './metrics.js';
import type { SharedZoneTables } from './shared-zone.js';
import {
  CONTROL_GENERATION,
  CONTROL_SLOTS,
  COUNTER_BUCKETS,
  COUNTER_DROPPED,
  COUNTER_DURATION_COUNT,
  COUNTER_DURATION_SUM,
  COUNTER_RCODES,
  COUNTER_SLOTS,
  COUNTER_TYPES,
  type PeerDatagram,
  type UdpWorkerStats,
  packDatagrams,
  unpackDatagrams,
  workerStats,
} from './udp-worker-protocol.js';
import type { UdpMainMessage, UdpWorkerInit, UdpWorkerMessage } from './udp-worker.js';

/** Answers one query the workers could not (on the main thread); null: no answer. */
export type MainThreadAnswer = (
  msg: Uint8Array,
  peer: Uint8Array,
) => Uint8Array | null | Promise<Uint8Array | null>;

/** Options of {@link UdpWorkerPool.start}. */
export interface UdpWorkerPoolOptions {
  readonly workers: number;
  readonly address: string;
  /** 0 picks a free port (the first worker's), which the others then share. */
  readonly port: number;
  readonly ipv6: boolean;
  readonly batch: number;
  readonly bufferBytes: number;
  /** The zone the workers start with (null before the first sync). */
  readonly tables: SharedZoneTables | null;
  /** Whether workers may remember NXDOMAIN answers of the main thread (false with autopath). */
  readonly rememberNxdomain: boolean;
  readonly answer: MainThreadAnswer;
}

/** Longest wait before starting a worker again after it ended on its own. */
const MAX_RESTART_DELAY_MS = 5000;

interface WorkerSlot {
  readonly index: number;
  readonly worker: Worker;
  readonly zonePort: MessagePort;
  readonly counters: Float64Array;
  /** The counters already added to the server's metrics. */
  readonly folded: Float64Array;
}

/** Where the built worker entry is: next to this module in dist/, or dist/ seen from src/. */
function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['./udp-worker.js', '../udp-worker.js', '../dist/udp-worker.js']) {
    const file = join(here, rel);
    if (existsSync(file)) return file;
  }
  throw new DnsError(
    'BIND_FAILED',
    'the UDP worker entry (dist/udp-worker.js) is not built: build @podnet/dns',
    { field: 'udpWorkers' },
  );
}

/**
 * UDP served by worker threads, each with its own SO_REUSEPORT socket on one address:port (the
 * kernel spreads senders over them), all reading one copy of the prepared zone in shared memory
 * ({@link SharedZoneTables}). Queries a worker has no prepared answer for (negative answers,
 * forwarding, autopath, ExternalName, answer hook) come to the main thread, whose answer the
 * worker sends. Zone updates: {@link publish} posts the new tables to every worker and then
 * raises the published generation, which each worker checks before every batch.
 */
export class UdpWorkerPool {
  /** The shared port. */
  readonly port: number;
  private readonly slots: WorkerSlot[];
  private readonly control: Int32Array;
  private closed = false;
  /** The tables last published (what a restarted worker starts from). */
  private latest: SharedZoneTables | null;
  /** Ended workers whose counters are not folded into the metrics yet. */
  private retired: WorkerSlot[] = [];
  /** Restarts in a row per worker index (reset once a restarted worker has served a minute). */
  private readonly failures = new Map<number, number>();
  /** Workers that ended on their own (not by {@link close}) and were started again. */
  restarts = 0;

  private constructor(
    port: number,
    slots: WorkerSlot[],
    control: Int32Array,
    private readonly file: string,
    private readonly options: UdpWorkerPoolOptions,
  ) {
    this.port = port;
    this.slots = slots;
    this.control = control;
    this.latest = options.tables;
    for (const slot of slots) this.supervise(slot);
  }

  /** The generation last published (what the main thread answers from now). */
  get generation(): number {
    return Atomics.load(this.control, CONTROL_GENERATION);
  }

  /** Starts the workers; resolves once every one is listening (rejects and stops them if one fails). */
  static async start(options: UdpWorkerPoolOptions): Promise<UdpWorkerPool> {
    const file = workerFile();
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
    if (options.tables) Atomics.store(control, CONTROL_GENERATION, options.tables.generation);
    const slots: WorkerSlot[] = [];
    let port = options.port;
    // the first worker picks the port when it is 0; the others start together (a worker's
    // start, a V8 isolate and its modules, takes ~150-400 ms on a busy 2-CPU machine)
    const first = port === 0 ? 1 : 0;
    let failed: unknown;
    if (first === 1) {
      const started = await startWorker(file, 0, port, control, options);
      slots.push(started.slot);
      port = started.port;
    }
    const rest = await Promise.allSettled(
      Array.from({ length: options.workers - first }, (_, i) =>
        startWorker(file, first + i, port, control, options),
      ),
    );
    for (const r of rest) {
      if (r.status === 'fulfilled') slots.push(r.value.slot);
      else failed ??= r.reason;
    }
    if (failed !== undefined) {
      await Promise.all(slots.map((s) => stopWorker(s)));
      throw failed;
    }
    slots.sort((a, b) => a.index - b.index);
    return new UdpWorkerPool(port, slots, control, file, options);
  }

  /**
   * Starts a worker again when it ends on its own (an uncaught error, a terminated thread): its
   * socket closed with it and the kernel sends its share of the port to the others meanwhile.
   * Retries back off from 100 ms to {@link MAX_RESTART_DELAY_MS}.
   */
  private supervise(slot: WorkerSlot): void {
    slot.worker.once('exit', () => {
      if (this.closed || !this.slots.includes(slot)) return;
      this.retired.push(slot);
      slot.zonePort.close();
      const n = (this.failures.get(slot.index) ?? 0) + 1;
      this.failures.set(slot.index, n);
      const delay = Math.min(100 * 2 ** (n - 1), MAX_RESTART_DELAY_MS);
      setTimeout(() => void this.restart(slot), delay).unref();
    });
  }

  private async restart(old: WorkerSlot): Promise<void> {
    if (this.closed) return;
    const tables = this.latest;
    let started: { slot: WorkerSlot };
    try {
      started = await startWorker(this.file, old.index, this.port, this.control, {
        ...this.options,
        tables,
      });
    } catch {
      const n = (this.failures.get(old.index) ?? 0) + 1;
      this.failures.set(old.index, n);
      const delay = Math.min(100 * 2 ** (n - 1), MAX_RESTART_DELAY_MS);
      setTimeout(() => void this.restart(old), delay).unref();
      return;
    }
    const slot = started.slot;
    if (this.closed) {
      await stopWorker(slot);
      return;
    }
    this.slots[this.slots.indexOf(old)] = slot;
    this.restarts++;
    // an update published while it started did not reach it
    if (this.latest !== tables && this.latest) slot.zonePort.postMessage(this.latest);
    this.supervise(slot);
    setTimeout(() => {
      if (this.slots.includes(slot)) this.failures.delete(slot.index);
    }, 60_000).unref();
  }

  /** Ends worker `index` as a crash would (tests): the pool starts it again. */
  async terminate(index: number): Promise<void> {
    await this.slots.find((s) => s.index === index)?.worker.terminate();
  }

  /** Number of workers. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Hands every worker new tables: posted first, then the generation is published, so a worker
   * that reads a datagram after this returns answers it from these tables.
   */
  publish(tables: SharedZoneTables): void {
    if (this.closed) return;
    this.latest = tables;
    for (const s of this.slots) {
      try {
        s.zonePort.postMessage(tables);
      } catch {
        // the worker has just ended: its replacement starts from the latest tables
      }
    }
    Atomics.store(this.control, CONTROL_GENERATION, tables.generation);
  }

  /** Each worker's counters (a restarted worker's start from 0). */
  stats(): UdpWorkerStats[] {
    return this.slots.map((s) => workerStats(s.counters));
  }

  /** Adds what the workers counted since the last call to `metrics`. */
  foldInto(metrics: DnsMetrics): void {
    const retired = this.retired;
    this.retired = [];
    for (const s of [...retired, ...this.slots]) {
      const now = s.counters.slice();
      const d = (i: number): number => (now[i] as number) - (s.folded[i] as number);
      const delta = (from: number, n: number): number[] =>
        Array.from({ length: n }, (_, i) => d(from + i));
      metrics.add({
        udpTypes: delta(COUNTER_TYPES, 256),
        responses: delta(COUNTER_RCODES, 16),
        buckets: delta(COUNTER_BUCKETS, DNS_DURATION_BUCKETS.length),
        durationSum: d(COUNTER_DURATION_SUM),
        durationCount: d(COUNTER_DURATION_COUNT),
        dropped: d(COUNTER_DROPPED),
      });
      s.folded.set(now);
    }
  }

  /** Stops every worker; their sockets are closed when this resolves. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => stopWorker(s)));
  }
}

async function startWorker(
  file: string,
  index: number,
  port: number,
  control: Int32Array,
  options: UdpWorkerPoolOptions,
): Promise<{ slot: WorkerSlot; port: number }> {
  const counters = new Float64Array(new SharedArrayBuffer(COUNTER_SLOTS * 8));
  const channel = new MessageChannel();
  const init: UdpWorkerInit = {
    index,
    address: options.address,
    port,
    ipv6: options.ipv6,
    batch: options.batch,
    bufferBytes: options.bufferBytes,
    counters: counters.buffer as SharedArrayBuffer,
    control: control.buffer as SharedArrayBuffer,
    zonePort: channel.port2,
    tables: options.tables,
    rememberNxdomain: options.rememberNxdomain,
  };
  const worker = new Worker(file, {
    workerData: init,
    transferList: [channel.port2],
    name: `podnet-dns-udp-${index}`,
  });
  const slot: WorkerSlot = {
    index,
    worker,
    zonePort: channel.port1,
    counters,
    folded: new Float64Array(COUNTER_SLOTS),
  };
  const bound = await new Promise<number>((resolve, reject) => {
    const onExit = (code: number): void =>
      reject(new DnsError('BIND_FAILED', `UDP worker ${index} exited with ${code}`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (m: UdpWorkerMessage) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      if (m.type === 'listening') resolve(m.port);
      else if (m.type === 'error')
        reject(
          new DnsError(
            'BIND_FAILED',
            `UDP worker ${index}: cannot bind ${options.address}:${port}: ${m.message}`,
            { cause: Object.assign(new Error(m.message), { code: m.code }) },
          ),
        );
      else reject(new DnsError('BIND_FAILED', `UDP worker ${index} did not start`));
    });
  }).catch(async (err) => {
    await worker.terminate();
    channel.port1.close();
    throw err;
  });
  worker.on('error', () => undefined);
  worker.on('message', (m: UdpWorkerMessage) => {
    if (m.type === 'queries')
      answerOnMain(worker, m.packed, options.answer, Atomics.load(control, CONTROL_GENERATION));
  });
  return { slot, port: bound };
}

/**
 * Answers queries a worker handed over; the answers go back to it, those ready now in one
 * message tagged with the zone generation they were made from (answered synchronously, after
 * the last update was published), so the worker may remember negative ones for that zone.
 */
function answerOnMain(
  worker: Worker,
  packed: Uint8Array,
  answer: MainThreadAnswer,
  generation: number,
): void {
  const ready: PeerDatagram[] = [];
  for (const q of unpackDatagrams(packed)) {
    let out: Uint8Array | null | Promise<Uint8Array | null>;
    try {
      out = answer(q.bytes, q.peer);
    } catch {
      out = null;
    }
    if (out === null) continue;
    if (out instanceof Promise) {
      const peer = q.peer.slice();
      out.then(
        (r) => r && send(worker, [{ bytes: r, peer }], 0),
        () => undefined,
      );
      continue;
    }
    ready.push({ bytes: out, peer: q.peer });
  }
  if (ready.length) send(worker, ready, generation);
}

function send(worker: Worker, answers: PeerDatagram[], generation: number): void {
  const packed = packDatagrams(answers);
  try {
    worker.postMessage({ type: 'answers', packed, generation } satisfies UdpMainMessage, [
      packed.buffer as ArrayBuffer,
    ]);
  } catch {
    // the worker has ended (the server is stopping): the answer is dropped
  }
}

async function stopWorker(s: WorkerSlot): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    const done = (): void => resolve();
    s.worker.on('message', (m: UdpWorkerMessage) => {
      if (m.type === 'closed') done();
    });
    s.worker.once('exit', done);
    setTimeout(done, 2000).unref();
  });
  try {
    s.worker.postMessage({ type: 'close' } satisfies UdpMainMessage);
  } catch {
    // already gone
  }
  await closed;
  s.zonePort.close();
  await s.worker.terminate();
}

/** Per-worker lines for /metrics (the totals are in the server's own families). */
export function renderWorkerMetrics(stats: readonly UdpWorkerStats[], restarts = 0): string {
  const lines: string[] = [];
  const family = (
    name: string,
    type: string,
    help: string,
    value: (s: UdpWorkerStats) => number,
  ): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [i, s] of stats.entries()) lines.push(`${name}{worker="${i}"} ${value(s)}`);
  };
  lines.push(
    '# HELP podnet_dns_udp_workers UDP worker threads (SO_REUSEPORT sockets) serving the port.',
    '# TYPE podnet_dns_udp_workers gauge',
    `podnet_dns_udp_workers ${stats.length}`,
    '# HELP podnet_dns_udp_worker_restarts_total UDP worker threads that ended on their own and were started again.',
    '# TYPE podnet_dns_udp_worker_restarts_total counter',
    `podnet_dns_udp_worker_restarts_total ${restarts}`,
  );
  family(
    'podnet_dns_udp_worker_datagrams_total',
    'counter',
    "Datagrams a UDP worker's socket received.",
    (s) => s.datagrams,
  );
  family(
    'podnet_dns_udp_worker_answered_total',
    'counter',
    'Queries a UDP worker answered from the shared zone itself.',
    (s) => s.answered,
  );
  family(
    'podnet_dns_udp_worker_to_main_total',
    'counter',
    'Queries a UDP worker handed to the main thread (negative answers, forwarding, autopath, ...).',
    (s) => s.toMain,
  );
  family(
    'podnet_dns_udp_worker_sent_total',
    'counter',
    "Answers sent from a UDP worker's socket.",
    (s) => s.sent,
  );
  return `${lines.join('\n')}\n`;
}
