import { describe, expect, it } from 'vitest';
import { ClusterError } from '../src/index.js';
import { deletePodThrough, type PodDeleteSteps } from '../src/pod-delete.js';

/** Steps that record their calls; DEL fails `failures` times (Infinity: always). */
function recording(failures: number) {
  const calls: string[] = [];
  let dels = 0;
  const steps: PodDeleteSteps = {
    stopServer: () => calls.push('stop'),
    del: async () => {
      calls.push('del');
      if (++dels <= failures) throw new Error('podnet agent not available, try again later');
    },
    removeNetns: async () => {
      calls.push('netns');
    },
    forget: async () => {
      calls.push('forget');
    },
  };
  let t = 0;
  const clock = {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
  return { calls, steps, clock };
}

const POD = { id: 'default/web', node: 'node1' };

describe('deletePodThrough', () => {
  it('retries a failing DEL and removes the namespace and the pod only after it succeeded', async () => {
    const { calls, steps, clock } = recording(3);
    const progress: string[] = [];
    await deletePodThrough(POD, steps, { ...clock, progress: (m) => progress.push(m) });
    expect(calls).toEqual(['stop', 'del', 'del', 'del', 'del', 'netns', 'forget']);
    expect(progress).toEqual([
      'CNI DEL of pod default/web failed (attempt 1), retrying in 250 ms: podnet agent not available, try again later',
      'CNI DEL of pod default/web failed (attempt 2), retrying in 500 ms: podnet agent not available, try again later',
      'CNI DEL of pod default/web failed (attempt 3), retrying in 1000 ms: podnet agent not available, try again later',
    ]);
  });

  it('keeps the pod (and its namespace) and throws CNI_FAILED when DEL never succeeds', async () => {
    const { calls, steps, clock } = recording(Number.POSITIVE_INFINITY);
    const err = await deletePodThrough(POD, steps, { ...clock, timeoutMs: 30_000 }).catch(
      (e: unknown) => e,
    );
    expect(ClusterError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'CNI_FAILED',
      cause: expect.objectContaining({ code: 'TIMEOUT' }),
    });
    expect((err as Error).message).toMatch(
      /^CNI DEL of pod default\/web failed \d+ time\(s\) in [\d.]+ s: podnet agent not available, try again later; pod default\/web stays in the cluster state .* \(or gc node1\)$/,
    );
    expect(calls.filter((c) => c !== 'del')).toEqual(['stop']);
    expect(calls.filter((c) => c === 'del').length).toBeGreaterThan(5);
  });

  it('without an attachment skips DEL', async () => {
    const { calls, steps } = recording(0);
    await deletePodThrough(POD, { ...steps, del: undefined });
    expect(calls).toEqual(['stop', 'netns', 'forget']);
  });
});
