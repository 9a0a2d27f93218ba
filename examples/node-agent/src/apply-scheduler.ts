/** Timing of an {@link ApplyScheduler} (as kube-proxy's sync periods). */
export interface ApplySchedulerOptions {
  /** Least time between two full resyncs (default 1 s): requests in between are coalesced. */
  readonly minFullSyncMs?: number;
  /**
   * Most time between two full resyncs (default an hour, as kube-proxy's nftables mode): a
   * periodic rebuild of what is programmed.
   */
  readonly maxFullSyncMs?: number;
  /** First retry delay after a failed apply (default 500 ms), doubled up to `retryMaxMs`. */
  readonly retryMinMs?: number;
  /** Longest retry delay (default 30 s). */
  readonly retryMaxMs?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** What one apply did, as the scheduler needs to know it. */
export interface ApplyOutcome {
  /** The apply failed: retry later (with backoff). */
  readonly failed: boolean;
  /** The apply included a full resync. */
  readonly full: boolean;
}

/** Counters of an {@link ApplyScheduler}. */
export interface ApplySchedulerStats {
  runs: number;
  failures: number;
  retriesScheduled: number;
}

/**
 * When the agent applies: one apply at a time, and at most one more queued behind it (everything
 * that arrives meanwhile is coalesced into that one); after a failure exactly one retry is pending,
 * with exponential backoff reset by a success; full resyncs at most every `minFullSyncMs` and at
 * least every `maxFullSyncMs`. The apply itself is the agent's; this holds only the timing.
 */
export class ApplyScheduler {
  readonly stats: ApplySchedulerStats = { runs: 0, failures: 0, retriesScheduled: 0 };
  private queue: Promise<void> = Promise.resolve();
  private queued = false;
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private fullTimer?: NodeJS.Timeout;
  private periodic?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = 0;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly apply: () => Promise<ApplyOutcome>,
    private readonly options: ApplySchedulerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Starts the periodic full resync; `onFullDue` marks what must resync, then a run follows. */
  startPeriodic(onFullDue: () => void): void {
    this.periodic = setInterval(() => {
      onFullDue();
      this.requestFull();
    }, this.options.maxFullSyncMs ?? 3_600_000);
    this.periodic.unref();
  }

  /** Runs an apply soon (coalesced with everything else before it starts). */
  trigger(): Promise<void> {
    if (this.queued || this.stopped) return this.queue;
    this.queued = true;
    this.queue = this.queue.then(async () => {
      this.queued = false;
      if (this.stopped) return;
      this.stats.runs++;
      let outcome: ApplyOutcome;
      try {
        outcome = await this.apply();
      } catch {
        outcome = { failed: true, full: false };
      }
      if (outcome.full) this.lastFullAt = this.now();
      if (outcome.failed) {
        this.stats.failures++;
        this.scheduleRetry();
      } else {
        this.retryDelayMs = 0;
      }
    });
    return this.queue;
  }

  /**
   * Asks for a run that resyncs in full (the caller marks what), no sooner than `minFullSyncMs`
   * after the last full one; requests in between become one.
   */
  requestFull(): void {
    if (this.stopped) return;
    const wait = this.lastFullAt + (this.options.minFullSyncMs ?? 1000) - this.now();
    if (wait <= 0) {
      void this.trigger();
      return;
    }
    if (this.fullTimer) return;
    this.fullTimer = setTimeout(() => {
      this.fullTimer = undefined;
      void this.trigger();
    }, wait);
    this.fullTimer.unref();
  }

  /** The delay of the pending retry (0 when none is pending). */
  get pendingRetryMs(): number {
    return this.retryTimer ? this.retryDelayMs : 0;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const min = this.options.retryMinMs ?? 500;
    const max = this.options.retryMaxMs ?? 30_000;
    this.retryDelayMs = Math.min(max, this.retryDelayMs ? this.retryDelayMs * 2 : min);
    this.stats.retriesScheduled++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.trigger();
    }, this.retryDelayMs);
    this.retryTimer.unref();
  }

  /** Stops timers; resolves when the running apply (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.periodic);
    clearTimeout(this.fullTimer);
    clearTimeout(this.retryTimer);
    await this.queue.catch(() => {});
  }
}
