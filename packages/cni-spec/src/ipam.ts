import { existsSync } from 'node:fs';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { type PluginExec, pluginOutput, processExec } from './exec.js';
import { parseResultAsCurrent } from './parse.js';
import type { PluginContext } from './skeleton.js';
import type { CniResult } from './types.js';

/** Options for {@link delegateIpam}. */
export interface DelegateOptions {
  /** Kill the IPAM plugin after this many milliseconds (default 30 000). */
  timeoutMs?: number;
  /** How plugins are found and run (default: child processes). */
  exec?: PluginExec;
}

/**
 * Runs the IPAM plugin named by `ctx.config.ipam.type`, found on `CNI_PATH`, with the same
 * environment (`CNI_COMMAND` set to `command`) and stdin. For ADD it returns the plugin's result
 * validated and converted to the 1.1.0 shape; other commands resolve to undefined. The plugin's
 * error JSON is rethrown as a {@link CniError} with its code.
 */
export async function delegateIpam(
  command: 'ADD',
  ctx: PluginContext,
  options?: DelegateOptions,
): Promise<CniResult>;
export async function delegateIpam(
  command: 'DEL' | 'CHECK' | 'GC' | 'STATUS',
  ctx: PluginContext,
  options?: DelegateOptions,
): Promise<undefined>;
export async function delegateIpam(
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS',
  ctx: PluginContext,
  options: DelegateOptions = {},
): Promise<CniResult | undefined> {
  const type = ctx.config.ipam?.type;
  if (!type) {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      'invalid network config: $.ipam.type: is required',
      {
        path: '$.ipam.type',
      },
    );
  }
  const exec = options.exec ?? processExec;
  const pluginPath = exec.find(type, ctx.path);
  const r = await exec.run({
    pluginPath,
    env: { ...ctx.env, CNI_COMMAND: command },
    stdin: ctx.stdin,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  const stdout = pluginOutput(type, command, r);
  if (command !== 'ADD') return undefined;
  try {
    return parseResultAsCurrent(stdout, ctx.config.cniVersion);
  } catch (cause) {
    throw new CniError(
      CNI_ERROR_CODES.DECODE_FAILURE,
      `IPAM plugin ${type} printed an invalid result`,
      {
        details: CniError.isInstance(cause) ? cause.message : String(cause),
        cause,
      },
    );
  }
}

/**
 * The ADD pattern plugins get wrong: allocate with the IPAM plugin, run `body` with its result,
 * and if `body` throws, release the allocation with the IPAM's DEL before rethrowing.
 */
export async function addWithIpam<T>(
  ctx: PluginContext,
  body: (ipam: CniResult) => Promise<T> | T,
  options: DelegateOptions = {},
): Promise<T> {
  const ipam = await delegateIpam('ADD', ctx, options);
  try {
    return await body(ipam);
  } catch (error) {
    try {
      await delegateIpam('DEL', ctx, options);
    } catch {}
    throw error;
  }
}

/**
 * The DEL pattern plugins get wrong: release the IPAM allocation first (it must go even when the
 * namespace is gone), then run `teardown` only when the namespace still exists. Both steps run
 * even if the other fails; the first error is rethrown afterwards.
 */
export async function delWithIpam(
  ctx: PluginContext,
  teardown?: () => Promise<void> | void,
  options: DelegateOptions = {},
): Promise<void> {
  let first: unknown;
  if (ctx.config.ipam?.type) {
    try {
      await delegateIpam('DEL', ctx, options);
    } catch (e) {
      first = e;
    }
  }
  if (teardown && !netnsMissing(ctx.netns)) {
    try {
      await teardown();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/**
 * True when the invocation's namespace is gone (empty `CNI_NETNS` or a path that no longer
 * exists): DEL must then still release addresses and succeed.
 */
export function netnsMissing(netns: string): boolean {
  return netns === '' || !existsSync(netns);
}
