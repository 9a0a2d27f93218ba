import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster, NodePodman } from '../../src/index.js';
import { manifestObjects, pod, startCluster } from './helpers.js';

// Debian's podman 4.3 (CNI backend) as a client of a node: it runs the node's conflist from the
// node's namespace, so its container joins the pod network like any pod.
describe('podman on a node of the reference network', () => {
  let cluster: Cluster;
  let pm: NodePodman;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('reference', 2);
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(manifestObjects([pod('srv', 'node2', { app: 'srv' })]));
    pm = cluster.podman('node1');
  });
  afterAll(() => cleanup());

  it('runs a container that gets its address from the node CNI config and reaches a pod', async () => {
    const conf = 'podnet-reference';
    const run = await pm.run([
      'run',
      '-d',
      '--name',
      'c1',
      '--network',
      conf,
      '--rootfs',
      pm.rootfs,
      '/bin/sleep',
      '600',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const addr = await pm.run(['exec', 'c1', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    const ip = /inet (10\.244\.1\.\d+)\//.exec(addr.stdout)?.[1];
    expect(ip).toBeDefined();
    const ipamDir = join(cluster.state.runDir, 'nodes', 'node1', 'ipam', conf);
    expect(existsSync(join(ipamDir, ip!))).toBe(true);
    const got = await pm.run(['exec', 'c1', 'wget', '-qO-', `http://${cluster.podIp('srv')}:80/`]);
    expect(got.stderr).toBe('');
    expect(got.stdout.trim()).toBe(`srv ${ip}`);
    const sandbox = (
      await pm.run(['inspect', 'c1', '--format', '{{.NetworkSettings.SandboxKey}}'])
    ).stdout.trim();
    expect(existsSync(sandbox)).toBe(true);

    const rm = await pm.run(['rm', '-f', '-t', '0', 'c1']);
    expect(rm.code).toBe(0);
    expect(existsSync(join(ipamDir, ip!))).toBe(false);
    expect(existsSync(sandbox)).toBe(false);
    const links = await cluster.exec('node1', ['ip', '-o', 'link', 'show', 'master', 'cni0']);
    expect(links.stdout.split('\n').filter(Boolean)).toHaveLength(0);
    expect(readdirSync(ipamDir).filter((f) => /^\d/.test(f))).toEqual([]);
  });
});
