import { spawnSync } from 'node:child_process';
import { ACCEPTED_KINDS, SERVICE_TYPES } from './accept-manifests.js';
import { COMMANDS, GET_RESOURCES, parseCommandLine } from './cli-args.js';
import { Cluster } from './cluster.js';
import { deleteObjects } from './delete-objects.js';
import { ClusterError } from './errors.js';
import { renderGet } from './get-tables.js';
import { formatLive, liveExplain } from './live-explain.js';
import { flowQuery, flowSources, runObserve } from './observe.js';
import { readManifestPath } from './read-manifests.js';

export { parseTarget } from './cli-args.js';

const USAGE = `usage: podnet <command> [options]

  up [--nodes 3] [--manifests FILE|DIR] [--name NAME] [--network podnet|reference]
     [--ip-family ipv4|ipv6|dual]     IPv4 (default), IPv6 only, or dual stack (IPv4 first)
  apply -f FILE|DIR                   start pods, add services and policies (a file, or the *.yaml,
                                      *.yml and *.json files of DIR; -f may be left out):
                                      ${ACCEPTED_KINDS.slice(0, 3).join(', ')},
                                      ${ACCEPTED_KINDS.slice(3).join(', ')}; Services of type
                                      ${SERVICE_TYPES.slice(0, -1).join(', ')} or ${SERVICE_TYPES.at(-1)}
                                      (a LoadBalancer gets an address of 203.0.113.200-250).
                                      Any problem: exit 2 listing each
                                      (file: document N: object: field: what), nothing applied
  delete -f FILE|DIR                  delete each object the manifests name (pods through CNI DEL,
                                      as delete-pod; a Namespace with what is in it); one that
                                      fails is reported, the rest go on (exit 1 if any failed)
  get ${GET_RESOURCES.join('|')} [-o json|yaml]
                                      a table, or a List of the objects as the agents read them
  delete-pod POD [--timeout 60]
                                      a failing CNI DEL is retried for --timeout seconds; if it
                                      never succeeds the pod stays (exit 2)
  delete-policy NAMESPACE/NAME        a NetworkPolicy
  delete-policy NAME                  a ClusterNetworkPolicy
  probe FROM TO:PORT[/tcp|udp|http] [-4|-6]
                                      exit 0 connected, 1 blocked
  explain FROM TO:PORT[/PROTO] [-4|-6] [--live]
                                      DNS answer, DNAT, route, policy verdict (exit 0 allowed);
                                      --live also sends a traced probe and sets the chains and
                                      rules the kernel met beside the model (exit 3: they disagree)
  observe [--pod NS/NAME] [--namespace NS] [--verdict drop|allow|would-drop] [--since 5m]
          [--follow] [-o json]
                                      policy verdicts on new flows from every node's agent, in
                                      time order (drops always; allows of policies annotated
                                      podnet.io/log-allowed: "true"; would-drop of audited ones)
  exec POD -- CMD...
  podman NODE -- ARGS...              podman on a node with the node's CNI (rootfs: see README)
  gc NODE                             CNI GC: release attachments of pods that no longer exist
  restart-agent NODE                  restart a node's agent (pods keep running)
  status
  down

Every command takes --name NAME (the cluster, default "default").

FROM/POD: a pod (name or namespace/name), a node (node1) or "external".
TO: a pod, an IP (IPv6 in brackets: [fd00:10:244:2::5]:80) or a DNS name (resolved inside FROM
with its resolv.conf). -6 reaches a pod, node or "external" at its IPv6 address and resolves a
name to AAAA (-4: IPv4 and A); the default is the cluster's first family.
Commands that change the cluster take its state lock (<run dir>/state.lock) and wait for another
such command to finish; delete-pod holds it only to record the deletion, not while DEL retries.
Commands: ${COMMANDS.join(', ')}.`;

function progress(start: number) {
  return (msg: string) =>
    process.stderr.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
}

/** Runs the `podnet` command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`podnet: ${(e as Error).message}\n(podnet --help prints the usage)\n`);
    return 2;
  }
  const { command: c, name, runRoot } = parsed;
  const log = progress(Date.now());
  /** A command that changes the cluster: under the state lock, on the state read under it. */
  const edit = <T>(fn: (cluster: Cluster) => Promise<T>) =>
    Cluster.edit(name, runRoot, fn, { holder: `podnet ${argv.join(' ')}` });
  const load = () => Cluster.load(name, runRoot);
  try {
    switch (c.cmd) {
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      case 'up': {
        const objects = c.manifests ? await readManifestPath(c.manifests) : undefined;
        const cluster = await Cluster.up({
          name,
          nodes: c.nodes,
          ...(c.network ? { network: c.network } : {}),
          ...(c.ipFamily ? { ipFamily: c.ipFamily } : {}),
          runRoot,
          progress: log,
        });
        if (objects) await cluster.apply(objects, log);
        process.stdout.write(`${cluster.status()}\n`);
        return 0;
      }
      case 'apply': {
        const objects = await readManifestPath(c.path);
        await edit((cluster) => cluster.apply(objects, log));
        return 0;
      }
      case 'delete': {
        const objects = await readManifestPath(c.path);
        await load(); // NOT_FOUND with its hint when there is no cluster
        const outcomes = await deleteObjects(
          objects,
          {
            // Not under edit(): deletePod locks the state only to record the deletion.
            deletePod: async (ns, pod) =>
              (await load()).deletePod(`${ns}/${pod}`, { progress: log }),
            deleteObject: (kind, ns, n) => edit((cluster) => cluster.deleteObject(kind, ns, n)),
            podsIn: async (ns) =>
              (await load()).state.sandboxes.filter((p) => p.namespace === ns).map((p) => p.name),
          },
          (o) => {
            if (o.error === undefined) process.stdout.write(`${o.kind} ${o.ref} deleted\n`);
            else process.stderr.write(`podnet delete: ${o.kind} ${o.ref}: ${errorText(o.error)}\n`);
          },
        );
        const failed = outcomes.filter((o) => o.error !== undefined).length;
        if (failed > 0)
          process.stderr.write(`podnet delete: ${failed} of ${outcomes.length} not deleted\n`);
        return failed > 0 ? 1 : 0;
      }
      case 'get': {
        const cluster = await load();
        process.stdout.write(
          renderGet(c.resource, cluster.snapshot(), {
            ...(c.output ? { output: c.output } : {}),
            agents: cluster.agentStatus(),
          }),
        );
        return 0;
      }
      case 'delete-pod': {
        // Not under edit(): deletePod locks the state only to record the deletion, so a DEL that
        // waits for a restarting agent does not hold up other commands (restart-agent included).
        await (await load()).deletePod(c.pod, {
          timeoutMs: c.timeoutSeconds * 1000,
          progress: log,
        });
        return 0;
      }
      case 'delete-policy': {
        const { namespace, policy } = c;
        if (namespace === undefined)
          await edit((cluster) => cluster.deleteClusterNetworkPolicy(policy));
        else await edit((cluster) => cluster.deleteNetworkPolicy(namespace, policy));
        return 0;
      }
      case 'probe': {
        const t = c.target;
        const r = await (await load()).probe(c.from, t.to, t.port, t.proto, 3000, t.family);
        process.stdout.write(
          r.ok
            ? `connected: ${r.address} answered "${r.reply}"\n`
            : `blocked: ${r.error ?? 'no answer'}${r.address ? ` (${r.address})` : ''}\n`,
        );
        return r.ok ? 0 : 1;
      }
      case 'explain': {
        const t = c.target;
        const protocol = t.proto === 'udp' ? 'UDP' : 'TCP';
        if (c.live) {
          const flow = {
            from: c.from,
            to: t.to,
            port: t.port,
            protocol,
            family: t.family,
          } as const;
          const [le] = await liveExplain(await load(), [flow]);
          for (const l of formatLive(le!)) process.stdout.write(`${l}\n`);
          return le!.disagreements.length > 0 ? 3 : le!.kernel.verdict === 'allow' ? 0 : 1;
        }
        const e = await (await load()).explain(c.from, t.to, t.port, protocol, t.family);
        for (const step of e.steps) process.stdout.write(`${step.kind.padEnd(8)} ${step.detail}\n`);
        process.stdout.write(`verdict  ${e.verdict}\n`);
        return e.verdict === 'allow' ? 0 : 1;
      }
      case 'observe': {
        const cluster = await load();
        const sources = flowSources(cluster.state.plan, flowQuery(c.options));
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        try {
          return await runObserve(
            sources,
            c.options,
            (t) => process.stdout.write(t),
            (t) => process.stderr.write(t),
            stop.signal,
          );
        } finally {
          process.off('SIGINT', onSignal);
        }
      }
      case 'exec': {
        const argvFull = (await load()).execArgv(c.endpoint, c.argv);
        const r = spawnSync(argvFull[0]!, argvFull.slice(1), { stdio: 'inherit' });
        return r.status ?? 1;
      }
      case 'podman': {
        const pm = (await load()).podman(c.node);
        const full = pm.argv(c.argv);
        const r = spawnSync(full[0]!, full.slice(1), { stdio: 'inherit', env: pm.env() });
        return r.status ?? 1;
      }
      case 'gc': {
        await edit((cluster) => cluster.gc(c.node));
        return 0;
      }
      case 'restart-agent': {
        const pid = await edit((cluster) => cluster.restartAgent(c.node));
        process.stdout.write(`agent on ${c.node} restarted (pid ${pid})\n`);
        return 0;
      }
      case 'status': {
        process.stdout.write(`${(await load()).status()}\n`);
        return 0;
      }
      case 'down': {
        const errors = await edit((cluster) => cluster.down(log));
        for (const e of errors) process.stderr.write(`warning: ${e}\n`);
        return 0;
      }
    }
  } catch (e) {
    process.stderr.write(`podnet ${c.cmd}: ${errorText(e)}\n`);
    return 2;
  }
}

/** `CODE: message` of a ClusterError, the message of another error. */
function errorText(e: unknown): string {
  return `${ClusterError.isInstance(e) ? `${e.code}: ` : ''}${(e as Error).message}`;
}
