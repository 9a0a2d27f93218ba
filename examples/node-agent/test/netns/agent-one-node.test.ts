import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneNode, type TestNode } from './node-kit.js';

interface Result {
  ips: { address: string; gateway: string }[];
  interfaces: { name: string; sandbox?: string }[];
  dns: { nameservers: string[]; search: string[]; options: string[] };
}

describe('node agent on one node, driven through the real shim', () => {
  let net: TestNet;
  let node: TestNode;
  const pods: Record<string, string> = {};

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.50', {
      podCidrs: ['10.244.1.0/24'],
    }));
    for (const p of ['pa', 'pb']) pods[p] = await net.ns(p);
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('writes the conflist and serves the socket with mode 0600', () => {
    const conf = JSON.parse(
      readFileSync(join(node.config.cniConfDir, '10-podnet.conflist'), 'utf8'),
    );
    expect(conf).toEqual({
      cniVersion: '1.1.0',
      name: 'podnet',
      plugins: [
        { type: 'podnet', socket: node.config.socketPath, capabilities: { portMappings: true } },
      ],
    });
    expect(statSync(node.config.socketPath).mode & 0o777).toBe(0o600);
  });

  it('ADDs two pods that ping each other and the gateway; the result carries DNS', async () => {
    const a = await node.cni('ADD', 'ctr-a', `/run/netns/${pods.pa}`, {
      args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=a',
    });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await node.cni('ADD', 'ctr-b', `/run/netns/${pods.pb}`);
    expect(b.code, b.stdout).toBe(0);
    const ra = a.json as unknown as Result;
    const rb = b.json as unknown as Result;
    const ipA = ra.ips[0]!.address.split('/')[0]!;
    const ipB = rb.ips[0]!.address.split('/')[0]!;
    expect(ipA).not.toBe(ipB);
    expect(ra.ips[0]!.gateway).toBe('10.244.1.1');
    expect(ra.dns).toEqual({
      nameservers: ['169.254.20.10'],
      search: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      options: ['ndots:5'],
    });
    expect(ra.interfaces.find((i) => i.sandbox)?.name).toBe('eth0');
    expect(await net.ping(pods.pa!, ipB)).toBe(true);
    expect(await net.ping(pods.pb!, ipA)).toBe(true);
    expect(await net.ping(pods.pa!, '10.244.1.1')).toBe(true);
    expect(await net.ping(pods.pa!, '192.168.50.2')).toBe(true);
  });

  it('CHECK passes for a wired pod, fails when its address is gone, and answers 3 for an unknown one', async () => {
    const ok = await node.cni('CHECK', 'ctr-a', `/run/netns/${pods.pa}`);
    expect(ok.code, ok.stdout).toBe(0);
    const addr = (
      await net.exec(pods.pa!, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])
    ).stdout.split(/\s+/)[3]!;
    await net.exec(pods.pa!, ['ip', 'addr', 'del', addr, 'dev', 'eth0']);
    const broken = await node.cni('CHECK', 'ctr-a', `/run/netns/${pods.pa}`);
    expect(broken.code).not.toBe(0);
    expect(String(broken.json?.msg)).toContain('lacks');
    await net.exec(pods.pa!, ['ip', 'addr', 'add', addr, 'dev', 'eth0', 'noprefixroute']);
    await net.exec(pods.pa!, [
      'ip',
      'route',
      'replace',
      '10.244.1.1/32',
      'dev',
      'eth0',
      'scope',
      'link',
    ]);
    await net.exec(pods.pa!, [
      'ip',
      'route',
      'replace',
      'default',
      'via',
      '10.244.1.1',
      'dev',
      'eth0',
    ]);
    expect((await node.cni('CHECK', 'ctr-a', `/run/netns/${pods.pa}`)).code).toBe(0);
    const missing = await node.cni('CHECK', 'ctr-none', `/run/netns/${pods.pa}`);
    expect(missing.code).not.toBe(0);
    expect(missing.json?.code).toBe(3);
  });

  it('masquerades pod traffic leaving the pod network', async () => {
    await net.exec(node.ns, ['ip', 'route', 'replace', 'default', 'via', '192.168.50.1']);
    // The underlay has no route back to pods: only a masqueraded reply can arrive.
    expect(await net.ping(pods.pa!, '192.168.50.1')).toBe(true);
  });

  it('STATUS succeeds; VERSION lists 1.1.0', async () => {
    const s = await node.cni('STATUS', '', '');
    expect(s.code, s.stdout).toBe(0);
    const v = await node.cni('VERSION', '', '');
    expect(v.json?.supportedVersions).toContain('1.1.0');
  });

  it('DEL releases everything and is idempotent, also with the namespace gone', async () => {
    const d1 = await node.cni('DEL', 'ctr-b', `/run/netns/${pods.pb}`);
    expect(d1.code, d1.stdout).toBe(0);
    const d2 = await node.cni('DEL', 'ctr-b', `/run/netns/${pods.pb}`);
    expect(d2.code, d2.stdout).toBe(0);
    const d3 = await node.cni('DEL', 'ctr-b', '/run/netns/does-not-exist');
    expect(d3.code, d3.stdout).toBe(0);
    const ipamDir = join(node.config.stateDir, 'ipam', 'podnet');
    const held = readdirSync(ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(held).toHaveLength(1);
  });

  it('GC releases attachments that are not listed as valid', async () => {
    const c = await node.cni('ADD', 'ctr-c', `/run/netns/${pods.pb}`);
    expect(c.code, c.stdout).toBe(0);
    const gc = await node.cni('GC', '', '', {
      extra: { 'cni.dev/valid-attachments': [{ containerID: 'ctr-a', ifname: 'eth0' }] },
    });
    expect(gc.code, gc.stdout).toBe(0);
    const ipamDir = join(node.config.stateDir, 'ipam', 'podnet');
    const held = readdirSync(ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(held).toHaveLength(1);
    expect(readFileSync(join(ipamDir, held[0]!), 'utf8')).toContain('ctr-a');
    const links = await net.exec(node.ns, ['ip', '-o', 'link', 'show', 'type', 'veth']);
    expect(links.stdout.split('\n').filter((l) => /pn[0-9a-f]{11}/.test(l))).toHaveLength(1);
    expect(existsSync(join(node.config.stateDir, 'attachments', 'ctr-c_eth0.json'))).toBe(false);
    await waitFor(
      async () =>
        (await net.exec(pods.pb!, ['ip', '-o', 'link', 'show', 'eth0'], { allowFail: true }))
          .code !== 0,
      {
        what: 'pod b eth0 to disappear',
      },
    );
  });

  it('a failed ADD (a requested address outside the pod CIDR) leaves no veth, record or address', async () => {
    const ipamDir = join(node.config.stateDir, 'ipam', 'podnet');
    const heldBefore = readdirSync(ipamDir).sort();
    const vethsBefore = (await net.exec(node.ns, ['ip', '-o', 'link', 'show', 'type', 'veth']))
      .stdout;
    const pc = await net.ns('pc');
    const r = await node.cni('ADD', 'ctr-x', `/run/netns/${pc}`, {
      extra: { runtimeConfig: { ips: ['10.99.0.5/24'] } },
    });
    expect(r.code, r.stdout).not.toBe(0);
    expect((r.json as { msg?: string }).msg).toMatch(/10\.99\.0\.5/);
    expect(readdirSync(ipamDir).sort()).toEqual(heldBefore);
    expect(existsSync(join(node.config.stateDir, 'attachments', 'ctr-x_eth0.json'))).toBe(false);
    const vethsAfter = (await net.exec(node.ns, ['ip', '-o', 'link', 'show', 'type', 'veth']))
      .stdout;
    const names = (t: string) => (t.match(/pn[0-9a-f]{11}/g) ?? []).sort();
    expect(names(vethsAfter)).toEqual(names(vethsBefore));
    expect(
      (await net.exec(pc, ['ip', '-o', 'link', 'show', 'eth0'], { allowFail: true })).code,
    ).not.toBe(0);
  });
});
