import { createTestNet, type TestNet } from '@podnet/host/testing';
import { Cluster, type NetworkMode, parseUserObjects } from '../../src/index.js';

/** A cluster whose namespaces carry a createTestNet prefix (swept if the run crashes). */
export async function startCluster(
  network: NetworkMode,
  nodes = 3,
): Promise<{ net: TestNet; cluster: Cluster; cleanup: () => Promise<void> }> {
  const net = createTestNet();
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
