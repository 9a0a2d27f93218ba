import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/index.js';
import { cleanEnv, makeNodeNs, REPO, TestNode } from './node-kit.js';

const DNS_IP = '169.254.20.10';
const UL_IP = '192.168.76.1';
/** The "internet": addresses on the underlay namespace's loopback, behind the underlay router. */
const EXT = {
  'allowed.example': '198.51.100.10',
  'other.example': '198.51.100.11',
  'a.wild.example': '198.51.100.13',
  'wild.example': '198.51.100.14',
  'a.b.wild.example': '198.51.100.15',
};
const RAW_IP = '198.51.100.12';
const FLOOR = 8;

// Issue #18 item 2: ClusterNetworkPolicy domainNames enforced through the node's DNS answers.
describe.each(['process', 'embedded'] as const)('FQDN egress, DNS mode %s', (mode) => {
  let net: TestNet;
  let node: TestNode;
  let pod: string;
  let podIp: string;
  let fake: ChildProcess;
  let server: ChildProcess;

  /** From the pod, with its resolv.conf: bash resolves NAME through glibc, then connects once. */
  const connect = async (target: string) =>
    (
      await net.exec(
        pod,
        ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${target}/8080 && echo connected`],
        { allowFail: true, mountEtc: true },
      )
    ).stdout.includes('connected');

  /**
   * Looks NAME up (glibc, the pod's resolv.conf), then connects to the first address with one
   * SYN only: the 0.9 s limit ends the attempt before TCP's first retransmission (1 s), so a
   * first packet the policy dropped is a failure, not a late success.
   */
  const lookupThenConnectOnce = async (name: string) =>
    (
      await net.exec(
        pod,
        [
          'bash',
          '-c',
          `ip=$(getent ahostsv4 ${name} | head -1 | cut -d' ' -f1) && [ -n "$ip" ] && timeout 0.9 bash -c "exec 3<>/dev/tcp/$ip/8080" && echo connected`,
        ],
        { allowFail: true, mountEtc: true },
      )
    ).stdout.includes('connected');

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const ns = await makeNodeNs(net, 'n1', underlay, '192.168.76.2/24', `${UL_IP}/24`);
    for (const ip of [...Object.values(EXT), RAW_IP])
      await net.exec(underlay, ['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
    await net.exec(ns, ['ip', 'route', 'add', '198.51.100.0/24', 'via', UL_IP]);
    await net.exec(underlay, ['ip', 'route', 'add', '10.244.76.0/24', 'via', '192.168.76.2']);
    // every external address accepts TCP 8080
    server = net.spawn(underlay, [
      'node',
      '-e',
      "require('net').createServer((s) => s.end()).listen(8080, '0.0.0.0', () => console.log('up'))",
    ]);
    fake = net.spawn(
      underlay,
      [
        'node',
        '--conditions=source',
        '--import',
        'tsx',
        join(REPO, 'examples/node-agent/test/netns/fake-external-dns.ts'),
        UL_IP,
        JSON.stringify(EXT),
        '1',
      ],
      { env: cleanEnv() },
    );
    let out = '';
    fake.stdout!.setEncoding('utf8');
    fake.stdout!.on('data', (d: string) => {
      out += d;
    });
    const { port } = JSON.parse(
      await waitFor(() => /^(\{.*\})\n/.exec(out)?.[1], {
        timeoutMs: 60_000,
        what: 'the fake DNS',
      }),
    ) as { port: number };
    node = new TestNode(net, ns, {
      nodeName: 'n1',
      nodeIps: ['192.168.76.2'],
      podCidrs: ['10.244.76.0/24'],
    });
    (node as { config: AgentConfig }).config = {
      ...node.config,
      dns: {
        ip: DNS_IP,
        clusterDomain: 'cluster.local',
        mode,
        upstreams: [`${UL_IP}:${port}`],
        fqdnFloorSeconds: FLOOR,
        cacheSize: 0,
      },
    };
    writeFileSync(
      join(node.manifestsDir, 'policy.yaml'),
      JSON.stringify({
        apiVersion: 'policy.networking.k8s.io/v1alpha2',
        kind: 'ClusterNetworkPolicy',
        metadata: { name: 'egress-by-name' },
        spec: {
          tier: 'Admin',
          priority: 10,
          subject: { namespaces: {} },
          egress: [
            {
              name: 'names',
              action: 'Accept',
              to: [{ domainNames: ['allowed.example', '*.wild.example'] }],
              protocols: [{ tcp: { destinationPort: { number: 8080 } } }],
            },
            { name: 'the-rest', action: 'Deny', to: [{ networks: ['198.51.100.0/24'] }] },
          ],
        },
      }),
    );
    await node.start();
    ({ ns: pod, ip: podIp } = await node.runPod('client'));
    await waitFor(() => /"event":"listening"|cluster DNS serving/.test(node.logs), {
      timeoutMs: 30_000,
      what: 'cluster DNS',
    });
    // the policy is programmed for the pod once a raw address is refused
    await waitFor(async () => !(await connect(RAW_IP)), {
      timeoutMs: 30_000,
      what: 'the policy to apply to the pod',
    });
  }, 180_000);
  afterAll(async () => {
    fake?.kill('SIGKILL');
    server?.kill('SIGKILL');
    node?.cleanup();
    await net?.cleanup();
  });

  it('an allowed name connects on the first try right after its lookup; another name and a raw address do not', async () => {
    // the DNS server may learn of the pod a moment after its Pod object appears
    await waitFor(async () => connect('allowed.example'), {
      timeoutMs: 30_000,
      what: 'allowed.example to connect',
    }).catch(async (e) => {
      const g = await net.exec(pod, ['getent', 'ahosts', 'allowed.example'], {
        allowFail: true,
        mountEtc: true,
      });
      console.log('DEBUG getent', g.code, g.stdout, g.stderr);
      console.log(
        'DEBUG nft',
        (await net.exec(node.ns, ['nft', 'list', 'ruleset'], { allowFail: true })).stdout,
      );
      console.log('DEBUG logs', node.logs.slice(-6000));
      throw e;
    });
    // then, each time: one lookup, one connection attempt
    await new Promise((r) => setTimeout(r, (FLOOR + 2) * 1000));
    expect(await connect(EXT['allowed.example'])).toBe(false);
    expect(await lookupThenConnectOnce('allowed.example')).toBe(true);
    expect(await connect('other.example')).toBe(false);
    expect(await connect(RAW_IP)).toBe(false);
  }, 90_000);

  it('access ends when the answer expires (TTL 1 s, floor 8 s)', async () => {
    expect(await connect('allowed.example')).toBe(true);
    expect(await connect(EXT['allowed.example'])).toBe(true);
    await new Promise((r) => setTimeout(r, (FLOOR + 2) * 1000));
    expect(await connect(EXT['allowed.example'])).toBe(false);
  }, 60_000);

  it('addresses the pod never resolved stay blocked, even those of an allowed pattern', async () => {
    expect(await connect(EXT['a.wild.example'])).toBe(false);
    expect(await connect('other.example')).toBe(false);
    expect(await connect(EXT['other.example'])).toBe(false);
  }, 60_000);

  it('*.wild.example matches names below wild.example (one or more labels), not wild.example', async () => {
    expect(await lookupThenConnectOnce('a.wild.example')).toBe(true);
    expect(await lookupThenConnectOnce('a.b.wild.example')).toBe(true);
    expect(await connect('wild.example')).toBe(false);
  }, 60_000);

  // last: it leaves an address allowed for two minutes
  it('an agent restart rebuilds the policy table and keeps what the pod resolved', async () => {
    const table = async () =>
      (
        await net.exec(node.ns, ['nft', '-a', '-j', 'list', 'table', 'inet', 'podnet_netpol'], {
          allowFail: true,
        })
      ).stdout;
    const fqdnSet = (json: string) =>
      (JSON.parse(json) as { nftables: { set?: { name: string } }[] }).nftables
        .map((i) => i.set?.name)
        .find((n) => n?.startsWith('fqdn_') && n.endsWith('_4')) as string;
    const handle = (json: string) =>
      (JSON.parse(json) as { nftables: { table?: { handle: number } }[] }).nftables.find(
        (i) => i.table,
      )?.table?.handle;
    expect(await lookupThenConnectOnce('allowed.example')).toBe(true);
    // the answer's element, with the time a 120 s TTL would have given it
    const before = await table();
    const set = fqdnSet(before);
    await net.exec(node.ns, [
      'nft',
      `add element inet podnet_netpol ${set} { ${podIp} . ${EXT['allowed.example']} timeout 120s }`,
    ]);
    await node.kill('SIGKILL');
    node.logs = '';
    await node.start();
    await waitFor(async () => handle(await table()) !== handle(before), {
      timeoutMs: 30_000,
      what: 'the policy table to be rebuilt',
    });
    const kept = await net.exec(node.ns, ['nft', 'list', 'set', 'inet', 'podnet_netpol', set]);
    expect(kept.stdout).toMatch(
      new RegExp(
        `${podIp.replaceAll('.', '\\.')} \\. ${EXT['allowed.example'].replaceAll('.', '\\.')} timeout`,
      ),
    );
    expect(await connect(EXT['allowed.example'])).toBe(true);
    expect(await connect(EXT['other.example'])).toBe(false);
  }, 120_000);
});
