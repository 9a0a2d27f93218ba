import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createTestNet, type TestNet } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EndpointSlice,
  type Service,
  ServiceSyncer,
  type ServiceState,
} from '../../src/index.js';
import { type FixtureEndpoint, makeEndpointSlice, makeService } from '../../src/testing/index.js';

const ECHO = fileURLToPath(new URL('./helpers/echo-server.mjs', import.meta.url));
const PROBE = fileURLToPath(new URL('./helpers/probe.mjs', import.meta.url));
const NODE_NAME = 'node-a';

/** Pod i sits behind its own /30 (and /64) routed by the node namespace. */
const pod = (i: number) => ({
  v4: `10.244.0.${4 * i + 2}`,
  gw4: `10.244.0.${4 * i + 1}`,
  v6: `fd00:244:0:${i}::2`,
  gw6: `fd00:244:0:${i}::1`,
});
const BACKENDS = ['b1', 'b2', 'b3'] as const;
const CLIENT = pod(1);
const B = { b1: pod(2), b2: pod(3), b3: pod(4) };
const NODE_EXT_IP = '192.168.50.1';
const EXT_IP = '192.168.50.2';
const EXT2_IP = '192.168.60.2';
const LB_IP = '203.0.113.10';

let net: TestNet;
let ns: Record<'node' | 'client' | 'ext' | 'ext2' | (typeof BACKENDS)[number], string>;
let syncer: ServiceSyncer;

async function probe(
  from: string,
  mode: 'tcp' | 'udp',
  host: string,
  port: number,
  count = 1,
  opts: { timeoutMs?: number; sport?: number } = {},
) {
  const args = [PROBE, mode, host, String(port), String(count), String(opts.timeoutMs ?? 3000)];
  if (opts.sport) args.push(String(opts.sport));
  const r = await net.exec(from, [process.execPath, ...args], { timeoutMs: 120_000 });
  return JSON.parse(r.stdout.trim()) as string[];
}
const names = (answers: string[]) => new Set(answers.map((a) => a.split(' ')[0]));

function eps(
  which: ReadonlyArray<(typeof BACKENDS)[number]>,
  v6 = false,
  nodes: Record<string, string> = {},
): FixtureEndpoint[] {
  return which.map((b) => ({ ip: v6 ? B[b].v6 : B[b].v4, nodeName: nodes[b] ?? NODE_NAME }));
}

const HTTP_UDP = [
  { name: 'http', port: 8080 },
  { name: 'dns', port: 5353, protocol: 'UDP' },
];
const webPorts = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' },
];

/** The cluster state the tests mutate; each test re-syncs through the same syncer (incremental). */
const state = new Map<string, { service: Service; slices: EndpointSlice[] }>();
async function put(service: Service, slices: EndpointSlice[]) {
  state.set(`${service.metadata!.namespace}/${service.metadata!.name}`, { service, slices });
  return apply();
}
async function apply() {
  const s: ServiceState = {
    services: [...state.values()].map((v) => v.service),
    endpointSlices: [...state.values()].flatMap((v) => v.slices),
  };
  return syncer.sync(s);
}

beforeAll(async () => {
  net = createTestNet();
  const mk = async (short: string) => net.ns(short);
  ns = {
    node: await mk('node'),
    client: await mk('client'),
    b1: await mk('b1'),
    b2: await mk('b2'),
    b3: await mk('b3'),
    ext: await mk('ext'),
    ext2: await mk('ext2'),
  };
  await net.exec(ns.node, [
    'sysctl',
    '-q',
    '-w',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
  ]);
  const pods: Array<[string, ReturnType<typeof pod>, string]> = [
    [ns.client, CLIENT, 'vc'],
    [ns.b1, B.b1, 'v1'],
    [ns.b2, B.b2, 'v2'],
    [ns.b3, B.b3, 'v3'],
  ];
  for (const [p, a, hostIf] of pods) {
    await net.veth(
      { ns: p, name: 'eth0', addrs: [`${a.v4}/30`, `${a.v6}/64`] },
      { ns: ns.node, name: hostIf, addrs: [`${a.gw4}/30`, `${a.gw6}/64`] },
    );
    await net.host(p).ipBatch([
      ['route', 'add', 'default', 'via', a.gw4],
      ['route', 'add', 'default', 'via', a.gw6],
    ]);
  }
  await net.veth(
    { ns: ns.ext, name: 'eth0', addrs: [`${EXT_IP}/24`] },
    { ns: ns.node, name: 've', addrs: [`${NODE_EXT_IP}/24`] },
  );
  await net.veth(
    { ns: ns.ext2, name: 'eth0', addrs: [`${EXT2_IP}/24`] },
    { ns: ns.node, name: 've2', addrs: ['192.168.60.1/24'] },
  );
  await net.host(ns.ext).ipBatch([['route', 'add', 'default', 'via', NODE_EXT_IP]]);
  // Like a real node, the node namespace has an uplink default route (service VIPs are not local).
  await net.host(ns.node).ipBatch([['route', 'add', 'default', 'via', EXT_IP]]);
  await net.host(ns.ext2).ipBatch([['route', 'add', 'default', 'via', '192.168.60.1']]);

  for (const b of BACKENDS) {
    const child = net.spawn(ns[b], [process.execPath, ECHO, b]);
    await Promise.race([
      once(child.stdout!, 'data'),
      once(child, 'exit').then(() => {
        throw new Error(`echo server ${b} exited`);
      }),
    ]);
  }
  for (const b of BACKENDS) await net.waitForTcp(ns.client, B[b].v4, 8080, 20_000);

  syncer = new ServiceSyncer({
    host: net.host(ns.node),
    node: {
      name: NODE_NAME,
      clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/48'],
      serviceCIDRs: ['10.96.0.0/16', 'fd00:96::/112'],
    },
  });
  await put(makeService('default', 'web', { clusterIP: '10.96.0.10', ports: webPorts }), [
    makeEndpointSlice('default', 'web', eps(BACKENDS), HTTP_UDP),
  ]);
}, 120_000);

afterAll(() => net?.cleanup());

describe('ClusterIP', () => {
  it('spreads TCP connections and UDP flows across all three backends', async () => {
    const tcp = await probe(ns.client, 'tcp', '10.96.0.10', 80, 60);
    expect(names(tcp)).toEqual(new Set(BACKENDS));
    expect(tcp.every((a) => a.endsWith(` ${CLIENT.v4}`))).toBe(true);
    const udp = await probe(ns.client, 'udp', '10.96.0.10', 53, 60);
    expect(names(udp)).toEqual(new Set(BACKENDS));
  });

  it('serves the node itself (host-network clients), masqueraded, and refuses its unknown ports', async () => {
    const tcp = await probe(ns.node, 'tcp', '10.96.0.10', 80, 30);
    expect(names(tcp)).toEqual(new Set(BACKENDS));
    expect(tcp.every((a) => a === `${a.split(' ')[0]} ${B[a.split(' ')[0] as 'b1'].gw4}`)).toBe(
      true,
    );
    expect(await probe(ns.node, 'tcp', '10.96.0.10', 81, 1)).toEqual(['ECONNREFUSED']);
  });

  it('sticks a client to one backend with ClientIP affinity', async () => {
    await put(
      makeService('default', 'sticky', {
        clusterIP: '10.96.0.11',
        ports: webPorts,
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
      }),
      [makeEndpointSlice('default', 'sticky', eps(BACKENDS), HTTP_UDP)],
    );
    const tcp = await probe(ns.client, 'tcp', '10.96.0.11', 80, 30);
    expect(tcp.every((a) => a.includes(' '))).toBe(true);
    expect(names(tcp).size).toBe(1);
  });

  it('stops sending to a removed endpoint, including an established UDP flow', async () => {
    const sport = 41000;
    const [first] = await probe(ns.client, 'udp', '10.96.0.10', 53, 1, { sport });
    const victim = first!.split(' ')[0] as (typeof BACKENDS)[number];
    expect(BACKENDS).toContain(victim);
    const pinned = await probe(ns.client, 'udp', '10.96.0.10', 53, 5, { sport });
    expect(names(pinned)).toEqual(new Set([victim]));

    const rest = BACKENDS.filter((b) => b !== victim);
    const result = await put(
      makeService('default', 'web', { clusterIP: '10.96.0.10', ports: webPorts }),
      [makeEndpointSlice('default', 'web', eps(rest), HTTP_UDP)],
    );
    expect(result.full).toBe(false);
    expect(result.conntrack.errors).toEqual([]);
    expect(result.conntrack.deleted).toBeGreaterThanOrEqual(1);

    const after = await probe(ns.client, 'udp', '10.96.0.10', 53, 10, { sport });
    expect(after.every((a) => rest.includes(a.split(' ')[0] as never))).toBe(true);
    const tcp = await probe(ns.client, 'tcp', '10.96.0.10', 80, 40);
    expect(names(tcp)).toEqual(new Set(rest));
  });

  it('refuses at once when a Service has no endpoints, and on an unknown port', async () => {
    await put(makeService('default', 'empty', { clusterIP: '10.96.0.12', ports: webPorts }), []);
    expect(await probe(ns.client, 'tcp', '10.96.0.12', 80, 3, { timeoutMs: 10_000 })).toEqual([
      'ECONNREFUSED',
      'ECONNREFUSED',
      'ECONNREFUSED',
    ]);
    expect(await probe(ns.client, 'udp', '10.96.0.12', 53, 1, { timeoutMs: 10_000 })).toEqual([
      'ECONNREFUSED',
    ]);
    expect(await probe(ns.client, 'tcp', '10.96.0.10', 81, 1, { timeoutMs: 10_000 })).toEqual([
      'ECONNREFUSED',
    ]);
    await put(makeService('default', 'empty', { clusterIP: '10.96.0.12', ports: webPorts }), [
      makeEndpointSlice('default', 'empty', eps(['b2']), HTTP_UDP),
    ]);
    expect(names(await probe(ns.client, 'tcp', '10.96.0.12', 80, 3))).toEqual(new Set(['b2']));
  });
});

describe('an invalid EndpointSlice', () => {
  it('is dropped alone: its Service keeps answering from its other slices', async () => {
    const service = makeService('default', 'sturdy', { clusterIP: '10.96.0.14', ports: webPorts });
    const slice = makeEndpointSlice('default', 'sturdy', eps(BACKENDS), HTTP_UDP);
    await put(service, [slice]);
    expect(names(await probe(ns.client, 'tcp', '10.96.0.14', 80, 30))).toEqual(new Set(BACKENDS));

    const bad = makeEndpointSlice(
      'default',
      'sturdy',
      eps(['b1']),
      [{ name: 'http', port: 99999 }],
      {
        name: 'sturdy-extra',
      },
    );
    const result = await put(service, [slice, bad]);
    // Before the fix the whole Service was skipped and its ClusterIP dropped every packet.
    const [first] = await probe(ns.client, 'tcp', '10.96.0.14', 80, 1, { timeoutMs: 2000 });
    expect(first).toMatch(/^b[123] /);
    expect(names(await probe(ns.client, 'tcp', '10.96.0.14', 80, 30))).toEqual(new Set(BACKENDS));
    expect(names(await probe(ns.client, 'udp', '10.96.0.14', 53, 30))).toEqual(new Set(BACKENDS));
    expect(result.invalid).toEqual([
      {
        object: 'default/sturdy-extra',
        error: expect.objectContaining({ code: 'INVALID_ENDPOINT_SLICE', field: 'ports[0].port' }),
      },
    ]);
  });
});

describe('hairpin', () => {
  it('lets a backend reach itself through its own Service (masqueraded hairpin)', async () => {
    await put(makeService('default', 'self', { clusterIP: '10.96.0.13', ports: webPorts }), [
      makeEndpointSlice('default', 'self', eps(['b1']), HTTP_UDP),
    ]);
    const answers = await probe(ns.b1, 'tcp', '10.96.0.13', 80, 5);
    expect(answers).toEqual(Array(5).fill(`b1 ${B.b1.gw4}`));
  });
});

describe('external traffic', () => {
  beforeAll(async () => {
    await put(
      makeService(
        'default',
        'public',
        {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.20',
          ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }],
          loadBalancerSourceRanges: ['192.168.50.0/24'],
        },
        { loadBalancer: { ingress: [{ ip: LB_IP }] } },
      ),
      [makeEndpointSlice('default', 'public', eps(BACKENDS), [{ name: 'http', port: 8080 }])],
    );
  });

  it('reaches a NodePort from an external namespace (masqueraded under Cluster policy)', async () => {
    const answers = await probe(ns.ext, 'tcp', NODE_EXT_IP, 30080, 30);
    expect(names(answers)).toEqual(new Set(BACKENDS));
    expect(answers.some((a) => a.endsWith(` ${EXT_IP}`))).toBe(false);
  });

  it('reaches the LoadBalancer IP from an allowed source and drops others; NodePorts stay open', async () => {
    expect(names(await probe(ns.ext, 'tcp', LB_IP, 80, 20))).toEqual(new Set(BACKENDS));
    expect(await probe(ns.ext2, 'tcp', LB_IP, 80, 2, { timeoutMs: 1500 })).toEqual([
      'timeout',
      'timeout',
    ]);
    expect(names(await probe(ns.ext2, 'tcp', '192.168.60.1', 30080, 5)).size).toBeGreaterThan(0);
  });

  it('honours externalTrafficPolicy Local: local endpoints only, client address kept; none local → drop', async () => {
    await put(
      makeService('default', 'local', {
        type: 'NodePort',
        clusterIP: '10.96.0.21',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30081 }],
      }),
      [
        makeEndpointSlice(
          'default',
          'local',
          eps(BACKENDS, false, { b2: 'node-b', b3: 'node-b' }),
          [{ name: 'http', port: 8080 }],
        ),
      ],
    );
    const answers = await probe(ns.ext, 'tcp', NODE_EXT_IP, 30081, 15);
    expect(answers).toEqual(Array(15).fill(`b1 ${EXT_IP}`));
    expect(names(await probe(ns.client, 'tcp', '10.96.0.21', 80, 30))).toEqual(new Set(BACKENDS));

    await put(
      makeService('default', 'remote', {
        type: 'NodePort',
        clusterIP: '10.96.0.22',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30082 }],
      }),
      [
        makeEndpointSlice('default', 'remote', eps(['b2'], false, { b2: 'node-b' }), [
          { name: 'http', port: 8080 },
        ]),
      ],
    );
    expect(await probe(ns.ext, 'tcp', NODE_EXT_IP, 30082, 1, { timeoutMs: 1500 })).toEqual([
      'timeout',
    ]);
    expect(syncer.metrics().noLocalEndpoints.external).toBe(1);
  });

  it('honours internalTrafficPolicy Local for ClusterIP traffic', async () => {
    await put(
      makeService('default', 'node-local', {
        clusterIP: '10.96.0.23',
        internalTrafficPolicy: 'Local',
        ports: webPorts,
      }),
      [
        makeEndpointSlice(
          'default',
          'node-local',
          eps(BACKENDS, false, { b1: 'node-b', b2: 'node-b' }),
          HTTP_UDP,
        ),
      ],
    );
    expect(names(await probe(ns.client, 'tcp', '10.96.0.23', 80, 20))).toEqual(new Set(['b3']));
  });
});

describe('IPv6', () => {
  it('load-balances an IPv6 ClusterIP over IPv6 endpoints (dual-stack Service)', async () => {
    await put(
      makeService('default', 'v6', {
        clusterIPs: ['10.96.0.30', 'fd00:96::30'],
        ipFamilies: ['IPv4', 'IPv6'],
        ports: webPorts,
      }),
      [
        makeEndpointSlice('default', 'v6', eps(BACKENDS), HTTP_UDP),
        makeEndpointSlice('default', 'v6', eps(BACKENDS, true), HTTP_UDP),
      ],
    );
    const tcp = await probe(ns.client, 'tcp', 'fd00:96::30', 80, 40);
    expect(names(tcp)).toEqual(new Set(BACKENDS));
    expect(tcp.every((a) => a.endsWith(` ${CLIENT.v6}`))).toBe(true);
    expect(names(await probe(ns.client, 'udp', 'fd00:96::30', 53, 30))).toEqual(new Set(BACKENDS));
    expect(names(await probe(ns.client, 'tcp', '10.96.0.30', 80, 20)).size).toBeGreaterThan(1);
  });

  it('touches no table but its own', async () => {
    const tables = await net.host(ns.node).nft(['list', 'tables']);
    expect(tables.trim().split('\n').sort()).toEqual([
      'table ip podnet-svc',
      'table ip6 podnet-svc',
    ]);
  });
});
