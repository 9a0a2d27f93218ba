import type { NetnsTarget } from '@podnet/host';
import { nflogSocketDrops, readVerdictLogs, type VerdictLogReader } from '@podnet/netpol';
import type { FlowRecorder } from './flows.js';
import type { Logger } from './log.js';

/** Options of {@link FlowCapture}. */
export interface FlowCaptureOptions {
  recorder: FlowRecorder;
  /** NFLOG group the policy rules log to. */
  group: number;
  /** The node's network namespace (default: the agent's own). */
  netns?: NetnsTarget;
  log: Logger;
  /** First restart delay after the capture stops (doubles up to 30 s). Default 1000 ms. */
  restartMs?: number;
  /** NFLOG socket receive buffer in KiB (default 4096: a burst of drops waits in the kernel). */
  bufferKiB?: number;
  /** How often the kernel's drop count of the capture socket is checked. Default 1000 ms. */
  dropCheckMs?: number;
}

/**
 * Keeps an NFLOG capture of the node's verdict logs running (netpol's reader) and feeds the
 * records to a {@link FlowRecorder}. When the capture stops it is restarted with backoff, and
 * the gap is put in the stream as a `reader-restart` loss (records in between are gone).
 */
export class FlowCapture {
  private reader?: VerdictLogReader;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private delay: number;
  private dropTimer?: NodeJS.Timeout;
  private lastDrops = 0;

  constructor(private readonly options: FlowCaptureOptions) {
    this.delay = options.restartMs ?? 1000;
  }

  /** The capture process while it runs. */
  get pid(): number | undefined {
    return this.reader?.pid;
  }

  /** True while the capture runs. */
  get running(): boolean {
    return this.reader !== undefined;
  }

  /** Starts the capture; resolves once it listens (a failure is logged and retried). */
  async start(): Promise<void> {
    this.stopped = false;
    const o = this.options;
    let failed = false;
    const onFail = (e: Error) => {
      if (failed || this.stopped) return;
      failed = true;
      this.reader = undefined;
      // a decode error leaves tcpdump running: stop it before starting another
      void reader.stop();
      o.log.warn('flow capture stopped', { error: e.message, restartInMs: this.delay });
      o.recorder.addLoss(
        'reader-restart',
        0,
        `the NFLOG capture stopped (${e.message}); records until it restarts are lost`,
      );
      this.timer = setTimeout(() => void this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 30_000);
    };
    const reader = readVerdictLogs({
      group: o.group,
      ...(o.netns ? { netns: 'name' in o.netns ? o.netns.name : { path: o.netns.path } } : {}),
      bufferKiB: o.bufferKiB ?? 4096,
      dieWithParent: true,
      onRecord: (r) => o.recorder.add(r),
      onError: onFail,
    });
    this.reader = reader;
    try {
      await reader.ready;
      this.delay = this.options.restartMs ?? 1000;
      o.log.info('flow capture started', { nflogGroup: o.group });
      this.lastDrops = 0;
      if (this.dropTimer) clearInterval(this.dropTimer);
      this.dropTimer = setInterval(() => this.checkDrops(), o.dropCheckMs ?? 1000);
      this.dropTimer.unref();
    } catch (e) {
      onFail(e as Error);
    }
  }

  /**
   * Puts the records the kernel dropped since the last check (the capture socket's `Drops`) in
   * the stream as a `kernel` loss. Runs every `dropCheckMs` and at stop.
   */
  checkDrops(): void {
    const pid = this.reader?.pid;
    if (pid === undefined) return;
    const drops = nflogSocketDrops(pid);
    if (drops === undefined || drops <= this.lastDrops) return;
    const n = drops - this.lastDrops;
    this.lastDrops = drops;
    this.options.recorder.addLoss(
      'kernel',
      n,
      `the kernel dropped ${n} verdict log records: the capture's NFLOG socket buffer was full`,
    );
  }

  /** Stops the capture (no restart). */
  async stop(): Promise<void> {
    this.checkDrops();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.dropTimer) clearInterval(this.dropTimer);
    const r = this.reader;
    this.reader = undefined;
    await r?.stop();
  }
}
