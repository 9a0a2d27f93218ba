import { Host, type NetnsTarget, type Runner } from '@podnet/host';
import { logLimitedCounterResetArgs, parseLogLimitedCounter } from '@podnet/netpol';
import type { FlowRecorder } from './flows.js';
import type { Logger } from './log.js';

/**
 * Turns readings of the kernel's `log_limited` counter into newly suppressed record counts. Pure.
 * `reset` readings (the agent's: `nft reset counter`, fetch-and-zero) are each a count since the
 * previous one; `list` readings are running totals, and one below the last (the table was
 * rebuilt, its counter restarted from 0) counts from 0 again. Nothing is counted twice.
 */
export class RateLimitedAccount {
  private last: number | undefined;
  /** Records suppressed so far (sum of every {@link RateLimitedAccount.observe} result). */
  total = 0;

  constructor(readonly mode: 'reset' | 'list' = 'reset') {}

  /** The records suppressed since the last reading (`undefined`: no counter, nothing new). */
  observe(value: number | undefined): number {
    if (value === undefined) return 0;
    let n = value;
    if (this.mode === 'list') {
      n = this.last === undefined || value < this.last ? value : value - this.last;
      this.last = value;
    }
    this.total += n;
    return n;
  }
}

/** Options of {@link RateLimitedPoller}. */
export interface RateLimitedPollerOptions {
  recorder: FlowRecorder;
  log: Logger;
  /** The node's network namespace (default: the agent's own). */
  netns?: NetnsTarget;
  /** The policy table (default `podnet_netpol`). */
  table?: string;
  /**
   * How often the counter may be read, one `nft` process per read. Default 1000 ms. A read
   * happens only while verdict logs flow (records arrived or were lost at the socket since the
   * last tick, or the last read found suppressed records), and otherwise once per
   * {@link RateLimitedPollerOptions.idleReadMs}.
   */
  intervalMs?: number;
  /**
   * The longest time without a read while no verdict logs flow. Default 30 000 ms. The limit
   * suppresses records only once its bucket is empty, that is while records pass it, so a quiet
   * node pays no `nft` process (each one forks the agent, blocking its event loop for
   * milliseconds at its size) and the counter, fetch-and-zero, loses nothing by waiting.
   */
  idleReadMs?: number;
  /**
   * Reads the counter's JSON (tests); default `nft -j reset counter inet TABLE log_limited`
   * (fetch-and-zero: cheap, where a `list` makes nft read the whole ruleset every time), run at
   * the lowest CPU priority (nice 19): at 1,000 policies that `nft` takes ~15 ms of CPU, which
   * must never be taken from an event the agent is applying meanwhile.
   */
  read?: () => Promise<string>;
  /** Runs the default read's `nft` (tests; default: a real process). */
  runner?: Runner;
  /** What `read` answers: counts since the last read (`reset`, default) or running totals. */
  readMode?: 'reset' | 'list';
}

/**
 * Reads (and zeroes) the kernel's count of rate-limited verdict log records (one
 * `nft -j reset counter`, whatever the number of policies), every second while verdict logs flow
 * and every {@link RateLimitedPollerOptions.idleReadMs} otherwise, and puts what is new in the
 * flow stream as a `rate-limited` loss, so a suppressed record is never silent.
 */
export class RateLimitedPoller {
  readonly account: RateLimitedAccount;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private warned = false;
  /** Records seen (received + lost at the socket) at the last tick. */
  private seen = -1;
  /** Suppressed records the last read found. */
  private lastFound = 0;
  private idleMs = 0;
  /** Counter reads done (tests, diagnostics). */
  reads = 0;
  private readonly host: Host;

  constructor(private readonly options: RateLimitedPollerOptions) {
    this.account = new RateLimitedAccount(options.readMode ?? 'reset');
    this.host = new Host({ runner: options.runner, netns: options.netns });
  }

  /** Reads the counter once and records what is new. Never throws. */
  poll(): Promise<void> {
    this.running ??= this.pollOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * One timer step: reads the counter when verdict logs flowed since the last step or the last
   * read found suppressed records, or when {@link RateLimitedPollerOptions.idleReadMs} passed
   * without a read. Returns the read's promise, or nothing when it skipped.
   */
  tick(): Promise<void> | undefined {
    const o = this.options;
    const stats = o.recorder.stats;
    const seen = stats.received + stats.lostKernel;
    const busy = seen !== this.seen || this.lastFound > 0;
    this.seen = seen;
    this.idleMs += o.intervalMs ?? 1000;
    if (!busy && this.idleMs < (o.idleReadMs ?? 30_000)) return undefined;
    this.idleMs = 0;
    return this.poll();
  }

  private async pollOnce(): Promise<void> {
    const o = this.options;
    const table = o.table ?? 'podnet_netpol';
    this.reads++;
    let text: string;
    try {
      text = await (o.read
        ? o.read()
        : this.host.nft(logLimitedCounterResetArgs(table), { nice: 19 }));
    } catch (e) {
      // before the first policy apply the table (and its counter) is not there yet
      if (!this.warned)
        o.log.debug('log rate limit counter not readable yet', { error: String(e) });
      this.warned = true;
      return;
    }
    const n = this.account.observe(parseLogLimitedCounter(text, table));
    this.lastFound = n;
    if (n > 0)
      o.recorder.addLoss(
        'rate-limited',
        n,
        `${n} verdict log records suppressed by the log rate limit (flows.logRateLimit); the packets kept their verdict`,
      );
  }

  /** Starts the timer ({@link RateLimitedPoller.tick} every `intervalMs`). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops, after a last read. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
  }
}
