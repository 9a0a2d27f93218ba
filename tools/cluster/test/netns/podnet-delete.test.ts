import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/index.js';
import { manifestObjects, pod, runPodnet, startCluster } from './helpers.js';

// `podnet delete-pod` as its own process, as a user runs it: a DEL that fails while the node's
// agent is down is retried until the agent is back, or the command fails and the pod stays; and
// parallel deletes all land in the cluster state.
describe('podnet delete-pod', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('podnet', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
  }, 120_000);
  afterAll(async () => {
    // the CLI processes changed the state on disk: tear down what is there now
    if (cluster) cluster.state = (await Cluster.load(cluster.plan.name)).state;
    await cleanup();
  }, 120_000);

  const fresh = async () => (await Cluster.load(cluster.plan.name)).state;
  /** Pods of the state: each with its sandbox and its Pod object, or neither. */
  const podNames = async () => {
    const state = await fresh();
    const names = state.sandboxes.map((p) => p.name).sort();
    expect(state.objects.pods.map((p) => p.metadata?.name).sort()).toEqual(names);
    return names;
  };
  const nodeDir = (node: string) => join(cluster.state.runDir, 'nodes', node);
  /** Addresses the node's IPAM store holds. */
  const allocated = (node: string) =>
    readdirSync(join(nodeDir(node), 'agent-state', 'ipam'), { recursive: true })
      .map((f) => String(f).split('/').pop()!)
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .sort();
  /** Whether the runtime's CNI result cache still holds an attachment of `containerId`. */
  const cached = (node: string, containerId: string) =>
    readdirSync(join(nodeDir(node), 'cni', 'cache'), { recursive: true }).some((f) =>
      String(f).includes(containerId),
    );
  /** Whether the node routes `ip` to a pod (a host route of its own). */
  const routed = async (node: string, ip: string) =>
    (await cluster.exec(node, ['ip', 'route', 'show'])).stdout
      .split('\n')
      .some((l) => l.startsWith(`${ip} `));
  async function killAgent(node: string): Promise<void> {
    const pid = (await fresh()).agents[node]!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !existsSync(`/proc/${pid}`), { what: `agent ${pid} gone` });
  }
  async function startPods(names: string[], node: string) {
    cluster.state = await fresh(); // the CLI processes changed it
    await cluster.apply(manifestObjects(names.map((n) => pod(n, node, { app: 'del' }))));
    return names.map((n) => cluster.sandbox(n)!);
  }

  it('retries DEL while the agent is down and succeeds once it is back: nothing leaks', async () => {
    const [victim] = await startPods(['victim'], 'node1');
    expect(allocated('node1')).toContain(victim!.ip);
    expect(await routed('node1', victim!.ip!)).toBe(true);

    await killAgent('node1');
    const del = runPodnet(cluster, ['delete-pod', 'victim']);
    // the first DEL failed (the agent's socket refuses): the command waits and retries
    const retrying = await del.stderrLine(/CNI DEL of pod default\/victim failed \(attempt 1\)/);
    // the agent comes back (restart-agent is not held up by the waiting delete-pod)
    const restart = await runPodnet(cluster, ['restart-agent', 'node1']).done;
    expect(restart.code, restart.stderr).toBe(0);

    const r = await del.done;
    expect(r.code, r.stderr).toBe(0);
    expect(retrying, r.stderr).toBe(true);
    expect(await podNames()).not.toContain('victim');
    // the DEL really ran: address released, result cache entry and host route gone
    expect(allocated('node1')).not.toContain(victim!.ip);
    expect(cached('node1', victim!.containerId!)).toBe(false);
    expect(await routed('node1', victim!.ip!)).toBe(false);
  }, 120_000);

  it('exits non-zero and keeps the pod when the agent stays down; a later delete-pod finishes', async () => {
    const [stuck] = await startPods(['stuck'], 'node2');
    await killAgent('node2');

    const r = await runPodnet(cluster, ['delete-pod', 'stuck', '--timeout', '2']).done;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /podnet delete-pod: CNI_FAILED: CNI DEL of pod default\/stuck failed \d+ time\(s\) in [\d.]+ s: .*stays in the cluster state/,
    );
    expect(await podNames()).toContain('stuck');
    const status = await runPodnet(cluster, ['status']).done;
    expect(status.stdout).toMatch(/^default\/stuck\s+node2\s/m);
    // still accounted for: the address and the attachment are the pod's, not leaked
    expect(allocated('node2')).toContain(stuck!.ip);
    expect(cached('node2', stuck!.containerId!)).toBe(true);

    expect((await runPodnet(cluster, ['restart-agent', 'node2']).done).code).toBe(0);
    const again = await runPodnet(cluster, ['delete-pod', 'stuck']).done;
    expect(again.code, again.stderr).toBe(0);
    expect(await podNames()).not.toContain('stuck');
    expect(allocated('node2')).not.toContain(stuck!.ip);
    expect(cached('node2', stuck!.containerId!)).toBe(false);
  }, 120_000);

  it('six parallel delete-pod commands all land in the state; gc then leaves only live pods', async () => {
    const six = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];
    await startPods(six.slice(0, 3), 'node1');
    await startPods(six.slice(3), 'node2');
    await startPods(['keeper'], 'node1');

    const runs = await Promise.all(six.map((n) => runPodnet(cluster, ['delete-pod', n]).done));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(six.map(() => [0, '']));

    const state = await fresh();
    expect(state.sandboxes.map((p) => p.name).filter((n) => six.includes(n))).toEqual([]);
    expect(state.sandboxes.map((p) => p.name)).toContain('keeper');
    const manifests = readdirSync(join(state.runDir, 'manifests'));
    expect(manifests.filter((f) => /^pod-default\.d\d\.yaml$/.test(f))).toEqual([]);
    expect(manifests).toContain('pod-default.keeper.yaml');

    // with the state right, GC keeps exactly the live pods' addresses
    for (const node of ['node1', 'node2']) {
      expect((await runPodnet(cluster, ['gc', node]).done).code).toBe(0);
      const live = state.sandboxes.filter((p) => p.node === node).map((p) => p.ip!);
      expect(allocated(node)).toEqual(live.sort());
    }
  }, 120_000);
});
