import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PODNET_IPAM, type CniRun, cni, execCni } from './cni-exec.js';

const dataDir = mkdtempSync(join(tmpdir(), 'podnet-ipam-conc-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const addressFiles = (dir: string) => readdirSync(dir).filter((f) => /^[0-9.]+$|:/.test(f));

describe('concurrent podnet-ipam processes on one data directory', () => {
  it('50 ADDs at once (native and child locking mixed) return 50 distinct addresses', async () => {
    const conf = {
      cniVersion: '1.1.0',
      name: 'conc50',
      type: 'bridge',
      ipam: { type: 'podnet-ipam', dataDir, ranges: [[{ subnet: '10.60.0.0/24' }]] },
    };
    const results = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          // every other process locks through the flock child instead of the native helper
          execCni(PODNET_IPAM, 'ADD', conf, {
            CNI_CONTAINERID: `c${i}`,
            CNI_IFNAME: 'eth0',
            CNI_NETNS: '/run/netns/x',
            ...(i % 2 ? { PODNET_IPAM_FLOCK: 'child' } : {}),
          }).done,
      ),
    );
    for (const r of results) expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const ips = results.map((r) => (r.json!.ips as { address: string }[])[0]!.address);
    expect(new Set(ips).size).toBe(50);
    expect(addressFiles(join(dataDir, 'conc50'))).toHaveLength(50);
  }, 180_000);

  it('SIGKILLing some mid-flight leaves the rest to finish, and GC leaves nothing leaked', async () => {
    const conf = {
      cniVersion: '1.1.0',
      name: 'conckill',
      type: 'bridge',
      ipam: {
        type: 'podnet-ipam',
        dataDir,
        ranges: [[{ subnet: '10.61.0.0/24' }], [{ subnet: 'fd61::/64' }]],
      },
    };
    const runs = Array.from({ length: 50 }, (_, i) =>
      execCni(PODNET_IPAM, 'ADD', conf, {
        CNI_CONTAINERID: `k${i}`,
        CNI_IFNAME: 'eth0',
        CNI_NETNS: '/run/netns/x',
      }),
    );
    const killed = new Set<number>();
    // kill every fifth process at staggered moments: before, during and after taking the lock
    await Promise.all(
      runs.map(
        (r, i) =>
          new Promise<void>((resolve) => {
            if (i % 5 !== 0) return resolve();
            setTimeout(
              () => {
                if (r.child.exitCode === null) {
                  r.child.kill('SIGKILL');
                  killed.add(i);
                }
                resolve();
              },
              20 + i * 15,
            );
          }),
      ),
    );
    const results: CniRun[] = await Promise.all(runs.map((r) => r.done));
    expect(killed.size).toBeGreaterThan(0);
    const ok = results.flatMap((r, i) => (r.exitCode === 0 ? [{ i, r }] : []));
    for (const [i, r] of results.entries()) {
      if (!killed.has(i) || r.signal === null)
        expect(r.exitCode, `k${i}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const v4 = ok.map(({ r }) => (r.json!.ips as { address: string }[])[0]!.address);
    expect(new Set(v4).size).toBe(ok.length);
    const dir = join(dataDir, 'conckill');
    // a killed process may have reserved before dying: GC with the attachments the runtime knows
    const gc = await cni(
      PODNET_IPAM,
      'GC',
      {
        ...conf,
        'cni.dev/valid-attachments': ok.map(({ i }) => ({ containerID: `k${i}`, ifname: 'eth0' })),
      },
      {},
    );
    expect(gc.exitCode).toBe(0);
    expect(addressFiles(dir)).toHaveLength(ok.length * 2);
    expect(readdirSync(dir).filter((f) => f.startsWith('.podnet-tmp-'))).toEqual([]);
    for (const { i } of ok) {
      await cni(PODNET_IPAM, 'DEL', conf, {
        CNI_CONTAINERID: `k${i}`,
        CNI_IFNAME: 'eth0',
        CNI_NETNS: '',
      });
    }
    expect(addressFiles(dir)).toEqual([]);
  }, 180_000);
});
