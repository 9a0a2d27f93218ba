import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniOutcome, startOneNode, type TestNode } from './node-kit.js';

function ipOf(r: CniOutcome): string {
  const ips = (r.json as { ips?: { address: string }[] } | undefined)?.ips;
  if (r.code !== 0 || !ips?.[0]) throw new Error(`ADD failed: ${r.stdout}${r.stderr}`);
  return ips[0].address.split('/')[0]!;
}

describe('agent restarts and crashes', () => {
  let net: TestNet;
  let node: TestNode;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.51', {
      podCidrs: ['10.244.3.0/24'],
    }));
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  it('a restart while a 10 ms ping runs loses no packet', async () => {
    const pa = await net.ns('ra');
    const pb = await net.ns('rb');
    ipOf(await node.cni('ADD', 'rst-a', `/run/netns/${pa}`));
    const ipB = ipOf(await node.cni('ADD', 'rst-b', `/run/netns/${pb}`));
    let pingDone = false;
    const ping = net
      .exec(pa, ['ping', '-n', '-q', '-i', '0.01', '-c', '800', '-W', '1', ipB], {
        allowFail: true,
        timeoutMs: 90_000,
      })
      .finally(() => {
        pingDone = true;
      });
    await new Promise((r) => setTimeout(r, 300));
    await node.kill('SIGKILL');
    node.logs = '';
    await node.start();
    await node.kill('SIGTERM');
    node.logs = '';
    await node.start();
    expect(pingDone, 'both restarts finished while the ping was still running').toBe(false);
    const r = await ping;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(800);
    expect(Number(m![2])).toBe(800);
    const check = await node.cni('CHECK', 'rst-b', `/run/netns/${pb}`);
    expect(check.code, check.stdout).toBe(0);
  });

  it('20 ADDs at once with the agent SIGKILLed mid-way: no address twice, nothing leaked after GC', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    const nss: string[] = [];
    for (let i = 0; i < ids.length; i++) nss.push(await net.ns(`b${i}`));
    let attachedBefore = 0;
    const adds = ids.map((id, i) => node.cni('ADD', id, `/run/netns/${nss[i]}`));
    await waitFor(() => (attachedBefore = (node.logs.match(/"pod attached"/g) ?? []).length) >= 3, {
      timeoutMs: 60_000,
      intervalMs: 5,
      what: 'a few ADDs to finish',
    });
    await node.kill('SIGKILL');
    const first = await Promise.all(adds);
    const failed = first.map((r, i) => (r.code === 0 ? -1 : i)).filter((i) => i >= 0);
    expect(failed.length, 'the kill interrupted some ADDs').toBeGreaterThan(0);
    for (const i of failed) expect(first[i]!.json?.code, first[i]!.stdout).toBe(11);
    node.logs = '';
    await node.start();
    const results = [...first];
    await Promise.all(
      failed.map(async (i) => {
        const del = await node.cni('DEL', ids[i]!, `/run/netns/${nss[i]}`);
        expect(del.code, del.stdout).toBe(0);
        results[i] = await node.cni('ADD', ids[i]!, `/run/netns/${nss[i]}`);
      }),
    );
    const ips = results.map(ipOf);
    expect(new Set(ips).size).toBe(20);
    const valid = ids.map((id) => ({ containerID: id, ifname: 'eth0' }));
    const gc = await node.cni('GC', '', '', {
      extra: {
        'cni.dev/valid-attachments': [
          ...valid,
          { containerID: 'rst-a', ifname: 'eth0' },
          { containerID: 'rst-b', ifname: 'eth0' },
        ],
      },
    });
    expect(gc.code, gc.stdout).toBe(0);
    const ipamDir = join(node.config.stateDir, 'ipam', 'podnet');
    const held = () => readdirSync(ipamDir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    expect(held()).toEqual(expect.arrayContaining(ips));
    expect(held()).toHaveLength(22);
    const veths = async () =>
      (await net.exec(node.ns, ['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout
        .split('\n')
        .filter((l) => /pn[0-9a-f]{11}/.test(l));
    expect(await veths()).toHaveLength(22);
    expect(await net.ping(nss[failed[0]!]!, ips[0]!)).toBe(true);
    const all = await node.cni('GC', '', '', { extra: { 'cni.dev/valid-attachments': [] } });
    expect(all.code, all.stdout).toBe(0);
    expect(held()).toEqual([]);
    expect(await veths()).toEqual([]);
    expect(readdirSync(join(node.config.stateDir, 'attachments'))).toEqual([]);
  });
});
