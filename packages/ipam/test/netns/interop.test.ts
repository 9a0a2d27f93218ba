import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Allocator, FileStore, parseIpamConfig } from '../../src/index.js';
import { DEBIAN_CNI, PODNET_IPAM, cni, execCni } from './cni-exec.js';

const HOST_LOCAL = join(DEBIAN_CNI, 'host-local');
const dataDir = mkdtempSync(join(tmpdir(), 'podnet-ipam-interop-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

let n = 0;
function network(ranges: unknown = [[{ subnet: '10.50.0.0/24' }], [{ subnet: 'fd50::/120' }]]) {
  const name = `interop${n++}`;
  const ipam = { type: 'host-local', dataDir, ranges };
  const conf = { cniVersion: '1.0.0', name, type: 'bridge', ipam };
  const config = parseIpamConfig(ipam);
  const allocator = new Allocator(config, FileStore.forNetwork(name, dataDir));
  return { name, conf, allocator, dir: join(dataDir, name) };
}
const env = (id: string, ifName = 'eth0') => ({
  CNI_CONTAINERID: id,
  CNI_IFNAME: ifName,
  CNI_NETNS: '/var/run/netns/none',
});
const addresses = (r: { json?: Record<string, unknown> }) =>
  (r.json!.ips as { address: string }[]).map((i) => i.address);

describe('interop with Debian host-local', () => {
  it('host-local allocates, podnet sees, continues and releases; host-local releases what podnet allocated', async () => {
    const net = network();
    expect(addresses(await cni(HOST_LOCAL, 'ADD', net.conf, env('hl-one')))).toEqual([
      '10.50.0.2/24',
      'fd50::2/120',
    ]);
    expect(addresses(await cni(HOST_LOCAL, 'ADD', net.conf, env('hl-two', 'net1')))).toEqual([
      '10.50.0.3/24',
      'fd50::3/120',
    ]);
    const seen = (await net.allocator.list()).sort((a, b) => a.ip.localeCompare(b.ip));
    expect(seen).toEqual([
      { ip: '10.50.0.2', containerId: 'hl-one', ifName: 'eth0' },
      { ip: '10.50.0.3', containerId: 'hl-two', ifName: 'net1' },
      { ip: 'fd50::2', containerId: 'hl-one', ifName: 'eth0' },
      { ip: 'fd50::3', containerId: 'hl-two', ifName: 'net1' },
    ]);
    const mine = await net.allocator.allocate('pn-one', 'eth0');
    expect(mine.map((a) => a.address)).toEqual(['10.50.0.4/24', 'fd50::4/120']);
    expect((await net.allocator.release('hl-one', 'eth0')).map((a) => a.ip).sort()).toEqual([
      '10.50.0.2',
      'fd50::2',
    ]);
    // host-local continues after podnet's last reserved address and releases podnet's record
    expect(addresses(await cni(HOST_LOCAL, 'ADD', net.conf, env('hl-three')))).toEqual([
      '10.50.0.5/24',
      'fd50::5/120',
    ]);
    await cni(HOST_LOCAL, 'DEL', net.conf, env('pn-one'));
    expect(
      readdirSync(net.dir)
        .filter((f) => f.startsWith('10.'))
        .sort(),
    ).toEqual(['10.50.0.3', '10.50.0.5']);
    // host-local refuses what podnet holds and podnet refuses what host-local holds
    const busy = await execCni(
      HOST_LOCAL,
      'ADD',
      { ...net.conf, runtimeConfig: { ips: ['10.50.0.3'] } },
      env('x'),
    ).done;
    expect(busy.exitCode).not.toBe(0);
    await expect(
      net.allocator.allocate('y', 'eth0', { requestedIps: ['10.50.0.5'] }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it("the exec'd podnet-ipam writes files byte-identical in format to host-local's", async () => {
    const a = network([[{ subnet: '10.51.0.0/24' }]]);
    const b = network([[{ subnet: '10.51.0.0/24' }]]);
    await cni(HOST_LOCAL, 'ADD', a.conf, env('same-id'));
    await cni(
      PODNET_IPAM,
      'ADD',
      { ...b.conf, ipam: { ...b.conf.ipam, type: 'podnet-ipam' } },
      env('same-id'),
    );
    expect(readdirSync(b.dir).sort()).toEqual(readdirSync(a.dir).sort());
    for (const f of ['10.51.0.2', 'last_reserved_ip.0']) {
      expect(readFileSync(join(b.dir, f))).toEqual(readFileSync(join(a.dir, f)));
    }
  });

  it('host-local and podnet-ipam ADDs running at once on one directory never collide (shared flock)', async () => {
    const net = network([[{ subnet: '10.52.0.0/24' }]]);
    const runs = Array.from(
      { length: 24 },
      (_, i) => execCni(i % 2 ? HOST_LOCAL : PODNET_IPAM, 'ADD', net.conf, env(`mix${i}`)).done,
    );
    const results = await Promise.all(runs);
    for (const r of results) expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const ips = results.map((r) => addresses(r)[0]);
    expect(new Set(ips).size).toBe(24);
    expect((await net.allocator.list()).length).toBe(24);
  });
});
