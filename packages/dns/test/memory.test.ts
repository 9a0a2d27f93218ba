import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  COMPACT_MIN_GROWTH_BYTES,
  DNS_NODE_FLAGS,
  dnsShebang,
  settleHeap,
  zoneCompactor,
} from '../src/memory.js';

describe('podnet-dns memory settings', () => {
  it('the #! line of podnet-dns sets DNS_NODE_ENV and passes DNS_NODE_FLAGS to node', () => {
    const first = readFileSync(new URL('../src/bin/podnet-dns.ts', import.meta.url), 'utf8').split(
      '\n',
    )[0];
    expect(first).toBe(dnsShebang());
    expect(first).toBe(
      `#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node ${DNS_NODE_FLAGS.join(' ')}`,
    );
  });

  it('settleHeap runs the full collection it is given, once per call', () => {
    let runs = 0;
    settleHeap(() => {
      runs++;
    });
    expect(runs).toBe(1);
    // the default: a real compacting collection that leaves live data in place
    const live = Array.from({ length: 1000 }, (_, i) => ({ i }));
    settleHeap();
    expect(live[999]?.i).toBe(999);
  });

  it('the zone compactor collects once the heap grew by the threshold', () => {
    const c = zoneCompactor();
    const keep: number[][] = [];
    // grow the heap by more than the threshold with live data: a compaction runs and reports
    while (keep.length * 8 * 1024 < COMPACT_MIN_GROWTH_BYTES * 1.5)
      keep.push(new Array(1024).fill(keep.length + 0.5));
    const done = c.afterBulk();
    expect(done).toBeDefined();
    expect(c.stats.compactions).toBe(1);
    // right after, no growth: nothing to do
    expect(c.afterBulk()).toBeUndefined();
    expect(keep.length).toBeGreaterThan(0);
  });
});
