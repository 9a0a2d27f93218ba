import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseCniArgs } from './args.js';
import { loadConfList, loadConfLists } from './conf-files.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { netnsExec } from './exec.js';
import type { GcAttachmentInput, RuntimeConf } from './runtime-conf.js';
import { CniRuntime, type CniRuntimeOptions } from './runtime.js';
import { SUPPORTED_VERSIONS } from './version.js';

/** Usage text of `podnet-cni`. */
export const CLI_USAGE = `usage: podnet-cni <command> [options]

  add    <network> <netns>   attach: run the ADD chain, print the result
  del    <network> [netns]   detach: run the DEL chain (netns may be gone)
  check  <network> <netns>   run the CHECK chain against the cached result
  status <network>           run STATUS on every plugin (spec 1.1.0)
  gc     <network>           DEL stale cached attachments, run GC (spec 1.1.0)
  list                       print the networks of the conf dir, in load order
  version <plugin>           print a plugin's VERSION reply

<netns> is a path (/run/netns/NAME, /proc/PID/ns/net) or an ip-netns NAME.

options (environment fallback in brackets):
  --ifname NAME             interface in the container [CNI_IFNAME, eth0]
  --container-id ID         default: derived from the netns path
  --args K=V;K=V            CNI_ARGS for the plugins [CNI_ARGS]
  --capability-args JSON    runtimeConfig values by capability [CAP_ARGS]
  --conf-dir DIR            [NETCONFPATH, /etc/cni/net.d]
  --cni-path DIR:DIR        plugin directories [CNI_PATH, /opt/cni/bin]
  --cache-dir DIR           result cache root [CNI_CACHE_DIR, /var/lib/cni]
  --timeout MS              kill a plugin after MS milliseconds (60000)
  --plugin-netns PATH       run the plugins inside this network namespace (e.g. a node's)
  --valid ID/IF,ID/IF       gc: attachments to keep
  --version                 print the spec versions this tool speaks
`;

/** What {@link runCli} prints and exits with. */
export interface CliOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function netnsPath(arg: string): string {
  return arg.includes('/') ? arg : `/run/netns/${arg}`;
}

function usage(why: string): CniError {
  return new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, why, {
    details: 'see podnet-cni --help',
  });
}

/**
 * The `podnet-cni` command (cnitool's job) as a function: parses `argv` (without `node` and the
 * script), runs the runtime and returns what to print. Errors come back as the spec's error JSON
 * on stdout with exit code 1.
 */
export async function runCli(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
  runtimeOptions: CniRuntimeOptions = {},
): Promise<CliOutput> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ifname: { type: 'string' },
        'container-id': { type: 'string' },
        args: { type: 'string' },
        'capability-args': { type: 'string' },
        'conf-dir': { type: 'string' },
        'cni-path': { type: 'string' },
        'cache-dir': { type: 'string' },
        timeout: { type: 'string' },
        valid: { type: 'string' },
        'plugin-netns': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
    const [command, target, nsArg] = positionals;
    if (values.version) {
      return {
        stdout: `podnet-cni: CNI spec ${SUPPORTED_VERSIONS.join(', ')}\n`,
        stderr: '',
        exitCode: 0,
      };
    }
    if (values.help || !command)
      return { stdout: '', stderr: CLI_USAGE, exitCode: values.help ? 0 : 2 };
    const confDir = values['conf-dir'] ?? env.NETCONFPATH ?? '/etc/cni/net.d';
    const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0))
      throw usage('--timeout must be a positive integer');
    const runtime = new CniRuntime({
      binDirs: (values['cni-path'] ?? env.CNI_PATH ?? '/opt/cni/bin').split(':').filter(Boolean),
      cacheDir: values['cache-dir'] ?? env.CNI_CACHE_DIR ?? '/var/lib/cni',
      timeoutMs: timeout,
      exec: values['plugin-netns'] ? netnsExec(netnsPath(values['plugin-netns'])) : undefined,
      ...runtimeOptions,
    });
    if (command === 'list') {
      const lines = loadConfLists(confDir).map(
        (l) => `${l.name}\t${l.cniVersion}\t${l.plugins.map((p) => p.type).join(',')}`,
      );
      return { stdout: lines.length ? `${lines.join('\n')}\n` : '', stderr: '', exitCode: 0 };
    }
    if (command === 'version') {
      if (!target) throw usage('version needs a plugin name');
      return {
        stdout: `${JSON.stringify(await runtime.pluginVersions(target))}\n`,
        stderr: '',
        exitCode: 0,
      };
    }
    if (!['add', 'del', 'check', 'status', 'gc'].includes(command))
      throw usage(`unknown command ${JSON.stringify(command)}`);
    if (!target) throw usage(`${command} needs a network name`);
    const list = loadConfList(confDir, target);
    if (command === 'status') {
      await runtime.statusNetworkList(list);
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    if (command === 'gc') {
      const valid: GcAttachmentInput[] = (values.valid ?? '')
        .split(',')
        .filter(Boolean)
        .map((s) => {
          const [containerId = '', ifName = ''] = s.split('/');
          if (!containerId || !ifName)
            throw usage(`--valid entry ${JSON.stringify(s)} is not CONTAINERID/IFNAME`);
          return { containerId, ifName };
        });
      await runtime.gcNetworkList(list, valid);
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    if (!nsArg && command !== 'del') throw usage(`${command} needs a network namespace`);
    const netns = nsArg ? netnsPath(nsArg) : '';
    const containerId =
      values['container-id'] ??
      (netns
        ? `podnet-cni-${createHash('sha256').update(netns).digest('hex').slice(0, 16)}`
        : undefined);
    if (!containerId) throw usage('del without a netns needs --container-id');
    let capabilityArgs: Record<string, unknown> | undefined;
    const capText = values['capability-args'] ?? env.CAP_ARGS;
    if (capText) {
      try {
        capabilityArgs = JSON.parse(capText) as Record<string, unknown>;
      } catch (cause) {
        throw new CniError(CNI_ERROR_CODES.DECODE_FAILURE, '--capability-args is not valid JSON', {
          cause,
        });
      }
      if (
        typeof capabilityArgs !== 'object' ||
        capabilityArgs === null ||
        Array.isArray(capabilityArgs)
      ) {
        throw new CniError(
          CNI_ERROR_CODES.DECODE_FAILURE,
          '--capability-args must be a JSON object',
        );
      }
    }
    const argsText = values.args ?? env.CNI_ARGS;
    const rt: RuntimeConf = {
      containerId,
      netns,
      ifName: values.ifname ?? env.CNI_IFNAME ?? 'eth0',
      args: argsText ? parseCniArgs(argsText) : undefined,
      capabilityArgs,
    };
    if (command === 'add') {
      const result = await runtime.addNetworkList(list, rt);
      return { stdout: `${JSON.stringify(result, null, 2)}\n`, stderr: '', exitCode: 0 };
    }
    if (command === 'del') await runtime.delNetworkList(list, rt);
    else await runtime.checkNetworkList(list, rt);
    return { stdout: '', stderr: '', exitCode: 0 };
  } catch (e) {
    const err = CniError.isInstance(e)
      ? e
      : e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
        ? usage(e.message)
        : CniError.from(e);
    return { stdout: `${JSON.stringify(err.toJSON())}\n`, stderr: '', exitCode: 1 };
  }
}
