import { ClusterError } from './errors.js';

/** Options of {@link retryWithBackoff}. */
export interface BackoffOptions {
  /** What is retried, for the error message (e.g. `CNI DEL of default/web`). */
  what: string;
  /** Stop retrying once the next attempt would start more than this many ms after the first. */
  timeoutMs: number;
  /** Pause after the first failure (default 250 ms); doubled after each further one. */
  initialDelayMs?: number;
  /** Longest pause (default 4000 ms). */
  maxDelayMs?: number;
  /** Told about each failure that is retried, before the pause. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** Pause (default a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Runs `attempt` until it succeeds, pausing with exponential backoff between failures, for at most
 * `timeoutMs` (the last attempt may end later: it is never cut short). As kubelet retries a sandbox
 * teardown. Resolves to the first result; once the time is up, rejects with `TIMEOUT` naming the
 * attempts and the last error (its `cause`).
 */
export async function retryWithBackoff<T>(
  attempt: () => Promise<T>,
  options: BackoffOptions,
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const deadline = started + options.timeoutMs;
  let delay = options.initialDelayMs ?? 250;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (now() + delay > deadline) {
        const seconds = ((now() - started) / 1000).toFixed(1);
        throw new ClusterError(
          'TIMEOUT',
          `${options.what} failed ${n} time(s) in ${seconds} s: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      options.onRetry?.(error, n, delay);
      await sleep(delay);
      delay = Math.min(delay * 2, options.maxDelayMs ?? 4000);
    }
  }
}
