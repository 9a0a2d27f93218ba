import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniRuntime, loadConfList } from '@podnet/cni-spec';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startOneNode, type TestNode } from './node-kit.js';

describe("the agent's conflist driven by @podnet/cni-spec's CniRuntime, as containerd would", () => {
  let net: TestNet;
  let node: TestNode;
  let runtime: CniRuntime;
  let cache: string;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.58', {
      podCidrs: ['10.244.31.0/24'],
    }));
    cache = mkdtempSync(join(tmpdir(), 'podnet-rt-cache-'));
    runtime = new CniRuntime({
      binDirs: [node.binDir],
      cacheDir: cache,
      env: cleanEnv() as Record<string, string>,
    });
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
    rmSync(cache, { recursive: true, force: true });
  });

  it('ADD with host ports through the capability, CHECK with the cached result, GC, DEL', async () => {
    const list = loadConfList(node.config.cniConfDir, 'podnet');
    const pa = await net.ns('ra');
    const pb = await net.ns('rb');
    const rtA = {
      containerId: 'rt-a',
      netns: `/run/netns/${pa}`,
      ifName: 'eth0',
      args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'web', K8S_POD_NAME: 'a' },
      capabilityArgs: { portMappings: [{ hostPort: 9090, containerPort: 80, protocol: 'tcp' }] },
    };
    const rtB = {
      containerId: 'rt-b',
      netns: `/run/netns/${pb}`,
      ifName: 'eth0',
      args: { K8S_POD_NAMESPACE: 'web', K8S_POD_NAME: 'b' },
    };
    const ra = (await runtime.addNetworkList(list, rtA)) as {
      ips: { address: string }[];
      dns: { search: string[] };
    };
    const rb = (await runtime.addNetworkList(list, rtB)) as { ips: { address: string }[] };
    expect(ra.dns.search[0]).toBe('web.svc.cluster.local');
    expect(await net.ping(pb, ra.ips[0]!.address.split('/')[0]!)).toBe(true);
    await runtime.checkNetworkList(list, rtA);
    const nft = await net.exec(node.ns, ['nft', 'list', 'table', 'inet', 'podnet-agent']);
    expect(nft.stdout).toContain(
      `tcp dport 9090 dnat ip to ${ra.ips[0]!.address.split('/')[0]}:80`,
    );
    await runtime.gcNetworkList(list, [{ containerId: 'rt-a', ifName: 'eth0' }]);
    const after = await net.exec(node.ns, ['nft', 'list', 'table', 'inet', 'podnet-agent']);
    expect(after.stdout).toContain('dport 9090');
    expect(await net.ping(pa, rb.ips[0]!.address.split('/')[0]!, { timeoutS: 1 })).toBe(false);
    await runtime.delNetworkList(list, rtA);
    const gone = await net.exec(node.ns, ['nft', 'list', 'table', 'inet', 'podnet-agent']);
    expect(gone.stdout).not.toContain('dport 9090');
    await runtime.delNetworkList(list, rtA);
    expect(readFileSync(join(node.config.cniConfDir, '10-podnet.conflist'), 'utf8')).toContain(
      '"portMappings": true',
    );
  });
});
