import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestNode, cleanEnv, makeNodeNs } from '../../../node-agent/test/netns/node-kit.js';
import { buildSea } from '../../src/index.js';

const SHIM_ENTRY = fileURLToPath(new URL('../../../cni-plugin/src/bin/podnet.ts', import.meta.url));

interface Outcome {
  code: number;
  json: Record<string, any> | undefined;
  out: string;
}

/** Execs `bin` as a runtime does (CNI_* env, config on stdin), optionally inside a namespace. */
function exec(
  bin: string,
  env: Record<string, string>,
  stdin: string,
  ns?: string,
): Promise<Outcome> {
  const argv = ns ? ['nsenter', `--net=/run/netns/${ns}`, '--', bin] : [bin];
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { env: cleanEnv({ CNI_PATH: '/usr/lib/cni', ...env }), timeout: 60_000 },
      (err, stdout, stderr) => {
        let json: Record<string, any> | undefined;
        try {
          json = JSON.parse(stdout);
        } catch {}
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          json,
          out: stdout + stderr,
        });
      },
    );
    child.stdin?.end(stdin);
  });
}

describe('the self-contained CNI binary (Node single-executable application)', () => {
  let dir: string;
  let bin: string;
  let net: TestNet;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-sea-test-'));
    bin = join(dir, 'podnet');
    const built = await buildSea({ entry: SHIM_ENTRY, outFile: bin });
    expect(built.bytes).toBeGreaterThan(1_000_000);
    net = createTestNet();
  }, 180_000);
  afterAll(async () => {
    await net?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers VERSION with no Node.js module resolution and no agent', async () => {
    const r = await exec(bin, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}');
    expect(r.code, r.out).toBe(0);
    expect(r.json?.supportedVersions).toEqual(expect.arrayContaining(['0.4.0', '1.0.0', '1.1.0']));
  });

  it('reports an agent that is down as a CNI error with code 11', async () => {
    const r = await exec(
      bin,
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'c1',
        CNI_NETNS: '/run/netns/none',
        CNI_IFNAME: 'eth0',
      },
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'podnet',
        type: 'podnet',
        socket: join(dir, 'no.sock'),
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.json).toMatchObject({ cniVersion: '1.1.0', code: 11 });
    expect(r.out).not.toMatch(/at .*\.js:\d+/);
  });

  it('rejects bad JSON with code 6', async () => {
    const r = await exec(
      bin,
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'c1',
        CNI_NETNS: '/run/netns/none',
        CNI_IFNAME: 'eth0',
      },
      '{"cniVersion": ',
    );
    expect(r.json).toMatchObject({ code: 6 });
  });

  it('drives the node agent: ADD, ping, CHECK, DEL twice (the second with the namespace gone)', async () => {
    const underlay = await net.ns('ul');
    const ns = await makeNodeNs(net, 'n1', underlay, '192.168.51.2/24', '192.168.51.1/24');
    const node = new TestNode(net, ns, {
      nodeName: 'n1',
      nodeIps: ['192.168.51.2'],
      podCidrs: ['10.244.7.0/24'],
    });
    try {
      await node.start();
      copyFileSync(bin, join(node.binDir, 'podnet'));
      const pa = await net.ns('sa');
      const pb = await net.ns('sb');
      const a = await node.cni('ADD', 'sea-a', `/run/netns/${pa}`);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      const b = await node.cni('ADD', 'sea-b', `/run/netns/${pb}`, { cniVersion: '0.4.0' });
      expect(b.code, b.stdout + b.stderr).toBe(0);
      const ipB = (b.json as any).ips[0].address.split('/')[0];
      expect((b.json as any).ips[0].version).toBe('4');
      expect(await net.ping(pa, ipB)).toBe(true);
      expect((await node.cni('CHECK', 'sea-a', `/run/netns/${pa}`)).code).toBe(0);
      expect((await node.cni('DEL', 'sea-b', `/run/netns/${pb}`)).code).toBe(0);
      expect((await node.cni('DEL', 'sea-b', '/run/netns/gone')).code).toBe(0);
      expect(await net.ping(pa, ipB, { timeoutS: 1 })).toBe(false);
    } finally {
      node.cleanup();
    }
  });

  it('runs standalone (bridge + @podnet/ipam, no agent): two pods ping, DEL and GC release', async () => {
    const node = await net.ns('st');
    const pods = [await net.ns('p1'), await net.ns('p2')];
    const dataDir = join(dir, 'ipam');
    const conf = (extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'sea-net',
        type: 'podnet',
        mode: 'standalone',
        bridge: 'seabr0',
        ipam: { type: 'podnet-ipam', ranges: [[{ subnet: '10.78.0.0/24' }]], dataDir },
        ...extra,
      });
    const cni = (cmd: string, id: string, netns: string, stdin = conf()) =>
      exec(
        bin,
        { CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
        stdin,
        node,
      );
    const a = await cni('ADD', 'st-a', `/run/netns/${pods[0]}`);
    expect(a.code, a.out).toBe(0);
    const b = await cni('ADD', 'st-b', `/run/netns/${pods[1]}`);
    expect(b.code, b.out).toBe(0);
    expect(await net.ping(pods[0]!, b.json!.ips[0].address.split('/')[0])).toBe(true);
    expect((await cni('CHECK', 'st-a', `/run/netns/${pods[0]}`)).code).toBe(0);
    expect((await cni('DEL', 'st-b', `/run/netns/${pods[1]}`)).code).toBe(0);
    expect((await cni('DEL', 'st-b', '')).code).toBe(0);
    const gc = await cni('GC', '', '', conf({ 'cni.dev/valid-attachments': [] }));
    expect(gc.code, gc.out).toBe(0);
    expect(readdirSync(join(dataDir, 'sea-net')).filter((f) => /^\d/.test(f))).toEqual([]);
    const bad = await cni('ADD', 'st-c', `/run/netns/${pods[1]}`, conf({ mtu: 5 }));
    expect(bad.json).toMatchObject({ code: 7 });
    expect(String(bad.json?.msg)).toContain('mtu');
  });
});
