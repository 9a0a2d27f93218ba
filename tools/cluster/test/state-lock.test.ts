import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockClusterState, STATE_LOCK_FILE, withClusterStateLock } from '../src/state-lock.js';

/** Whether another process could take the lock right now (`flock -n` from outside). */
const lockedFromOutside = (dir: string) =>
  spawnSync('flock', ['--nonblock', join(dir, STATE_LOCK_FILE), 'true']).status !== 0;

describe('lockClusterState', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-state-lock-'));
  });
  afterEach(() => {
    for (const c of children.splice(0)) {
      c.stdin?.end();
      c.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets one holder at a time in, also within one process, and names the holder in the file', async () => {
    const events: string[] = [];
    const releaseA = await lockClusterState(dir, { holder: 'podnet apply pods.yaml' });
    expect(lockedFromOutside(dir)).toBe(true);
    expect(readFileSync(join(dir, STATE_LOCK_FILE), 'utf8')).toBe(
      `${process.pid} podnet apply pods.yaml\n`,
    );
    const b = lockClusterState(dir).then((release) => {
      events.push('B locked');
      return release;
    });
    expect(lockedFromOutside(dir)).toBe(true); // takes a process start: B had time to get in
    events.push('A released');
    releaseA();
    const releaseB = await b;
    expect(events).toEqual(['A released', 'B locked']);
    expect(lockedFromOutside(dir)).toBe(true);
    releaseB();
    releaseB(); // idempotent
    expect(lockedFromOutside(dir)).toBe(false);
  });

  it('gives up with TIMEOUT naming the holder; a killed holder frees the lock at once (no stale lock)', async () => {
    // --close: the lock is flock's own (the command does not inherit it), so killing flock is a
    // holder that crashes; `cat` ends when its stdin is closed
    const holder = spawn('flock', ['--close', join(dir, STATE_LOCK_FILE), 'cat'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    children.push(holder);
    for (let i = 0; i < 200 && !lockedFromOutside(dir); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(lockedFromOutside(dir)).toBe(true);
    await expect(lockClusterState(dir, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining('locked by another podnet command'),
    });
    const waiting = lockClusterState(dir, { holder: 'second' });
    holder.kill('SIGKILL');
    const release = await waiting;
    expect(readFileSync(join(dir, STATE_LOCK_FILE), 'utf8')).toBe(`${process.pid} second\n`);
    release();

    const held = await lockClusterState(dir, { holder: 'podnet gc node1' });
    await expect(lockClusterState(dir, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining(`(pid ${process.pid} podnet gc node1)`),
    });
    held();
  });

  it('follows a lock file that was replaced while it waited (down, then up)', async () => {
    const events: string[] = [];
    const releaseA = await lockClusterState(dir);
    const b = lockClusterState(dir).then((release) => {
      events.push('B locked');
      return release;
    });
    // `podnet down` removes the run dir while it holds the lock; `podnet up` makes it again
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const releaseC = await lockClusterState(dir);
    events.push('A released');
    releaseA();
    expect(lockedFromOutside(dir)).toBe(true); // C holds the file that is there now
    events.push('C released');
    releaseC();
    (await b)();
    expect(events).toEqual(['A released', 'C released', 'B locked']);
  });

  it('runs a function under the lock and releases it when the function throws', async () => {
    await expect(
      withClusterStateLock(dir, async () => {
        expect(lockedFromOutside(dir)).toBe(true);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(lockedFromOutside(dir)).toBe(false);
    expect(await withClusterStateLock(dir, async () => 42)).toBe(42);
  });

  it('says NOT_FOUND when the cluster has no run dir', async () => {
    await expect(lockClusterState(join(dir, 'gone'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
