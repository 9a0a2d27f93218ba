import { describe, expect, it } from 'vitest';
import { ApplyScheduler } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ApplyScheduler', () => {
  it('keeps one retry pending after failures, whatever else triggers runs (no retry chains)', async () => {
    let runs = 0;
    const s = new ApplyScheduler(
      async () => {
        runs++;
        return { failed: true, full: false };
      },
      { retryMinMs: 40, retryMaxMs: 160 },
    );
    // one failing object and twelve unrelated changes, as in the issue
    for (let i = 0; i < 12; i++) {
      await s.trigger();
      await sleep(5);
    }
    const afterChanges = runs;
    expect(afterChanges).toBeGreaterThanOrEqual(12);
    await sleep(700);
    // with one pending retry and backoff 40, 80, 160, 160... at most ~6 retries run in 700 ms;
    // a chain per failure (the old behaviour) would run dozens
    const retried = runs - afterChanges;
    expect(retried).toBeGreaterThan(1);
    expect(retried).toBeLessThanOrEqual(7);
    expect(s.pendingRetryMs).toBeLessThanOrEqual(160);
    await s.stop();
    const stopped = runs;
    await sleep(300);
    expect(runs).toBe(stopped);
  });

  it('coalesces everything that arrives while an apply runs into one more run', async () => {
    let runs = 0;
    let release!: () => void;
    const s = new ApplyScheduler(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
      return { failed: false, full: false };
    });
    void s.trigger();
    await sleep(5);
    for (let i = 0; i < 50; i++) void s.trigger();
    release();
    await s.trigger();
    expect(runs).toBe(2);
    await s.stop();
  });

  it('runs full resyncs at most once per minFullSyncMs, coalescing requests between', async () => {
    let now = 0;
    const fulls: number[] = [];
    const s = new ApplyScheduler(
      async () => {
        fulls.push(now);
        return { failed: false, full: true };
      },
      { minFullSyncMs: 1000, now: () => now },
    );
    s.requestFull();
    await sleep(5);
    expect(fulls).toEqual([0]);
    now = 30;
    s.requestFull();
    s.requestFull();
    s.requestFull();
    await sleep(5);
    expect(fulls).toEqual([0]); // too soon: one timer for all three
    now = 2000;
    s.requestFull();
    await sleep(5);
    expect(fulls).toEqual([0, 2000]);
    await s.stop();
  });

  it('resets the backoff after a success', async () => {
    let fail = true;
    const s = new ApplyScheduler(async () => ({ failed: fail, full: false }), {
      retryMinMs: 20,
      retryMaxMs: 1000,
    });
    await s.trigger();
    await sleep(100); // retries at 20, 40 (+ pending 80)
    expect(s.pendingRetryMs).toBeGreaterThanOrEqual(40);
    fail = false;
    await sleep(600);
    expect(s.pendingRetryMs).toBe(0);
    fail = true;
    await s.trigger();
    expect(s.pendingRetryMs).toBe(20);
    await s.stop();
  });
});
