import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What one compaction did. */
export interface Compaction {
  /** Heap in use (bytes) before and after. */
  readonly beforeBytes: number;
  readonly afterBytes: number;
  /** The pause, in milliseconds. */
  readonly ms: number;
}

/** Options of a {@link HeapCompactor}. */
export interface HeapCompactorOptions {
  /** Compact only when the heap grew by this much since the last compaction (default 64 MiB). */
  readonly minGrowthBytes?: number;
  /** The full collection (default: V8's own `gc`, made reachable once). */
  readonly gc?: () => void;
  /** Heap in use, in bytes (default `process.memoryUsage().heapUsed`). */
  readonly heapUsed?: () => number;
}

let v8Gc: (() => void) | undefined;

/** V8's full collection, made reachable at run time (as `node --expose-gc` would). */
export function v8FullGc(): () => void {
  if (!v8Gc) {
    setFlagsFromString('--expose-gc');
    v8Gc = runInNewContext('gc') as () => void;
  }
  return v8Gc;
}

/**
 * Collects the garbage a bulk load leaves behind (the node agent's full resync at 10,000
 * Services builds hundreds of MB of lists, fragments and transaction text that are garbage once
 * the kernel holds them; podnet-dns's full zone build tens of MB) right after the load, while the
 * process is idle: without it the memory stays resident until V8 next collects, and the next
 * event pays for that collection's pause.
 * One pause (tens of ms at that size), only when the heap grew by `minGrowthBytes` since the last
 * compaction.
 */
export class HeapCompactor {
  private readonly minGrowth: number;
  private readonly gc: () => void;
  private readonly heapUsed: () => number;
  private baseline: number;
  /** Compactions done, and their total pause. */
  readonly stats = { compactions: 0, seconds: 0, lastFreedBytes: 0 };

  constructor(options: HeapCompactorOptions = {}) {
    this.minGrowth = options.minGrowthBytes ?? 64 * 2 ** 20;
    this.gc = options.gc ?? v8FullGc();
    this.heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.baseline = this.heapUsed();
  }

  /** Compacts when the heap grew enough since the last compaction; `undefined` when it did not. */
  afterBulk(): Compaction | undefined {
    const beforeBytes = this.heapUsed();
    if (beforeBytes - this.baseline < this.minGrowth) return undefined;
    const t0 = performance.now();
    this.gc();
    const ms = performance.now() - t0;
    const afterBytes = this.heapUsed();
    this.baseline = afterBytes;
    this.stats.compactions++;
    this.stats.seconds += ms / 1000;
    this.stats.lastFreedBytes = Math.max(0, beforeBytes - afterBytes);
    return { beforeBytes, afterBytes, ms };
  }
}
