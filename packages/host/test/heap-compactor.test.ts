import { describe, expect, it } from 'vitest';
import { HeapCompactor, v8FullGc } from '../src/heap-compactor.js';

describe('HeapCompactor', () => {
  it('collects only when the heap grew by the threshold since the last collection', () => {
    let used = 100;
    let collections = 0;
    const c = new HeapCompactor({
      minGrowthBytes: 50,
      heapUsed: () => used,
      gc: () => {
        collections++;
        used = Math.round(used * 0.6);
      },
    });
    used = 140;
    expect(c.afterBulk()).toBeUndefined();
    used = 150;
    const done = c.afterBulk();
    expect(done).toMatchObject({ beforeBytes: 150, afterBytes: 90 });
    expect(collections).toBe(1);
    // the baseline is what the collection left: growth counts from 90
    used = 130;
    expect(c.afterBulk()).toBeUndefined();
    used = 140;
    expect(c.afterBulk()).toMatchObject({ beforeBytes: 140, afterBytes: 84 });
    expect(c.stats.compactions).toBe(2);
    expect(c.stats.lastFreedBytes).toBe(56);
  });

  it("reaches V8's own full collection, which frees garbage", () => {
    const gc = v8FullGc();
    let junk: string[] | undefined = Array.from({ length: 200_000 }, (_, i) => `x${i}`.repeat(8));
    const before = process.memoryUsage().heapUsed;
    junk = undefined;
    gc();
    expect(junk).toBeUndefined();
    expect(process.memoryUsage().heapUsed).toBeLessThan(before - 10 * 2 ** 20);
  });
});
