import { parseCniArgs } from './args.js';
import { convertResult } from './convert.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { parseNetConf, parseResult } from './parse.js';
import type { AnyCniResult, CniCommand, GcAttachment, NetConf, VersionInfo } from './types.js';
import {
  CURRENT_VERSION,
  compareVersions,
  isVersion,
  SUPPORTED_VERSIONS,
  versionAtLeast,
} from './version.js';

/** An environment as a plugin sees it (`process.env` fits). */
export type CniEnv = Readonly<Record<string, string | undefined>>;

/** What a handler is given: the parsed environment and configuration of one invocation. */
export interface PluginContext {
  command: Exclude<CniCommand, 'VERSION'>;
  /** `CNI_CONTAINERID` (empty for STATUS and GC). */
  containerId: string;
  /** `CNI_NETNS`: a path; empty for STATUS, GC and possibly DEL. */
  netns: string;
  /** `CNI_IFNAME` (empty for STATUS and GC). */
  ifName: string;
  /** `CNI_ARGS`, parsed. */
  args: Record<string, string>;
  /** `CNI_PATH`, split on `:`. */
  path: string[];
  /** The validated configuration; `prevResult` is in the 1.1.0 shape. */
  config: NetConf;
  /** The raw stdin (what IPAM delegation passes on). */
  stdin: string;
  /** The whole environment of the invocation. */
  env: CniEnv;
}

/** The context of a GC: the attachments the runtime still considers valid. */
export interface GcContext extends PluginContext {
  validAttachments: GcAttachment[];
}

type Awaitable<T> = T | Promise<T>;

/** A plugin's operations. `add` returns a result in any supported version (1.1.0 shape typical). */
export interface PluginHandlers {
  add(ctx: PluginContext): Awaitable<AnyCniResult>;
  del(ctx: PluginContext): Awaitable<void>;
  /** Omitted: CHECK succeeds. */
  check?(ctx: PluginContext): Awaitable<void>;
  /** Omitted: STATUS reports ready. Throw code 50/51 to report not ready / limited. */
  status?(ctx: PluginContext): Awaitable<void>;
  /** Omitted: GC does nothing. */
  gc?(ctx: GcContext): Awaitable<void>;
}

/** Options for {@link handleInvocation} and {@link runPlugin}. */
export interface PluginOptions {
  /** Spec versions the plugin accepts (default {@link SUPPORTED_VERSIONS}). */
  supportedVersions?: readonly string[];
  /** `CNI_ARGS` keys the plugin knows; others fail unless `IgnoreUnknown=1`. Default: any key. */
  knownArgs?: readonly string[];
  /**
   * Refuses, on ADD and CHECK, a `CNI_IFNAME` the spec allows but the plugin cannot use (the spec:
   * "if the plugin is unable to use this interface name it must return an error"), before any
   * handler runs: whatever it throws becomes code 4 naming `CNI_IFNAME`, its message the
   * `details`. E.g. `@podnet/host`'s `assertIfName` for a plugin that drives `ip`. DEL is left to
   * the handler: it must succeed for an attachment that ADD refused.
   */
  checkIfName?: (ifName: string) => unknown;
  /**
   * Checks `CNI_NETNS` on ADD and CHECK before any handler runs (DEL must succeed without a
   * namespace): whatever it throws becomes code 4 naming `CNI_NETNS`, its message the `details`.
   * E.g. this package's `assertNetns`, which refuses a missing path, a directory or a plain file.
   */
  checkNetns?: (netns: string) => unknown;
}

/** One invocation's input: environment and stdin text. */
export interface Invocation {
  env: CniEnv;
  stdin: string;
}

/** What the plugin process should print and exit with. */
export interface InvocationOutput {
  stdout: string;
  exitCode: number;
}

const COMMANDS = new Set<CniCommand>(['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']);
// the spec gives container IDs the same characters as network names (and no length limit)
const CONTAINER_ID_CHARS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The longest `CNI_CONTAINERID` accepted: 128 characters. The spec sets no limit, but plugins
 * and runtimes key state by the ID in file names (libcni's result cache
 * `<network>-<id>-<ifname>`, podnet's agent records `<id>_<ifname>.json`), which must stay
 * within the kernel's 255 bytes; runtimes use 64 hex digits.
 */
export const MAX_CONTAINER_ID_LENGTH = 128;

const REQUIRED: Record<Exclude<CniCommand, 'VERSION'>, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
};

function envError(msg: string, details?: string): CniError {
  return new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, msg, { details });
}

/** True when `name` is a valid `CNI_IFNAME`: 1-15 characters, no `/`, `:` or whitespace, not `.`/`..`. */
export function isValidIfName(name: string): boolean {
  return (
    name.length > 0 && name.length <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name)
  );
}

/**
 * True when `id` is a valid container ID by the spec: an alphanumeric character, then
 * alphanumerics, `_`, `.` or `-`, of any length (as libcni and host-local accept it; a store keyed
 * by it, such as `@podnet/ipam`'s, takes any length). The plugin skeleton refuses a
 * `CNI_CONTAINERID` longer than {@link MAX_CONTAINER_ID_LENGTH} on top of this, since plugins make
 * file names from it.
 */
export function isValidContainerId(id: string): boolean {
  return CONTAINER_ID_CHARS.test(id);
}

function readCommand(env: CniEnv): CniCommand {
  const cmd = env.CNI_COMMAND;
  if (!cmd) throw envError('required env variables [CNI_COMMAND] missing');
  if (!COMMANDS.has(cmd as CniCommand)) throw envError(`unknown CNI_COMMAND: ${cmd}`);
  return cmd as CniCommand;
}

function checkEnv(command: Exclude<CniCommand, 'VERSION'>, env: CniEnv): void {
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length > 0) throw envError(`required env variables [${missing.join(',')}] missing`);
  const id = env.CNI_CONTAINERID;
  if (id && id.length > MAX_CONTAINER_ID_LENGTH) {
    throw envError(
      'invalid CNI_CONTAINERID: too long',
      `${id.length} characters, want at most ${MAX_CONTAINER_ID_LENGTH}`,
    );
  }
  if (id && !isValidContainerId(id)) {
    throw envError('invalid characters in CNI_CONTAINERID', id);
  }
  if (env.CNI_IFNAME && !isValidIfName(env.CNI_IFNAME)) {
    throw envError(
      'invalid CNI_IFNAME',
      `${JSON.stringify(env.CNI_IFNAME)}: want 1-15 characters without / : or spaces`,
    );
  }
}

/** Runs the plugin's own checks of CNI_IFNAME and CNI_NETNS (ADD and CHECK only). */
function pluginChecks(command: CniCommand, env: CniEnv, options: PluginOptions): void {
  if (command !== 'ADD' && command !== 'CHECK') return;
  const check = (name: string, value: string, fn: ((v: string) => unknown) | undefined) => {
    if (!fn) return;
    try {
      fn(value);
    } catch (e) {
      const why = CniError.isInstance(e) ? e.message : e instanceof Error ? e.message : String(e);
      throw envError(`invalid ${name}`, `${JSON.stringify(value)}: ${why}`);
    }
  };
  check('CNI_IFNAME', env.CNI_IFNAME ?? '', options.checkIfName);
  check('CNI_NETNS', env.CNI_NETNS ?? '', options.checkNetns);
}

function versionReply(stdin: string, supported: readonly string[]): string {
  if (stdin.trim() !== '') {
    let conf: unknown;
    try {
      conf = JSON.parse(stdin);
    } catch (cause) {
      throw new CniError(CNI_ERROR_CODES.DECODE_FAILURE, 'VERSION: invalid JSON on stdin', {
        cause,
      });
    }
    const v = (conf as { cniVersion?: unknown } | null)?.cniVersion;
    if (v !== undefined && !isVersion(v)) {
      throw new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, 'VERSION: invalid cniVersion', {
        details: JSON.stringify(v),
        path: '$.cniVersion',
      });
    }
  }
  const versions = [...supported].sort(compareVersions);
  const info: VersionInfo = { cniVersion: CURRENT_VERSION, supportedVersions: versions };
  return JSON.stringify(info);
}

/**
 * The configuration's `cniVersion` when the error came before the configuration was accepted (a
 * bad environment or field), so that the error is still printed in the version the runtime
 * speaks; undefined when stdin is not an object with a supported version.
 */
function readableVersion(stdin: string, supported: readonly string[]): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    return typeof v === 'string' && supported.includes(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const MIN_VERSION: Partial<Record<CniCommand, string>> = {
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
};

/**
 * Runs one plugin invocation without touching process I/O: validates the environment (code 4),
 * stdin (6 for bad JSON, 7 for a bad configuration) and version (1), answers VERSION, dispatches
 * to `handlers` and returns what to print: the result in the configuration's `cniVersion`, or the
 * spec's error JSON with exit code 1. Never throws and never prints a stack trace.
 */
export async function handleInvocation(
  invocation: Invocation,
  handlers: PluginHandlers,
  options: PluginOptions = {},
): Promise<InvocationOutput> {
  const supported = options.supportedVersions ?? SUPPORTED_VERSIONS;
  let version: string | undefined;
  try {
    const command = readCommand(invocation.env);
    if (command === 'VERSION')
      return { stdout: versionReply(invocation.stdin, supported), exitCode: 0 };
    checkEnv(command, invocation.env);
    pluginChecks(command, invocation.env, options);
    const config = parseNetConf(invocation.stdin);
    version = config.cniVersion;
    if (!supported.includes(config.cniVersion)) {
      throw new CniError(CNI_ERROR_CODES.INCOMPATIBLE_VERSION, 'incompatible CNI versions', {
        details: `config is ${JSON.stringify(config.cniVersion)}, plugin supports ${JSON.stringify([...supported])}`,
      });
    }
    const min = MIN_VERSION[command];
    if (min && !versionAtLeast(config.cniVersion, min)) {
      throw new CniError(
        CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
        `config version ${config.cniVersion} does not allow ${command}`,
        { details: `${command} needs cniVersion ${min} or later` },
      );
    }
    const env = invocation.env;
    const ctx: PluginContext = {
      command,
      containerId: env.CNI_CONTAINERID ?? '',
      netns: env.CNI_NETNS ?? '',
      ifName: env.CNI_IFNAME ?? '',
      args: parseCniArgs(env.CNI_ARGS, { known: options.knownArgs }),
      path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
      config,
      stdin: invocation.stdin,
      env,
    };
    switch (command) {
      case 'ADD': {
        const raw = await handlers.add(ctx);
        let result: AnyCniResult;
        try {
          result = parseResult(raw ?? {}, '1.1.0');
        } catch (cause) {
          throw new CniError(CNI_ERROR_CODES.INTERNAL, 'plugin returned an invalid result', {
            details: CniError.isInstance(cause) ? cause.msg : String(cause),
            cause,
          });
        }
        return { stdout: JSON.stringify(convertResult(result, config.cniVersion)), exitCode: 0 };
      }
      case 'DEL':
        await handlers.del(ctx);
        break;
      case 'CHECK':
        await handlers.check?.(ctx);
        break;
      case 'STATUS':
        await handlers.status?.(ctx);
        break;
      case 'GC':
        await handlers.gc?.({
          ...ctx,
          validAttachments:
            config['cni.dev/valid-attachments'] ?? config['cni.dev/attachments'] ?? [],
        });
        break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (error) {
    const err = CniError.from(error);
    version ??= readableVersion(invocation.stdin, supported);
    return { stdout: JSON.stringify(err.toJSON(version ?? CURRENT_VERSION)), exitCode: 1 };
  }
}
