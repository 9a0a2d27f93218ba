import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildPluginConf,
  CNI_ERROR_CODES,
  CniError,
  CniRuntime,
  type CniResult,
  loadConfList,
  loadConfLists,
  negotiateVersion,
  type NetConfList,
  parseNetConfList,
} from '../src/index.js';
import { InProcessExec } from '../src/testing/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'cni-spec-rt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fakePlugins() {
  const exec = new InProcessExec();
  const allocated = new Map<string, string>();
  exec.register('main', {
    add: (ctx) => {
      const address = `10.9.0.${allocated.size + 2}/24`;
      allocated.set(`${ctx.containerId}/${ctx.ifName}`, address);
      return {
        cniVersion: '1.1.0',
        interfaces: [{ name: ctx.ifName, sandbox: ctx.netns }],
        ips: [{ address, interface: 0 }],
      };
    },
    del: (ctx) => {
      allocated.delete(`${ctx.containerId}/${ctx.ifName}`);
    },
    check: (ctx) => {
      if (!ctx.config.prevResult?.ips?.length) throw new Error('no prevResult');
    },
    gc: (ctx) => {
      const keep = new Set(ctx.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
      for (const k of allocated.keys()) if (!keep.has(k)) allocated.delete(k);
    },
  });
  exec.register('meta', {
    add: (ctx) => {
      const prev = ctx.config.prevResult as CniResult;
      return { ...prev, dns: { nameservers: ['10.96.0.10'] } };
    },
    del: () => {},
  });
  return { exec, allocated };
}

const list = (v: string, extra: Partial<NetConfList> = {}): NetConfList =>
  parseNetConfList({
    cniVersion: v,
    name: 'testnet',
    plugins: [
      { type: 'main' },
      { type: 'meta', capabilities: { portMappings: true, bandwidth: false } },
    ],
    ...extra,
  });

const rt = {
  containerId: 'c1',
  netns: '/run/netns/none',
  ifName: 'eth0',
  args: { K8S_POD_NAME: 'p1' },
};

describe('CniRuntime with in-process plugins', () => {
  it.each(['0.4.0', '1.0.0', '1.1.0'])(
    'runs ADD in order, CHECK with the cache, DEL in reverse (%s)',
    async (v) => {
      const { exec, allocated } = fakePlugins();
      const runtime = new CniRuntime({ exec, cacheDir: join(tmp, v), binDirs: ['/nowhere'] });
      const l = list(v);
      const res = await runtime.addNetworkList(l, {
        ...rt,
        capabilityArgs: {
          portMappings: [{ hostPort: 80, containerPort: 80 }],
          bandwidth: { x: 1 },
        },
      });
      expect(res.cniVersion).toBe(v);
      expect(res.dns?.nameservers).toEqual(['10.96.0.10']);
      expect(allocated.size).toBe(1);
      const [a1, a2] = exec.calls;
      expect(a1?.stdin).toMatchObject({ name: 'testnet', cniVersion: v, type: 'main' });
      expect(a1?.stdin.runtimeConfig).toBeUndefined();
      expect(a2?.stdin.runtimeConfig).toEqual({
        portMappings: [{ hostPort: 80, containerPort: 80 }],
      });
      expect(a2?.stdin.prevResult).toMatchObject({
        cniVersion: v,
        ips: [{ address: '10.9.0.2/24' }],
      });
      expect(a2?.env).toMatchObject({
        CNI_COMMAND: 'ADD',
        CNI_ARGS: 'K8S_POD_NAME=p1',
        CNI_PATH: '/nowhere',
        CNI_IFNAME: 'eth0',
      });
      expect(runtime.getCachedResult(l, rt)).toEqual(res);

      exec.calls.length = 0;
      await runtime.checkNetworkList(l, rt);
      expect(exec.calls.map((c) => `${c.command}:${c.type}`)).toEqual(['CHECK:main', 'CHECK:meta']);
      expect(exec.calls[0]?.stdin.prevResult).toEqual(res);

      exec.calls.length = 0;
      await runtime.delNetworkList(l, rt);
      expect(exec.calls.map((c) => `${c.command}:${c.type}`)).toEqual(['DEL:meta', 'DEL:main']);
      expect(allocated.size).toBe(0);
      expect(runtime.getCachedResult(l, rt)).toBeUndefined();
      await runtime.delNetworkList(l, rt);
    },
  );

  it('DEL of a 0.3.1 list sends no prevResult; CHECK is refused with code 1', async () => {
    const { exec } = fakePlugins();
    const runtime = new CniRuntime({ exec, cacheDir: join(tmp, 'old') });
    const l = list('0.3.1');
    await runtime.addNetworkList(l, rt);
    await expect(runtime.checkNetworkList(l, rt)).rejects.toMatchObject({ code: 1 });
    exec.calls.length = 0;
    await runtime.delNetworkList(l, rt);
    expect(exec.calls[0]?.stdin.prevResult).toBeUndefined();
  });

  it('GC DELs cached attachments not in the valid list, then runs plugin GC (1.1.0)', async () => {
    const { exec, allocated } = fakePlugins();
    const runtime = new CniRuntime({ exec, cacheDir: join(tmp, 'gc') });
    const l = list('1.1.0');
    await runtime.addNetworkList(l, { ...rt, containerId: 'keep' });
    await runtime.addNetworkList(l, { ...rt, containerId: 'gone' });
    exec.calls.length = 0;
    await runtime.gcNetworkList(l, [{ containerId: 'keep', ifName: 'eth0' }]);
    expect(exec.calls.map((c) => `${c.command}:${c.type}:${c.env.CNI_CONTAINERID ?? ''}`)).toEqual([
      'DEL:meta:gone',
      'DEL:main:gone',
      'GC:main:',
      'GC:meta:',
    ]);
    expect(exec.calls[2]?.stdin['cni.dev/valid-attachments']).toEqual([
      { containerID: 'keep', ifname: 'eth0' },
    ]);
    expect(exec.calls[2]?.stdin['cni.dev/attachments']).toEqual([
      { containerID: 'keep', ifname: 'eth0' },
    ]);
    expect([...allocated.keys()]).toEqual(['keep/eth0']);
    expect(runtime.cache.list('testnet').map((e) => e.containerId)).toEqual(['keep']);
  });

  it('STATUS is a no-op before 1.1.0 and reports a not-ready plugin (code 50)', async () => {
    const exec = new InProcessExec().register('main', {
      add: () => ({ cniVersion: '1.1.0' }),
      del: () => {},
      status: () => {
        throw new CniError(CNI_ERROR_CODES.PLUGIN_NOT_AVAILABLE, 'agent down');
      },
    });
    const runtime = new CniRuntime({ exec, cacheDir: join(tmp, 'st') });
    const one = (v: string) =>
      parseNetConfList({ cniVersion: v, name: 'st', plugins: [{ type: 'main' }] });
    await runtime.statusNetworkList(one('1.0.0'));
    expect(exec.calls).toHaveLength(0);
    await expect(runtime.statusNetworkList(one('1.1.0'))).rejects.toMatchObject({ code: 50 });
  });

  it('GC waits for a running ADD and holds back a new one until it is done', async () => {
    let finishAdd = () => {};
    const order: string[] = [];
    const exec = new InProcessExec().register('slow', {
      add: async (ctx) => {
        order.push(`add-start:${ctx.containerId}`);
        if (ctx.containerId === 'first')
          await new Promise<void>((r) => {
            finishAdd = r;
          });
        order.push(`add-end:${ctx.containerId}`);
        return { cniVersion: '1.1.0' };
      },
      del: () => {},
      gc: () => {
        order.push('gc');
      },
    });
    const runtime = new CniRuntime({ exec, cacheDir: join(tmp, 'lock') });
    const l = parseNetConfList({ cniVersion: '1.1.0', name: 'lock', plugins: [{ type: 'slow' }] });
    const a1 = runtime.addNetworkList(l, { ...rt, containerId: 'first' });
    await new Promise((r) => setTimeout(r, 20));
    const gc = runtime.gcNetworkList(l, [{ containerId: 'first', ifName: 'eth0' }]);
    const a2 = runtime.addNetworkList(l, { ...rt, containerId: 'second' });
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['add-start:first']);
    finishAdd();
    await Promise.all([a1, gc, a2]);
    expect(order).toEqual([
      'add-start:first',
      'add-end:first',
      'gc',
      'add-start:second',
      'add-end:second',
    ]);
  });

  it('negotiates the highest common version from cniVersions', () => {
    expect(
      negotiateVersion(
        parseNetConfList({
          name: 'n',
          cniVersions: ['0.4.0', '1.1.0', '2.0.0'],
          plugins: [{ type: 'a' }],
        }),
      ),
    ).toBe('1.1.0');
    expect(
      negotiateVersion(
        parseNetConfList({ name: 'n', cniVersions: ['0.4.0', '1.1.0'], plugins: [{ type: 'a' }] }),
        ['0.4.0', '1.0.0'],
      ),
    ).toBe('0.4.0');
    expect(() =>
      negotiateVersion(
        parseNetConfList({ name: 'n', cniVersion: '0.2.0', plugins: [{ type: 'a' }] }),
      ),
    ).toThrow(expect.objectContaining({ code: 1 }));
  });

  it('buildPluginConf keeps plugin keys, sets name/version, filters capabilities', () => {
    const l = parseNetConfList({
      cniVersion: '1.0.0',
      name: 'n',
      plugins: [
        {
          type: 'a',
          name: 'ignored',
          cniVersion: '0.1.0',
          foo: 1,
          capabilities: { ips: true, mac: true },
          runtimeConfig: { stale: 1 },
        },
      ],
    });
    expect(
      buildPluginConf(l, 0, '1.0.0', { capabilityArgs: { ips: ['10.0.0.1/24'], dns: {} } }),
    ).toEqual({
      type: 'a',
      name: 'n',
      cniVersion: '1.0.0',
      foo: 1,
      capabilities: { ips: true, mac: true },
      runtimeConfig: { ips: ['10.0.0.1/24'] },
    });
  });

  it('a failing plugin surfaces its error code and stops the chain; a missing plugin is code 5', async () => {
    const exec = new InProcessExec()
      .register('main', {
        add: () => {
          throw Object.assign(new Error('x'), {});
        },
        del: () => {},
      })
      .register('meta', { add: () => ({ cniVersion: '1.1.0' }), del: () => {} });
    const runtime = new CniRuntime({ exec, cacheDir: join(tmp, 'fail') });
    await expect(runtime.addNetworkList(list('1.0.0'), rt)).rejects.toMatchObject({ code: 999 });
    expect(exec.calls).toHaveLength(1);
    const l = parseNetConfList({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'absent' }] });
    await expect(runtime.addNetworkList(l, rt)).rejects.toMatchObject({ code: 5 });
    await expect(
      runtime.addNetworkList(list('1.0.0'), { ...rt, containerId: '../etc' }),
    ).rejects.toMatchObject({ code: 4 });
  });
});

describe('loadConfLists / loadConfList', () => {
  const dir = join(tmp, 'net.d');
  it('lists in byte order, wraps single confs, skips invalid files, looks up conflists first', () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, '20-b.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'bridge' }] }),
    );
    writeFileSync(
      join(dir, '10-a.conf'),
      JSON.stringify({ cniVersion: '0.4.0', name: 'a', type: 'ptp' }),
    );
    writeFileSync(join(dir, '15-bad.conflist'), '{ nope');
    writeFileSync(
      join(dir, '30-b.conf'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'b', type: 'macvlan' }),
    );
    writeFileSync(join(dir, 'README.md'), 'not a config');
    const invalid: string[] = [];
    const lists = loadConfLists(dir, { onInvalid: (f, e) => invalid.push(`${f}:${e.code}`) });
    expect(lists.map((l) => `${l.name}:${l.plugins[0]?.type}`)).toEqual([
      'a:ptp',
      'b:bridge',
      'b:macvlan',
    ]);
    expect(invalid).toEqual([`${join(dir, '15-bad.conflist')}:6`]);
    expect(lists[0]).toEqual({ cniVersion: '0.4.0', name: 'a', plugins: [{ type: 'ptp' }] });
    expect(loadConfList(dir, 'b').plugins[0]?.type).toBe('bridge');
    expect(loadConfList(dir, 'a').plugins[0]?.type).toBe('ptp');
    expect(() => loadConfList(dir, 'zzz')).toThrow(expect.objectContaining({ code: 7 }));
    expect(loadConfLists(join(tmp, 'does-not-exist'))).toEqual([]);
  });
});
