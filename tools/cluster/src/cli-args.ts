/**
 * The `podnet` command line as a value: which command, its operands and options, checked before
 * anything runs. Pure (node:util's `parseArgs` is its only import from Node).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_RUN_ROOT } from './cluster.js';
import { ClusterError } from './errors.js';
import { IP_FAMILY_MODES, type IpFamilyMode } from './ip-family.js';
import { checkObserveOptions, type ObserveOptions, type ObserveVerdict } from './observe.js';
import type { NetworkMode } from './plan.js';

/** Every command `podnet` knows, in the order the usage lists them. */
export const COMMANDS = [
  'up',
  'apply',
  'delete',
  'get',
  'delete-pod',
  'delete-policy',
  'probe',
  'explain',
  'observe',
  'exec',
  'podman',
  'gc',
  'restart-agent',
  'status',
  'down',
] as const;

/** What `podnet get` lists. */
export const GET_RESOURCES = ['pods', 'services', 'policies', 'nodes'] as const;

/** One of {@link GET_RESOURCES}. */
export type GetResource = (typeof GET_RESOURCES)[number];

/** The spellings `podnet get` takes for each resource (kubectl's singulars and short names). */
const RESOURCE_ALIASES: Record<string, GetResource> = {
  pods: 'pods',
  pod: 'pods',
  po: 'pods',
  services: 'services',
  service: 'services',
  svc: 'services',
  policies: 'policies',
  policy: 'policies',
  networkpolicies: 'policies',
  networkpolicy: 'policies',
  netpol: 'policies',
  clusternetworkpolicies: 'policies',
  clusternetworkpolicy: 'policies',
  cnp: 'policies',
  nodes: 'nodes',
  node: 'nodes',
  no: 'nodes',
};

/** The formats of `podnet get -o`. */
export const OUTPUT_FORMATS = ['json', 'yaml'] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const NETWORKS: readonly NetworkMode[] = ['podnet', 'reference'];

/** A probe or explain target: `TO:PORT[/PROTO]` (an IPv6 address in brackets: `[fd00::1]:80`). */
export interface Target {
  /** A pod, node, `external`, DNS name or address (an IPv6 one without its brackets). */
  to: string;
  port: number;
  proto: 'tcp' | 'udp' | 'http';
  /** `-6`/`-4`: reach a pod, node or `external` over that family, resolve a name to AAAA/A. */
  family?: 4 | 6;
}

/** A command with its operands, as {@link parseCommandLine} read it. */
export type Command =
  | { cmd: 'help' }
  | {
      cmd: 'up';
      nodes: number;
      manifests?: string;
      network?: NetworkMode;
      ipFamily?: IpFamilyMode;
    }
  | { cmd: 'apply'; path: string }
  | { cmd: 'delete'; path: string }
  | { cmd: 'get'; resource: GetResource; output?: OutputFormat }
  | { cmd: 'delete-pod'; pod: string; timeoutSeconds: number }
  | { cmd: 'delete-policy'; namespace?: string; policy: string }
  | { cmd: 'probe'; from: string; target: Target }
  | { cmd: 'explain'; from: string; target: Target; live?: boolean }
  | { cmd: 'observe'; options: ObserveOptions }
  | { cmd: 'exec'; endpoint: string; argv: string[] }
  | { cmd: 'podman'; node: string; argv: string[] }
  | { cmd: 'gc'; node: string }
  | { cmd: 'restart-agent'; node: string }
  | { cmd: 'status' }
  | { cmd: 'down' };

/** A parsed command line: the command and the cluster it is for. */
export interface CommandLine {
  command: Command;
  /** The cluster's name (`--name`, `default`). */
  name: string;
  /** Where clusters keep their state (`--run-root`). */
  runRoot: string;
}

/** Parses `TO:PORT[/PROTO]`; an IPv6 address goes in brackets (`[fd00::1]:80`). */
export function parseTarget(text: string): Target {
  const m = /^(.+):(\d+)(?:\/(tcp|udp|http))?$/i.exec(text);
  if (!m)
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `target: want TO:PORT[/tcp|udp|http], got ${JSON.stringify(text)}`,
    );
  const bracketed = /^\[([0-9A-Fa-f:.]+)\]$/.exec(m[1]!);
  if (!bracketed && m[1]!.includes(':'))
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `target: write an IPv6 address in brackets, [ADDRESS]:PORT, got ${JSON.stringify(text)}`,
    );
  return {
    to: bracketed ? bracketed[1]! : m[1]!,
    port: Number(m[2]),
    proto: (m[3]?.toLowerCase() ?? 'tcp') as Target['proto'],
  };
}

const bad = (message: string) => new ClusterError('INVALID_ARGUMENT', message);

/** `podnet get`'s resource from any of its spellings, or an error listing the supported ones. */
export function parseResource(text: string | undefined): GetResource {
  const r = text === undefined ? undefined : RESOURCE_ALIASES[text.toLowerCase()];
  if (r) return r;
  throw bad(
    `${text === undefined ? 'want a resource' : `unknown resource ${JSON.stringify(text)}`} (supported: ${GET_RESOURCES.join(', ')})`,
  );
}

/** The one manifest path of `apply`/`delete`: `-f PATH` or a single operand. */
function manifestPath(cmd: string, file: string | undefined, operands: string[]): string {
  if (file !== undefined && operands.length > 0)
    throw bad(`${cmd}: give the manifests once (-f FILE|DIR or FILE|DIR), got ${operands[0]} too`);
  const path = file ?? operands[0];
  if (!path) throw bad(`${cmd}: want -f FILE|DIR`);
  if (operands.length > 1) throw bad(`${cmd}: one FILE|DIR, got ${operands.join(' ')}`);
  return path;
}

/**
 * Parses the arguments of `podnet` (without `node` and the script): the command, its operands
 * (the words after `--` go to `exec`/`podman`) and the options. Throws `INVALID_ARGUMENT` naming
 * what is wrong: an unknown command lists the commands, an unknown resource of `get` the
 * resources, an unknown option or format the ones there are.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const dash = argv.indexOf('--');
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(dash >= 0 ? argv.slice(0, dash) : [...argv]);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const { values, positionals } = parsed;
  const name = values.name ?? 'default';
  const runRoot = values['run-root'] ?? DEFAULT_RUN_ROOT;
  const [cmd, ...ops] = positionals;
  const line = (command: Command): CommandLine => ({ command, name, runRoot });
  if (values.help || cmd === 'help') return line({ cmd: 'help' });
  if (cmd === undefined) throw bad(`want a command (commands: ${COMMANDS.join(', ')})`);
  const need = (n: number, what: string) => {
    if (ops.length < n) throw bad(`${cmd}: want ${what}`);
    if (ops.length > n) throw bad(`${cmd}: unexpected ${ops.slice(n).join(' ')} (want ${what})`);
  };
  switch (cmd) {
    case 'up': {
      need(0, 'no operands');
      const nodes = Number(values.nodes ?? '3');
      if (!Number.isInteger(nodes) || nodes < 1)
        throw bad(`--nodes: want a positive integer, got ${values.nodes}`);
      const network = values.network as NetworkMode | undefined;
      if (network !== undefined && !NETWORKS.includes(network))
        throw bad(`--network: want ${NETWORKS.join(' or ')}, got ${network}`);
      const ipFamily = values['ip-family'] as IpFamilyMode | undefined;
      if (ipFamily !== undefined && !IP_FAMILY_MODES.includes(ipFamily))
        throw bad(`--ip-family: want ${IP_FAMILY_MODES.join(', ')}, got ${ipFamily}`);
      return line({
        cmd: 'up',
        nodes,
        ...(values.manifests ? { manifests: values.manifests } : {}),
        ...(network ? { network } : {}),
        ...(ipFamily ? { ipFamily } : {}),
      });
    }
    case 'apply':
    case 'delete':
      return line({ cmd, path: manifestPath(cmd, values.file, ops) });
    case 'get': {
      if (ops.length > 1) throw bad(`get: one resource, got ${ops.join(' ')}`);
      const resource = parseResource(ops[0]);
      const output = values.output;
      if (output !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(output))
        throw bad(
          `-o: unknown format ${JSON.stringify(output)} (supported: ${OUTPUT_FORMATS.join(', ')})`,
        );
      return line({
        cmd: 'get',
        resource,
        ...(output ? { output: output as OutputFormat } : {}),
      });
    }
    case 'delete-pod': {
      need(1, 'POD');
      const seconds = Number(values.timeout ?? '60');
      if (!(seconds >= 0)) throw bad(`--timeout: want seconds, got ${values.timeout}`);
      return line({ cmd, pod: ops[0]!, timeoutSeconds: seconds });
    }
    case 'delete-policy': {
      need(1, 'NAMESPACE/NAME (a NetworkPolicy) or NAME (a ClusterNetworkPolicy)');
      const parts = ops[0]!.split('/');
      if (parts.length === 1 && parts[0]) return line({ cmd, policy: parts[0] });
      if (parts.length === 2 && parts[0] && parts[1])
        return line({ cmd, namespace: parts[0], policy: parts[1] });
      throw bad(`delete-policy: want NAMESPACE/NAME or NAME, got ${JSON.stringify(ops[0])}`);
    }
    case 'probe':
    case 'explain': {
      need(2, 'FROM TO:PORT[/PROTO]');
      if (values.ipv4 && values.ipv6) throw bad(`${cmd}: -4 or -6, not both`);
      const family = values.ipv6 ? 6 : values.ipv4 ? 4 : undefined;
      const target = parseTarget(ops[1]!);
      if (values.live && cmd !== 'explain') throw bad(`${cmd}: --live is an option of explain`);
      if (values.live && target.proto === 'http')
        throw bad('explain --live: PROTO: want tcp or udp, got http');
      return line({
        cmd,
        from: ops[0]!,
        target: family ? { ...target, family } : target,
        ...(values.live ? { live: true } : {}),
      });
    }
    case 'observe': {
      need(0, 'no operands (filters are options: --pod, --namespace, --verdict, --since)');
      const output = values.output;
      if (output !== undefined && output !== 'json')
        throw bad(`-o: unknown format ${JSON.stringify(output)} (supported: json)`);
      const options = checkObserveOptions({
        ...(values.pod !== undefined ? { pod: values.pod } : {}),
        ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
        ...(values.verdict !== undefined ? { verdict: values.verdict as ObserveVerdict } : {}),
        ...(values.since !== undefined ? { since: values.since } : {}),
        ...(values.follow ? { follow: true } : {}),
        ...(output ? { output } : {}),
      });
      return line({ cmd, options });
    }
    case 'exec':
    case 'podman': {
      const what = cmd === 'exec' ? 'POD -- CMD...' : 'NODE -- ARGS...';
      need(1, what);
      if (rest.length === 0) throw bad(`${cmd}: want ${what}`);
      return line(
        cmd === 'exec'
          ? { cmd, endpoint: ops[0]!, argv: rest }
          : { cmd, node: ops[0]!, argv: rest },
      );
    }
    case 'gc':
    case 'restart-agent':
      need(1, 'NODE');
      return line({ cmd, node: ops[0]! });
    case 'status':
    case 'down':
      need(0, 'no operands');
      return line({ cmd });
  }
  throw bad(`unknown command ${JSON.stringify(cmd)} (commands: ${COMMANDS.join(', ')})`);
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      nodes: { type: 'string' },
      manifests: { type: 'string' },
      network: { type: 'string' },
      'ip-family': { type: 'string' },
      ipv4: { type: 'boolean', short: '4' },
      ipv6: { type: 'boolean', short: '6' },
      'run-root': { type: 'string', default: DEFAULT_RUN_ROOT },
      timeout: { type: 'string' },
      file: { type: 'string', short: 'f' },
      output: { type: 'string', short: 'o' },
      pod: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      verdict: { type: 'string' },
      since: { type: 'string' },
      follow: { type: 'boolean' },
      live: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
