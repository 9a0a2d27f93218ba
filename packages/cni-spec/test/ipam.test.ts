import { describe, expect, it } from 'vitest';
import {
  addWithIpam,
  CniError,
  delegateIpam,
  delWithIpam,
  handleInvocation,
  netnsMissing,
  type PluginContext,
} from '../src/index.js';
import { cniEnv, InProcessExec } from '../src/testing/index.js';

function fakeIpam() {
  const held = new Set<string>();
  const exec = new InProcessExec().register('fake-ipam', {
    add: (ctx) => {
      held.add(ctx.containerId);
      return {
        cniVersion: '0.4.0',
        ips: [{ version: '4', address: '10.5.0.9/24', gateway: '10.5.0.1' }],
      };
    },
    del: (ctx) => {
      held.delete(ctx.containerId);
    },
  });
  return { exec, held };
}

async function contextFor(version: string): Promise<PluginContext> {
  let captured: PluginContext | undefined;
  await handleInvocation(
    {
      env: cniEnv({ command: 'ADD', containerId: 'c7' }),
      stdin: JSON.stringify({
        cniVersion: version,
        name: 'n',
        type: 'main',
        ipam: { type: 'fake-ipam' },
      }),
    },
    {
      add: (ctx) => {
        captured = ctx;
        return { cniVersion: '1.1.0' };
      },
      del: () => {},
    },
  );
  if (!captured) throw new Error('no context');
  return captured;
}

describe('IPAM delegation helpers', () => {
  it('delegateIpam passes env/stdin with the command and converts the result to 1.1.0', async () => {
    const { exec, held } = fakeIpam();
    const ctx = await contextFor('1.0.0');
    const res = await delegateIpam('ADD', ctx, { exec });
    expect(res).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: '10.5.0.9/24', gateway: '10.5.0.1' }],
    });
    expect(exec.calls[0]).toMatchObject({
      type: 'fake-ipam',
      command: 'ADD',
      env: { CNI_CONTAINERID: 'c7' },
    });
    expect(exec.calls[0]?.stdin).toMatchObject({ name: 'n', ipam: { type: 'fake-ipam' } });
    expect(held.has('c7')).toBe(true);
    await delegateIpam('DEL', ctx, { exec });
    expect(exec.calls[1]?.command).toBe('DEL');
    expect(held.size).toBe(0);
  });

  it('addWithIpam releases the address when the body throws, and rethrows', async () => {
    const { exec, held } = fakeIpam();
    const ctx = await contextFor('1.0.0');
    const err = await addWithIpam(
      ctx,
      () => {
        throw new CniError(5, 'veth failed');
      },
      { exec },
    ).catch((e: unknown) => e);
    expect(CniError.isInstance(err) && err.msg).toBe('veth failed');
    expect(exec.calls.map((c) => c.command)).toEqual(['ADD', 'DEL']);
    expect(held.size).toBe(0);
    const ok = await addWithIpam(ctx, (ipam) => ipam.ips?.length, { exec });
    expect(ok).toBe(1);
    expect(held.has('c7')).toBe(true);
  });

  it('a missing ipam section is code 7; a missing IPAM binary is code 5', async () => {
    const ctx = await contextFor('1.0.0');
    await expect(
      delegateIpam('ADD', { ...ctx, config: { ...ctx.config, ipam: undefined } }),
    ).rejects.toMatchObject({
      code: 7,
    });
    await expect(delegateIpam('ADD', { ...ctx, path: ['/nonexistent'] })).rejects.toMatchObject({
      code: 5,
    });
  });

  it('delWithIpam releases first, skips teardown without a namespace, runs both past failures', async () => {
    const { exec, held } = fakeIpam();
    const ctx = await contextFor('1.0.0');
    await delegateIpam('ADD', ctx, { exec });
    const torn: string[] = [];
    await delWithIpam(
      { ...ctx, netns: '' },
      () => {
        torn.push('x');
      },
      { exec },
    );
    expect(held.size).toBe(0);
    expect(torn).toEqual([]);
    await delWithIpam(
      { ...ctx, netns: '/proc/self/ns/net' },
      () => {
        torn.push('y');
      },
      { exec },
    );
    expect(torn).toEqual(['y']);
    const failing = new InProcessExec().register('fake-ipam', {
      add: () => ({ cniVersion: '1.0.0' }),
      del: () => {
        throw new CniError(11, 'store busy');
      },
    });
    const err = await delWithIpam(
      { ...ctx, netns: '/proc/self/ns/net' },
      () => {
        torn.push('z');
      },
      { exec: failing },
    ).catch((e: unknown) => e);
    expect(torn).toEqual(['y', 'z']);
    expect(err).toMatchObject({ code: 11 });
  });

  it('netnsMissing: empty or vanished namespace paths', () => {
    expect(netnsMissing('')).toBe(true);
    expect(netnsMissing('/run/netns/definitely-not-here-12345')).toBe(true);
    expect(netnsMissing('/proc/self/ns/net')).toBe(false);
  });
});
