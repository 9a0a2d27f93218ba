import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostError } from './errors.js';
import { type NetnsTarget, resolveArgv } from './runner.js';
import { type SettleResult, StdinSession } from './stdin-session.js';

/** Options of {@link NftSession}. */
export interface NftSessionOptions {
  /** The namespace the `nft` process runs in (through `nsenter --net=PATH`, as `Host` does). */
  readonly netns?: NetnsTarget;
  /** Reject (and kill the process) when one batch takes longer than this (default 120 000 ms). */
  readonly timeoutMs?: number;
  /** The command to run instead of `['nft', '-i']` (a fake for tests); it gets the same stdin protocol. */
  readonly argv?: readonly string[];
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
  private readonly token = randomBytes(6).toString('hex');
  private readonly session: StdinSession;
  private readonly argv: string[];
  private seq = 0;

  constructor(options: NftSessionOptions = {}) {
    this.netns = options.netns;
    this.argv = resolveArgv({ argv: options.argv ?? ['nft', '-i'], netns: this.netns });
    this.session = new StdinSession(this.argv, 'nft session', options.timeoutMs ?? 120_000);
  }

  /** The process id of the running `nft`, if one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.session.pid;
  }

  /**
   * Applies `script` (text as for `nft -f`) as one transaction. Resolves once it is committed;
   * rejects with `COMMAND_FAILED` (stderr, and the failing line when nft names one) and then
   * nothing of the script is applied. If the process dies mid-batch the call rejects and whether
   * the batch was committed is unknown.
   */
  apply(script: string): Promise<void> {
    if (script.trim() === '') return this.session.run(null);
    let file = '';
    return this.session
      .run(() => {
        const mark = `__podnet_mark_${this.token}_${++this.seq}`;
        file = join(tmpdir(), `podnet-nft-${mark}.nft`);
        try {
          writeFileSync(file, script.endsWith('\n') ? script : `${script}\n`, {
            flag: 'wx',
            mode: 0o600,
          });
        } catch (cause) {
          file = '';
          throw new HostError('SPAWN_FAILED', `cannot write the nft batch file ${file}`, { cause });
        }
        return {
          stdin: `include "${file}"\nlist table ip ${mark}\n`,
          settle: (stderr) => this.settle(stderr, mark, script),
        };
      })
      .finally(() => {
        if (file) rmSync(file, { force: true });
      });
  }

  /** Ends the `nft` process. Later `apply` calls reject. */
  close(): void {
    this.session.close();
  }

  private settle(stderr: string, mark: string, script: string): SettleResult {
    const end = stderr.indexOf(`list table ip ${mark}\n`);
    if (end < 0) return undefined;
    const caret = stderr.indexOf('\n', end + mark.length + 15);
    if (caret < 0) return undefined;
    const head = stderr.slice(0, stderr.lastIndexOf('Error:', end));
    if (!/Error:/.test(head)) return null;
    const text = head.trim();
    const m = new RegExp(`${mark}\\.nft:(\\d+):`).exec(text);
    const lineNumber = m ? Number(m[1]) : undefined;
    const line = lineNumber === undefined ? undefined : script.split('\n')[lineNumber - 1];
    const where = line === undefined ? '' : ` at line ${lineNumber} (${line})`;
    return new HostError('COMMAND_FAILED', `nft session batch failed${where}: ${text}`, {
      command: this.argv,
      lineNumber,
      line,
      stderr: text,
    });
  }
}
