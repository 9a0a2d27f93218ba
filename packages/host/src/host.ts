import { HostError } from './errors.js';
import {
  ExecRunner,
  type NetnsTarget,
  type Runner,
  type RunRequest,
  type RunResult,
} from './runner.js';
import { assertBatchToken } from './validate.js';

/** One line of an `ip -batch` / `bridge -batch` input, as words (e.g. `['route','replace',...]`). */
export type BatchLine = readonly string[];

/** Which host tool a call runs. */
export type HostTool = 'ip' | 'bridge' | 'nft';

/** Options shared by every {@link Host} call. */
export interface HostCallOptions {
  timeoutMs?: number;
  /** Run the tool at this CPU niceness (see {@link RunRequest.nice}), e.g. 19 for housekeeping. */
  nice?: number;
}

/** Renders batch lines to `-batch` text, validating every word. Pure; throws `INVALID_ARGUMENT`. */
export function renderBatch(lines: readonly BatchLine[]): string {
  return lines.map((line) => `${line.map(assertBatchToken).join(' ')}\n`).join('');
}

/** The 1-based line number a tool names in its error output (`ip -batch` or `nft -f -`). */
export function failingLineNumber(tool: HostTool, stderr: string): number | undefined {
  const m =
    tool === 'nft'
      ? /(?:\/dev\/stdin|^-|\n-):(\d+):/.exec(stderr)
      : /Command failed -:(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/**
 * `ip`, `bridge` and `nft` bound to one runner and, optionally, one network namespace. Every
 * batch is one process: `ip -batch -`, `bridge -batch -`, `nft -f -`.
 */
export class Host {
  readonly runner: Runner;
  readonly netns?: NetnsTarget;

  constructor(options: { runner?: Runner; netns?: NetnsTarget } = {}) {
    this.runner = options.runner ?? new ExecRunner();
    this.netns = options.netns;
  }

  /** The same host tools aimed at another namespace (same runner). */
  inNetns(netns: NetnsTarget | undefined): Host {
    return new Host({ runner: this.runner, netns });
  }

  /** Runs `tool ...args` and returns stdout; throws `COMMAND_FAILED` on a non-zero exit. */
  async exec(
    tool: HostTool,
    args: readonly string[],
    stdin?: string,
    options: HostCallOptions = {},
  ): Promise<string> {
    for (const a of args) assertBatchToken(a);
    const argv = [tool, ...args];
    const result = await this.runner.run({
      argv,
      stdin,
      netns: this.netns,
      timeoutMs: options.timeoutMs,
      nice: options.nice,
    });
    if (result.code !== 0) throw commandFailed(tool, argv, result, stdin);
    return result.stdout;
  }

  /** `ip ARGS`. */
  ip(args: readonly string[], options?: HostCallOptions): Promise<string> {
    return this.exec('ip', args, undefined, options);
  }

  /** `ip -json ARGS`, parsed. An empty answer reads as `[]`. */
  ipJson<T = unknown>(args: readonly string[], options?: HostCallOptions): Promise<T> {
    return this.json('ip', ['-json', ...args], options);
  }

  /** Runs all lines through one `ip -batch -`; stops at the first failing line. */
  async ipBatch(lines: readonly BatchLine[], options?: HostCallOptions): Promise<void> {
    if (lines.length === 0) return;
    await this.exec('ip', ['-batch', '-'], renderBatch(lines), options);
  }

  /** `bridge ARGS`. */
  bridge(args: readonly string[], options?: HostCallOptions): Promise<string> {
    return this.exec('bridge', args, undefined, options);
  }

  /** `bridge -json ARGS`, parsed. */
  bridgeJson<T = unknown>(args: readonly string[], options?: HostCallOptions): Promise<T> {
    return this.json('bridge', ['-json', ...args], options);
  }

  /** Runs all lines through one `bridge -batch -`. */
  async bridgeBatch(lines: readonly BatchLine[], options?: HostCallOptions): Promise<void> {
    if (lines.length === 0) return;
    await this.exec('bridge', ['-batch', '-'], renderBatch(lines), options);
  }

  /** Applies an nftables script atomically through one `nft -f -`. */
  async nftApply(script: string, options?: HostCallOptions): Promise<void> {
    if (script.trim() === '') return;
    await this.exec('nft', ['-f', '-'], script, options);
  }

  /** Checks an nftables script without applying it (`nft -c -f -`). */
  async nftCheck(script: string, options?: HostCallOptions): Promise<void> {
    await this.exec('nft', ['-c', '-f', '-'], script, options);
  }

  /** `nft -j ARGS` (e.g. `['list','table','inet','podnet']`), parsed. */
  nftJson<T = unknown>(args: readonly string[], options?: HostCallOptions): Promise<T> {
    return this.json('nft', ['-j', ...args], options);
  }

  /** `nft ARGS` as text. */
  nft(args: readonly string[], options?: HostCallOptions): Promise<string> {
    return this.exec('nft', args, undefined, options);
  }

  private async json<T>(tool: HostTool, args: string[], options?: HostCallOptions): Promise<T> {
    const out = await this.exec(tool, args, undefined, options);
    if (out.trim() === '') return [] as T;
    try {
      return JSON.parse(out) as T;
    } catch (cause) {
      throw new HostError('PARSE_FAILED', `${tool} ${args.join(' ')} printed no valid JSON`, {
        command: [tool, ...args],
        cause,
      });
    }
  }
}

function commandFailed(
  tool: HostTool,
  argv: string[],
  result: RunResult,
  stdin: string | undefined,
): HostError {
  const stderr = result.stderr.trim();
  const lineNumber = stdin === undefined ? undefined : failingLineNumber(tool, stderr);
  const line = lineNumber === undefined ? undefined : stdin?.split('\n')[lineNumber - 1];
  const where = line === undefined ? '' : ` at line ${lineNumber} (${line})`;
  return new HostError(
    'COMMAND_FAILED',
    `${argv.join(' ')} failed with exit ${result.code}${where}: ${stderr || '(no stderr)'}`,
    { command: argv, lineNumber, line, stderr, exitCode: result.code },
  );
}
