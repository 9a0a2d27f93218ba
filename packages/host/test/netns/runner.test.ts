import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecRunner, Host, HostError } from '../../src/index.js';
import { createTestNet, type TestNet } from '../../src/testing/index.js';

interface IpLink {
  ifname: string;
  master?: string;
  operstate?: string;
  linkinfo?: { info_kind?: string };
}

describe('Host on a real kernel', () => {
  let net: TestNet;
  let ns: string;
  let peer: string;

  beforeAll(async () => {
    net = createTestNet();
    ns = await net.ns('a');
    peer = await net.ns('b');
  });
  afterAll(() => net.cleanup());

  it('builds a bridge and veth pairs in one batch and reads them back as JSON', async () => {
    const host = new Host({ netns: { name: ns } });
    await host.ipBatch([
      ['link', 'add', 'br0', 'type', 'bridge'],
      ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v0p'],
      ['link', 'add', 'v1', 'type', 'veth', 'peer', 'name', 'v1p'],
      ['link', 'set', 'v0', 'master', 'br0'],
      ['link', 'set', 'v1', 'master', 'br0'],
      ['addr', 'add', '10.99.0.1/24', 'dev', 'br0'],
      ['link', 'set', 'br0', 'up'],
    ]);
    const links = await host.ipJson<IpLink[]>(['-details', 'link', 'show']);
    const byName = new Map(links.map((l) => [l.ifname, l]));
    expect(byName.get('br0')?.linkinfo?.info_kind).toBe('bridge');
    expect(byName.get('v0')?.master).toBe('br0');
    expect(byName.get('v1')?.master).toBe('br0');
    const addrs = await host.ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>([
      'addr',
      'show',
      'dev',
      'br0',
    ]);
    expect(addrs[0]?.addr_info).toContainEqual(
      expect.objectContaining({ local: '10.99.0.1', prefixlen: 24 }),
    );
    const fdb = await host.bridgeJson<unknown[]>(['fdb', 'show', 'br', 'br0']);
    expect(Array.isArray(fdb)).toBe(true);
  });

  it('names the failing batch line; earlier lines stay applied', async () => {
    const host = new Host({ netns: { name: ns } });
    const err = await host
      .ipBatch([
        ['link', 'add', 'okdev', 'type', 'bridge'],
        ['link', 'set', 'nosuchdev', 'up'],
        ['link', 'add', 'never', 'type', 'bridge'],
      ])
      .catch((e: unknown) => e);
    expect(HostError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'COMMAND_FAILED',
      lineNumber: 2,
      line: 'link set nosuchdev up',
    });
    const names = (await host.ipJson<IpLink[]>(['link', 'show'])).map((l) => l.ifname);
    expect(names).toContain('okdev');
    expect(names).not.toContain('never');
  });

  it('applies an nftables transaction atomically in the namespace and reads it as JSON', async () => {
    const host = new Host({ netns: { name: ns } });
    await host.nftApply(
      'table inet pnt_test {\n set s { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n}\n',
    );
    const out = await host.nftJson<{ nftables: Record<string, unknown>[] }>([
      'list',
      'set',
      'inet',
      'pnt_test',
      's',
    ]);
    const set = out.nftables.find((o) => 'set' in o)?.set as { elem: string[] };
    expect(set.elem.sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    const err = await host
      .nftApply(
        'add element inet pnt_test s { 10.0.0.3 }\nadd element inet pnt_test nosuch { 1.2.3.4 }\n',
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'COMMAND_FAILED', lineNumber: 2 });
    const after = await host.nft(['list', 'set', 'inet', 'pnt_test', 's']);
    expect(after).not.toContain('10.0.0.3');
    const hostTables = await new Host().nft(['list', 'tables']);
    expect(hostTables).not.toContain('pnt_test');
  });

  it('targets a namespace by path and moves traffic across a veth', async () => {
    await net.veth(
      { ns, name: 'xa', addrs: ['10.98.0.1/30'] },
      { ns: peer, name: 'xb', addrs: ['10.98.0.2/30'] },
    );
    const byPath = new Host({ netns: { path: `/run/netns/${peer}` } });
    const links = await byPath.ipJson<IpLink[]>(['link', 'show', 'xb']);
    expect(links[0]?.ifname).toBe('xb');
    expect(await net.ping(ns, '10.98.0.2')).toBe(true);
  });

  it('kills a command that exceeds its timeout', async () => {
    const runner = new ExecRunner();
    await expect(
      runner.run({ argv: ['sleep', '5'], netns: { name: ns }, timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});
