import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNet } from '@podnet/host/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { cni, makeCniPath } from './cni-exec.js';

const net = createTestNet();
const cniPath = makeCniPath();
const dataDir = mkdtempSync(join(tmpdir(), 'podnet-ipam-bridge-'));
afterAll(async () => {
  await net.cleanup();
  cniPath.remove();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("Debian's bridge plugin with podnet-ipam", () => {
  it('gives two pods addresses that ping each other, and DEL releases them', async () => {
    const node = await net.ns('node');
    const pods = [await net.ns('pa'), await net.ns('pb')];
    const conf = {
      cniVersion: '1.0.0',
      name: 'pnbridge',
      type: 'bridge',
      bridge: `pnb${randomBytes(4).toString('hex')}`,
      isGateway: true,
      ipam: {
        type: 'podnet-ipam',
        dataDir,
        ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
    };
    const inNode = ['nsenter', `--net=/run/netns/${node}`, '--'];
    const env = (i: number) => ({
      CNI_CONTAINERID: `pod${i}`,
      CNI_IFNAME: 'eth0',
      CNI_NETNS: `/run/netns/${pods[i]}`,
      CNI_PATH: cniPath.dir,
    });
    const results = [];
    for (const i of [0, 1])
      results.push(await cni(join(cniPath.dir, 'bridge'), 'ADD', conf, env(i), inNode));
    const v4 = results.map((r) => (r.json!.ips as { address: string }[])[0]!.address);
    const v6 = results.map((r) => (r.json!.ips as { address: string }[])[1]!.address);
    expect(v4).toEqual(['10.77.0.2/24', '10.77.0.3/24']);
    expect(v6).toEqual(['fd77::2/64', 'fd77::3/64']);
    const shown = await net.exec(pods[0]!, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    expect(shown.stdout).toContain('10.77.0.2');
    await net.waitForPing(pods[0]!, '10.77.0.3', 20_000);
    await net.waitForPing(pods[1]!, '10.77.0.2', 20_000);
    await net.waitForPing(pods[0]!, '10.77.0.1', 20_000);
    await net.waitForPing(pods[1]!, 'fd77::2', 20_000);
    const held = readdirSync(join(dataDir, 'pnbridge')).filter(
      (f) => f !== 'lock' && !f.startsWith('last_'),
    );
    expect(held.sort()).toEqual(['10.77.0.2', '10.77.0.3', 'fd77::2', 'fd77::3']);
    for (const i of [0, 1]) await cni(join(cniPath.dir, 'bridge'), 'DEL', conf, env(i), inNode);
    expect(readdirSync(join(dataDir, 'pnbridge')).sort()).toEqual([
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
  });
});
