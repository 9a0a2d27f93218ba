import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nativeUdpAvailable } from '../src/native-udp.js';
import {
  type Mapping,
  parseSmaps,
  releasableMappings,
  releaseStartupPages,
} from '../src/working-set.js';

const SMAPS = `55d0c0000000-55d0c1000000 r--p 00000000 08:01 1234 /usr/bin/node
Size:              16384 kB
Rss:                9000 kB
Anonymous:             0 kB
55d0c1000000-55d0c2000000 r-xp 01000000 08:01 1234 /usr/bin/node
Rss:               17000 kB
Anonymous:             0 kB
55d0c2000000-55d0c2010000 r--p 02000000 08:01 1234 /usr/bin/node
Rss:                  64 kB
Anonymous:            64 kB
55d0c2010000-55d0c2020000 rw-p 02010000 08:01 1234 /usr/bin/node
Rss:                  64 kB
Anonymous:            40 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
Rss:                1024 kB
Anonymous:          1024 kB
7f0000100000-7f0000200000 r--p 00000000 00:00 0 [vvar]
Rss:                   8 kB
Anonymous:             0 kB
7ffff7a00000-7ffff7a10000 r--s 00000000 00:05 99 /dev/zero
Rss:                  64 kB
Anonymous:             0 kB
`;

describe('the working set: which pages can go', () => {
  it('parses each mapping with its range, permissions, path, Rss and Anonymous', () => {
    const maps = parseSmaps(SMAPS);
    expect(maps).toHaveLength(7);
    expect(maps[0]).toEqual({
      start: 0x55d0c0000000,
      end: 0x55d0c1000000,
      perms: 'r--p',
      path: '/usr/bin/node',
      rssKb: 9000,
      anonymousKb: 0,
    });
    expect(maps[4]?.path).toBe('');
    expect(maps[5]?.path).toBe('[vvar]');
  });

  const base: Mapping = {
    start: 0x1000,
    end: 0x3000,
    perms: 'r--p',
    path: '/usr/lib/x86_64-linux-gnu/libc.so.6',
    rssKb: 8,
    anonymousKb: 0,
  };
  it.each([
    ['read-only data of a file', {}, true],
    ['code of a file', { perms: 'r-xp' }, true],
    ['written data (rw-p)', { perms: 'rw-p' }, false],
    ['RELRO: read-only now, copied when relocated', { anonymousKb: 4 }, false],
    ['a shared mapping', { perms: 'r--s' }, false],
    ['no access (guard)', { perms: '---p' }, false],
    ['anonymous memory', { path: '' }, false],
    ['[vdso]-like names', { path: '[vdso]' }, false],
    ['a device', { path: '/dev/zero' }, false],
    ['a deleted file', { path: '/tmp/x.node (deleted)' }, false],
    ['nothing resident', { rssKb: 0 }, false],
    ['fields missing', { rssKb: Number.NaN, anonymousKb: Number.NaN }, false],
  ] as const)('%s: released %s', (_what, change, expected) => {
    expect(releasableMappings([{ ...base, ...change }])).toHaveLength(expected ? 1 : 0);
  });

  it('releases each chosen mapping whole and counts what was resident', () => {
    const calls: [number, number][] = [];
    const r = releaseStartupPages({
      readSmaps: () => SMAPS,
      release: (start, length) => {
        calls.push([start, length]);
        return start === 0x55d0c1000000 ? 22 : 0;
      },
    });
    expect(calls).toEqual([
      [0x55d0c0000000, 0x1000000],
      [0x55d0c1000000, 0x1000000],
    ]);
    expect(r).toEqual({
      mappings: 1,
      releasedKb: 9000,
      failed: [{ path: '/usr/bin/node', errno: 22 }],
    });
    // no madvise here (the native helper is not built): nothing done, and said so
    expect(releaseStartupPages({ readSmaps: () => SMAPS, release: () => null })).toBeNull();
  });
});

describe.runIf(nativeUdpAvailable())('the working set of a real Node process', () => {
  it('drops its startup pages from RSS and the process goes on computing the same results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podnet-ws-'));
    try {
      const script = join(dir, 'child.mts');
      writeFileSync(
        script,
        `import { readFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { releaseStartupPages } from ${JSON.stringify(resolve(import.meta.dirname, '../src/working-set.ts'))};
const rssFile = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
const work = () => {
  const text = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ i, s: 'x'.repeat(i % 50) })));
  const back = inflateSync(deflateSync(text)).toString();
  return [back === text, new Intl.NumberFormat('de-DE').format(1234567.5), /b+c/.exec('abbbc')?.[0]];
};
const before = work();
const fileBefore = rssFile();
const released = releaseStartupPages();
const fileAfter = rssFile();
const after = work();
process.stdout.write(JSON.stringify({ before, after, fileBefore, fileAfter, released }));
`,
      );
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', script],
        { cwd: resolve(import.meta.dirname, '..'), timeout: 60_000 },
      );
      const r = JSON.parse(stdout);
      expect(r.before).toEqual([true, '1.234.567,5', 'bbbc']);
      // the same results from code and data faulted in again
      expect(r.after).toEqual(r.before);
      expect(r.released.failed).toEqual([]);
      expect(r.released.mappings).toBeGreaterThan(0);
      // Node's binary alone has well over 10 MB of them resident after starting
      expect(r.released.releasedKb).toBeGreaterThan(10_000);
      expect(r.fileAfter).toBeLessThan(r.fileBefore - 10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
