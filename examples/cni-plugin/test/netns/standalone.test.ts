import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../../../..');
const DIST = join(REPO, 'examples/cni-plugin/dist/bin/podnet.js');
const SRC = join(REPO, 'examples/cni-plugin/src/bin/podnet.ts');

interface PluginRun {
  code: number;
  json: Record<string, unknown> | undefined;
  out: string;
}

/** Execs the built plugin inside `nodeNs` as a runtime would: CNI_* env, config on stdin. */
function execPlugin(
  nodeNs: string,
  cniEnv: Record<string, string>,
  stdin: string,
): Promise<PluginRun> {
  return new Promise((res) => {
    const argv = existsSync(DIST)
      ? ['node', DIST]
      : ['node', '--conditions=source', '--import', 'tsx', SRC];
    const env: NodeJS.ProcessEnv = { ...process.env, CNI_PATH: '/usr/lib/cni', ...cniEnv };
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
}

/** The first address (CIDR) of an ADD result. */
function firstAddress(r: PluginRun): string {
  return ((r.json?.ips ?? []) as { address: string }[])[0]?.address ?? `no address in ${r.out}`;
}

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
    execPlugin(
      nodeNs,
      { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
      stdin,
    );

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

describe('standalone mode on a node that has its own eth0, with concurrent ADDs', () => {
  let net: TestNet;
  let nodeNs: string;
  let dataDir: string;

  const conf = () =>
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'sa-busy',
      type: 'podnet',
      mode: 'standalone',
      bridge: 'sabusy0',
      ipam: { type: 'podnet-ipam', ranges: [[{ subnet: '10.78.0.0/24' }]], dataDir },
    });
  const add = (id: string, podNs: string) =>
    execPlugin(
      nodeNs,
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: id,
        CNI_NETNS: `/run/netns/${podNs}`,
        CNI_IFNAME: 'eth0',
      },
      conf(),
    );

  beforeAll(async () => {
    net = createTestNet();
    nodeNs = await net.ns('busy');
    // an ordinary host: its uplink is called eth0 too
    await net.exec(nodeNs, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'up0']);
    dataDir = mkdtempSync(join(tmpdir(), 'podnet-sa-busy-'));
  });
  afterAll(async () => {
    await net.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("wires the pod's eth0 and leaves the node's own eth0 alone", async () => {
    const pod = await net.ns('busy-p');
    const r = await add('busy-one', pod);
    expect(r.code, r.out).toBe(0);
    const ip = firstAddress(r);
    const inPod = await net.exec(pod, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(inPod.stdout).toContain(ip);
    const nodeEth0 = await net.exec(nodeNs, ['ip', '-o', 'link', 'show', 'dev', 'eth0']);
    expect(nodeEth0.stdout).toContain('eth0@up0');
    expect(await net.ping(pod, '10.78.0.1')).toBe(true);
  });

  it('10 concurrent ADDs onto a bridge that does not exist yet all succeed, each with its own address', async () => {
    await net.exec(nodeNs, ['ip', 'link', 'del', 'sabusy0'], { allowFail: true });
    const pods = await Promise.all(Array.from({ length: 10 }, (_, i) => net.ns(`busy-${i}`)));
    const runs = await Promise.all(pods.map((p, i) => add(`busy-${i}`, p)));
    for (const r of runs) expect(r.code, r.out).toBe(0);
    const ips = runs.map(firstAddress);
    expect(new Set(ips).size).toBe(10);
    const ports = await net.exec(nodeNs, ['ip', '-o', 'link', 'show', 'master', 'sabusy0']);
    expect(ports.stdout.trim().split('\n')).toHaveLength(10);
    expect(await net.ping(pods[9]!, ips[0]!.split('/')[0]!)).toBe(true);
  });
});

describe('standalone mode refuses bad input up front, with the code that names it', () => {
  let net: TestNet;
  let nodeNs: string;
  let podNs: string;
  let dataDir: string;

  const conf = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'sa-input',
      type: 'podnet',
      mode: 'standalone',
      bridge: 'sainput0',
      ipam: { type: 'podnet-ipam', ranges: [[{ subnet: '10.79.0.0/24' }]], dataDir },
      ...extra,
    });
  const add = (env: Record<string, string>, stdin = conf()) =>
    execPlugin(
      nodeNs,
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'in-1',
        CNI_NETNS: `/run/netns/${podNs}`,
        CNI_IFNAME: 'eth0',
        ...env,
      },
      stdin,
    );

  beforeAll(async () => {
    net = createTestNet();
    nodeNs = await net.ns('input');
    podNs = await net.ns('input-p');
    dataDir = mkdtempSync(join(tmpdir(), 'podnet-sa-input-'));
    writeFileSync(join(dataDir, 'plain-file'), '');
    mkdirSync(join(dataDir, 'a-directory'));
  });
  afterAll(async () => {
    await net.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['an interface name ip cannot take', 'CNI_IFNAME', { CNI_IFNAME: 'eth0;rm' }, '"eth0;rm"'],
    ['a regular file', 'CNI_NETNS', { CNI_NETNS: 'plain-file' }, 'a regular file'],
    ['a directory', 'CNI_NETNS', { CNI_NETNS: 'a-directory' }, 'a directory'],
    [
      'a 10,000-character ID',
      'CNI_CONTAINERID',
      { CNI_CONTAINERID: 'c'.repeat(10_000) },
      'at most 128',
    ],
  ])('%s: code 4 naming %s', async (_what, variable, env, detail) => {
    const e: Record<string, string> = { ...env };
    if (e.CNI_NETNS) e.CNI_NETNS = join(dataDir, e.CNI_NETNS);
    const r = await add(e);
    expect(r.code, r.out).toBe(1);
    expect(r.json, r.out).toMatchObject({ code: 4 });
    expect(String(r.json?.msg)).toContain(variable);
    expect(String(r.json?.details)).toContain(detail);
  });

  it('a 5,000-character network name: code 7 naming the field, not 5 from the file system', async () => {
    const r = await add({}, conf({ name: 'n'.repeat(5000) }));
    expect(r.json, r.out).toMatchObject({ code: 7 });
    expect(String(r.json?.msg)).toContain('$.name');
    expect(String(r.json?.msg)).toContain('at most 255');
  });

  it('left nothing behind', async () => {
    const links = await net.exec(nodeNs, ['ip', '-o', 'link', 'show', 'type', 'veth']);
    expect(links.stdout.trim()).toBe('');
    const held = existsSync(join(dataDir, 'sa-input'))
      ? readdirSync(join(dataDir, 'sa-input')).filter((f) => /^\d/.test(f))
      : [];
    expect(held).toEqual([]);
  });
});
