import { closeSync, openSync } from 'node:fs';
import { IpamError } from './errors.js';
import { type IpamNative, loadNative } from './native.js';

/** Options for {@link flockExclusive}. */
export interface FlockOptions {
  /** Give up after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** The util-linux `flock` binary (default `flock`, found on PATH). */
  flockPath?: string;
}

/**
 * How locks are taken: `native` when the optional helper `dist/ipam-native.node` (built by the
 * package's build from `native/ipam-native.c`) loads, else `child`. `PODNET_IPAM_FLOCK=child`
 * (or `PODNET_IPAM_NATIVE=off`) forces the child. Either way the lock is the same `flock(2)` lock.
 */
export function flockImplementation(): 'native' | 'child' {
  return lockHelper() ? 'native' : 'child';
}

function lockHelper(): IpamNative | null {
  return process.env.PODNET_IPAM_FLOCK === 'child' ? null : loadNative();
}

/**
 * Takes an exclusive `flock(2)` lock on `path` (created if missing) and resolves to a function
 * that releases it. Node has no flock API, so the lock is taken by a short-lived util-linux
 * `flock` child that inherits our open file description as fd 3: flock locks belong to the open
 * file description, so the lock stays held after the child exits and is released when we close
 * the descriptor, or by the kernel when this process dies (SIGKILL included). When the optional
 * native helper is present (see {@link flockImplementation}) an uncontended lock is taken with a
 * non-blocking flock(2) in-process, and only a contended one waits in the child. This is the same
 * lock host-local takes on `<dataDir>/<network>/lock`, so podnet and host-local exclude each other.
 */
export function flockExclusive(path: string, options: FlockOptions = {}): Promise<() => void> {
  const native = lockHelper();
  // opened by the helper when it is built; on failure openSync reports why
  let fd = native ? native.openLock(path) : -1;
  if (fd < 0) {
    try {
      fd = openSync(path, 'a', 0o600);
    } catch (cause) {
      return Promise.reject(
        new IpamError('STORE_FAILED', `cannot open lock file ${path}`, { cause }),
      );
    }
  }
  const timeoutS = Math.max(0, (options.timeoutMs ?? 30_000) / 1000);
  const release = () => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  };
  if (native) {
    const errno = native.tryLockExclusive(fd);
    if (errno === 0) return Promise.resolve(release);
    if (errno !== 11) {
      release();
      return Promise.reject(
        new IpamError('LOCK_FAILED', `flock ${path} failed with errno ${errno}`),
      );
    }
  }
  // child_process is loaded on first use (synchronously, without the ESM loader): the exec'd
  // plugin's VERSION never pays for it.
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(options.flockPath ?? 'flock', ['-x', '-w', String(timeoutS), '3'], {
      stdio: ['ignore', 'ignore', 'ignore', fd],
    });
    child.on('error', (cause) => {
      release();
      reject(
        new IpamError('LOCK_FAILED', `cannot run flock to lock ${path}: ${cause.message}`, {
          cause,
        }),
      );
    });
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve(release);
      release();
      const why = code === 1 ? `within ${timeoutS}s` : `(flock exited ${code ?? signal})`;
      reject(new IpamError('LOCK_FAILED', `could not lock ${path} ${why}`));
    });
  });
}
