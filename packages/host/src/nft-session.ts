import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostError } from './errors.js';
import { type NetnsTarget, resolveArgv } from './runner.js';

/** Options of {@link NftSession}. */
export interface NftSessionOptions {
  /** The namespace the `nft` process runs in (through `nsenter --net=PATH`, as `Host` does). */
  readonly netns?: NetnsTarget;
  /** Reject (and kill the process) when one batch takes longer than this (default 120 000 ms). */
  readonly timeoutMs?: number;
  /** The command to run instead of `['nft', '-i']` (a fake for tests); it gets the same stdin protocol. */
  readonly argv?: readonly string[];
}

interface Pending {
  readonly mark: string;
  readonly script: string;
  readonly resolve: () => void;
  readonly reject: (error: HostError) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One long-lived `nft -i` process that applies nftables scripts, each as one atomic transaction,
 * without paying a process start, a cache fill and the kernel's delayed netlink socket close per
 * batch as `Host.nftApply` (`nft -f -`) does.
 *
 * Each {@link NftSession.apply} writes the script to a private file (mode 0600 in the temporary
 * directory, removed when the batch ends) and sends
 * `include "FILE"` followed by `list table ip MARK` on stdin: nft parses and commits an included
 * file exactly as `nft -f FILE` (all or nothing), and the marker's "No such file or directory"
 * error on stderr ends the batch; any `Error:` before it fails the batch. Calls are serialised; a
 * process that died is started again by the next call.
 *
 * @example
 * const session = new NftSession({ netns: { name: 'node1' } });
 * await session.apply('add element inet podnet s { 10.0.0.5 }\n');
 * session.close();
 */
export class NftSession {
  readonly netns?: NetnsTarget;
  private readonly timeoutMs: number;
  private readonly argv: readonly string[];
  private readonly token = randomBytes(6).toString('hex');
  private child?: ChildProcessWithoutNullStreams;
  private stderr = '';
  private seq = 0;
  private pending?: Pending;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: NftSessionOptions = {}) {
    this.netns = options.netns;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.argv = options.argv ?? ['nft', '-i'];
    resolveArgv({ argv: this.argv, netns: this.netns });
  }

  /** The process id of the running `nft`, if one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Applies `script` (text as for `nft -f`) as one transaction. Resolves once it is committed;
   * rejects with `COMMAND_FAILED` (stderr, and the failing line when nft names one) and then
   * nothing of the script is applied. If the process dies mid-batch the call rejects and whether
   * the batch was committed is unknown.
   */
  apply(script: string): Promise<void> {
    if (this.closed) {
      return Promise.reject(new HostError('INVALID_ARGUMENT', 'the nft session is closed'));
    }
    const run = this.chain.then(() => this.applyNow(script));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Ends the `nft` process. Later `apply` calls reject. */
  close(): void {
    this.closed = true;
    this.stop(
      new HostError('COMMAND_FAILED', 'the nft session was closed', { command: this.command() }),
    );
  }

  private command(): string[] {
    return resolveArgv({ argv: this.argv, netns: this.netns });
  }

  private applyNow(script: string): Promise<void> {
    if (script.trim() === '') return Promise.resolve();
    if (this.closed) {
      return Promise.reject(new HostError('INVALID_ARGUMENT', 'the nft session is closed'));
    }
    const child = this.ensure();
    const mark = `__podnet_mark_${this.token}_${++this.seq}`;
    const file = join(tmpdir(), `podnet-nft-${mark}.nft`);
    try {
      writeFileSync(file, script.endsWith('\n') ? script : `${script}\n`, {
        flag: 'wx',
        mode: 0o600,
      });
    } catch (cause) {
      return Promise.reject(
        new HostError('SPAWN_FAILED', `cannot write the nft batch file ${file}`, { cause }),
      );
    }
    this.stderr = '';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop(
          new HostError('TIMEOUT', `nft session batch did not finish within ${this.timeoutMs} ms`, {
            command: this.command(),
            stderr: this.stderr,
          }),
        );
      }, this.timeoutMs);
      this.pending = { mark, script, resolve, reject, timer };
      child.stdin.write(`include "${file}"\nlist table ip ${mark}\n`);
    }).finally(() => rmSync(file, { force: true }));
  }

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const argv = this.command();
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    child.stdout.on('data', () => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (this.child !== child) return;
      this.stderr += text;
      this.settle();
    });
    child.stdin.on('error', () => {});
    const gone = (why: string, cause?: unknown) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(
        new HostError('COMMAND_FAILED', `nft session process ${why}`, {
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

  private settle(): void {
    const p = this.pending;
    if (!p) return;
    const end = this.stderr.indexOf(`list table ip ${p.mark}\n`);
    if (end < 0) return;
    const head = this.stderr.slice(0, this.stderr.lastIndexOf('Error:', end));
    const caret = this.stderr.indexOf('\n', end + p.mark.length + 15);
    if (caret < 0) return;
    this.stderr = '';
    this.pending = undefined;
    clearTimeout(p.timer);
    if (!/Error:/.test(head)) {
      p.resolve();
      return;
    }
    const stderr = head.trim();
    const m = new RegExp(`${p.mark}\\.nft:(\\d+):`).exec(stderr);
    const lineNumber = m ? Number(m[1]) : undefined;
    const line = lineNumber === undefined ? undefined : p.script.split('\n')[lineNumber - 1];
    const where = line === undefined ? '' : ` at line ${lineNumber} (${line})`;
    p.reject(
      new HostError('COMMAND_FAILED', `nft session batch failed${where}: ${stderr}`, {
        command: this.command(),
        lineNumber,
        line,
        stderr,
      }),
    );
  }

  private fail(error: HostError): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    p.reject(error);
  }

  private stop(error: HostError): void {
    const child = this.child;
    this.child = undefined;
    this.fail(error);
    if (child) {
      child.stdin.end();
      child.kill('SIGKILL');
    }
  }
}
