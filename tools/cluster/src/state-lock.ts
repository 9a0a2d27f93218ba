import { spawn } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ClusterError } from './errors.js';

/** The lock file of a cluster's state, next to `state.json`. */
export const STATE_LOCK_FILE = 'state.lock';

/** Options of {@link lockClusterState}. */
export interface StateLockOptions {
  /**
   * How long to wait for another podnet command to finish (default 300 000 ms: an `apply` that
   * retries CNI ADDs for a minute holds the lock that long). Then `TIMEOUT`, naming the holder.
   */
  timeoutMs?: number;
  /** What the holder is doing, written into the lock file for the timeout message of others. */
  holder?: string;
  /** The util-linux `flock` binary (default `flock` on PATH). */
  flockPath?: string;
}

/** Releases a lock taken by {@link lockClusterState} (idempotent). */
export type ReleaseStateLock = () => void;

/**
 * Takes the exclusive lock on a cluster's state (`<runDir>/state.lock`), so that one podnet
 * command at a time reads, changes and writes `state.json`. The lock is a `flock(2)` lock: Node
 * has no flock call, so a short-lived util-linux `flock` child takes it on our open file
 * description (inherited as fd 3). flock locks belong to the open file description: the lock stays
 * held after the child exits, until we close the descriptor, and the kernel drops it when this
 * process dies (SIGKILL included), so a crashed command never leaves a stale lock behind. The same
 * technique as `@podnet/ipam`'s `flockExclusive`.
 *
 * Not reentrant: a second lock of the same state, even from this process, waits for the first.
 * Throws `NOT_FOUND` when `runDir` does not exist, `TIMEOUT` after `timeoutMs`.
 */
export async function lockClusterState(
  runDir: string,
  options: StateLockOptions = {},
): Promise<ReleaseStateLock> {
  const path = join(runDir, STATE_LOCK_FILE);
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, 'a+', 0o600);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ClusterError('NOT_FOUND', `no cluster state in ${runDir}`, { cause });
      throw new ClusterError('COMMAND_FAILED', `cannot open ${path}`, { cause });
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      try {
        closeSync(fd);
      } catch {}
    };
    try {
      await flockChild(fd, path, Math.max(0, deadline - Date.now()), options.flockPath);
    } catch (e) {
      release();
      throw e;
    }
    // `podnet down` removes the run dir (and this file) while holding the lock: a waiter then holds
    // the lock of a file no longer there. Take the lock of the file that is there now instead.
    if (sameFile(fd, path)) {
      try {
        ftruncateSync(fd);
        writeSync(fd, `${process.pid} ${options.holder ?? process.argv.slice(2).join(' ')}\n`);
      } catch {}
      return release;
    }
    release();
  }
}

/** Runs `fn` while holding the lock of {@link lockClusterState}; releases it however `fn` ends. */
export async function withClusterStateLock<T>(
  runDir: string,
  fn: () => Promise<T>,
  options: StateLockOptions = {},
): Promise<T> {
  const release = await lockClusterState(runDir, options);
  try {
    return await fn();
  } finally {
    release();
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

function flockChild(
  fd: number,
  path: string,
  timeoutMs: number,
  flockPath = 'flock',
): Promise<void> {
  const seconds = (timeoutMs / 1000).toFixed(3);
  return new Promise((resolve, reject) => {
    const child = spawn(flockPath, ['--exclusive', '--wait', seconds, '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (cause) =>
      reject(
        new ClusterError('COMMAND_FAILED', `cannot run ${flockPath}: ${cause.message}`, { cause }),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      if (code === 1) {
        let holder = '';
        try {
          holder = readFileSync(path, 'utf8').trim();
        } catch {}
        return reject(
          new ClusterError(
            'TIMEOUT',
            `the cluster state is locked by another podnet command${holder ? ` (pid ${holder})` : ''}; gave up after ${timeoutMs} ms (${path})`,
          ),
        );
      }
      reject(
        new ClusterError(
          'COMMAND_FAILED',
          `${flockPath} ${path} exited ${code ?? signal}: ${stderr.trim()}`,
        ),
      );
    });
  });
}
