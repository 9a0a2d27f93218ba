import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertNetns,
  type CniResult,
  handleInvocation,
  isValidContainerId,
  isValidIfName,
  MAX_CONTAINER_ID_LENGTH,
  netnsProblem,
  type PluginOptions,
  type PluginContext,
  type PluginHandlers,
  parseCniArgs,
  formatCniArgs,
  SUPPORTED_VERSIONS,
} from '../src/index.js';
import { cniEnv } from '../src/testing/index.js';

const result: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', sandbox: '/run/netns/test', mtu: 1500 }],
  ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', priority: 5 }],
};

function recorder() {
  const seen: PluginContext[] = [];
  const handlers: PluginHandlers = {
    add: (ctx) => {
      seen.push(ctx);
      return result;
    },
    del: (ctx) => {
      seen.push(ctx);
    },
    check: (ctx) => {
      seen.push(ctx);
    },
    gc: (ctx) => {
      seen.push(ctx);
    },
  };
  return { seen, handlers };
}

const conf = (v: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: v, name: 'n1', type: 'demo', ...extra });

describe('handleInvocation', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])(
    'ADD prints the result in the config version %s',
    async (v) => {
      const { handlers, seen } = recorder();
      const out = await handleInvocation(
        { env: cniEnv({ command: 'ADD', args: 'IgnoreUnknown=1;K8S_POD_NAME=p' }), stdin: conf(v) },
        handlers,
      );
      expect(out.exitCode).toBe(0);
      const printed = JSON.parse(out.stdout);
      expect(printed.cniVersion).toBe(v);
      if (v.startsWith('0.')) expect(printed.ips[0].version).toBe('4');
      else expect(printed.ips[0].version).toBeUndefined();
      expect(printed.routes[0].priority).toBe(v === '1.1.0' ? 5 : undefined);
      expect(seen[0]).toMatchObject({
        command: 'ADD',
        containerId: 'test-container',
        ifName: 'eth0',
        netns: '/run/netns/test',
        path: ['/opt/cni/bin'],
        args: { IgnoreUnknown: '1', K8S_POD_NAME: 'p' },
      });
    },
  );

  it('VERSION answers itself with the supported list', async () => {
    const out = await handleInvocation(
      { env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' },
      recorder().handlers,
      {
        supportedVersions: ['1.0.0', '0.4.0'],
      },
    );
    expect(out).toEqual({
      exitCode: 0,
      stdout: JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0'] }),
    });
  });

  it.each([
    ['missing CNI_COMMAND', {}, conf('1.0.0'), 4],
    ['unknown command', { CNI_COMMAND: 'FOO' }, conf('1.0.0'), 4],
    ['ADD without CNI_NETNS', { ...cniEnv({ command: 'ADD' }), CNI_NETNS: '' }, conf('1.0.0'), 4],
    [
      'ADD without CNI_PATH',
      { ...cniEnv({ command: 'ADD' }), CNI_PATH: undefined },
      conf('1.0.0'),
      4,
    ],
    ['bad container id', cniEnv({ command: 'ADD', containerId: '-x' }), conf('1.0.0'), 4],
    ['bad ifname', cniEnv({ command: 'ADD', ifName: 'a/b' }), conf('1.0.0'), 4],
    ['ifname too long', cniEnv({ command: 'ADD', ifName: 'abcdefghijklmnop' }), conf('1.0.0'), 4],
    ['bad CNI_ARGS', cniEnv({ command: 'ADD', args: 'novalue' }), conf('1.0.0'), 4],
    ['bad JSON', cniEnv({ command: 'ADD' }), '{', 6],
    ['bad config', cniEnv({ command: 'ADD' }), conf('1.0.0', { ipam: 3 }), 7],
    ['unsupported version', cniEnv({ command: 'ADD' }), conf('0.2.0'), 1],
    [
      'missing version means 0.1.0',
      cniEnv({ command: 'ADD' }),
      JSON.stringify({ name: 'n', type: 't' }),
      1,
    ],
    ['CHECK below 0.4.0', cniEnv({ command: 'CHECK' }), conf('0.3.1'), 1],
    ['GC below 1.1.0', cniEnv({ command: 'GC' }), conf('1.0.0'), 1],
    ['VERSION bad JSON', { CNI_COMMAND: 'VERSION' }, '{', 6],
  ])('%s → error code %i, exit 1', async (_n, env, stdin, code) => {
    const out = await handleInvocation({ env, stdin }, recorder().handlers);
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({ code, msg: expect.any(String) });
  });

  it('DEL needs no netns and maps thrown errors to the error JSON without a stack', async () => {
    const ok = await handleInvocation(
      { env: { ...cniEnv({ command: 'DEL' }), CNI_NETNS: '' }, stdin: conf('1.0.0') },
      recorder().handlers,
    );
    expect(ok).toEqual({ stdout: '', exitCode: 0 });
    const out = await handleInvocation(
      { env: cniEnv({ command: 'DEL' }), stdin: conf('1.0.0') },
      {
        add: () => result,
        del: () => {
          throw new Error('link busy');
        },
      },
    );
    expect(out.exitCode).toBe(1);
    expect(JSON.parse(out.stdout)).toEqual({ cniVersion: '1.0.0', code: 999, msg: 'link busy' });
    expect(out.stdout).not.toContain('at ');
  });

  it('rejects an invalid result from add with code 999', async () => {
    const out = await handleInvocation(
      { env: cniEnv({ command: 'ADD' }), stdin: conf('1.0.0') },
      {
        add: () => ({ cniVersion: '1.1.0', ips: [{ address: 'nope' }] }),
        del: () => {},
      },
    );
    expect(JSON.parse(out.stdout)).toMatchObject({
      code: 999,
      msg: 'plugin returned an invalid result',
    });
  });

  it('GC hands over valid attachments from either key; STATUS without handler is ready', async () => {
    const { handlers, seen } = recorder();
    const att = [{ containerID: 'c1', ifname: 'eth0' }];
    await handleInvocation(
      { env: cniEnv({ command: 'GC' }), stdin: conf('1.1.0', { 'cni.dev/attachments': att }) },
      handlers,
    );
    expect((seen[0] as unknown as { validAttachments: unknown }).validAttachments).toEqual(att);
    const st = await handleInvocation(
      { env: cniEnv({ command: 'STATUS' }), stdin: conf('1.1.0') },
      handlers,
    );
    expect(st).toEqual({ stdout: '', exitCode: 0 });
  });

  it('property: random env and stdin always give a result or a spec error JSON, never a crash', async () => {
    const command = fc.constantFrom(
      'ADD',
      'DEL',
      'CHECK',
      'STATUS',
      'GC',
      'VERSION',
      '',
      'add',
      'X',
    );
    const maybe = (a: fc.Arbitrary<string>) => fc.option(a, { nil: undefined });
    const env = fc.record({
      CNI_COMMAND: maybe(command),
      CNI_CONTAINERID: maybe(fc.oneof(fc.string(), fc.constant('c1'))),
      CNI_NETNS: maybe(fc.oneof(fc.string(), fc.constant('/run/netns/x'))),
      CNI_IFNAME: maybe(fc.oneof(fc.string(), fc.constant('eth0'))),
      CNI_ARGS: maybe(fc.string()),
      CNI_PATH: maybe(fc.oneof(fc.string(), fc.constant('/opt/cni/bin'))),
    });
    const stdin = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record({
          cniVersion: fc.oneof(fc.constantFrom(...SUPPORTED_VERSIONS, '0.1.0'), fc.string()),
          name: fc.oneof(fc.constant('net'), fc.string()),
          type: fc.oneof(fc.constant('demo'), fc.string()),
          ipam: fc.oneof(fc.constant(undefined), fc.anything()),
          prevResult: fc.oneof(fc.constant(undefined), fc.anything()),
        })
        .map((o) => JSON.stringify(o)),
    );
    const { handlers } = recorder();
    await fc.assert(
      fc.asyncProperty(env, stdin, async (e, s) => {
        const out = await handleInvocation({ env: e, stdin: s }, handlers);
        expect([0, 1]).toContain(out.exitCode);
        if (out.exitCode === 1) {
          const err = JSON.parse(out.stdout);
          expect(Object.keys(err).sort()).toEqual(
            expect.arrayContaining(['cniVersion', 'code', 'msg']),
          );
          expect([1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 999]).toContain(err.code);
          expect(typeof err.msg).toBe('string');
        } else if (e.CNI_COMMAND === 'ADD' || e.CNI_COMMAND === 'VERSION') {
          expect(JSON.parse(out.stdout).cniVersion).toMatch(/^\d+\.\d+\.\d+$/);
        } else {
          expect(out.stdout).toBe('');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('input checks before any handler runs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cni-spec-netns-'));
    writeFileSync(join(dir, 'file'), '');
    mkdirSync(join(dir, 'dir'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (env: Record<string, string>, options: PluginOptions = {}) => {
    const { handlers, seen } = recorder();
    const out = await handleInvocation(
      { env: { ...cniEnv({ command: 'ADD' }), ...env }, stdin: conf('1.0.0') },
      handlers,
      options,
    );
    return { out, seen, err: out.exitCode === 0 ? undefined : JSON.parse(out.stdout) };
  };

  it(`takes container IDs of up to ${MAX_CONTAINER_ID_LENGTH} characters, longer is code 4 naming CNI_CONTAINERID`, async () => {
    expect((await run({ CNI_CONTAINERID: 'c'.repeat(MAX_CONTAINER_ID_LENGTH) })).out.exitCode).toBe(
      0,
    );
    const { err, seen } = await run({ CNI_CONTAINERID: 'c'.repeat(10_000) });
    // printed in the configuration's version although the error came before it was accepted
    expect(err).toMatchObject({ code: 4, cniVersion: '1.0.0' });
    expect(err.msg).toContain('CNI_CONTAINERID');
    expect(err.details).toContain(`at most ${MAX_CONTAINER_ID_LENGTH}`);
    expect(seen).toEqual([]);
    // the spec sets no length: stores keyed by the ID (ipam) take any; the skeleton caps it
    expect(isValidContainerId('c'.repeat(129))).toBe(true);
    expect(isValidContainerId('_leading')).toBe(false);
  });

  it('refuses, with checkIfName, a name the spec allows but the plugin cannot use: code 4 naming CNI_IFNAME', async () => {
    const checkIfName = (n: string) => {
      if (!/^[a-z0-9]+$/.test(n)) throw new Error('want [a-z0-9]');
    };
    expect(isValidIfName('eth0;rm')).toBe(true);
    const { err, seen } = await run({ CNI_IFNAME: 'eth0;rm' }, { checkIfName });
    expect(err).toMatchObject({ code: 4, msg: 'invalid CNI_IFNAME' });
    expect(err.details).toContain('"eth0;rm"');
    expect(err.details).toContain('want [a-z0-9]');
    expect(seen).toEqual([]);
    expect((await run({ CNI_IFNAME: 'eth0' }, { checkIfName })).out.exitCode).toBe(0);
    // DEL is left to the handler: it must succeed for what ADD refused
    const del = await run({ CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0;rm' }, { checkIfName });
    expect(del.out.exitCode).toBe(0);
  });

  it('refuses, with checkNetns: assertNetns, a regular file, a directory or a missing path: code 4 naming CNI_NETNS', async () => {
    const options = { checkNetns: assertNetns };
    for (const [path, why] of [
      [join(dir, 'file'), 'is a regular file'],
      [join(dir, 'dir'), 'is a directory'],
      [join(dir, 'missing'), 'does not exist'],
      ['relative/ns', 'is not an absolute path'],
    ] as const) {
      const { err, seen } = await run({ CNI_NETNS: path }, options);
      expect(err, path).toMatchObject({ code: 4, msg: 'invalid CNI_NETNS' });
      expect(err.details).toContain(why);
      expect(seen).toEqual([]);
    }
    expect((await run({ CNI_NETNS: '/proc/self/ns/net' }, options)).out.exitCode).toBe(0);
    const del = await run({ CNI_COMMAND: 'DEL', CNI_NETNS: join(dir, 'dir') }, options);
    expect(del.out.exitCode).toBe(0);
  });

  it('netnsProblem: namespace files pass with no reason', () => {
    expect(netnsProblem('/proc/self/ns/net')).toBeUndefined();
    expect(netnsProblem(join(dir, 'file'))).toContain('regular file');
  });
});

describe('CNI_ARGS', () => {
  it.each([
    ['', {}],
    ['A=1', { A: '1' }],
    ['A=1;B=2', { A: '1', B: '2' }],
    ['A=1;;B=2;', { A: '1', B: '2' }],
    ['A=x=y', { A: 'x=y' }],
    ['A=', { A: '' }],
    ['A=1;A=2', { A: '2' }],
    [
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p-1',
      { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'p-1' },
    ],
  ])('%j parses', (raw, want) => {
    expect(parseCniArgs(raw)).toEqual(want);
  });

  it.each(['A', '=1', 'A=1;B'])('%j is rejected with code 4', (raw) => {
    expect(() => parseCniArgs(raw)).toThrow(expect.objectContaining({ code: 4 }));
  });

  it('unknown keys fail only without IgnoreUnknown when keys are declared', () => {
    expect(() => parseCniArgs('X=1', { known: ['K8S_POD_NAME'] })).toThrow(
      expect.objectContaining({ code: 4 }),
    );
    expect(parseCniArgs('IgnoreUnknown=true;X=1', { known: ['K8S_POD_NAME'] })).toEqual({
      IgnoreUnknown: 'true',
      X: '1',
    });
    expect(parseCniArgs('K8S_POD_NAME=a', { known: ['K8S_POD_NAME'] })).toEqual({
      K8S_POD_NAME: 'a',
    });
  });

  it('formats and round-trips', () => {
    const args = { IgnoreUnknown: '1', K8S_POD_NAME: 'p' };
    expect(parseCniArgs(formatCniArgs(args))).toEqual(args);
    expect(() => formatCniArgs({ A: 'x;y' })).toThrow();
  });
});
