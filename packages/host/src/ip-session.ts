import { HostError } from './errors.js';
import { type BatchLine, renderBatch } from './host.js';
import { type NetnsTarget, resolveArgv } from './runner.js';
import { type SettleResult, StdinSession } from './stdin-session.js';
import { assertNetnsName } from './validate.js';

let sessions = 0;

/** Options of {@link IpSession}. */
export interface IpSessionOptions {
  /** Where the process runs: `-n NAME` for a named namespace, `nsenter --net=PATH` for a path. */
  readonly netns?: NetnsTarget;
  /** Reject (and kill the process) when one batch takes longer than this (default 30 000 ms). */
  readonly timeoutMs?: number;
  /** `ip` (default) or `bridge`: both read `-batch -` the same way. */
  readonly tool?: 'ip' | 'bridge';
  /**
   * The command to run instead of `[tool, '-force', '-batch', '-']` (a fake for tests, or a
   * wrapper such as the shell of {@link IpSession.spare}).
   */
  readonly argv?: readonly string[];
}

/**
 * One long-lived `ip -force -batch -` process (or `bridge -force -batch -` with `tool: 'bridge'`)
 * that runs batches of lines without paying a process start (fork, exec, dynamic loading) per
 * batch as `Host.ipBatch` does: for callers on a hot path, such as a CNI ADD.
 *
 * `ip` reads its batch input line by line as it arrives and reports every failing line on stderr
 * as `Command failed -:N`, N counting lines since the process started. Each
 * {@link IpSession.batch} sends its lines followed by `link show dev MARK` (bridge:
 * `fdb show dev MARK`) for a device that does not exist; that line's failure ends the batch. With `-force` the lines after a failing line
 * still run (unlike `Host.ipBatch`, which stops at the first), and the batch rejects naming the
 * first failing line. Calls are serialised; a process that died is started again by the next call.
 *
 * @example
 * const ip = new IpSession();
 * await ip.batch([['link', 'set', 'veth1', 'up'], ['route', 'replace', '10.0.0.5/32', 'dev', 'veth1']]);
 * ip.close();
 */
export class IpSession {
  readonly netns?: NetnsTarget;
  /** The tool this session runs. */
  readonly tool: 'ip' | 'bridge';
  // unique among this process's sessions; a pod's session must not pay for random bytes
  private readonly token =
    `${(process.pid % 36 ** 3).toString(36)}${(++sessions % 36 ** 3).toString(36)}`;
  private readonly session: StdinSession;
  private readonly argv: string[];
  private linesRead = 0;
  private seq = 0;

  constructor(options: IpSessionOptions = {}) {
    this.netns = options.netns;
    const netns = this.netns;
    const tool = options.tool ?? 'ip';
    this.tool = tool;
    // a named namespace is entered by the tool itself (-n), a process fewer than nsenter
    this.argv =
      !options.argv && netns && 'name' in netns
        ? [tool, '-n', assertNetnsName(netns.name), '-force', '-batch', '-']
        : resolveArgv({ argv: options.argv ?? [tool, '-force', '-batch', '-'], netns });
    this.session = new StdinSession(
      this.argv,
      `${tool} session`,
      options.timeoutMs ?? 30_000,
      () => {
        this.linesRead = 0;
      },
    );
  }

  /** The process id of the running `ip`, if one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.session.pid;
  }

  /**
   * Runs `lines` (tokens validated as for `Host.ipBatch`). Resolves when all ran; rejects with
   * `COMMAND_FAILED` naming the first failing line (`lineNumber` is 1-based within this batch).
   */
  batch(lines: readonly BatchLine[]): Promise<void> {
    let text: string;
    try {
      text = renderBatch(lines);
    } catch (error) {
      return Promise.reject(error);
    }
    if (lines.length === 0) return this.session.run(null);
    return this.session.run(() => {
      const first = this.linesRead + 1;
      const markLine = this.linesRead + lines.length + 1;
      this.linesRead = markLine;
      // an interface name (at most 15 characters) that no one else creates
      const mark = `pnm${this.token}${(++this.seq % 36 ** 6).toString(36)}`;
      return {
        stdin: `${text}${this.tool === 'bridge' ? 'fdb' : 'link'} show dev ${mark}\n`,
        settle: (stderr) => this.settle(stderr, lines, first, markLine, mark),
      };
    });
  }

  /**
   * Starts `ip` now instead of at the first batch, so that its process start overlaps whatever
   * the caller does before its first batch (e.g. a session for a new pod namespace).
   */
  start(): this {
    this.session.start();
    return this;
  }

  /**
   * A session started now whose `ip` does not know its namespace yet: a shell waits for
   * {@link IpSession.enter} and then becomes `ip -n NAME -force -batch -`. A caller that knows it
   * will need an `ip` in a namespace that does not exist yet (a pod's, at its next ADD) keeps one
   * spare, so the fork happens off the hot path.
   */
  static spare(options: Pick<IpSessionOptions, 'timeoutMs'> = {}): IpSession {
    return new IpSession({
      ...options,
      argv: ['sh', '-c', 'read -r ns && exec ip -n "$ns" -force -batch -'],
    }).start();
  }

  /**
   * Tells a {@link IpSession.spare} session its namespace (by `ip netns` name). Call it once,
   * before the first batch; returns false when the spare's process is gone (start another).
   */
  enter(netnsName: string): boolean {
    return this.session.writeRaw(`${assertNetnsName(netnsName)}\n`);
  }

  /** Ends the `ip` process. Later `batch` calls reject. */
  close(): void {
    this.session.close();
  }

  private settle(
    stderr: string,
    lines: readonly BatchLine[],
    first: number,
    markLine: number,
    mark: string,
  ): SettleResult {
    const end = stderr.indexOf(`Command failed -:${markLine}\n`);
    if (end < 0) return undefined;
    // ip says `Device "MARK" does not exist.`, bridge `Cannot find device "MARK"`: cut at that line
    const named = stderr.lastIndexOf(`"${mark}"`, end);
    const head = stderr.slice(0, named < 0 ? end : stderr.lastIndexOf('\n', named) + 1);
    const failed = /Command failed -:(\d+)/.exec(head);
    if (!failed) return null;
    const lineNumber = Number(failed[1]) - first + 1;
    const line = lines[lineNumber - 1]?.join(' ');
    const text = head.trim();
    return new HostError(
      'COMMAND_FAILED',
      `${this.tool} session batch failed at line ${lineNumber} (${line}): ${text}`,
      { command: this.argv, lineNumber, line, stderr: text },
    );
  }
}
