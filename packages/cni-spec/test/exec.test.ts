import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniRuntime, parseNetConfList, runCli } from '../src/index.js';
import { bundlePlugin, runWithInput } from './helpers.js';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'cni-spec-exec-'));
let binDir: string;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  binDir = join(tmp, 'bin');
  mkdirSync(binDir);
  await bundlePlugin('./fixtures/hello-plugin.ts', 'hello', binDir);
  await bundlePlugin('./fixtures/ipam-user-plugin.ts', 'ipam-user', binDir);
  await bundlePlugin('../src/bin/podnet-cni.ts', 'podnet-cni', binDir);
}, 60_000);

const rt = { containerId: 'ctr1', netns: '/run/netns/whatever', ifName: 'eth0' };

describe('the hello example plugin, exec’d by the runtime', { timeout: 120_000 }, () => {
  it.each(['0.3.1', '0.4.0', '1.0.0', '1.1.0'])('ADD/CHECK/DEL/STATUS/GC at %s', async (v) => {
    const stateDir = join(tmp, `state-${v}`);
    mkdirSync(stateDir);
    const list = parseNetConfList({
      cniVersion: v,
      name: 'hello',
      plugins: [{ type: 'hello', stateDir, subnet: '10.77.0' }],
    });
    const runtime = new CniRuntime({
      binDirs: ['/nonexistent', binDir],
      cacheDir: join(tmp, `cache-${v}`),
    });
    const r1 = await runtime.addNetworkList(list, rt);
    const r2 = await runtime.addNetworkList(list, { ...rt, containerId: 'ctr2' });
    expect(r1).toMatchObject({ cniVersion: v, ips: [{ address: '10.77.0.2/24' }] });
    expect(r2.ips?.[0]?.address).toBe('10.77.0.3/24');
    if (v.startsWith('0.')) expect(r1.ips?.[0]).toHaveProperty('version', '4');
    expect(r1.routes?.[0]).toEqual(
      v === '1.1.0' ? { dst: '0.0.0.0/0', priority: 100 } : { dst: '0.0.0.0/0' },
    );
    if (v !== '0.3.1') await runtime.checkNetworkList(list, rt);
    await runtime.statusNetworkList(list);
    await runtime.delNetworkList(list, rt);
    await runtime.delNetworkList(list, rt);
    expect(readdirSync(join(stateDir, 'hello'))).toEqual(['ctr2-eth0']);
    if (v !== '0.3.1')
      await expect(runtime.checkNetworkList(list, rt)).rejects.toMatchObject({ code: 3 });
    await runtime.addNetworkList(list, { ...rt, containerId: 'ctr3' });
    await runtime.gcNetworkList(list, [{ containerId: 'ctr3', ifName: 'eth0' }]);
    expect(readdirSync(join(stateDir, 'hello'))).toEqual(['ctr3-eth0']);
    if (v === '1.1.0') {
      writeFileSync(join(stateDir, 'hello', 'orphan-eth0'), 'x');
      await runtime.gcNetworkList(list, [{ containerId: 'ctr3', ifName: 'eth0' }]);
      expect(readdirSync(join(stateDir, 'hello'))).toEqual(['ctr3-eth0']);
      rmSync(stateDir, { recursive: true });
      await expect(runtime.statusNetworkList(list)).rejects.toMatchObject({ code: 50 });
    }
  });

  it('answers VERSION and rejects bad input with spec error JSON, exit 1', async () => {
    const runtime = new CniRuntime({ binDirs: [binDir], cacheDir: join(tmp, 'c') });
    expect(await runtime.pluginVersions('hello')).toEqual({
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
    const bad = await runWithInput(join(binDir, 'hello'), [], '{}', {
      PATH: process.env.PATH,
      CNI_COMMAND: 'ADD',
    });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({
      code: 4,
      msg: expect.stringContaining('CNI_CONTAINERID'),
    });
    const garbage = await runWithInput(join(binDir, 'hello'), [], 'not json', {
      PATH: process.env.PATH,
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'x',
      CNI_IFNAME: 'eth0',
      CNI_PATH: binDir,
    });
    expect(garbage.code).toBe(1);
    expect(JSON.parse(garbage.stdout)).toMatchObject({ cniVersion: '1.1.0', code: 6 });
    const old = parseNetConfList({
      cniVersion: '0.3.0',
      name: 'hello',
      plugins: [{ type: 'hello', stateDir: tmp }],
    });
    await expect(runtime.validateNetworkList(old)).rejects.toMatchObject({ code: 1 });
    await expect(runtime.addNetworkList(old, rt)).rejects.toMatchObject({ code: 1 });
  });

  it('kills a plugin that exceeds the timeout (code 11)', async () => {
    const slow = join(tmp, 'slowbin');
    mkdirSync(slow);
    writeFileSync(join(slow, 'sleepy'), '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const runtime = new CniRuntime({
      binDirs: [slow],
      cacheDir: join(tmp, 'slow'),
      timeoutMs: 300,
    });
    const list = parseNetConfList({
      cniVersion: '1.0.0',
      name: 'slow',
      plugins: [{ type: 'sleepy' }],
    });
    await expect(runtime.addNetworkList(list, rt)).rejects.toMatchObject({ code: 11 });
  });
});

describe('IPAM delegation to Debian host-local', { timeout: 120_000 }, () => {
  const hostLocal = '/usr/lib/cni';
  it.each(['0.3.1', '0.4.0', '1.0.0'])(
    'allocates, releases on a failed ADD, and on DEL (%s)',
    async (v) => {
      const dataDir = join(tmp, `hl-${v}`);
      const ipam = { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/24' }]], dataDir };
      const runtime = new CniRuntime({
        binDirs: [binDir, hostLocal],
        cacheDir: join(tmp, `hlc-${v}`),
      });
      const list = parseNetConfList({
        cniVersion: v,
        name: 'ipamnet',
        plugins: [{ type: 'ipam-user', ipam }],
      });
      const res = await runtime.addNetworkList(list, rt);
      expect(res.ips?.[0]?.address).toBe('10.88.0.2/24');
      expect(res.interfaces).toEqual([{ name: 'eth0', sandbox: rt.netns }]);
      expect(readFileSync(join(dataDir, 'ipamnet', '10.88.0.2'), 'utf8')).toContain('ctr1');
      if (v !== '0.3.1') await runtime.checkNetworkList(list, rt);
      const failing = parseNetConfList({
        cniVersion: v,
        name: 'ipamnet',
        plugins: [{ type: 'ipam-user', ipam, failAfterIpam: true }],
      });
      await expect(
        runtime.addNetworkList(failing, { ...rt, containerId: 'ctr9' }),
      ).rejects.toMatchObject({ code: 5 });
      expect(existsSync(join(dataDir, 'ipamnet', '10.88.0.3'))).toBe(false);
      await runtime.delNetworkList(list, rt);
      expect(existsSync(join(dataDir, 'ipamnet', '10.88.0.2'))).toBe(false);
    },
  );
});

describe('version negotiation with real plugins', () => {
  it('pins a cniVersions list to the highest version every plugin supports', async () => {
    const runtime = new CniRuntime({
      binDirs: [binDir, '/usr/lib/cni'],
      cacheDir: join(tmp, 'neg'),
    });
    const list = parseNetConfList({
      cniVersions: ['0.4.0', '1.0.0', '1.1.0'],
      name: 'neg',
      plugins: [
        { type: 'hello', stateDir: tmp },
        { type: 'bridge', ipam: { type: 'host-local' } },
      ],
    });
    const pinned = await runtime.negotiateWithPlugins(list);
    expect(pinned.cniVersion).toBe('1.0.0');
    expect(pinned.cniVersions).toBeUndefined();
    const onlyHello = await runtime.negotiateWithPlugins({
      ...list,
      plugins: [{ type: 'hello', stateDir: tmp }],
    });
    expect(onlyHello.cniVersion).toBe('1.1.0');
    await expect(
      runtime.negotiateWithPlugins({
        ...list,
        cniVersions: ['1.1.0'],
        plugins: [{ type: 'portmap' }],
      }),
    ).rejects.toMatchObject({ code: 1 });
  });
});

describe('podnet-cni', { timeout: 120_000 }, () => {
  function setup(name: string) {
    const confDir = join(tmp, `conf-${name}`);
    const stateDir = join(tmp, `cstate-${name}`);
    mkdirSync(confDir);
    mkdirSync(stateDir);
    writeFileSync(
      join(confDir, '10-hello.conflist'),
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'hello',
        plugins: [{ type: 'hello', stateDir }],
      }),
    );
    const env = {
      ...process.env,
      NETCONFPATH: confDir,
      CNI_PATH: binDir,
      CNI_CACHE_DIR: join(tmp, `ccache-${name}`),
    };
    return { confDir, stateDir, env };
  }

  it('in-process: add, check, list, status, gc, del, and errors as JSON', async () => {
    const { stateDir, env } = setup('inproc');
    const add = await runCli(
      ['add', 'hello', 'pod1', '--container-id', 'c1', '--args', 'K8S_POD_NAME=x'],
      env,
    );
    expect(add.exitCode).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({
      cniVersion: '1.1.0',
      interfaces: [{ sandbox: '/run/netns/pod1' }],
    });
    expect(await runCli(['check', 'hello', 'pod1', '--container-id', 'c1'], env)).toMatchObject({
      exitCode: 0,
    });
    expect((await runCli(['list'], env)).stdout).toBe('hello\t1.1.0\thello\n');
    expect(await runCli(['status', 'hello'], env)).toMatchObject({ exitCode: 0 });
    expect(await runCli(['gc', 'hello', '--valid', 'c1/eth0'], env)).toMatchObject({ exitCode: 0 });
    expect(readdirSync(join(stateDir, 'hello'))).toEqual(['c1-eth0']);
    expect(await runCli(['del', 'hello', '--container-id', 'c1'], env)).toMatchObject({
      exitCode: 0,
    });
    expect(readdirSync(join(stateDir, 'hello'))).toEqual([]);
    const missing = await runCli(['add', 'nope', 'pod1'], env);
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ code: 7 });
    const badCap = await runCli(['add', 'hello', 'pod1', '--capability-args', '{'], env);
    expect(JSON.parse(badCap.stdout)).toMatchObject({ code: 6 });
    expect(JSON.parse((await runCli(['frob'], env)).stdout)).toMatchObject({ code: 4 });
    expect(JSON.parse((await runCli(['add', 'hello', 'p', '--bogus'], env)).stdout)).toMatchObject({
      code: 4,
    });
    expect((await runCli([], env)).exitCode).toBe(2);
    expect(await runCli(['--version'], env)).toMatchObject({
      exitCode: 0,
      stdout: expect.stringContaining('1.1.0'),
    });
    expect(await runCli(['--help'], env)).toMatchObject({
      exitCode: 0,
      stderr: expect.stringContaining('usage'),
    });
  });

  it('as an executable', async () => {
    const { env } = setup('bin');
    const cli = join(binDir, 'podnet-cni');
    const add = await run(cli, ['add', 'hello', '/run/netns/p2', '--ifname', 'net1'], { env });
    const res = JSON.parse(add.stdout);
    expect(res.interfaces[0]).toEqual({ name: 'net1', sandbox: '/run/netns/p2' });
    await run(cli, ['check', 'hello', '/run/netns/p2', '--ifname', 'net1'], { env });
    await run(cli, ['del', 'hello', '/run/netns/p2', '--ifname', 'net1'], { env });
    const err = await run(cli, ['check', 'hello', '/run/netns/p2', '--ifname', 'net1'], {
      env,
    }).catch((e: { stdout: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect(JSON.parse((err as { stdout: string }).stdout)).toMatchObject({
      cniVersion: '1.1.0',
      code: 3,
    });
    const v = await run(cli, ['version', 'host-local', '--cni-path', '/usr/lib/cni'], { env });
    expect(JSON.parse(v.stdout).supportedVersions).toContain('1.0.0');
  });
});
