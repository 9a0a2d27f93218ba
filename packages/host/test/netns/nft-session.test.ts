import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host, HostError, NftSession } from '../../src/index.js';
import { createTestNet, type TestNet, waitFor } from '../../src/testing/index.js';

interface NftSetJson {
  nftables: { set?: { name: string; elem?: unknown[] } }[];
}

describe('NftSession on a real kernel', () => {
  let net: TestNet;
  let ns: string;
  let host: Host;
  let session: NftSession;

  beforeAll(async () => {
    net = createTestNet();
    ns = await net.ns('s');
    host = new Host({ netns: { name: ns } });
    session = new NftSession({ netns: { name: ns } });
  });
  afterAll(() => {
    session.close();
    return net.cleanup();
  });

  const elements = async (set: string) => {
    const j = await host.nftJson<NftSetJson>(['list', 'set', 'inet', 'sess', set]);
    return (j.nftables.find((o) => o.set)?.set?.elem ?? []).map(String).sort();
  };

  it('applies multi-line scripts with blocks and comments as one transaction', async () => {
    await session.apply(
      [
        'add table inet sess',
        '# a comment',
        'add set inet sess s {',
        '  type ipv4_addr; flags interval',
        '  elements = { 10.0.0.1,',
        '    10.0.0.2 }',
        '}',
        'add chain inet sess c { type filter hook input priority 0; policy accept; }',
        '',
      ].join('\n'),
    );
    expect(await elements('s')).toEqual(['10.0.0.1', '10.0.0.2']);
    await session.apply(
      'delete element inet sess s { 10.0.0.1 }\nadd element inet sess s { 10.0.0.3 }\n',
    );
    expect(await elements('s')).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('applies nothing of a batch whose second line is bad and names that line', async () => {
    const script =
      'add element inet sess s { 10.0.0.9 }\nadd element inet sess s { 10.0.0.300 }\nadd element inet sess s { 10.0.0.10 }\n';
    const err = await session.apply(script).catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    expect((err as HostError).lineNumber).toBe(2);
    expect((err as HostError).line).toBe('add element inet sess s { 10.0.0.300 }');
    expect((err as HostError).stderr).toMatch(/Error:/);
    expect(await elements('s')).toEqual(['10.0.0.2', '10.0.0.3']);
    const kernelErr = await session
      .apply('add element inet sess s { 10.0.0.11 }\ndelete element inet sess s { 10.9.9.9 }\n')
      .catch((e: unknown) => e);
    expect(HostError.isInstance(kernelErr) && kernelErr.code).toBe('COMMAND_FAILED');
    expect(await elements('s')).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('keeps working after an error, serialises concurrent calls and keeps one process', async () => {
    const pid = session.pid;
    await Promise.all([
      session.apply('add element inet sess s { 10.0.1.1 }\n'),
      session.apply('add element inet sess s { 10.0.1.2 }\n'),
      session.apply('delete element inet sess s { 10.0.1.1 }\n'),
    ]);
    expect(await elements('s')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.1.2']);
    expect(session.pid).toBe(pid);
  });

  it('starts a new nft when the process was killed', async () => {
    const pid = session.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid as number, 'SIGKILL');
    await waitFor(() => (session.pid === undefined ? true : undefined), { timeoutMs: 10_000 });
    await session.apply('add element inet sess s { 10.0.2.1 }\n');
    expect(session.pid).not.toBe(pid);
    expect(await elements('s')).toContain('10.0.2.1');
  });

  it('ends its process on close and rejects later calls', async () => {
    const other = new NftSession({ netns: { name: ns } });
    await other.apply('add element inet sess s { 10.0.3.1 }\n');
    const pid = other.pid as number;
    other.close();
    await waitFor(
      () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      { timeoutMs: 10_000 },
    );
    const err = await other
      .apply('add element inet sess s { 10.0.3.2 }\n')
      .catch((e: unknown) => e);
    expect(HostError.isInstance(err)).toBe(true);
  });
});
