import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HostError, IpSession } from '../src/index.js';

const fake = fileURLToPath(new URL('./fixtures/fake-ip-batch.mjs', import.meta.url));

describe('IpSession against a fake ip -batch', () => {
  const sessions: IpSession[] = [];
  const open = () => {
    const s = new IpSession({ argv: [process.execPath, fake] });
    sessions.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of sessions.splice(0)) s.close();
  });

  it('runs batches on one process and names the failing line within its batch', async () => {
    const s = open();
    await s.batch([['link', 'set', 'a', 'up']]);
    const pid = s.pid;
    const err = await s
      .batch([['link', 'set', 'b', 'up'], ['BAD'], ['link', 'set', 'c', 'up']])
      .catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    expect((err as HostError).lineNumber).toBe(2);
    expect((err as HostError).line).toBe('BAD');
    expect((err as HostError).stderr).toBe('Error: bad line.\nCommand failed -:4');
    await Promise.all([s.batch([['x']]), s.batch([]), s.batch([['y'], ['z']])]);
    expect(s.pid).toBe(pid);
  });

  it('rejects a batch during which ip died, and restarts with fresh line numbers', async () => {
    const s = open();
    await s.batch([['a'], ['b']]);
    const pid = s.pid;
    const err = await s.batch([['exit-now']]).catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    const again = await s.batch([['ok'], ['BAD']]).catch((e: unknown) => e);
    expect(s.pid).not.toBe(pid);
    expect((again as HostError).lineNumber).toBe(2);
  });

  it('validates tokens before sending and rejects after close', async () => {
    const s = open();
    await expect(s.batch([['link', 'set', 'a\nb', 'up']])).rejects.toThrowError(HostError);
    s.close();
    const err = await s.batch([['x']]).catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('INVALID_ARGUMENT');
  });
});
