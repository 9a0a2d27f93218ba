import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host, HostError, IpSession } from '../../src/index.js';
import { createTestNet, type TestNet } from '../../src/testing/index.js';

describe('IpSession on a real kernel', () => {
  let net: TestNet;
  let a: string;
  let b: string;
  let host: Host;
  let session: IpSession;

  beforeAll(async () => {
    net = createTestNet();
    a = await net.ns('a');
    b = await net.ns('b');
    host = new Host({ netns: { name: a } });
    session = new IpSession({ netns: { name: a } });
  });
  afterAll(() => {
    session.close();
    return net.cleanup();
  });

  it('creates a veth into another namespace, addresses and routes, and traffic flows', async () => {
    await session.batch([
      ['link', 'add', 'v0', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b],
      ['addr', 'add', '10.77.0.1/24', 'dev', 'v0'],
    ]);
    const pid = session.pid;
    await host.inNetns({ name: b }).ipBatch([
      ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0'],
      ['link', 'set', 'eth0', 'up'],
    ]);
    await session.batch([['route', 'replace', '10.77.1.0/24', 'via', '10.77.0.2', 'dev', 'v0']]);
    expect(session.pid).toBe(pid);
    const routes = await host.ipJson<{ dst: string; gateway?: string }[]>(['route', 'show']);
    expect(routes).toContainEqual(
      expect.objectContaining({ dst: '10.77.1.0/24', gateway: '10.77.0.2' }),
    );
    expect((await net.exec(a, ['ping', '-c', '1', '-W', '5', '10.77.0.2'])).code).toBe(0);
  });

  it('names the failing line, runs the rest (-force), and keeps serving', async () => {
    const err = await session
      .batch([
        ['link', 'set', 'v0', 'mtu', '1400'],
        ['addr', 'add', '10.77.9.1/24', 'dev', 'nosuchdev0'],
        ['link', 'set', 'v0', 'mtu', '1380'],
      ])
      .catch((e: unknown) => e);
    expect(HostError.isInstance(err) && err.code).toBe('COMMAND_FAILED');
    expect((err as HostError).lineNumber).toBe(2);
    expect((err as HostError).line).toBe('addr add 10.77.9.1/24 dev nosuchdev0');
    expect((err as HostError).stderr).toMatch(/nosuchdev0/);
    const [link] = await host.ipJson<{ mtu: number }[]>(['link', 'show', 'dev', 'v0']);
    expect(link?.mtu).toBe(1380);
    await session.batch([['link', 'set', 'v0', 'mtu', '1500']]);
  });

  it('a spare started before its namespace exists enters it when told and configures it', async () => {
    const spare = IpSession.spare();
    const c = await net.ns('c');
    try {
      expect(spare.enter(c)).toBe(true);
      await spare.batch([
        ['link', 'set', 'lo', 'up'],
        ['addr', 'add', '10.77.5.1/32', 'dev', 'lo'],
      ]);
      const addrs = await host.inNetns({ name: c }).ip(['-4', '-o', 'addr', 'show', 'dev', 'lo']);
      expect(addrs).toMatch(/10\.77\.5\.1\/32/);
      const err = await spare
        .batch([['addr', 'add', '10.77.5.2/32', 'dev', 'nosuch0']])
        .catch((e: unknown) => e);
      expect((err as HostError).lineNumber).toBe(1);
    } finally {
      spare.close();
    }
    const other = IpSession.spare();
    expect(() => other.enter('bad name')).toThrowError(HostError);
    other.close();
  });

  it('drives bridge the same way (tool: bridge): fdb entries, a failing line named', async () => {
    const bridge = new IpSession({ netns: { name: a }, tool: 'bridge' });
    try {
      await session.batch([
        [
          'link',
          'add',
          'vx0',
          'type',
          'vxlan',
          'id',
          '42',
          'dstport',
          '4789',
          'local',
          '10.77.0.1',
        ],
      ]);
      await bridge.batch([
        ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', '10.77.0.2'],
        ['fdb', 'replace', '02:00:00:00:00:01', 'dev', 'vx0', 'dst', '10.77.0.2'],
      ]);
      const fdb = await host.bridge(['fdb', 'show', 'dev', 'vx0']);
      expect(fdb).toMatch(/02:00:00:00:00:01 dst 10\.77\.0\.2/);
      const err = await bridge
        .batch([
          ['fdb', 'del', '02:00:00:00:00:01', 'dev', 'vx0'],
          ['fdb', 'add', '02:00:00:00:00:02', 'dev', 'nosuch1'],
        ])
        .catch((e: unknown) => e);
      expect((err as HostError).lineNumber).toBe(2);
      expect((err as HostError).message).toMatch(/^bridge session batch failed/);
    } finally {
      bridge.close();
    }
  });

  it('starts a new ip after its process was killed', async () => {
    const pid = session.pid;
    expect(pid).toBeDefined();
    process.kill(pid as number, 'SIGKILL');
    let recovered = false;
    for (let i = 0; i < 50 && !recovered; i++) {
      recovered = await session.batch([['link', 'set', 'v0', 'up']]).then(
        () => true,
        () => false,
      );
    }
    expect(recovered).toBe(true);
    expect(session.pid).not.toBe(pid);
  });
});
