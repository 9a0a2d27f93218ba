import { createTestNet, type TestNet } from '@podnet/host/testing';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgv } from '../../src/cluster.js';
import {
  Cluster,
  DEFAULT_RUN_ROOT,
  type IpFamilyMode,
  manifestObjects,
  type NetworkMode,
} from '../../src/index.js';

/** A cluster whose namespaces carry a createTestNet prefix (swept if the run crashes). */
/** Removes run dirs and /etc/netns entries of crashed test clusters (their creator PID is gone). */
function sweepStaleClusters(): void {
  const alive = (prefix: string) => {
    const pid = Number.parseInt(prefix.split('-')[0] ?? '', 36);
    return Number.isFinite(pid) && pid > 0 && existsSync(`/proc/${pid}`);
  };
  for (const d of existsSync(DEFAULT_RUN_ROOT) ? readdirSync(DEFAULT_RUN_ROOT) : []) {
    if (d.startsWith('e2e-') && !alive(d.slice(4)))
      rmSync(join(DEFAULT_RUN_ROOT, d), { recursive: true, force: true });
  }
  for (const d of existsSync('/etc/netns') ? readdirSync('/etc/netns') : []) {
    if (d.startsWith('pnt-') && !existsSync(`/run/netns/${d}`))
      rmSync(join('/etc/netns', d), { recursive: true, force: true });
  }
}

export async function startCluster(
  network: NetworkMode,
  nodes = 3,
  options: { ipFamily?: IpFamilyMode } = {},
): Promise<{ net: TestNet; cluster: Cluster; cleanup: () => Promise<void> }> {
  const net = createTestNet();
  sweepStaleClusters();
  const name = `e2e-${net.prefix.slice(4, -1)}`.slice(0, 24).replace(/-$/, '');
  let cluster: Cluster | undefined;
  const cleanup = async () => {
    try {
      await cluster?.down();
    } finally {
      await net.cleanup();
    }
  };
  cluster = await Cluster.up({ name, prefix: net.prefix, nodes, network, ...options });
  return { net, cluster, cleanup };
}

/** A Pod manifest. */
export function pod(
  name: string,
  node: string,
  labels: Record<string, string> = {},
  ports: unknown[] = [{ containerPort: 80 }],
  namespace = 'default',
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { nodeName: node, containers: [{ name: 'c', ports }] },
  };
}

export { manifestObjects };

/** The service `default/NAME` of the cluster. */
function serviceOf(cluster: Cluster, name: string) {
  const svc = cluster.state.objects.services.find(
    (s) => s.metadata?.name === name && s.metadata.namespace === 'default',
  );
  if (!svc) throw new Error(`no Service default/${name}`);
  return svc;
}

/** The ClusterIP the cluster gave the Service `default/NAME`. */
export function clusterIpOf(cluster: Cluster, name: string): string {
  return serviceOf(cluster, name).spec!.clusterIP!;
}

/** The NodePort the cluster gave port `index` of the Service `default/NAME`. */
export function nodePortOf(cluster: Cluster, name: string, index = 0): number {
  return serviceOf(cluster, name).spec!.ports![index]!.nodePort!;
}

/** A `podnet` command line running as its own process. */
export interface PodnetRun {
  /** Resolves when the process has exited. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves once stderr has a line matching `re` (true), or the process exited without one (false). */
  stderrLine(re: RegExp): Promise<boolean>;
}

const PODNET_BIN = fileURLToPath(new URL('../../src/bin/podnet.ts', import.meta.url));

/**
 * Runs the `podnet` CLI from its sources (through tsx, as the tests run the sources) in a process
 * of its own, as a user in another terminal would, against `cluster`.
 */
export function runPodnet(cluster: Cluster, args: string[]): PodnetRun {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const argv = nodeEntryArgv(PODNET_BIN);
  const child = spawn(argv[0]!, [...argv.slice(1), ...args, '--name', cluster.plan.name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let stdout = '';
  let stderr = '';
  let closed = false;
  const waiters: Array<{ re: RegExp; resolve: (v: boolean) => void }> = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.filter((x) => x.re.test(stderr))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(true);
    }
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        closed = true;
        for (const w of waiters.splice(0)) w.resolve(w.re.test(stderr));
        resolve({ code, stdout, stderr });
      });
    },
  );
  return {
    done,
    stderrLine: (re) =>
      re.test(stderr) || closed
        ? Promise.resolve(re.test(stderr))
        : new Promise((resolve) => waiters.push({ re, resolve })),
  };
}
