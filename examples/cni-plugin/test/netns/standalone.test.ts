import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../../../..');
const DIST = join(REPO, 'examples/cni-plugin/dist/bin/podnet.js');
const SRC = join(REPO, 'examples/cni-plugin/src/bin/podnet.ts');

describe('podnet plugin in standalone mode (bridge + @podnet/ipam, no agent)', () => {
  let net: TestNet;
  let nodeNs: string;
  let dataDir: string;
  const pods: string[] = [];

  const conf = (cniVersion = '1.1.0') =>
    JSON.stringify({
      cniVersion,
      name: 'sa-net',
      type: 'podnet',
      mode: 'standalone',
      bridge: 'sabr0',
      mtu: 1400,
      ipam: { type: 'podnet-ipam', ranges: [[{ subnet: '10.77.0.0/24' }]], dataDir },
    });

  const cni = (command: string, id: string, netns: string, stdin = conf()) =>
    new Promise<{ code: number; json: Record<string, unknown> | undefined; out: string }>((res) => {
      const argv = existsSync(DIST)
        ? ['node', DIST]
        : ['node', '--conditions=source', '--import', 'tsx', SRC];
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        CNI_COMMAND: command,
        CNI_CONTAINERID: id,
        CNI_NETNS: netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/usr/lib/cni',
      };
      delete env.NODE_EXTRA_CA_CERTS;
      const child = execFile(
        'nsenter',
        [`--net=/run/netns/${nodeNs}`, '--', ...argv],
        { env, cwd: REPO },
        (err, stdout, stderr) => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(stdout) as Record<string, unknown>;
          } catch {}
          res({ code: err ? 1 : 0, json, out: stdout + stderr });
        },
      );
      child.stdin?.end(stdin);
    });

  beforeAll(async () => {
    net = createTestNet();
    nodeNs = await net.ns('node');
    dataDir = mkdtempSync(join(tmpdir(), 'podnet-sa-'));
    pods.push(await net.ns('a'), await net.ns('b'));
  });
  afterAll(async () => {
    await net.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('wires two pods on a bridge that ping each other and the gateway', async () => {
    const a = await cni('ADD', 'sa-a', `/run/netns/${pods[0]}`);
    expect(a.code, a.out).toBe(0);
    const b = await cni('ADD', 'sa-b', `/run/netns/${pods[1]}`, conf('0.4.0'));
    expect(b.code, b.out).toBe(0);
    const aIps = (a.json?.ips ?? []) as { address: string; gateway: string }[];
    const ipA = aIps[0]!.address.split('/')[0]!;
    const bIps = (b.json?.ips ?? []) as { address: string; version?: string }[];
    expect(bIps[0]!.version).toBe('4');
    expect(aIps[0]!.gateway).toBe('10.77.0.1');
    expect(await net.ping(pods[1]!, ipA)).toBe(true);
    expect(await net.ping(pods[0]!, '10.77.0.1')).toBe(true);
    const mtu = await net.exec(pods[0]!, ['cat', '/sys/class/net/eth0/mtu']);
    expect(mtu.stdout.trim()).toBe('1400');
    const check = await cni('CHECK', 'sa-a', `/run/netns/${pods[0]}`);
    expect(check.code, check.out).toBe(0);
  });

  it('DEL is idempotent; GC releases what is not valid; bad config names the field', async () => {
    expect((await cni('DEL', 'sa-b', `/run/netns/${pods[1]}`)).code).toBe(0);
    expect((await cni('DEL', 'sa-b', '')).code).toBe(0);
    const gc = await cni(
      'GC',
      '',
      '',
      JSON.stringify({ ...JSON.parse(conf()), 'cni.dev/valid-attachments': [] }),
    );
    expect(gc.code, gc.out).toBe(0);
    expect(readdirSync(join(dataDir, 'sa-net')).filter((f) => /^\d/.test(f))).toEqual([]);
    const links = await net.exec(nodeNs, ['ip', '-o', 'link', 'show', 'type', 'veth']);
    expect(links.stdout.trim()).toBe('');
    const bad = await cni(
      'ADD',
      'sa-c',
      `/run/netns/${pods[1]}`,
      JSON.stringify({ ...JSON.parse(conf()), mtu: 5 }),
    );
    expect(bad.json).toMatchObject({ code: 7 });
    expect(String(bad.json?.msg)).toContain('mtu');
  });
});
