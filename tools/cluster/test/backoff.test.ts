import { describe, expect, it } from 'vitest';
import { retryWithBackoff } from '../src/backoff.js';
import { ClusterError } from '../src/index.js';

/** A fake clock: `sleep` advances it and records each pause. */
function clock() {
  let t = 1_000;
  const pauses: number[] = [];
  return {
    pauses,
    now: () => t,
    sleep: async (ms: number) => {
      pauses.push(ms);
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('retryWithBackoff', () => {
  it('retries with doubling pauses until the attempt succeeds, telling about each failure', async () => {
    const c = clock();
    const retries: Array<[string, number, number]> = [];
    let n = 0;
    const result = await retryWithBackoff(
      async () => {
        if (++n < 4) throw new Error(`no ${n}`);
        return 'done';
      },
      {
        what: 'DEL',
        timeoutMs: 60_000,
        now: c.now,
        sleep: c.sleep,
        onRetry: (e, attempt, delay) => retries.push([(e as Error).message, attempt, delay]),
      },
    );
    expect(result).toBe('done');
    expect(c.pauses).toEqual([250, 500, 1000]);
    expect(retries).toEqual([
      ['no 1', 1, 250],
      ['no 2', 2, 500],
      ['no 3', 3, 1000],
    ]);
  });

  it('caps the pause at maxDelayMs', async () => {
    const c = clock();
    let n = 0;
    await retryWithBackoff(
      async () => {
        if (++n < 7) throw new Error('no');
      },
      { what: 'x', timeoutMs: 60_000, maxDelayMs: 1500, now: c.now, sleep: c.sleep },
    );
    expect(c.pauses).toEqual([250, 500, 1000, 1500, 1500, 1500]);
  });

  it('gives up with TIMEOUT once the next attempt would start after timeoutMs, keeping the last error', async () => {
    const c = clock();
    const last = new Error('agent socket refused');
    let attempts = 0;
    const err = await retryWithBackoff(
      async () => {
        attempts++;
        c.advance(10); // each attempt takes a little time
        throw last;
      },
      { what: 'CNI DEL of pod default/web', timeoutMs: 1_000, now: c.now, sleep: c.sleep },
    ).catch((e: unknown) => e);
    // 250 + 500 of pauses and three 10 ms attempts; the next pause (1000) would end past 1 s
    expect(attempts).toBe(3);
    expect(c.pauses).toEqual([250, 500]);
    expect(ClusterError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'TIMEOUT',
      message: 'CNI DEL of pod default/web failed 3 time(s) in 0.8 s: agent socket refused',
      cause: last,
    });
  });

  it('with no time to retry, tries exactly once', async () => {
    const c = clock();
    let attempts = 0;
    await expect(
      retryWithBackoff(
        async () => {
          attempts++;
          throw new Error('no');
        },
        { what: 'x', timeoutMs: 0, now: c.now, sleep: c.sleep },
      ),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(attempts).toBe(1);
    expect(c.pauses).toEqual([]);
  });
});
