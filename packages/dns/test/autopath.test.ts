import { ClusterStore } from '@podnet/cluster-state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DnsClientIndex,
  DnsServer,
  type K8sPod,
  autopathCandidates,
  decodeMessage,
  encodeQuery,
  podSearchList,
  sockaddrIp,
} from '../src/index.js';
import { type FakeUpstream, clusterIpService, startFakeUpstream } from '../src/testing/index.js';

const rec = (name: string, type: 'A' | 'AAAA' | 'CNAME', data: string, ttl = 60) => ({
  name,
  type,
  class: 'IN' as const,
  ttl,
  data,
});

const pod = (
  namespace: string,
  name: string,
  ip: string,
  spec: Partial<K8sPod['spec']> = {},
): K8sPod => ({
  metadata: { namespace, name },
  spec: { containers: [], ...spec },
  status: { podIP: ip, podIPs: [{ ip }] },
});

const pods: K8sPod[] = [
  pod('default', 'web', '10.244.0.10'),
  pod('shop', 'cart', '10.244.0.11'),
  pod('default', 'custom', '10.244.0.12', { dnsConfig: { searches: ['corp.example'] } }),
  pod('default', 'plain', '10.244.0.13', { dnsPolicy: 'Default' }),
  pod('default', 'host', '192.168.1.5', { hostNetwork: true }),
  pod('default', 'six', 'fd00::10'),
];

describe('autopathCandidates', () => {
  const search = podSearchList('default', 'cluster.local', ['corp.example']);
  it.each([
    [
      'example.com.default.svc.cluster.local',
      [
        'example.com.svc.cluster.local',
        'example.com.cluster.local',
        'example.com.corp.example',
        'example.com',
      ],
    ],
    [
      'Foo.DEFAULT.svc.cluster.local.',
      ['Foo.svc.cluster.local', 'Foo.cluster.local', 'Foo.corp.example', 'Foo'],
    ],
    ['example.com.shop.svc.cluster.local', null],
    ['example.com.svc.cluster.local', null],
    ['default.svc.cluster.local', null],
    ['xdefault.svc.cluster.local', null],
    ['example.com', null],
  ])('%s → %j', (asked, want) => {
    expect(autopathCandidates(asked, search)).toEqual(want);
  });
});

describe('DnsClientIndex', () => {
  it('knows ClusterFirst pods by address with their search list, others without one', () => {
    const index = new DnsClientIndex('cluster.local', ['Corp.Example.']);
    index.reset(pods);
    expect(index.get('10.244.0.11')?.search).toEqual([
      'shop.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
      'corp.example',
    ]);
    expect(index.get('10.244.0.12')?.search).toBeNull();
    expect(index.get('10.244.0.13')?.search).toBeNull();
    expect(index.get('192.168.1.5')).toBeUndefined();
    expect(index.get('fd00::10')?.namespace).toBe('default');
    expect(index.size).toBe(5);
  });

  it('a patch re-reads only the pods named and ends where a reset of the same pods ends', () => {
    const key = (p: K8sPod) => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name}`;
    const [first, second, ...rest] = pods as K8sPod[];
    // the first pod moves to another address; the second is gone; one new pod takes its address
    const moved: K8sPod = {
      ...first!,
      status: { podIP: '10.244.9.9', podIPs: [{ ip: '10.244.9.9' }] },
    };
    const taken: K8sPod = {
      metadata: { name: 'newcomer', namespace: 'shop' },
      spec: { containers: [] },
      status: { podIP: second!.status!.podIP!, podIPs: [{ ip: second!.status!.podIP! }] },
    };
    const after = [moved, taken, ...rest];
    const byKey = new Map(after.map((p) => [key(p), p]));
    const patched = new DnsClientIndex('cluster.local');
    patched.reset(pods);
    // the new pod is read before the old one's removal: the address stays the newcomer's
    patched.patch([key(taken), key(first!), key(second!)], (k) => byKey.get(k));
    const fresh = new DnsClientIndex('cluster.local');
    fresh.reset(after);
    for (const ip of [
      '10.244.9.9',
      second!.status!.podIP!,
      first!.status!.podIP!,
      '10.244.0.13',
      'fd00::10',
    ])
      expect(patched.get(ip), ip).toEqual(fresh.get(ip));
    expect(patched.size).toBe(fresh.size);
    expect(patched.get(second!.status!.podIP!)?.name).toBe('newcomer');
  });
});

describe('sockaddrIp', () => {
  it('reads sockaddr_in, sockaddr_in6 and IPv4-mapped addresses', () => {
    const v4 = new Uint8Array(28);
    v4.set([2, 0, 0x30, 0x39, 10, 244, 0, 10]);
    expect(sockaddrIp(v4)).toBe('10.244.0.10');
    const v6 = new Uint8Array(28);
    v6.set([10, 0]);
    v6.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10], 8);
    expect(sockaddrIp(v6)).toBe('fd00::10');
    const mapped = new Uint8Array(28);
    mapped.set([10, 0]);
    mapped.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 244, 0, 11], 8);
    expect(sockaddrIp(mapped)).toBe('10.244.0.11');
    expect(sockaddrIp(new Uint8Array(28))).toBeUndefined();
  });
});

describe('DnsServer autopath', () => {
  let upstream: FakeUpstream;
  let on: DnsServer;
  let off: DnsServer;

  const state = {
    namespaces: [{ metadata: { name: 'default' } }, { metadata: { name: 'shop' } }],
    services: [
      clusterIpService('default', 'api', '10.96.0.20'),
      clusterIpService('shop', 'db', '10.96.0.30'),
    ],
    endpointSlices: [],
    pods,
  };

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      records: {
        'example.com': [
          rec('example.com', 'A', '192.0.2.7'),
          rec('example.com', 'AAAA', '2001:db8::7'),
        ],
        'www.example.com': [rec('www.example.com', 'A', '192.0.2.8', 40)],
        'intra.corp.example': [rec('intra.corp.example', 'A', '198.51.100.9')],
      },
    });
    on = new DnsServer({
      upstreams: [upstream.address],
      autopath: true,
      searchDomains: ['corp.example'],
      cache: false,
    });
    off = new DnsServer({
      upstreams: [upstream.address],
      searchDomains: ['corp.example'],
      cache: false,
    });
    on.update(state);
    off.update(state);
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  const ask = async (server: DnsServer, name: string, type: 'A' | 'AAAA', source?: string) => {
    const res = await server.handle(encodeQuery({ id: 7, name, type }), 'udp', source);
    const m = decodeMessage(res as Uint8Array);
    return {
      id: m.id,
      rcode: m.rcode,
      question: m.questions[0]?.name,
      answers: m.answers.map((r) => `${r.name} ${r.type} ${r.ttl} ${r.data}`),
    };
  };

  const NX = 3;
  it.each([
    // asked name × pod (source) → answer
    {
      what: 'external name from a default pod (fewer dots than ndots)',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: [
        'example.com.default.svc.cluster.local CNAME 60 example.com',
        'example.com A 60 192.0.2.7',
      ],
    },
    {
      what: 'AAAA of an external name',
      name: 'example.com.default.svc.cluster.local',
      type: 'AAAA' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: [
        'example.com.default.svc.cluster.local CNAME 60 example.com',
        'example.com AAAA 60 2001:db8::7',
      ],
    },
    {
      what: 'the autopath CNAME has the TTL of the records it leads to',
      name: 'www.example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: [
        'www.example.com.default.svc.cluster.local CNAME 40 www.example.com',
        'www.example.com A 40 192.0.2.8',
      ],
    },
    {
      what: 'svc.<name>.<ns> asked as <name>.<ns> from another namespace: the second expansion exists',
      name: 'db.shop.shop.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.11',
      rcode: 0,
      answers: [
        'db.shop.shop.svc.cluster.local CNAME 5 db.shop.svc.cluster.local',
        'db.shop.svc.cluster.local A 5 10.96.0.30',
      ],
    },
    {
      what: 'the node search domain is walked before the bare name',
      name: 'intra.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: [
        'intra.default.svc.cluster.local CNAME 60 intra.corp.example',
        'intra.corp.example A 60 198.51.100.9',
      ],
    },
    {
      what: 'a name that exists is never rewritten',
      name: 'api.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: ['api.default.svc.cluster.local A 5 10.96.0.20'],
    },
    {
      what: 'an existing name asked with a type it lacks stays NODATA',
      name: 'api.default.svc.cluster.local',
      type: 'AAAA' as const,
      source: '10.244.0.10',
      rcode: 0,
      answers: [],
    },
    {
      what: 'nothing on the path exists: the original NXDOMAIN',
      name: 'nothing.invalid.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: NX,
      answers: [],
    },
    {
      what: "the first expansion of another namespace is not this pod's",
      name: 'example.com.shop.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: NX,
      answers: [],
    },
    {
      what: 'a later expansion is answered as asked',
      name: 'example.com.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.10',
      rcode: NX,
      answers: [],
    },
    {
      what: 'unknown source',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.9.9',
      rcode: NX,
      answers: [],
    },
    {
      what: 'no source',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: undefined,
      rcode: NX,
      answers: [],
    },
    {
      what: 'a pod with its own dnsConfig (search list unknown)',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.12',
      rcode: NX,
      answers: [],
    },
    {
      what: 'a pod with dnsPolicy Default',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: '10.244.0.13',
      rcode: NX,
      answers: [],
    },
    {
      what: 'an IPv6 pod',
      name: 'example.com.default.svc.cluster.local',
      type: 'A' as const,
      source: 'fd00::10',
      rcode: 0,
      answers: [
        'example.com.default.svc.cluster.local CNAME 60 example.com',
        'example.com A 60 192.0.2.7',
      ],
    },
  ])('$what', async ({ name, type, source, rcode, answers }) => {
    const got = await ask(on, name, type, source);
    expect(got).toEqual({ id: 7, rcode, question: name, answers });
  });

  it('the same walk done by a resolver against the server without autopath ends with the same records', async () => {
    const search = podSearchList('default', 'cluster.local', ['corp.example']);
    for (const base of ['example.com', 'www.example.com', 'intra']) {
      let last: Awaited<ReturnType<typeof ask>> | undefined;
      for (const suffix of [...search, '']) {
        last = await ask(off, suffix ? `${base}.${suffix}` : base, 'A', '10.244.0.10');
        if (last.rcode !== NX) break;
      }
      const one = await ask(on, `${base}.${search[0]}`, 'A', '10.244.0.10');
      expect(one.answers.slice(1)).toEqual(last?.answers);
    }
  });

  it('is off by default: the server without the setting answers NXDOMAIN', async () => {
    const got = await ask(off, 'example.com.default.svc.cluster.local', 'A', '10.244.0.10');
    expect(got.rcode).toBe(NX);
    expect(off.autopathEnabled).toBe(false);
  });

  it('counts autopath answers, and its own lookups are not counted as requests', async () => {
    const server = new DnsServer({ upstreams: [upstream.address], autopath: true, cache: false });
    server.update(state);
    await ask(server, 'example.com.default.svc.cluster.local', 'A', '10.244.0.10');
    expect(server.metrics.autopathAnswers).toBe(1);
    expect(server.metrics.requestCount).toBe(1);
    expect(server.renderMetrics()).toContain('podnet_dns_autopath_answers_total 1');
  });

  it('knows a pod added by a patch update from a source', async () => {
    const source = new ClusterStore();
    source.transaction((tx) => {
      tx.replace('Namespace', state.namespaces);
      tx.replace('Service', state.services);
    });
    const server = new DnsServer({ upstreams: [upstream.address], autopath: true, cache: false });
    server.update(source);
    expect(server.client('10.244.0.11')).toBeUndefined();
    source.transaction((tx) => tx.upsert('Pod', pods[1] as K8sPod));
    server.update(source, { pods: ['shop/cart'] });
    expect(server.metrics.zoneUpdates.patch).toBe(1);
    expect(server.client('10.244.0.11')?.namespace).toBe('shop');
    const got = await ask(server, 'example.com.shop.svc.cluster.local', 'A', '10.244.0.11');
    expect(got.answers).toEqual([
      'example.com.shop.svc.cluster.local CNAME 60 example.com',
      'example.com A 60 192.0.2.7',
    ]);
  });

  it('refuses a bad setting, naming the field', () => {
    expect(() => new DnsServer({ autopath: 'yes' as unknown as boolean })).toThrow(/autopath/);
    expect(() => new DnsServer({ searchDomains: ['bad domain'] })).toThrow(/searchDomains/);
  });
});
