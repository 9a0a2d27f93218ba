import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ACCEPTED_KINDS, SERVICE_TYPES } from './accept-manifests.js';
import { Cluster, DEFAULT_RUN_ROOT } from './cluster.js';
import { ClusterError } from './errors.js';
import type { NetworkMode } from './plan.js';
import { readManifestPath } from './read-manifests.js';

const USAGE = `usage: podnet <command> [options]

  up [--nodes 3] [--manifests FILE|DIR] [--name NAME] [--network podnet|reference]
  apply FILE|DIR [--name NAME]        start pods, add services and policies (the *.yaml, *.yml
                                      and *.json files of DIR): ${ACCEPTED_KINDS.slice(0, 3).join(', ')},
                                      ${ACCEPTED_KINDS.slice(3).join(', ')}; Services of type
                                      ${SERVICE_TYPES.join(' or ')}. Any problem: exit 2 listing each
                                      (file: document N: object: field: what), nothing applied
  delete-pod POD [--timeout 60] [--name NAME]
                                      a failing CNI DEL is retried for --timeout seconds; if it
                                      never succeeds the pod stays (exit 2)
  delete-policy NAMESPACE/NAME        a NetworkPolicy
  delete-policy NAME                  a ClusterNetworkPolicy
  probe FROM TO:PORT[/tcp|udp|http]   exit 0 connected, 1 blocked
  explain FROM TO:PORT[/PROTO]        DNS answer, DNAT, route, policy verdict (exit 0 allowed)
  exec POD -- CMD...
  podman NODE -- ARGS...              podman on a node with the node's CNI (rootfs: see README)
  gc NODE                             CNI GC: release attachments of pods that no longer exist
  restart-agent NODE                  restart a node's agent (pods keep running)
  status
  down [--name NAME]

FROM/POD: a pod (name or namespace/name), a node (node1) or "external".
TO: a pod, an IP or a DNS name (resolved inside FROM with its resolv.conf).
Commands that change the cluster take its state lock (<run dir>/state.lock) and wait for another
such command to finish; delete-pod holds it only to record the deletion, not while DEL retries.`;

/** Parses `TO:PORT[/PROTO]`. */
export function parseTarget(text: string): {
  to: string;
  port: number;
  proto: 'tcp' | 'udp' | 'http';
} {
  const m = /^(.+):(\d+)(?:\/(tcp|udp|http))?$/i.exec(text);
  if (!m)
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `target: want TO:PORT[/tcp|udp|http], got ${JSON.stringify(text)}`,
    );
  return {
    to: m[1]!,
    port: Number(m[2]),
    proto: (m[3]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' | 'http',
  };
}

function progress(start: number) {
  return (msg: string) =>
    process.stderr.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
}

/** Runs the `podnet` command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values, positionals } = parseArgs({
    args: dash >= 0 ? argv.slice(0, dash) : argv,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'default' },
      nodes: { type: 'string', default: '3' },
      manifests: { type: 'string' },
      network: { type: 'string' },
      'run-root': { type: 'string', default: DEFAULT_RUN_ROOT },
      timeout: { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...args] = positionals;
  const log = progress(Date.now());
  const name = values.name!;
  const runRoot = values['run-root']!;
  /** A command that changes the cluster: under the state lock, on the state read under it. */
  const edit = <T>(fn: (cluster: Cluster) => Promise<T>) =>
    Cluster.edit(name, runRoot, fn, { holder: `podnet ${argv.join(' ')}` });
  try {
    switch (cmd) {
      case 'up': {
        const objects = values.manifests ? await readManifestPath(values.manifests) : undefined;
        const cluster = await Cluster.up({
          name,
          nodes: Number(values.nodes),
          network: values.network as NetworkMode | undefined,
          runRoot,
          progress: log,
        });
        if (objects) await cluster.apply(objects, log);
        process.stdout.write(`${cluster.status()}\n`);
        return 0;
      }
      case 'apply': {
        if (!args[0]) break;
        const objects = await readManifestPath(args[0]);
        await edit((cluster) => cluster.apply(objects, log));
        return 0;
      }
      case 'delete-pod': {
        if (!args[0]) break;
        const seconds = Number(values.timeout);
        if (!(seconds >= 0))
          throw new ClusterError(
            'INVALID_ARGUMENT',
            `--timeout: want seconds, got ${values.timeout}`,
          );
        // Not under edit(): deletePod locks the state only to record the deletion, so a DEL that
        // waits for a restarting agent does not hold up other commands (restart-agent included).
        const cluster = await Cluster.load(name, runRoot);
        await cluster.deletePod(args[0], { timeoutMs: seconds * 1000, progress: log });
        return 0;
      }
      case 'delete-policy': {
        const [ns, pname, extra] = (args[0] ?? '').split('/');
        if (!ns || extra !== undefined) break;
        if (pname === undefined) await edit((cluster) => cluster.deleteClusterNetworkPolicy(ns));
        else if (pname) await edit((cluster) => cluster.deleteNetworkPolicy(ns, pname));
        else break;
        return 0;
      }
      case 'probe': {
        if (!args[0] || !args[1]) break;
        const t = parseTarget(args[1]);
        const r = await (await Cluster.load(name, runRoot)).probe(args[0], t.to, t.port, t.proto);
        process.stdout.write(
          r.ok
            ? `connected: ${r.address} answered "${r.reply}"\n`
            : `blocked: ${r.error ?? 'no answer'}${r.address ? ` (${r.address})` : ''}\n`,
        );
        return r.ok ? 0 : 1;
      }
      case 'explain': {
        if (!args[0] || !args[1]) break;
        const t = parseTarget(args[1]);
        const protocol = t.proto === 'udp' ? 'UDP' : 'TCP';
        const e = await (await Cluster.load(name, runRoot)).explain(
          args[0],
          t.to,
          t.port,
          protocol,
        );
        for (const step of e.steps) process.stdout.write(`${step.kind.padEnd(8)} ${step.detail}\n`);
        process.stdout.write(`verdict  ${e.verdict}\n`);
        return e.verdict === 'allow' ? 0 : 1;
      }
      case 'exec': {
        if (!args[0] || rest.length === 0) break;
        const cluster = await Cluster.load(name, runRoot);
        const argvFull = cluster.execArgv(args[0], rest);
        const r = spawnSync(argvFull[0]!, argvFull.slice(1), { stdio: 'inherit' });
        return r.status ?? 1;
      }
      case 'podman': {
        if (!args[0] || rest.length === 0) break;
        const pm = (await Cluster.load(name, runRoot)).podman(args[0]);
        const full = pm.argv(rest);
        const r = spawnSync(full[0]!, full.slice(1), { stdio: 'inherit', env: pm.env() });
        return r.status ?? 1;
      }
      case 'gc': {
        if (!args[0]) break;
        const node = args[0];
        await edit((cluster) => cluster.gc(node));
        return 0;
      }
      case 'restart-agent': {
        if (!args[0]) break;
        const node = args[0];
        const pid = await edit((cluster) => cluster.restartAgent(node));
        process.stdout.write(`agent on ${args[0]} restarted (pid ${pid})\n`);
        return 0;
      }
      case 'status': {
        process.stdout.write(`${(await Cluster.load(name, runRoot)).status()}\n`);
        return 0;
      }
      case 'down': {
        const errors = await edit((cluster) => cluster.down(log));
        for (const e of errors) process.stderr.write(`warning: ${e}\n`);
        return 0;
      }
    }
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  } catch (e) {
    process.stderr.write(
      `podnet ${cmd}: ${ClusterError.isInstance(e) ? `${e.code}: ` : ''}${(e as Error).message}\n`,
    );
    return 2;
  }
}
