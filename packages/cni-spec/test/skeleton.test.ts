import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CniResult,
  handleInvocation,
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
