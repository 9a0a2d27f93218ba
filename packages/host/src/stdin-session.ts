import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { HostError } from './errors.js';

/**
 * What a session's parser says about the stderr collected since its batch was written: not done
 * yet (`undefined`), done (`null`), or failed (the error to reject with).
 */
export type SettleResult = undefined | null | HostError;

/** One batch for a {@link StdinSession}: its stdin text and the parser of its stderr. */
export interface Batch {
  readonly stdin: string;
  readonly settle: (stderr: string) => SettleResult;
}

/**
 * The process half of `NftSession` and `IpSession`: one long-lived child that reads batches on
 * stdin and reports the end of each on stderr. Batches are serialised; a batch that outlives
 * `timeoutMs` kills the process; a process that died is started again by the next batch.
 * `onStart` runs for every new process (sessions reset their line counters there).
 */
export class StdinSession {
  private child?: ChildProcessWithoutNullStreams;
  private stderr = '';
  private pending?: {
    readonly settle: (stderr: string) => SettleResult;
    readonly resolve: () => void;
    readonly reject: (error: HostError) => void;
    readonly timer: NodeJS.Timeout;
  };
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly argv: readonly string[],
    private readonly what: string,
    private readonly timeoutMs: number,
    private readonly onStart: () => void = () => {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process now (else the first batch does), so its start overlaps other work. */
  start(): void {
    if (!this.closed) this.ensure();
  }

  /** Writes `text` to the running process's stdin outside any batch (false when none runs). */
  writeRaw(text: string): boolean {
    if (!this.child || this.closed) return false;
    this.child.stdin.write(text);
    return true;
  }

  /**
   * Queues one batch: `prepare` runs when the batch's turn comes (on the process that will read
   * it) and returns the stdin text and the parser of what stderr says about it. `null`: nothing
   * to send, only wait for the batches queued before (no process is started for it).
   */
  run(prepare: (() => Batch) | null): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    const run = this.queue.then(() => this.runNow(prepare));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    this.stop(
      () => new HostError('COMMAND_FAILED', `the ${this.what} was closed`, { command: this.argv }),
    );
  }

  private closedError(): HostError {
    return new HostError('INVALID_ARGUMENT', `the ${this.what} is closed`);
  }

  private runNow(prepare: (() => Batch) | null): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (prepare === null) return Promise.resolve();
    const child = this.ensure();
    let batch: Batch;
    try {
      batch = prepare();
    } catch (error) {
      return Promise.reject(error);
    }
    this.stderr = '';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop(
          () =>
            new HostError(
              'TIMEOUT',
              `${this.what} batch did not finish within ${this.timeoutMs} ms`,
              {
                command: this.argv,
                stderr: this.stderr,
              },
            ),
        );
      }, this.timeoutMs);
      this.pending = { settle: batch.settle, resolve, reject, timer };
      child.stdin.write(batch.stdin);
    });
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const argv = this.argv;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    this.onStart();
    child.stdout.on('data', () => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (this.child !== child) return;
      this.stderr += text;
      this.check();
    });
    child.stdin.on('error', () => {});
    const gone = (why: string, cause?: unknown) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(
        new HostError('COMMAND_FAILED', `${this.what} process ${why}`, {
          command: argv,
          stderr: this.stderr.trim(),
          cause,
        }),
      );
    };
    child.on('error', (cause) => gone(`could not run: ${cause.message}`, cause));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code}) mid-batch`));
    return child;
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const result = p.settle(this.stderr);
    if (result === undefined) return;
    this.stderr = '';
    this.pending = undefined;
    clearTimeout(p.timer);
    if (result === null) p.resolve();
    else p.reject(result);
  }

  private fail(error: HostError): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    p.reject(error);
  }

  private stop(error: () => HostError): void {
    const child = this.child;
    this.child = undefined;
    // an error (and its stack) only when a batch is waiting for it
    if (this.pending) this.fail(error());
    if (child) {
      child.stdin.end();
      child.kill('SIGKILL');
    }
  }
}
