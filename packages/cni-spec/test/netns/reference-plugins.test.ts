import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniRuntime, netnsExec, type NetConfList, parseNetConfList } from '../../src/index.js';
import { runWithInput } from '../helpers.js';

const CNI_BIN = '/usr/lib/cni';
const VERSIONS = ['0.3.1', '0.4.0', '1.0.0'] as const;

function addressesIn(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

describe.each(VERSIONS.map((v, i) => [v, i] as const))(
  'runtime drives Debian bridge + host-local + portmap at %s',
  (version, index) => {
    let net: TestNet;
    let node: string;
    let tmp: string;
    let runtime: CniRuntime;
    let list: NetConfList;
    const subnet = `10.${131 + index}.0`;
    const dataDir = () => join(tmp, 'ipam');

    beforeAll(async () => {
      net = createTestNet();
      node = await net.ns('node');
      tmp = mkdtempSync(join(tmpdir(), 'cni-spec-netns-'));
      runtime = new CniRuntime({
        binDirs: [CNI_BIN],
        cacheDir: join(tmp, 'cache'),
        exec: netnsExec(`/run/netns/${node}`),
      });
      list = parseNetConfList({
        cniVersion: version,
        name: `pnt${version.replaceAll('.', '')}`,
        plugins: [
          {
            type: 'bridge',
            bridge: 'pntbr0',
            isGateway: true,
            ipMasq: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: `${subnet}.0/24` }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: dataDir(),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      });
    });
    afterAll(async () => {
      await net.cleanup();
      rmSync(tmp, { recursive: true, force: true });
    });

    it('two pods get addresses and ping each other; CHECK passes; a port mapping carries TCP', async () => {
      const p1 = await net.ns('p1');
      const p2 = await net.ns('p2');
      const r1 = await runtime.addNetworkList(list, {
        containerId: 'pod1',
        netns: `/run/netns/${p1}`,
        ifName: 'eth0',
        args: { IgnoreUnknown: '1', K8S_POD_NAME: 'pod1' },
        capabilityArgs: {
          portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }],
        },
      });
      const r2 = await runtime.addNetworkList(list, {
        containerId: 'pod2',
        netns: `/run/netns/${p2}`,
        ifName: 'eth0',
      });
      expect(r1.cniVersion).toBe(version);
      const ip1 = r1.ips?.[0]?.address.split('/')[0] as string;
      const ip2 = r2.ips?.[0]?.address.split('/')[0] as string;
      expect(ip1.startsWith(`${subnet}.`)).toBe(true);
      expect(ip2.startsWith(`${subnet}.`)).toBe(true);
      expect(ip1).not.toBe(ip2);
      if (version !== '1.0.0') expect(r1.ips?.[0]).toHaveProperty('version', '4');
      const sandbox = r1.interfaces?.find((i) => i.sandbox);
      expect(sandbox?.name).toBe('eth0');
      expect(addressesIn(dataDir(), list.name).sort()).toEqual([ip1, ip2].sort());

      await net.waitForPing(p1, ip2, 20_000);
      await net.waitForPing(p2, ip1, 20_000);

      if (version !== '0.3.1') {
        await runtime.checkNetworkList(list, {
          containerId: 'pod1',
          netns: `/run/netns/${p1}`,
          ifName: 'eth0',
        });
        await runtime.checkNetworkList(list, {
          containerId: 'pod2',
          netns: `/run/netns/${p2}`,
          ifName: 'eth0',
        });
      }

      net.spawn(p1, [
        process.execPath,
        '-e',
        "require('net').createServer((s) => s.end('hello from pod1\\n')).listen(8080, '0.0.0.0')",
      ]);
      const gateway = `${subnet}.1`;
      const reply = await waitFor(
        async () => {
          const r = await net.exec(
            node,
            ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${gateway}/18080; cat <&3`],
            {
              allowFail: true,
            },
          );
          return r.code === 0 && r.stdout.includes('hello') ? r.stdout : undefined;
        },
        { timeoutMs: 20_000, what: 'TCP through the port mapping' },
      );
      expect(reply).toContain('hello from pod1');
    });

    it('DEL twice succeeds; DEL with the namespace already gone succeeds and releases the address', async () => {
      const before = addressesIn(dataDir(), list.name).length;
      await runtime.delNetworkList(list, {
        containerId: 'pod1',
        netns: `/run/netns/${net.prefix}p1`,
        ifName: 'eth0',
      });
      await runtime.delNetworkList(list, {
        containerId: 'pod1',
        netns: `/run/netns/${net.prefix}p1`,
        ifName: 'eth0',
      });
      expect(addressesIn(dataDir(), list.name)).toHaveLength(before - 1);
      const p2 = `${net.prefix}p2`;
      await net.exec(node, ['ip', 'netns', 'del', p2]);
      expect(existsSync(`/run/netns/${p2}`)).toBe(false);
      await runtime.delNetworkList(list, {
        containerId: 'pod2',
        netns: `/run/netns/${p2}`,
        ifName: 'eth0',
      });
      expect(addressesIn(dataDir(), list.name)).toEqual([]);
      expect(
        runtime.getCachedResult(list, { containerId: 'pod2', ifName: 'eth0' }),
      ).toBeUndefined();
    });

    it('GC with an empty attachment list releases the host-local addresses', async () => {
      const p3 = await net.ns('p3');
      const p4 = await net.ns('p4');
      const r3 = await runtime.addNetworkList(list, {
        containerId: 'pod3',
        netns: `/run/netns/${p3}`,
        ifName: 'eth0',
      });
      await runtime.addNetworkList(list, {
        containerId: 'pod4',
        netns: `/run/netns/${p4}`,
        ifName: 'eth0',
      });
      expect(addressesIn(dataDir(), list.name)).toHaveLength(2);
      const ip3 = r3.ips?.[0]?.address.split('/')[0] as string;
      expect(readFileSync(join(dataDir(), list.name, ip3), 'utf8')).toContain('pod3');
      await runtime.gcNetworkList(list, []);
      expect(addressesIn(dataDir(), list.name)).toEqual([]);
      expect(runtime.cache.list(list.name)).toEqual([]);
      const links = await net.exec(p3, ['ip', '-o', 'link', 'show']);
      expect(links.stdout).not.toContain('eth0');
    });
  },
);

describe('podnet-cni (built) drives Debian bridge + host-local inside a node namespace', () => {
  let net: TestNet;
  let tmp: string;
  const cli = fileURLToPath(new URL('../../dist/bin/podnet-cni.js', import.meta.url));

  beforeAll(() => {
    net = createTestNet();
    tmp = mkdtempSync(join(tmpdir(), 'cni-spec-cli-'));
  });
  afterAll(async () => {
    await net.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('add, check, del for two pods that ping each other; errors are spec JSON', async () => {
    expect(existsSync(cli)).toBe(true);
    const node = await net.ns('node');
    const pods = [await net.ns('a'), await net.ns('b')];
    const confDir = join(tmp, 'net.d');
    mkdirSync(confDir);
    writeFileSync(
      join(confDir, '10-clinet.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'clinet',
        plugins: [
          {
            type: 'bridge',
            bridge: 'clibr0',
            isGateway: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: '10.140.0.0/24' }]],
              dataDir: join(tmp, 'ipam'),
            },
          },
        ],
      }),
    );
    const common = [
      '--conf-dir',
      confDir,
      '--cni-path',
      CNI_BIN,
      '--cache-dir',
      join(tmp, 'cache'),
      '--plugin-netns',
      node,
    ];
    const cliRun = (args: string[]) =>
      runWithInput(process.execPath, [cli, ...args, ...common], '', process.env);
    const ips: string[] = [];
    for (const pod of pods) {
      const out = await cliRun([
        'add',
        'clinet',
        pod,
        '--args',
        `IgnoreUnknown=1;K8S_POD_NAME=${pod}`,
      ]);
      expect(out.code, out.stdout).toBe(0);
      const result = JSON.parse(out.stdout);
      expect(result.cniVersion).toBe('1.0.0');
      ips.push(result.ips[0].address.split('/')[0]);
    }
    await net.waitForPing(pods[0] as string, ips[1] as string, 20_000);
    expect((await cliRun(['check', 'clinet', pods[0] as string])).code).toBe(0);
    const links = await net.exec(node, ['ip', '-o', 'link', 'show', 'clibr0']);
    expect(links.stdout).toContain('clibr0');
    for (const pod of pods) expect((await cliRun(['del', 'clinet', pod])).code).toBe(0);
    expect(readdirSync(join(tmp, 'ipam', 'clinet')).filter((f) => f.startsWith('10.'))).toEqual([]);
    const bad = await cliRun(['check', 'clinet', pods[0] as string]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ cniVersion: '1.1.0', code: 3 });
  });
});
