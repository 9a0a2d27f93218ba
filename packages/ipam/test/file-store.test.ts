import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Allocator, FileStore, IpamError, parseRangeSets } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-ipam-fs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function fresh(ranges: unknown = [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/120' }]]) {
  const store = FileStore.forNetwork(`net${n++}`, root);
  return { store, allocator: new Allocator({ rangeSets: parseRangeSets(ranges) }, store) };
}

describe('FileStore', () => {
  it("writes host-local's layout: a file per address, last_reserved_ip.N and a lock file", async () => {
    const { store, allocator } = fresh();
    await allocator.allocate('abc123', 'eth0');
    expect(readdirSync(store.dir).sort()).toEqual([
      '10.0.0.2',
      'fd00::2',
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
    expect(readFileSync(join(store.dir, '10.0.0.2'), 'utf8')).toBe('abc123\r\neth0');
    expect(readFileSync(join(store.dir, 'last_reserved_ip.0'), 'utf8')).toBe('10.0.0.2');
    expect(readFileSync(join(store.dir, 'last_reserved_ip.1'), 'utf8')).toBe('fd00::2');
    await allocator.release('abc123', 'eth0');
    expect(readdirSync(store.dir).sort()).toEqual([
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
  });

  it('reads records written by others, including old ID-only files, and continues round-robin', async () => {
    const { store, allocator } = fresh([[{ subnet: '10.0.0.0/24' }]]);
    await allocator.list();
    writeFileSync(join(store.dir, '10.0.0.7'), 'other\r\neth0\n');
    writeFileSync(join(store.dir, '10.0.0.8'), 'legacy');
    writeFileSync(join(store.dir, 'last_reserved_ip.0'), '10.0.0.8');
    writeFileSync(join(store.dir, 'not-an-ip'), 'x');
    expect((await allocator.list()).sort((a, b) => a.ip.localeCompare(b.ip))).toEqual([
      { ip: '10.0.0.7', containerId: 'other', ifName: 'eth0' },
      { ip: '10.0.0.8', containerId: 'legacy', ifName: '' },
    ]);
    expect((await allocator.allocate('mine', 'eth0'))[0]!.ip).toBe('10.0.0.9');
    expect((await allocator.release('legacy', 'eth0')).map((a) => a.ip)).toEqual(['10.0.0.8']);
    expect(existsSync(join(store.dir, 'not-an-ip'))).toBe(true);
  });

  it('two stores on one directory in one process never hand out the same address', async () => {
    const a = fresh([[{ subnet: '10.0.0.0/26' }]]);
    const b = new Allocator(
      { rangeSets: a.allocator.rangeSets },
      new FileStore({ dir: a.store.dir }),
    );
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a.allocator : b).allocate(`c${i}`, 'eth0')),
    );
    const ips = results.map((r) => r[0]!.ip);
    expect(new Set(ips).size).toBe(40);
  });

  it.each(['native', 'child'])(
    '%s lock: waits for a lock held by another process, fails with LOCK_FAILED after the timeout, and a SIGKILLed holder frees it',
    async (mode) => {
      process.env.PODNET_IPAM_FLOCK = mode;
      const { store, allocator } = fresh([[{ subnet: '10.0.0.0/24' }]]);
      await allocator.list();
      const holder = spawn('flock', [join(store.dir, 'lock'), 'sleep', '60'], {
        stdio: 'ignore',
        detached: true,
      });
      const exited = new Promise((r) => holder.once('exit', r));
      try {
        const impatient = new Allocator(
          { rangeSets: allocator.rangeSets },
          new FileStore({ dir: store.dir, timeoutMs: 300 }),
        );
        let error: unknown;
        for (let i = 0; i < 100 && error === undefined; i++) {
          try {
            await impatient.list();
            await new Promise((r) => setTimeout(r, 50));
          } catch (e) {
            error = e;
          }
        }
        expect(IpamError.isInstance(error) && error.code).toBe('LOCK_FAILED');
      } finally {
        process.kill(-holder.pid!, 'SIGKILL');
      }
      await exited;
      expect(await allocator.list()).toEqual([]);
      delete process.env.PODNET_IPAM_FLOCK;
    },
  );

  it('fails with STORE_FAILED when the directory cannot be created', async () => {
    writeFileSync(join(root, 'file'), '');
    const allocator = new Allocator(
      { rangeSets: parseRangeSets([[{ subnet: '10.0.0.0/24' }]]) },
      new FileStore({ dir: join(root, 'file', 'sub') }),
    );
    await expect(allocator.list()).rejects.toMatchObject({ code: 'STORE_FAILED' });
  });

  it('rejects a bad network name naming the field', () => {
    expect(() => FileStore.forNetwork('../etc', root)).toThrow(
      expect.objectContaining({ field: 'name' }),
    );
  });
});
