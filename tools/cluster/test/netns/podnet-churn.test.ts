import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { manifestObjects, pod, startCluster } from './helpers.js';

// 20 pods created at once on one node while its agent is SIGKILLed and restarted: the runtime
// retries like kubelet; afterwards no address is given twice and GC leaves nothing behind.
describe('pod churn across an agent crash', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('podnet', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
  }, 120_000);
  afterAll(() => cleanup(), 120_000);

  it('creates 20 pods through a SIGKILL of the agent without duplicate or leaked addresses', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const applying = cluster.apply(
      manifestObjects(names.map((n) => pod(n, 'node1', { app: 'churn' }))),
    );
    await waitFor(() => cluster.state.sandboxes.filter((p) => p.ip).length >= 3, {
      timeoutMs: 60_000,
      what: 'a few pods',
    });
    await cluster.restartAgent('node1', 'SIGKILL');
    await applying;

    const ips = cluster.state.sandboxes.map((p) => p.ip!);
    expect(ips.every(Boolean)).toBe(true);
    expect(new Set(ips).size).toBe(20);

    await cluster.gc('node1');
    const ipamDir = join(cluster.state.runDir, 'nodes', 'node1', 'agent-state', 'ipam');
    const allocated = readdirSync(ipamDir, { recursive: true })
      .map(String)
      .map((f) => f.split('/').pop()!)
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(allocated.sort()).toEqual([...ips].sort());
    const veths = await cluster.exec('node1', ['ip', '-o', 'link', 'show', 'type', 'veth']);
    expect(veths.stdout.split('\n').filter(Boolean)).toHaveLength(21);

    const rs = await cluster.probeMany(
      'p0',
      names.slice(1).map((to) => ({ to, port: 80 })),
    );
    expect(rs.filter((r) => !r.ok)).toEqual([]);
  });
});
