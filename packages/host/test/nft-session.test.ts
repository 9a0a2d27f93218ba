import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HostError, NftSession } from '../src/index.js';

const fake = fileURLToPath(new URL('./fixtures/fake-nft-i.mjs', import.meta.url));

describe('NftSession against a fake nft -i', () => {
  const sessions: NftSession[] = [];
  const open = () => {
    const s = new NftSession({ argv: [process.execPath, fake] });
    sessions.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of sessions.splice(0)) s.close();
  });

  it('resolves each batch at its end marker on one process', async () => {
    const s = open();
    await s.apply('add table inet t\n');
    const pid = s.pid;
    await Promise.all([s.apply('a\n'), s.apply('b\n'), s.apply('')]);
    expect(s.pid).toBe(pid);
  });

  it('rejects a failing batch with its line and stderr, then keeps working', async () => {
    const s = open();
    const err = await s.apply('ok\nBAD line\nok\n').catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    expect((err as HostError).lineNumber).toBe(2);
    expect((err as HostError).line).toBe('BAD line');
    expect((err as HostError).stderr).toMatch(/Error: syntax error/);
    await expect(s.apply('fine\n')).resolves.toBeUndefined();
    const token = /__podnet_mark_([0-9a-f]+)_/.exec((err as HostError).stderr ?? '')?.[1];
    expect(token).toMatch(/^[0-9a-f]{12}$/);
    expect(readdirSync(tmpdir()).filter((f) => f.includes(token as string))).toEqual([]);
  });

  it('rejects a batch during which the process died and restarts on the next call', async () => {
    const s = open();
    await s.apply('x\n');
    const pid = s.pid;
    const err = await s.apply('exit-now\n').catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    await s.apply('y\n');
    expect(s.pid).not.toBe(pid);
  });

  it('rejects calls after close and an unstartable command with a HostError', async () => {
    const s = open();
    s.close();
    expect(HostError.isInstance(await s.apply('x\n').catch((e: unknown) => e))).toBe(true);
    const missing = new NftSession({ argv: ['/nonexistent/nft'] });
    sessions.push(missing);
    const err = await missing.apply('x\n').catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    expect(() => new NftSession({ argv: [] })).toThrowError(/empty argv/);
  });
});
