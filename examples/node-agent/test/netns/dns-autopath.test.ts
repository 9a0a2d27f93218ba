import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/index.js';
import { cleanEnv, makeNodeNs, REPO, TestNode } from './node-kit.js';

const DNS_IP = '169.254.20.10';
const UL_IP = '192.168.77.1';

/** What a resolver in the pod printed, and how many queries the node's DNS server counted. */
interface Lookup {
  out: string;
  queries: number;
  autopath: number;
}

// Issue #18 item 1: with autopath an external name costs the pod one query per type.
describe('autopath: real resolvers in a pod (glibc getent, busybox nslookup)', () => {
  let net: TestNet;
  let node: TestNode;
  let pod: string;
  let fake: ChildProcess;
  let upstreamPort: number;

  const metric = async (name: string): Promise<number> => {
    const port = [...node.logs.matchAll(/"httpPort":(\d+)/g)].at(-1)?.[1];
    const text = (await net.exec(node.ns, ['curl', '-s', `http://127.0.0.1:${port}/metrics`]))
      .stdout;
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm')))
      sum += Number(m[1]);
    return sum;
  };
  const lookup = async (argv: string[]): Promise<Lookup> => {
    const q0 = await metric('podnet_dns_requests_total');
    const a0 = await metric('podnet_dns_autopath_answers_total');
    const r = await net.exec(pod, argv, { allowFail: true, mountEtc: true, timeoutMs: 20_000 });
    return {
      out: `${r.code} ${r.stdout}`,
      queries: (await metric('podnet_dns_requests_total')) - q0,
      autopath: (await metric('podnet_dns_autopath_answers_total')) - a0,
    };
  };
  const restartWith = async (autopath: boolean, mode: 'embedded' | 'process' = 'embedded') => {
    await node.kill();
    (node as { config: AgentConfig }).config = {
      ...node.config,
      dns: {
        ip: DNS_IP,
        clusterDomain: 'cluster.local',
        mode,
        upstreams: [`${UL_IP}:${upstreamPort}`],
        autopath,
      },
    };
    node.logs = '';
    await node.start();
    if (mode === 'process') return;
    await waitFor(
      async () =>
        (await lookup(['getent', 'hosts', 'web.default.svc.cluster.local'])).out.startsWith('0 '),
      { timeoutMs: 30_000, what: 'the cluster DNS to answer the pod' },
    );
    // the Pod object is in the zone's pod index once its own record answers
    await waitFor(
      async () => (await lookup(['getent', 'ahosts', 'www.example.org'])).autopath > 0 === autopath,
      {
        timeoutMs: 30_000,
        what: `autopath ${autopath ? 'on' : 'off'} for the pod`,
      },
    );
  };

  beforeAll(async () => {
    net = createTestNet();
    const underlay = await net.ns('ul');
    const ns = await makeNodeNs(net, 'n1', underlay, '192.168.77.2/24', `${UL_IP}/24`);
    fake = net.spawn(
      underlay,
      [
        'node',
        '--conditions=source',
        '--import',
        'tsx',
        join(REPO, 'examples/node-agent/test/netns/fake-external-dns.ts'),
        UL_IP,
        JSON.stringify({
          'www.example.org': '203.0.113.80',
          'example.org': '203.0.113.81',
          intranet: '203.0.113.82',
        }),
      ],
      { env: cleanEnv() },
    );
    let out = '';
    fake.stdout!.setEncoding('utf8');
    fake.stdout!.on('data', (d: string) => {
      out += d;
    });
    ({ port: upstreamPort } = JSON.parse(
      await waitFor(() => /^(\{.*\})\n/.exec(out)?.[1], {
        timeoutMs: 60_000,
        what: 'the fake DNS',
      }),
    ) as { port: number });
    node = new TestNode(net, ns, {
      nodeName: 'n1',
      nodeIps: ['192.168.77.2'],
      podCidrs: ['10.244.77.0/24'],
    });
    (node as { config: AgentConfig }).config = {
      ...node.config,
      dns: { ip: DNS_IP, clusterDomain: 'cluster.local', mode: 'embedded' },
    };
    writeFileSync(
      join(node.manifestsDir, 'web.yaml'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'default' },
        spec: { clusterIP: '10.96.77.10', clusterIPs: ['10.96.77.10'], ports: [{ port: 80 }] },
      }),
    );
    await node.start();
    ({ ns: pod } = await node.runPod('client'));
  }, 180_000);
  afterAll(async () => {
    fake?.kill('SIGKILL');
    node?.cleanup();
    await net?.cleanup();
  });

  const results: Record<string, { on?: Lookup; off?: Lookup }> = {};
  const cases: [string, string[]][] = [
    ['getent ahosts www.example.org', ['getent', 'ahosts', 'www.example.org']],
    ['getent ahostsv4 example.org', ['getent', 'ahostsv4', 'example.org']],
    ['getent ahosts web (a Service that exists)', ['getent', 'ahosts', 'web']],
    ['busybox nslookup www.example.org', ['busybox', 'nslookup', 'www.example.org']],
    ['busybox nslookup intranet', ['busybox', 'nslookup', 'intranet']],
    ['getent ahosts intranet', ['getent', 'ahosts', 'intranet']],
  ];

  it('measures every resolver with autopath off, then on', async () => {
    for (const autopath of [false, true]) {
      await restartWith(autopath);
      for (const [what, argv] of cases)
        (results[what] ??= {})[autopath ? 'on' : 'off'] = await lookup(argv);
    }
    console.log(JSON.stringify(results, null, 1));
  }, 240_000);

  it('glibc: an external name costs one query per address family with autopath, the full walk without, same answer', () => {
    const r = results['getent ahosts www.example.org'];
    // without: 4 names (3 search domains, then the name) x A and AAAA
    expect(r?.off?.queries).toBe(8);
    expect(r?.on?.queries).toBe(2);
    expect(r?.on?.autopath).toBe(2);
    expect(r?.on?.out).toBe(r?.off?.out);
    expect(r?.on?.out).toMatch(/^0 203\.0\.113\.80 +STREAM www\.example\.org\n/);
    const v4 = results['getent ahostsv4 example.org'];
    expect(v4?.off?.queries).toBe(4);
    expect(v4?.on?.queries).toBe(1);
    expect(v4?.on?.out).toBe(v4?.off?.out);
    expect(v4?.on?.out).toContain('203.0.113.81');
  });

  it('a name that exists is never rewritten', () => {
    const r = results['getent ahosts web (a Service that exists)'];
    expect(r?.on?.autopath).toBe(0);
    expect(r?.on?.queries).toBe(r?.off?.queries);
    expect(r?.on?.out).toBe(r?.off?.out);
    expect(r?.on?.out).toMatch(/^0 10\.96\.77\.10 +STREAM web\.default\.svc\.cluster\.local\n/);
  });

  // busybox 1.35's nslookup is not a search-list walker: a dotted name is asked as given, and a
  // single label is asked in every search domain at once (A and AAAA each) but never alone.
  it('busybox nslookup, a dotted name: asked as given, the same two queries and answer either way', () => {
    const r = results['busybox nslookup www.example.org'];
    const addrs = (s: string | undefined) =>
      [...(s ?? '').matchAll(/Address: (\S+)/g)]
        .map((m) => m[1])
        .filter((a) => !a?.startsWith(DNS_IP));
    expect(addrs(r?.off?.out)).toEqual(['203.0.113.80']);
    expect(r?.on?.out).toBe(r?.off?.out);
    expect(r?.off?.queries).toBe(2);
    expect(r?.on?.queries).toBe(2);
    expect(r?.on?.autopath).toBe(0);
  });

  it('busybox nslookup, a single label: its first expansion is answered with the name itself', () => {
    const r = results['busybox nslookup intranet'];
    // without autopath every expansion is NXDOMAIN and the name itself is never asked
    expect(r?.off?.out).toMatch(/^1 /);
    expect(r?.off?.out).not.toContain('203.0.113.82');
    expect(r?.off?.queries).toBe(6);
    // with it, the first expansion (A and AAAA) is a CNAME to `intranet`, as glibc would find it
    expect(r?.on?.queries).toBe(6);
    expect(r?.on?.autopath).toBe(2);
    expect(r?.on?.out).toContain('intranet.default.svc.cluster.local\tcanonical name = intranet');
    expect(r?.on?.out).toContain('Address: 203.0.113.82');
  });

  it('glibc finds the same single label either way, in one query per family with autopath', () => {
    const r = results['getent ahosts intranet'];
    expect(r?.off?.queries).toBe(8);
    expect(r?.on?.queries).toBe(2);
    expect(r?.on?.out).toBe(r?.off?.out);
    expect(r?.on?.out).toMatch(/^0 203\.0\.113\.82 +STREAM intranet\n/);
  });

  it('process mode: podnet-dns --autopath answers the same walk for the pod', async () => {
    await restartWith(true, 'process');
    const dig = async () =>
      (
        await net.exec(pod, [
          'dig',
          `@${DNS_IP}`,
          '+tries=1',
          '+time=3',
          '+noall',
          '+answer',
          'www.example.org.default.svc.cluster.local',
        ])
      ).stdout;
    await waitFor(async () => (await dig()).includes('CNAME'), {
      timeoutMs: 30_000,
      what: 'podnet-dns to autopath the pod',
    });
    expect(
      (await dig())
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/).filter((_, i) => i !== 1)),
    ).toEqual([
      ['www.example.org.default.svc.cluster.local.', 'IN', 'CNAME', 'www.example.org.'],
      ['www.example.org.', 'IN', 'A', '203.0.113.80'],
    ]);
  }, 90_000);
});
