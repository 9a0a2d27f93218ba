import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifestText } from '@podnet/cluster-state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Cluster } from '../../src/index.js';
import { pod, runPodnet, startCluster } from './helpers.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** `npx ARGS` from the repo root, as a user types it (offline: never from the registry). */
function npx(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: 'true' };
  delete env.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn('npx', args, {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// The kubectl-like commands as processes of their own, as a user runs them against one cluster:
// apply -f DIR, get (tables and the objects the agents read), delete -f of a pod and a policy.
describe('podnet apply -f, get, delete -f', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};
  const dir = mkdtempSync(join(tmpdir(), 'podnet-cli-'));
  const podnet = (...args: string[]) => runPodnet(cluster, args).done;

  beforeAll(async () => {
    const s = await startCluster('podnet', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
  }, 120_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    // the CLI processes changed the state on disk: tear down what is there now
    if (cluster) cluster.state = (await Cluster.load(cluster.plan.name)).state;
    await cleanup();
  }, 120_000);

  const manifests = join(dir, 'manifests');
  const policy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web-ingress', namespace: 'default' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
  };
  const team = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  };

  it('npx podnet --help from the repo root prints the usage', async () => {
    const r = await npx(['podnet', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: podnet <command>/);
    expect(r.stdout).toMatch(/delete -f FILE\|DIR/);
  }, 60_000);

  it('applies a directory, lists it, deletes a pod and a policy and releases the address', async () => {
    const files = [
      {
        name: 'pods.yaml',
        docs: [pod('web-a', 'node1', { app: 'web' }), pod('web-b', 'node2', { app: 'web' })],
      },
      { name: 'service.yaml', docs: [service] },
      { name: 'team.yaml', docs: [team, pod('solo', 'node2', {}, [], 'team')] },
      { name: 'policy.yaml', docs: [policy] },
    ];
    rmSync(manifests, { recursive: true, force: true });
    mkdirSync(manifests);
    for (const f of files)
      writeFileSync(join(manifests, f.name), f.docs.map((d) => stringify(d)).join('---\n'));
    const applied = await podnet('apply', '-f', manifests);
    expect(applied.code, applied.stderr).toBe(0);

    // get pods -o json: the Pod objects as the agents read them, parsed back by the reader
    const json = await podnet('get', 'pods', '-o', 'json');
    expect(json.code, json.stderr).toBe(0);
    const read = readManifestText(json.stdout, { file: 'get-pods.json' });
    expect(read.problems).toEqual([]);
    const pods = read.objects.map(
      (o) =>
        o.object as {
          metadata: { name: string };
          status: { podIP: string };
          spec: { nodeName: string };
        },
    );
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName])).toEqual([
      ['web-a', 'node1'],
      ['web-b', 'node2'],
      ['solo', 'node2'],
    ]);
    const ipA = pods[0]!.status.podIP;
    expect(ipA).toMatch(/^10\.244\./);

    const svc = await podnet('get', 'services');
    expect(svc.code, svc.stderr).toBe(0);
    const [head, row] = svc.stdout.trim().split('\n');
    expect(head).toMatch(
      /^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+ENDPOINTS$/,
    );
    expect(row).toMatch(/^default\s+web\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP\s+\S+$/);
    expect(row).toContain(`${ipA}:80`);

    // delete -f of a file naming web-a, the policy and a pod that does not exist: the two go,
    // the missing one is reported and the command exits non-zero
    writeFileSync(join(dir, 'team.yaml'), stringify(team));
    const victims = join(dir, 'victims.yaml');
    writeFileSync(
      victims,
      [pod('web-a', 'node1', { app: 'web' }), policy, pod('ghost', 'node1')]
        .map((d) => stringify(d))
        .join('---\n'),
    );
    const del = await podnet('delete', '-f', victims);
    expect(del.code).toBe(1);
    expect(del.stdout).toBe(
      'NetworkPolicy default/web-ingress deleted\nPod default/web-a deleted\n',
    );
    expect(del.stderr).toMatch(
      /podnet delete: Pod default\/ghost: NOT_FOUND: no pod default\/ghost/,
    );
    expect(del.stderr).toMatch(/1 of 3 not deleted/);

    // a Namespace takes its pods with it (CNI DEL)
    const ns = await podnet('delete', '-f', join(dir, 'team.yaml'));
    expect(ns.code, ns.stderr).toBe(0);
    expect(ns.stdout).toBe('Namespace team deleted\n');
    expect((await Cluster.load(cluster.plan.name)).state.sandboxes.map((p) => p.name)).toEqual([
      'web-b',
    ]);

    const after = readManifestText((await podnet('get', 'pods', '-o', 'yaml')).stdout, {
      file: 'get-pods.yaml',
    });
    expect(after.objects.map((o) => o.key)).toEqual(['default/web-b']);
    expect((await podnet('get', 'policies')).stdout).toBe('No resources found.\n');
    expect((await podnet('get', 'services')).stdout).not.toContain(ipA);

    // the address is free in node1's IPAM store: host-local on that store with a range of just
    // that address gets it (and gives it back)
    const state = join(cluster.state.runDir, 'nodes', 'node1', 'agent-state');
    expect(readdirSync(join(state, 'ipam', 'podnet'))).not.toContain(ipA);
    const subnet = cluster.node('node1').podCidr;
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'podnet',
      ipam: {
        type: 'host-local',
        dataDir: join(state, 'ipam'),
        ranges: [[{ subnet, rangeStart: ipA, rangeEnd: ipA }]],
      },
    });
    const cni = (command: string) =>
      spawnSync('/usr/lib/cni/host-local', [], {
        input: conf,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH,
          CNI_COMMAND: command,
          CNI_CONTAINERID: 'podnet-cli-test',
          CNI_NETNS: '/run/netns/none',
          CNI_IFNAME: 'eth0',
          CNI_PATH: '/usr/lib/cni',
        },
      });
    const add = cni('ADD');
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(JSON.parse(add.stdout).ips[0].address).toBe(`${ipA}/${subnet.split('/')[1]}`);
    expect(cni('DEL').status).toBe(0);
  }, 180_000);
});
