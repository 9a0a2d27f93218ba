import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/index.js';
import { clusterIpOf, manifestObjects, pod, startCluster } from './helpers.js';

// Three nodes on two L2 segments, podnet's agent on each, pods attached through the podnet CNI
// shim by the mini runtime, and podman as a second, real runtime on one node.
describe('namespace cluster on the podnet network', () => {
  let cluster: Cluster;
  let cleanup: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const s = await startCluster('podnet');
    cluster = s.cluster;
    cleanup = s.cleanup;
    await cluster.apply(
      manifestObjects([
        pod('a1', 'node1', { app: 'a' }, [
          { containerPort: 80 },
          { containerPort: 53, protocol: 'UDP' },
        ]),
        pod('a2', 'node1', { app: 'a' }),
        pod('b2', 'node2', { app: 'b' }, [
          { containerPort: 80 },
          { containerPort: 53, protocol: 'UDP' },
        ]),
        pod('c3', 'node3', { app: 'c' }),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'svc-b' },
          spec: { selector: { app: 'b' }, ports: [{ port: 8000, targetPort: 80 }] },
        },
      ]),
    );
  }, 180_000);
  afterAll(() => cleanup(), 120_000);

  it('runs an agent per node that wrote its conflist', () => {
    for (const n of cluster.plan.nodes) {
      const conf = JSON.parse(
        readFileSync(join(cluster.cniConfDir(n.name), '10-podnet.conflist'), 'utf8'),
      );
      expect(conf.plugins[0].type).toBe('podnet');
    }
  });

  it('gives pods addresses from their node CIDR and the resolver of the CNI result', () => {
    for (const p of cluster.state.sandboxes) {
      const prefix = cluster.node(p.node).podCidr.replace(/0\/24$/, '');
      expect(p.ip?.startsWith(prefix)).toBe(true);
      expect(readFileSync(`/etc/netns/${p.netns}/resolv.conf`, 'utf8')).toContain(
        `nameserver ${cluster.plan.dnsIp}`,
      );
    }
  });

  it('connects pods on the same node over TCP, UDP and HTTP', async () => {
    const from = cluster.podIp('a2');
    expect(await cluster.probe('a2', 'a1', 80)).toMatchObject({ ok: true, reply: `a1 ${from}` });
    expect(await cluster.probe('a2', 'a1', 80, 'http')).toMatchObject({
      ok: true,
      reply: `a1 ${from}`,
    });
    expect(await cluster.probe('a2', 'a1', 53, 'udp')).toMatchObject({
      ok: true,
      reply: `a1 ${from}`,
    });
  });

  it('connects pods across nodes on the same segment and across the router, keeping pod source IPs', async () => {
    expect(await cluster.probe('a1', 'b2', 80)).toMatchObject({
      ok: true,
      reply: `b2 ${cluster.podIp('a1')}`,
    });
    expect(await cluster.probe('c3', 'a1', 80)).toMatchObject({
      ok: true,
      reply: `a1 ${cluster.podIp('c3')}`,
    });
    expect(await cluster.probe('c3', 'b2', 53, 'udp')).toMatchObject({
      ok: true,
      reply: `b2 ${cluster.podIp('c3')}`,
    });
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

  it('does not expose pod addresses to the external host', async () => {
    expect(await cluster.probe('external', 'a1', 80, 'tcp', 1500)).toMatchObject({ ok: false });
  });

  it('lets podman on a node attach a container through the podnet plugin that reaches pods and Services; podman rm releases it', async () => {
    const pm = cluster.podman('node2');
    const veths = async () =>
      (await cluster.exec('node2', ['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout
        .split('\n')
        .filter(Boolean).length;
    const before = await veths();
    const run = await pm.run([
      'run',
      '-d',
      '--name',
      'pm1',
      '--network',
      'podnet',
      '--rootfs',
      pm.rootfs,
      '/bin/sleep',
      '600',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const addr = await pm.run(['exec', 'pm1', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    const ip = /inet (10\.244\.2\.\d+)\//.exec(addr.stdout)?.[1];
    expect(ip, addr.stdout + addr.stderr).toBeDefined();
    const a1 = await pm.run(['exec', 'pm1', 'wget', '-qO-', `http://${cluster.podIp('a1')}:80/`]);
    expect(a1.stdout.trim()).toBe(`a1 ${ip}`);
    // Services are programmed asynchronously by the agents: wait for the answer.
    for (const url of [
      `http://${clusterIpOf(cluster, 'svc-b')}:8000/`,
      'http://svc-b.default.svc.cluster.local:8000/',
    ]) {
      const got = await waitFor(
        async () => {
          const r = await pm.run(['exec', 'pm1', 'wget', '-qO-', url]);
          return r.stdout.trim() === `b2 ${ip}` ? r.stdout.trim() : undefined;
        },
        { timeoutMs: 20_000, what: url },
      );
      expect(got).toBe(`b2 ${ip}`);
    }
    const ipamDir = join(cluster.state.runDir, 'nodes', 'node2', 'agent-state', 'ipam');
    const allocated = () =>
      readdirSync(ipamDir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(ip!));
    expect(allocated()).toHaveLength(1);
    const sandbox = (
      await pm.run(['inspect', 'pm1', '--format', '{{.NetworkSettings.SandboxKey}}'])
    ).stdout.trim();

    const rm = await pm.run(['rm', '-f', '-t', '0', 'pm1']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(allocated()).toEqual([]);
    expect(existsSync(sandbox)).toBe(false);
    expect(await veths()).toBe(before);
  });

  it('restarts agents (graceful and SIGKILL) while a 10 ms ping crosses nodes: no packet lost', async () => {
    const from = cluster.sandbox('a1')!;
    const to = cluster.podIp('c3')!;
    const ping = spawn('ip', ['netns', 'exec', from.netns, 'ping', '-n', '-q', '-i', '0.01', to], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (d: Buffer) => (out += d));
    const exited = new Promise((r) => ping.on('exit', r));
    try {
      await new Promise((r) => setTimeout(r, 500));
      const before = cluster.state.agents.node1;
      const pid1 = await cluster.restartAgent('node1', 'SIGTERM');
      const pid3 = await cluster.restartAgent('node3', 'SIGKILL');
      expect(pid1).not.toBe(before);
      expect(existsSync(`/proc/${pid3}`)).toBe(true);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      ping.kill('SIGINT');
      await exited;
    }
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    expect(Number(m![2])).toBe(Number(m![1]));
    expect(await cluster.probe('a1', 'c3', 80)).toMatchObject({ ok: true });
  });

  it('down removes namespaces, agents and files', async () => {
    const { prefix } = cluster.plan;
    const agents = Object.values(cluster.state.agents);
    const runDir = cluster.state.runDir;
    await cluster.down();
    expect(readdirSync('/run/netns').filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(agents.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
    expect(existsSync(runDir)).toBe(false);
  });
});
