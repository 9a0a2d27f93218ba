import { createTestNet, type TestNet } from '@podnet/host/testing';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, DEFAULT_RUN_ROOT, type NetworkMode, parseUserObjects } from '../../src/index.js';

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
  cluster = await Cluster.up({ name, prefix: net.prefix, nodes, network });
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

export { parseUserObjects };
