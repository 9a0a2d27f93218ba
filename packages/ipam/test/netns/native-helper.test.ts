import { spawn } from 'node:child_process';
import fc from 'fast-check';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Allocator,
  FileStore,
  flockExclusive,
  flockImplementation,
  parseRangeSets,
} from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'podnet-ipam-nflock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native helper (built by the package build)', () => {
  it('is loaded, and excludes and waits for a util-linux flock holder', async () => {
    expect(flockImplementation()).toBe('native');
    const lock = join(dir, 'lock');
    const holder = spawn('flock', [lock, '-c', 'echo held; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    await new Promise((r) => holder.stdout!.once('data', r));
    await expect(flockExclusive(lock, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'LOCK_FAILED',
    });
    const waiting = flockExclusive(lock, { timeoutMs: 30_000 });
    process.kill(-holder.pid!, 'SIGKILL');
    const release = await waiting;
    const probe = spawn('flock', ['-n', lock, 'true']);
    expect(await new Promise((r) => probe.once('exit', r))).toBe(1);
    release();
    const after = spawn('flock', ['-n', lock, 'true']);
    expect(await new Promise((r) => after.once('exit', r))).toBe(0);
  });

  it('reads a store directory exactly as the JavaScript path does', async () => {
    const rangeSets = parseRangeSets([[{ subnet: '10.9.0.0/24' }], [{ subnet: 'fd09::/64' }]]);
    const store = new FileStore({ dir: join(dir, 'scan') });
    const allocator = new Allocator({ rangeSets }, store);
    await allocator.allocate('made', 'eth0');
    const put = (name: string, text: string) => writeFileSync(join(store.dir, name), text);
    put('10.9.0.20', 'other\r\neth1\n');
    put('10.9.0.21', 'legacy');
    put('FD09:0:0::21', 'upper\r\neth0');
    put('10.9.0.22', `${'x'.repeat(5000)}\r\neth0`);
    put('10.9.0.23', '');
    put('10.9.0.024', 'leading-zero\r\neth0');
    put('not-an-ip', 'x');
    put('last_reserved_ip.0', '10.9.0.21');
    mkdirSync(join(store.dir, '10.9.0.25'));
    const sorted = <T extends { ip: string }>(xs: T[]) =>
      [...xs].sort((a, b) => a.ip.localeCompare(b.ip));
    const read = async (native: boolean) => {
      put('.podnet-tmp-1-2-3', 'half-written');
      if (native) delete process.env.PODNET_IPAM_NATIVE;
      else process.env.PODNET_IPAM_NATIVE = 'off';
      try {
        const list = sorted(await allocator.list());
        expect(existsSync(join(store.dir, '.podnet-tmp-1-2-3'))).toBe(false);
        return list;
      } finally {
        delete process.env.PODNET_IPAM_NATIVE;
      }
    };
    const js = await read(false);
    expect(js.map((a) => a.ip)).toEqual([
      '10.9.0.2',
      '10.9.0.20',
      '10.9.0.21',
      '10.9.0.22',
      '10.9.0.23',
      'fd09::2',
      'fd09::21',
    ]);
    expect(js.find((a) => a.ip === '10.9.0.22')?.containerId).toHaveLength(5000);
    expect(await read(true)).toEqual(js);
    expect(flockImplementation()).toBe('native');
  });

  it.each([
    ['native', undefined],
    ['JavaScript', 'off'],
  ])(
    '%s path: writes records and last_reserved_ip in place and never over an existing record',
    async (_, setting) => {
      if (setting) process.env.PODNET_IPAM_NATIVE = setting;
      try {
        const store = new FileStore({ dir: join(dir, `write-${setting ?? 'native'}`) });
        const rangeSets = parseRangeSets([[{ subnet: '10.8.0.0/24' }]]);
        const allocator = new Allocator({ rangeSets }, store);
        await allocator.allocate('first', 'eth0');
        const second = await allocator.allocate('second', 'net1');
        expect(second[0]!.ip).toBe('10.8.0.3');
        expect(readFileSync(join(store.dir, '10.8.0.3'), 'utf8')).toBe('second\r\nnet1');
        expect(readFileSync(join(store.dir, 'last_reserved_ip.0'), 'utf8')).toBe('10.8.0.3');
        const taken = await store.withLock((tx) => {
          expect(tx.has('10.8.0.9')).toBe(false);
          writeFileSync(join(store.dir, '10.8.0.9'), 'sneaky\r\neth0');
          return tx.reserve('10.8.0.9', 'late', 'eth0', 0);
        });
        expect(taken).toBe(false);
        expect(readFileSync(join(store.dir, '10.8.0.9'), 'utf8')).toBe('sneaky\r\neth0');
        expect(readFileSync(join(store.dir, 'last_reserved_ip.0'), 'utf8')).toBe('10.8.0.3');
        const long = 'y'.repeat(5000);
        await allocator.allocate(long, 'eth0');
        expect(readFileSync(join(store.dir, '10.8.0.4'), 'utf8')).toBe(`${long}\r\neth0`);
        expect(readdirSync(store.dir).filter((f) => f.startsWith('.'))).toEqual([]);
      } finally {
        delete process.env.PODNET_IPAM_NATIVE;
      }
    },
  );

  it('parses any record text exactly as the JavaScript path does', async () => {
    const rangeSets = parseRangeSets([[{ subnet: '10.7.0.0/24' }]]);
    const store = new FileStore({ dir: join(dir, 'parse') });
    const allocator = new Allocator({ rangeSets }, store);
    await allocator.list();
    const piece = fc.oneof(
      fc.constantFrom(
        '\r\n',
        '\n',
        '\r',
        ' ',
        '\t',
        '\v',
        '\f',
        '\u00a0',
        '\ufeff',
        '\u2028',
        '\u0085',
      ),
      fc.stringMatching(/^[a-z0-9_.-]{0,12}$/),
      fc.string({ maxLength: 4 }),
    );
    const text = fc.array(piece, { maxLength: 8 }).map((p) => p.join(''));
    const list = async (native: boolean) => {
      if (!native) process.env.PODNET_IPAM_NATIVE = 'off';
      try {
        return (await allocator.list()).sort((a, b) => a.ip.localeCompare(b.ip));
      } finally {
        delete process.env.PODNET_IPAM_NATIVE;
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 20 }), async (texts) => {
        for (const f of readdirSync(store.dir)) if (f.startsWith('10.')) rmSync(join(store.dir, f));
        for (const [i, t] of texts.entries()) writeFileSync(join(store.dir, `10.7.0.${i + 10}`), t);
        const js = await list(false);
        expect(js).toHaveLength(texts.length);
        expect(await list(true)).toEqual(js);
      }),
      { numRuns: 200 },
    );
  });
});
