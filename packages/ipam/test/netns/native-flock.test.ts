import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flockExclusive, flockImplementation } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'podnet-ipam-nflock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native flock helper (built by the package build)', () => {
  it('is loaded, and excludes and waits for a util-linux flock holder', async () => {
    expect(flockImplementation()).toBe('native');
    const lock = join(dir, 'lock');
    const holder = spawn('flock', [lock, '-c', 'echo held; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    await new Promise((r) => holder.stdout!.once('data', r));
    await expect(flockExclusive(lock, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'LOCK_FAILED',
    });
    const waiting = flockExclusive(lock, { timeoutMs: 30_000 });
    process.kill(-holder.pid!, 'SIGKILL');
    const release = await waiting;
    const probe = spawn('flock', ['-n', lock, 'true']);
    expect(await new Promise((r) => probe.once('exit', r))).toBe(1);
    release();
    const after = spawn('flock', ['-n', lock, 'true']);
    expect(await new Promise((r) => after.once('exit', r))).toBe(0);
  });
});
