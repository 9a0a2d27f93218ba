import { assertInt } from '@podnet/host/validate';
import { NetpolError } from './errors.js';

/**
 * A node-wide rate limit on verdict log records, applied in the kernel: one token bucket (an
 * nftables named `limit`) shared by every log statement of the table. A packet over the limit
 * gets the same verdict, unlogged, and is counted in the named counter {@link LOG_LIMITED_COUNTER}.
 */
export interface LogRateLimit {
  /** Records per second, 1 to 1,000,000. */
  rate: number;
  /** Records allowed at once above the rate, 1 to 1,000,000 (default: `rate`). */
  burst?: number;
}

/** The rendered limit, as carried in a {@link Ruleset}. */
export interface LogRateLimitSpec {
  /** nftables `limit` object the log statements take tokens from. */
  limit: string;
  /** nftables `counter` object counting the packets whose record the limit suppressed. */
  counter: string;
  rate: number;
  burst: number;
}

/** Name of the named `limit` object shared by the table's log statements. */
export const LOG_RATE_LIMIT = 'log_rate';
/** Name of the named `counter` of packets whose verdict log record was rate-limited. */
export const LOG_LIMITED_COUNTER = 'log_limited';

/** Validates a {@link LogRateLimit} (errors name `field`) and fills in the defaults. */
export function logRateLimitSpec(v: LogRateLimit, field = 'logRateLimit'): LogRateLimitSpec {
  if (typeof v !== 'object' || v === null)
    throw new NetpolError('INVALID_ARGUMENT', `${field}: want { rate, burst? }`);
  const rate = assertInt(v.rate, 1, 1_000_000, `${field}.rate`);
  const burst = assertInt(v.burst ?? rate, 1, 1_000_000, `${field}.burst`);
  return { limit: LOG_RATE_LIMIT, counter: LOG_LIMITED_COUNTER, rate, burst };
}

/** The `nft -f` lines declaring the limit and its counter in table `t` (`inet NAME`). */
export function logRateLimitDecls(t: string, spec: LogRateLimitSpec): string[] {
  return [
    `add limit ${t} ${spec.limit} { rate ${spec.rate}/second burst ${spec.burst} packets }`,
    `add counter ${t} ${spec.counter}`,
  ];
}

/**
 * The two rules of one logged verdict under a limit: the first logs while the bucket has tokens,
 * the second (same match, same verdict) counts the packets over it. Without a limit: one rule.
 */
export function limitedLogRules(
  match: string,
  log: string,
  verdict: string,
  spec: LogRateLimitSpec | undefined,
): string[] {
  const norm = (s: string) => s.trim().replace(/\s+/g, ' ');
  if (!spec || log === '') return [norm(`${match} ${log} ${verdict}`)];
  return [
    norm(`${match} limit name "${spec.limit}" ${log} ${verdict}`),
    norm(`${match} counter name "${spec.counter}" ${verdict}`),
  ];
}

/**
 * `nft` arguments that list the rate-limited counter of `table` as JSON. nft (1.0.x) reads the
 * whole ruleset for a `list`: about 0.45 s of CPU with 2,000 chains and sets; for a periodic
 * read use {@link logLimitedCounterResetArgs}.
 */
export function logLimitedCounterArgs(table = 'podnet_netpol'): string[] {
  return ['-j', 'list', 'counter', 'inet', table, LOG_LIMITED_COUNTER];
}

/**
 * `nft` arguments that read AND zero the rate-limited counter (the kernel's fetch-and-reset, so
 * each answer is the count since the previous one). Cheap whatever the table's size (about 20 ms),
 * unlike a `list`. Only one reader may use it: each reset takes the counts from the others.
 */
export function logLimitedCounterResetArgs(table = 'podnet_netpol'): string[] {
  return ['-j', 'reset', 'counter', 'inet', table, LOG_LIMITED_COUNTER];
}

/**
 * Reads the packet count of the rate-limited counter from `nft -j list|reset counter(s)` output;
 * `undefined` when the output holds no such counter (no limit configured, table not there yet).
 */
export function parseLogLimitedCounter(json: string, table = 'podnet_netpol'): number | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const items = (doc as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) return undefined;
  for (const it of items) {
    const c = (it as { counter?: Record<string, unknown> })?.counter;
    if (!c || c.name !== LOG_LIMITED_COUNTER || c.table !== table || c.family !== 'inet') continue;
    return typeof c.packets === 'number' ? c.packets : undefined;
  }
  return undefined;
}
