import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  ExecRunner,
  Host,
  HostError,
  failingLineNumber,
  renderBatch,
  resolveArgv,
} from '../src/index.js';
import { RecordingRunner } from '../src/testing/index.js';

describe('Host against the recording runner', () => {
  it('sends a whole batch through one ip process on stdin', async () => {
    const runner = new RecordingRunner();
    const host = new Host({ runner, netns: { name: 'node1' } });
    await host.ipBatch([
      ['link', 'add', 'br0', 'type', 'bridge'],
      ['link', 'set', 'br0', 'up'],
    ]);
    expect(runner.requests).toHaveLength(1);
    expect(runner.requests[0]).toMatchObject({
      argv: ['ip', '-batch', '-'],
      stdin: 'link add br0 type bridge\nlink set br0 up\n',
      netns: { name: 'node1' },
    });
  });

  it('issues no process for an empty batch or script', async () => {
    const runner = new RecordingRunner();
    const host = new Host({ runner });
    await host.ipBatch([]);
    await host.bridgeBatch([]);
    await host.nftApply('  \n');
    expect(runner.requests).toHaveLength(0);
  });

  it('refuses an injected batch value before any process starts', async () => {
    const runner = new RecordingRunner();
    const host = new Host({ runner });
    for (const evil of ['eth0\nlink del eth0', 'x; rm -rf /', '$(reboot)', 'a b']) {
      await expect(host.ipBatch([['link', 'set', evil, 'up']])).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(host.ip(['link', 'show', evil])).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    expect(runner.requests).toHaveLength(0);
  });

  it('reports the failing batch line and stderr', async () => {
    const runner = new RecordingRunner().respondTo(['ip', '-batch'], {
      code: 1,
      stderr: 'Error: Nexthop has invalid gateway.\nCommand failed -:2\n',
    });
    const host = new Host({ runner });
    const err = await host
      .ipBatch([
        ['route', 'replace', '10.1.0.0/24', 'dev', 'eth0'],
        ['route', 'replace', '10.2.0.0/24', 'via', '10.9.9.9'],
      ])
      .catch((e: unknown) => e);
    expect(HostError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'COMMAND_FAILED',
      lineNumber: 2,
      line: 'route replace 10.2.0.0/24 via 10.9.9.9',
      command: ['ip', '-batch', '-'],
      exitCode: 1,
    });
    expect((err as Error).message).toMatch(/line 2 \(route replace 10.2.0.0\/24 via 10.9.9.9\)/);
  });

  it('parses JSON output and treats empty output as an empty list', async () => {
    const runner = new RecordingRunner()
      .respondTo(['ip', '-json', 'link'], { stdout: '[{"ifname":"lo"}]' })
      .respondTo(['ip', '-json', 'route'], { stdout: '' })
      .respondTo(['nft', '-j'], { stdout: 'not json' });
    const host = new Host({ runner });
    expect(await host.ipJson(['link', 'show'])).toEqual([{ ifname: 'lo' }]);
    expect(await host.ipJson(['route', 'show'])).toEqual([]);
    await expect(host.nftJson(['list', 'ruleset'])).rejects.toMatchObject({ code: 'PARSE_FAILED' });
  });

  it('finds nft error lines', () => {
    expect(failingLineNumber('nft', '/dev/stdin:3:1-5: Error: syntax error')).toBe(3);
    expect(failingLineNumber('ip', 'Command failed -:7')).toBe(7);
    expect(failingLineNumber('ip', 'RTNETLINK answers: File exists')).toBeUndefined();
  });

  it('enters namespaces through nsenter by name or path', () => {
    expect(resolveArgv({ argv: ['nft', '-f', '-'], netns: { name: 'n1' } })).toEqual([
      'nsenter',
      '--net=/run/netns/n1',
      '--',
      'nft',
      '-f',
      '-',
    ]);
    expect(resolveArgv({ argv: ['ip', 'link'], netns: { path: '/proc/1/ns/net' } })[1]).toBe(
      '--net=/proc/1/ns/net',
    );
    expect(() => resolveArgv({ argv: ['ip'], netns: { name: '../x' } })).toThrow(/namespace name/);
  });

  it.each([
    [{ argv: ['nft', '-j', 'list', 'tables'], nice: 19 }, 'nice -n 19 nft -j list tables'],
    [
      { argv: ['nft', '-f', '-'], netns: { name: 'n1' }, nice: 5 },
      'nice -n 5 nsenter --net=/run/netns/n1 -- nft -f -',
    ],
    [{ argv: ['ip', 'link'], nice: -20 }, 'nice -n -20 ip link'],
  ])('runs a request at a niceness behind nice -n: %j', (request, argv) => {
    expect(resolveArgv(request).join(' ')).toBe(argv);
  });

  it.each([20, -21, 1.5, Number.NaN])('refuses niceness %s', (nice) => {
    expect(() => resolveArgv({ argv: ['nft'], nice })).toThrow(/nice must be an integer/);
  });

  it('a real process asked for nice 19 runs at nice 19; the host call passes it on', async () => {
    const runner = new ExecRunner();
    // field 19 of /proc/self/stat is the niceness of the reading process itself
    const stat = (nice?: number) =>
      runner.run({ argv: ['cut', '-d', ' ', '-f', '19', '/proc/self/stat'], nice });
    expect((await stat(19)).stdout.trim()).toBe('19');
    expect((await stat()).stdout.trim()).toBe(String(getPriority()));
    const recorded = new RecordingRunner();
    await new Host({ runner: recorded }).nft(['list', 'tables'], { nice: 19 });
    await new Host({ runner: recorded }).nft(['list', 'tables']);
    expect(recorded.requests.map((r) => r.nice)).toEqual([19, undefined]);
  });

  it('renders batches deterministically', () => {
    expect(renderBatch([['a', 'b'], ['c']])).toBe('a b\nc\n');
  });
});
