import { CNI_ERROR_CODES, CniError } from '../errors.js';
import type { PluginExec, PluginRunRequest, PluginRunResult } from '../exec.js';
import { handleInvocation, type PluginHandlers, type PluginOptions } from '../skeleton.js';

/** One recorded plugin call of an {@link InProcessExec}. */
export interface RecordedCall {
  type: string;
  command: string;
  env: Record<string, string | undefined>;
  stdin: Record<string, unknown>;
}

/**
 * A {@link PluginExec} that runs plugins written with the skeleton's handlers in-process (no
 * binaries, no root): register handlers per plugin `type`, hand it to `CniRuntime` or
 * `delegateIpam`, and read back every call from {@link InProcessExec.calls}.
 */
export class InProcessExec implements PluginExec {
  readonly calls: RecordedCall[] = [];
  private readonly plugins = new Map<
    string,
    { handlers: PluginHandlers; options?: PluginOptions }
  >();

  /** Registers a plugin under `type`; returns this for chaining. */
  register(type: string, handlers: PluginHandlers, options?: PluginOptions): this {
    this.plugins.set(type, { handlers, options });
    return this;
  }

  find(type: string, dirs: readonly string[]): string {
    if (!this.plugins.has(type)) {
      throw new CniError(CNI_ERROR_CODES.IO_FAILURE, `failed to find plugin "${type}" in path`, {
        details: `searched ${JSON.stringify([...dirs])}`,
      });
    }
    return `inprocess:${type}`;
  }

  async run(request: PluginRunRequest): Promise<PluginRunResult> {
    const type = request.pluginPath.replace(/^inprocess:/, '');
    const plugin = this.plugins.get(type);
    if (!plugin) return { stdout: '', stderr: `no plugin ${type}`, code: 1 };
    let stdin: Record<string, unknown> = {};
    try {
      stdin = JSON.parse(request.stdin) as Record<string, unknown>;
    } catch {}
    this.calls.push({
      type,
      command: request.env.CNI_COMMAND ?? '',
      env: { ...request.env },
      stdin,
    });
    const out = await handleInvocation(
      { env: request.env, stdin: request.stdin },
      plugin.handlers,
      plugin.options,
    );
    return { stdout: out.stdout, stderr: '', code: out.exitCode };
  }
}

/** The `CNI_*` environment of one invocation, for tests calling `handleInvocation` directly. */
export function cniEnv(options: {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
}): Record<string, string> {
  const env: Record<string, string> = {
    CNI_COMMAND: options.command,
    CNI_PATH: options.path ?? '/opt/cni/bin',
  };
  if (options.command !== 'STATUS' && options.command !== 'GC' && options.command !== 'VERSION') {
    env.CNI_CONTAINERID = options.containerId ?? 'test-container';
    env.CNI_IFNAME = options.ifName ?? 'eth0';
    env.CNI_NETNS = options.netns ?? '/run/netns/test';
  }
  if (options.args !== undefined) env.CNI_ARGS = options.args;
  return env;
}
