import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { manifestObjects, pod, startCluster } from './helpers.js';

// The mini runtime and the cluster tool against Debian's bridge + host-local + portmap: the
// runtime is generic, so this runs the same CNI chain path (env, conflist, cache) podnet's uses.
describe('namespace cluster on the reference network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('reference');
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        pod('a1', 'node1', { app: 'a' }, [
          { containerPort: 80 },
          { containerPort: 53, protocol: 'UDP' },
        ]),
        pod('a2', 'node1', { app: 'a' }),
        pod('b2', 'node2', { app: 'b' }),
        pod('c3', 'node3', { app: 'c' }, [
          { containerPort: 80 },
          { containerPort: 8080, hostPort: 8081 },
        ]),
      ]),
    );
  });
  afterAll(() => cleanup());

  it('gives every pod an address from its node range and the DNS settings of the CNI result', () => {
    for (const p of cluster.state.sandboxes) {
      const node = cluster.node(p.node);
      expect(p.ip?.startsWith(node.podCidr.split('.').slice(0, 3).join('.'))).toBe(true);
      const resolv = readFileSync(`/etc/netns/${p.netns}/resolv.conf`, 'utf8');
      expect(resolv).toContain(`nameserver ${cluster.plan.dnsIp}`);
      expect(resolv).toContain('search default.svc.cluster.local');
    }
  });

  it('connects pods on the same node over TCP, UDP and HTTP', async () => {
    for (const proto of ['tcp', 'http'] as const) {
      const r = await cluster.probe('a2', 'a1', 80, proto);
      expect(r).toMatchObject({ ok: true, reply: `a1 ${cluster.podIp('a2')}` });
    }
    expect(await cluster.probe('a2', 'a1', 53, 'udp')).toMatchObject({
      ok: true,
      reply: `a1 ${cluster.podIp('a2')}`,
    });
  });

  it('connects pods across nodes on the same segment and through the router', async () => {
    expect(await cluster.probe('a1', 'b2', 80)).toMatchObject({
      ok: true,
      reply: `b2 ${cluster.podIp('a1')}`,
    });
    expect(await cluster.probe('a1', 'c3', 80)).toMatchObject({
      ok: true,
      reply: `c3 ${cluster.podIp('a1')}`,
    });
    expect(await cluster.probe('c3', 'a1', 53, 'udp')).toMatchObject({
      ok: true,
      reply: `a1 ${cluster.podIp('c3')}`,
    });
  });

  it('reports a closed port as blocked', async () => {
    expect(await cluster.probe('a1', 'b2', 81)).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
  });

  it('masquerades egress to the external host behind the node address', async () => {
    expect(await cluster.probe('b2', 'external', 8080)).toMatchObject({
      ok: true,
      reply: `external ${cluster.node('node2').ip}`,
    });
    expect(await cluster.probe('c3', 'external', 8080, 'udp')).toMatchObject({
      ok: true,
      reply: `external ${cluster.node('node3').ip}`,
    });
  });

  it('passes portMappings to the chain: a hostPort answers on the node address', async () => {
    const r = await cluster.probe('external', cluster.node('node3').ip, 8081);
    expect(r).toMatchObject({ ok: true });
    expect(r.reply?.startsWith('c3 ')).toBe(true);
  });

  it('writes Nodes, Pods with podIPs and endpoint-less manifests for the agents', () => {
    const dir = join(cluster.state.runDir, 'manifests');
    const files = readdirSync(dir);
    expect(files).toEqual(
      expect.arrayContaining(['node-node1.yaml', 'pod-default.a1.yaml', 'namespace-default.yaml']),
    );
    expect(readFileSync(join(dir, 'pod-default.a1.yaml'), 'utf8')).toContain(
      `ip: ${cluster.podIp('a1')}`,
    );
    expect(readFileSync(join(dir, 'node-node3.yaml'), 'utf8')).toContain('10.244.3.0/24');
  });

  it('deletes a pod through CNI DEL: address released, namespace and resolv.conf gone', async () => {
    const p = cluster.sandbox('a2')!;
    const ipamDir = join(cluster.state.runDir, 'nodes', 'node1', 'ipam', 'podnet-reference');
    expect(existsSync(join(ipamDir, p.ip!))).toBe(true);
    await cluster.deletePod('a2');
    expect(existsSync(join(ipamDir, p.ip!))).toBe(false);
    expect(existsSync(`/run/netns/${p.netns}`)).toBe(false);
    expect(existsSync(`/etc/netns/${p.netns}`)).toBe(false);
    expect(
      readdirSync(join(cluster.state.runDir, 'nodes', 'node1', 'cni', 'cache', 'results')).some(
        (f) => f.includes(p.containerId!),
      ),
    ).toBe(false);
  });

  it('down removes every namespace and the run dir', async () => {
    const { prefix } = cluster.plan;
    const runDir = cluster.state.runDir;
    await cluster.down();
    expect(readdirSync('/run/netns').filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
  });
});
