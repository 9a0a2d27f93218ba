import { setFlagsFromString } from 'node:v8';
import { HeapCompactor, v8FullGc } from '@podnet/host/heap-compactor';

/**
 * The Node flags podnet-dns is meant to run with (its `#!` line passes them; a launcher that
 * starts it with `node <file>` adds them itself). V8 reads them only when the heap is set up:
 * they must be on the command line, not set at run time.
 * - `--max-semi-space-size=1`: V8 grows each of the young generation's two semi-spaces up to
 *   16 MB while the zone is built and keeps them (about 30 MB resident for nothing afterwards).
 *   A query allocates little: at 30,000 QPS this costs one scavenge of 0.2 ms every 2,000
 *   queries.
 * - `--single-threaded`: no V8 helper threads for concurrent GC and compilation, whose stacks
 *   and malloc arenas hold about 8 MB; the serving path is one thread anyway (a full zone build
 *   at 10,000 names takes some 30 % longer).
 */
export const DNS_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--single-threaded'];

/**
 * The environment podnet-dns is meant to run with (its `#!` line sets it through `env -S`; a
 * launcher that starts it with `node <file>` adds it itself). glibc's malloc otherwise raises its
 * mmap threshold after the zone build frees its large buffers (the manifest text, the parse
 * worker's messages), so later allocations up to that size land in the main heap, and raises the
 * trim threshold with it (up to 2x), so the freed top of the heap stays resident: about 2.5 MB
 * at 10,000 names. Fixed thresholds keep large blocks in their own mappings, returned on free,
 * and trim the heap top beyond 128 KiB. The serving path makes no allocations that large.
 */
export const DNS_NODE_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

/** The `#!` line of podnet-dns: {@link DNS_NODE_ENV} and {@link DNS_NODE_FLAGS} through `env -S`. */
export function dnsShebang(): string {
  const env = Object.entries(DNS_NODE_ENV).map(([k, v]) => `${k}=${v}`);
  return `#!/usr/bin/env -S ${[...env, 'node', ...DNS_NODE_FLAGS].join(' ')}`;
}

/** Least heap growth (bytes) over a full zone build that is worth one full collection. */
export const COMPACT_MIN_GROWTH_BYTES = 8 * 2 ** 20;

/** How long the manifests parse worker may stay idle before it ends (ms). */
export const PARSE_WORKER_IDLE_MS = 2_000;

/**
 * A full collection that also compacts every old-generation page: a regular one frees the build's
 * garbage but leaves it spread over half-empty pages that stay resident (about 15 MB at 10,000
 * names). V8 reads the flag at each full collection; it is set for this one only.
 */
export function compactingGc(gc: () => void = v8FullGc()): () => void {
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/**
 * One compacting full collection now, whatever the heap grew by: podnet-dns runs it once after
 * it is up and the manifests parse worker has ended, for the garbage of starting up that
 * outlived the zone build's compaction: the worker's last message (the parsed manifests as
 * text, ~1.4 MB at 10,000 names in large-object pages) is held until the worker ends, and V8
 * would keep it until its next full collection. One pause of some 20 ms at that size.
 */
export function settleHeap(gc: () => void = compactingGc()): void {
  gc();
}

/** The compactor podnet-dns runs after each full zone build (see {@link HeapCompactor}). */
export function zoneCompactor(): HeapCompactor {
  return new HeapCompactor({ minGrowthBytes: COMPACT_MIN_GROWTH_BYTES, gc: compactingGc() });
}
