import { spawn } from 'node:child_process';
import { HostError } from './errors.js';
import { assertNetnsName, assertNetnsPath } from './validate.js';

/** A network namespace, by `ip netns` name (`/run/netns/NAME`) or by path (`/proc/PID/ns/net`). */
export type NetnsTarget = { readonly name: string } | { readonly path: string };

/** One process to run: argv (no shell), optional stdin, optional namespace. */
export interface RunRequest {
  readonly argv: readonly string[];
  readonly stdin?: string;
  readonly netns?: NetnsTarget;
  /** Kill the process after this many milliseconds (default 30 000). */
  readonly timeoutMs?: number;
  /**
   * Run at this CPU niceness (an integer, -20..19; `nice -n N`), e.g. 19 for periodic
   * housekeeping that must never take CPU from the caller's own event path.
   */
  readonly nice?: number;
}

/** What a finished process left behind. A non-zero `code` is not an error at this level. */
export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** The one port through which podnet runs host tools; swap in `RecordingRunner` for tests. */
export interface Runner {
  run(request: RunRequest): Promise<RunResult>;
}

/** The filesystem path of a namespace target (validated). */
export function netnsPath(target: NetnsTarget): string {
  return 'name' in target
    ? `/run/netns/${assertNetnsName(target.name)}`
    : assertNetnsPath(target.path);
}

/**
 * The argv actually executed for a request: `nsenter --net=PATH -- argv` inside a namespace,
 * behind `nice -n N` when the request asks for a niceness.
 */
export function resolveArgv(request: RunRequest): string[] {
  if (request.argv.length === 0) {
    throw new HostError('INVALID_ARGUMENT', 'empty argv', { command: [] });
  }
  const argv = request.netns
    ? ['nsenter', `--net=${netnsPath(request.netns)}`, '--', ...request.argv]
    : [...request.argv];
  if (request.nice === undefined) return argv;
  if (!Number.isInteger(request.nice) || request.nice < -20 || request.nice > 19) {
    throw new HostError(
      'INVALID_ARGUMENT',
      `nice must be an integer from -20 to 19, got ${String(request.nice)}`,
      { command: [...request.argv] },
    );
  }
  return ['nice', '-n', String(request.nice), ...argv];
}

/** Runs requests as child processes with `spawn` (never a shell). */
export class ExecRunner implements Runner {
  constructor(private readonly defaults: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {}

  run(request: RunRequest): Promise<RunResult> {
    const argv = resolveArgv(request);
    const timeoutMs = request.timeoutMs ?? this.defaults.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: this.defaults.env ?? { ...process.env, LC_ALL: 'C' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.stdin.on('error', () => {});
      child.on('error', (cause) => {
        clearTimeout(timer);
        reject(
          new HostError('SPAWN_FAILED', `cannot start ${argv[0]}: ${cause.message}`, {
            command: argv,
            cause,
          }),
        );
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString('utf8');
        if (timedOut) {
          reject(
            new HostError('TIMEOUT', `${argv.join(' ')} did not finish within ${timeoutMs} ms`, {
              command: argv,
              stderr,
            }),
          );
          return;
        }
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr,
          code: code ?? (signal ? 128 : 1),
        });
      });
      child.stdin.end(request.stdin ?? '');
    });
  }
}
