import { describe, expect, it } from 'vitest';
import {
  type ClusterDnsState,
  type DnsRecord,
  compileZone,
  resolve,
  reverseName,
} from '../src/index.js';
import { clusterIpService, endpointSlice, headlessService } from '../src/testing/index.js';

const state: ClusterDnsState = {
  namespaces: [{ metadata: { name: 'default' } }, { metadata: { name: 'empty' } }],
  services: [
    clusterIpService('default', 'web', '10.96.0.10', ['http:80', 'dns:53/UDP']),
    clusterIpService('default', 'dual', ['10.96.0.11', 'fd00:96::11'], []),
    headlessService('default', 'db', ['pg:5432']),
    headlessService('default', 'cold', []),
    headlessService('default', 'warm', [], true),
    headlessService('default', 'sub', []),
    {
      metadata: { name: 'ext', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: 'Example.COM.' },
    },
  ],
  endpointSlices: [
    endpointSlice(
      'default',
      'db',
      [{ ip: '10.1.0.5', hostname: 'db-0' }, { ip: '10.1.0.6' }, { ip: '10.1.0.7', ready: false }],
      ['pg:5432'],
    ),
    endpointSlice('default', 'db', [{ ip: 'fd00::7' }], ['pg:5432']),
    endpointSlice('default', 'cold', [{ ip: '10.1.1.1', ready: false }]),
    endpointSlice('default', 'warm', [{ ip: '10.1.2.1', ready: false }]),
  ],
  pods: [
    {
      metadata: { name: 'p1', namespace: 'default' },
      spec: { containers: [], hostname: 'h1', subdomain: 'sub' },
      status: {
        podIP: '10.1.3.1',
        podIPs: [{ ip: '10.1.3.1' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
  ],
};

const zone = compileZone(state, { ttl: 30 });
const Z = 'cluster.local';
const rr = (name: string, type: DnsRecord['type'], data: unknown): unknown =>
  expect.objectContaining({ name, type, data, ttl: 30 });

type Row = [string, string | number, string, unknown[]];

// question name, type, rcode, answers
const table: Row[] = [
  [`web.default.svc.${Z}`, 'A', 'NOERROR', [rr(`web.default.svc.${Z}`, 'A', '10.96.0.10')]],
  [
    `WEB.Default.SVC.${Z.toUpperCase()}.`,
    'A',
    'NOERROR',
    [rr(`web.default.svc.${Z}`, 'A', '10.96.0.10')],
  ],
  [`web.default.svc.${Z}`, 'AAAA', 'NOERROR', []],
  [
    `dual.default.svc.${Z}`,
    'AAAA',
    'NOERROR',
    [rr(`dual.default.svc.${Z}`, 'AAAA', 'fd00:96::11')],
  ],
  [
    `_http._tcp.web.default.svc.${Z}`,
    'SRV',
    'NOERROR',
    [
      rr(`_http._tcp.web.default.svc.${Z}`, 'SRV', {
        priority: 0,
        weight: 100,
        port: 80,
        target: `web.default.svc.${Z}`,
      }),
    ],
  ],
  [
    `_dns._udp.web.default.svc.${Z}`,
    'SRV',
    'NOERROR',
    [
      rr(`_dns._udp.web.default.svc.${Z}`, 'SRV', {
        priority: 0,
        weight: 100,
        port: 53,
        target: `web.default.svc.${Z}`,
      }),
    ],
  ],
  [`_http._udp.web.default.svc.${Z}`, 'SRV', 'NXDOMAIN', []],
  [`_tcp.web.default.svc.${Z}`, 'SRV', 'NOERROR', []],
  [`_http._tcp.web.default.svc.${Z}`, 'A', 'NOERROR', []],
  [
    reverseName('10.96.0.10'),
    'PTR',
    'NOERROR',
    [rr('10.0.96.10.in-addr.arpa', 'PTR', `web.default.svc.${Z}`)],
  ],
  [
    reverseName('fd00:96::11'),
    'PTR',
    'NOERROR',
    [rr(reverseName('fd00:96::11'), 'PTR', `dual.default.svc.${Z}`)],
  ],
  [
    `db.default.svc.${Z}`,
    'A',
    'NOERROR',
    [rr(`db.default.svc.${Z}`, 'A', '10.1.0.5'), rr(`db.default.svc.${Z}`, 'A', '10.1.0.6')],
  ],
  [`db.default.svc.${Z}`, 'AAAA', 'NOERROR', [rr(`db.default.svc.${Z}`, 'AAAA', 'fd00::7')]],
  [`db-0.db.default.svc.${Z}`, 'A', 'NOERROR', [rr(`db-0.db.default.svc.${Z}`, 'A', '10.1.0.5')]],
  [
    `10-1-0-6.db.default.svc.${Z}`,
    'A',
    'NOERROR',
    [rr(`10-1-0-6.db.default.svc.${Z}`, 'A', '10.1.0.6')],
  ],
  [
    `fd00--7.db.default.svc.${Z}`,
    'AAAA',
    'NOERROR',
    [rr(`fd00--7.db.default.svc.${Z}`, 'AAAA', 'fd00::7')],
  ],
  [`10-1-0-7.db.default.svc.${Z}`, 'A', 'NXDOMAIN', []],
  [
    reverseName('10.1.0.5'),
    'PTR',
    'NOERROR',
    [rr('5.0.1.10.in-addr.arpa', 'PTR', `db-0.db.default.svc.${Z}`)],
  ],
  [
    reverseName('10.1.0.6'),
    'PTR',
    'NOERROR',
    [rr('6.0.1.10.in-addr.arpa', 'PTR', `10-1-0-6.db.default.svc.${Z}`)],
  ],
  [`cold.default.svc.${Z}`, 'A', 'NXDOMAIN', []],
  [`warm.default.svc.${Z}`, 'A', 'NOERROR', [rr(`warm.default.svc.${Z}`, 'A', '10.1.2.1')]],
  [`h1.sub.default.svc.${Z}`, 'A', 'NOERROR', [rr(`h1.sub.default.svc.${Z}`, 'A', '10.1.3.1')]],
  [`ext.default.svc.${Z}`, 'A', 'NOERROR', [rr(`ext.default.svc.${Z}`, 'CNAME', 'example.com')]],
  [
    `ext.default.svc.${Z}`,
    'CNAME',
    'NOERROR',
    [rr(`ext.default.svc.${Z}`, 'CNAME', 'example.com')],
  ],
  [`dns-version.${Z}`, 'TXT', 'NOERROR', [rr(`dns-version.${Z}`, 'TXT', ['1.1.0'])]],
  [`dns-version.${Z}`, 'A', 'NOERROR', []],
  [`10-1-3-1.default.pod.${Z}`, 'A', 'NOERROR', [rr(`10-1-3-1.default.pod.${Z}`, 'A', '10.1.3.1')]],
  [`10-9-9-9.default.pod.${Z}`, 'A', 'NOERROR', [rr(`10-9-9-9.default.pod.${Z}`, 'A', '10.9.9.9')]],
  [
    `fd00--1.default.pod.${Z}`,
    'AAAA',
    'NOERROR',
    [rr(`fd00--1.default.pod.${Z}`, 'AAAA', 'fd00::1')],
  ],
  [`10-9-9-9.default.pod.${Z}`, 'AAAA', 'NOERROR', []],
  [`not-an-ip.default.pod.${Z}`, 'A', 'NXDOMAIN', []],
  [`nope.default.svc.${Z}`, 'A', 'NXDOMAIN', []],
  [`web.nope.svc.${Z}`, 'A', 'NXDOMAIN', []],
  [`nope.svc.${Z}`, 'A', 'NXDOMAIN', []],
  [`default.svc.${Z}`, 'A', 'NOERROR', []],
  [`empty.svc.${Z}`, 'A', 'NOERROR', []],
  [`svc.${Z}`, 'A', 'NOERROR', []],
  [`pod.${Z}`, 'A', 'NOERROR', []],
  [`default.pod.${Z}`, 'A', 'NOERROR', []],
  [Z, 'A', 'NOERROR', []],
  [Z, 'SOA', 'NOERROR', [expect.objectContaining({ name: Z, type: 'SOA' })]],
  [`x.${Z}`, 'A', 'NXDOMAIN', []],
];

describe('resolve (Kubernetes DNS specification 1.1.0)', () => {
  it.each(table)('%s %s → %s', (name, type, rcode, answers) => {
    const res = resolve(zone, { name, type: type as 'A' });
    expect(res.kind).toBe('answer');
    if (res.kind !== 'answer') return;
    expect(res.rcode).toBe(rcode);
    expect(res.answers).toHaveLength(answers.length);
    expect(res.answers).toEqual(expect.arrayContaining(answers));
    if (answers.length === 0) {
      expect(res.authorities).toEqual([
        expect.objectContaining({
          type: 'SOA',
          ttl: 30,
          data: expect.objectContaining({ minimum: 30 }),
        }),
      ]);
    } else {
      expect(res.authorities).toEqual([]);
    }
  });

  it('adds the target addresses of SRV answers to the additional section', () => {
    const res = resolve(zone, { name: `_pg._tcp.db.default.svc.${Z}`, type: 'SRV' });
    if (res.kind !== 'answer') throw new Error('expected an answer');
    expect(res.answers.map((a) => (a.type === 'SRV' ? a.data.target : ''))).toEqual(
      expect.arrayContaining([
        `db-0.db.default.svc.${Z}`,
        `10-1-0-6.db.default.svc.${Z}`,
        `fd00--7.db.default.svc.${Z}`,
      ]),
    );
    expect(
      res.answers.every((a) => a.type === 'SRV' && a.data.weight === 33 && a.data.port === 5432),
    ).toBe(true);
    expect(res.additionals.map((a) => a.data)).toEqual(
      expect.arrayContaining(['10.1.0.5', '10.1.0.6', 'fd00::7']),
    );
  });

  it('answers ANY with every record of the name', () => {
    const res = resolve(zone, { name: `dual.default.svc.${Z}`, type: 'ANY' });
    expect(res.kind === 'answer' && res.answers.map((a) => a.type).sort()).toEqual(['A', 'AAAA']);
  });

  it('forwards names outside the zone and unknown reverse names', () => {
    expect(resolve(zone, { name: 'example.com', type: 'A' })).toEqual({ kind: 'forward' });
    expect(resolve(zone, { name: 'local', type: 'A' })).toEqual({ kind: 'forward' });
    expect(resolve(zone, { name: 'xcluster.local', type: 'A' })).toEqual({ kind: 'forward' });
    expect(resolve(zone, { name: reverseName('8.8.8.8'), type: 'PTR' })).toEqual({
      kind: 'forward',
    });
  });

  it('honours the pods modes', () => {
    const name = `10-9-9-9.default.pod.${Z}`;
    const disabled = compileZone(state, { pods: 'disabled' });
    expect(resolve(disabled, { name, type: 'A' })).toMatchObject({ rcode: 'NXDOMAIN' });
    const verified = compileZone(state, { pods: 'verified' });
    expect(resolve(verified, { name, type: 'A' })).toMatchObject({ rcode: 'NXDOMAIN' });
    expect(resolve(verified, { name: `10-1-3-1.default.pod.${Z}`, type: 'A' })).toMatchObject({
      rcode: 'NOERROR',
      answers: [expect.objectContaining({ data: '10.1.3.1' })],
    });
    expect(resolve(verified, { name: `10-1-3-1.other.pod.${Z}`, type: 'A' })).toMatchObject({
      rcode: 'NXDOMAIN',
    });
  });

  it('serves a configured zone and TTL', () => {
    const z = compileZone(state, { zone: 'Corp.Example.', ttl: 7 });
    expect(resolve(z, { name: 'web.default.svc.corp.example', type: 'A' })).toMatchObject({
      rcode: 'NOERROR',
      answers: [expect.objectContaining({ ttl: 7, data: '10.96.0.10' })],
    });
    expect(resolve(z, { name: `web.default.svc.${Z}`, type: 'A' })).toEqual({ kind: 'forward' });
    expect(resolve(z, { name: 'dns-version.corp.example', type: 'TXT' })).toMatchObject({
      rcode: 'NOERROR',
    });
  });

  it('derives endpoints from selected pods when a Service has no EndpointSlice', () => {
    const z = compileZone({
      services: [
        {
          metadata: { name: 'sel', namespace: 'ns1' },
          spec: {
            clusterIP: 'None',
            selector: { app: 'x' },
            ports: [{ name: 'web', port: 80, targetPort: 8080 }],
          },
        },
      ],
      pods: [
        {
          metadata: { name: 'a', namespace: 'ns1', labels: { app: 'x' } },
          status: { podIP: '10.2.0.1' },
        },
        {
          metadata: { name: 'b', namespace: 'ns1', labels: { app: 'y' } },
          status: { podIP: '10.2.0.2' },
        },
        {
          metadata: { name: 'c', namespace: 'ns1', labels: { app: 'x' } },
          status: { podIP: '10.2.0.3', conditions: [{ type: 'Ready', status: 'False' }] },
        },
      ],
    });
    expect(resolve(z, { name: `sel.ns1.svc.${Z}`, type: 'A' })).toMatchObject({
      answers: [expect.objectContaining({ data: '10.2.0.1' })],
    });
    expect(resolve(z, { name: `_web._tcp.sel.ns1.svc.${Z}`, type: 'SRV' })).toMatchObject({
      answers: [expect.objectContaining({ data: expect.objectContaining({ port: 8080 }) })],
    });
  });

  const good = clusterIpService('default', 'good', '10.96.9.9', ['http:80']);
  const goodName = `good.default.svc.${Z}`;
  it.each([
    [
      { services: [{ metadata: { name: 'Bad_Name', namespace: 'default' }, spec: {} }] },
      { object: 'Service default/Bad_Name', field: 'services[0].metadata.name', dropped: 'object' },
    ],
    [
      {
        services: [
          { metadata: { name: 'ok', namespace: 'default' }, spec: { clusterIP: '10.0.0.300' } },
        ],
      },
      { object: 'Service default/ok', field: 'services[0].spec.clusterIP', dropped: 'object' },
    ],
    [
      {
        services: [
          {
            metadata: { name: 'ok', namespace: 'default' },
            spec: { clusterIPs: ['10.0.0.1', 'fd00::zz'] },
          },
        ],
      },
      { object: 'Service default/ok', field: 'services[0].spec.clusterIPs[1]', dropped: 'object' },
    ],
    [
      {
        services: [
          { metadata: { name: 'ok' }, spec: { clusterIP: '10.0.0.1', ports: [{ port: 70000 }] } },
        ],
      },
      { object: 'Service default/ok', field: 'services[0].spec.ports[0].port', dropped: 'port' },
    ],
    [
      { services: [{ metadata: { name: 'ok' }, spec: { type: 'ExternalName' } }] },
      { object: 'Service default/ok', field: 'services[0].spec.externalName', dropped: 'object' },
    ],
    [
      {
        services: [
          {
            metadata: { name: 'ok' },
            spec: { type: 'ExternalName', externalName: `${'x'.repeat(64)}.example.com` },
          },
        ],
      },
      { object: 'Service default/ok', field: 'services[0].spec.externalName', dropped: 'object' },
    ],
    [
      { services: [null] },
      { object: 'Service services[0]', field: 'services[0]', dropped: 'object' },
    ],
    [
      { endpointSlices: [endpointSlice('default', 'x', [{ ip: 'nope' }])] },
      {
        object: 'EndpointSlice default/x-slice',
        field: 'endpointSlices[0].endpoints[0].addresses[0]',
        dropped: 'address',
      },
    ],
    [
      { endpointSlices: [endpointSlice('default', 'x', [{ ip: '10.0.0.1', hostname: 'A_B' }])] },
      {
        object: 'EndpointSlice default/x-slice',
        field: 'endpointSlices[0].endpoints[0].hostname',
        dropped: 'endpoint',
      },
    ],
    [
      { endpointSlices: [endpointSlice('Bad', 'x', [{ ip: '10.0.0.1' }])] },
      {
        object: 'EndpointSlice Bad/x-slice',
        field: 'endpointSlices[0].metadata.namespace',
        dropped: 'object',
      },
    ],
    [
      { namespaces: [{ metadata: {} }] },
      {
        object: 'Namespace namespaces[0]',
        field: 'namespaces[0].metadata.name',
        dropped: 'object',
      },
    ],
    [
      {
        pods: [{ metadata: { name: 'p', namespace: 'default' }, status: { podIP: '10.0.0.999' } }],
      },
      { object: 'Pod default/p', field: 'pods[0].status.podIP', dropped: 'object' },
    ],
    [
      {
        pods: [
          {
            metadata: { name: 'p', namespace: 'default' },
            status: { podIPs: [{ ip: '10.0.0.9' }, { ip: 'x' }] },
          },
        ],
      },
      { object: 'Pod default/p', field: 'pods[0].status.podIPs[1].ip', dropped: 'object' },
    ],
  ] as [ClusterDnsState, Record<string, string>][])(
    'skips only the bad object or part, names it, and serves the rest (%#)',
    (bad, expected) => {
      const z = compileZone({
        ...bad,
        services: [...(bad.services ?? []), good],
      });
      expect(z.skipped).toEqual([
        expect.objectContaining({ ...expected, reason: expect.any(String) }),
      ]);
      expect(z.skipped[0]?.reason.length).toBeGreaterThan(10);
      expect(resolve(z, { name: goodName, type: 'A' })).toMatchObject({
        rcode: 'NOERROR',
        answers: [expect.objectContaining({ data: '10.96.9.9' })],
      });
    },
  );

  it('drops one bad endpoint address but keeps the good ones of the same slice', () => {
    const slice = endpointSlice('default', 'db', [{ ip: '10.1.0.5' }, { ip: '10.1.0.6' }]);
    (slice.endpoints as { addresses: string[] }[])[1]?.addresses.push('10.1.0.300');
    const z = compileZone({
      services: [headlessService('default', 'db', []), clusterIpService('Bad', 'x', '10.0.0.1')],
      endpointSlices: [slice],
    });
    expect(z.skipped.map((s) => [s.object, s.dropped])).toEqual([
      ['EndpointSlice default/db-slice', 'address'],
      ['Service Bad/x', 'object'],
    ]);
    const ips = (r: ReturnType<typeof resolve>) =>
      r.kind === 'answer' ? r.answers.map((a) => a.data).sort() : [];
    expect(ips(resolve(z, { name: `db.default.svc.${Z}`, type: 'A' }))).toEqual([
      '10.1.0.5',
      '10.1.0.6',
    ]);
    // A skipped object creates nothing, not even its namespace.
    expect(z.namespaces.has('Bad')).toBe(false);
    expect(compileZone(state).skipped).toEqual([]);
  });

  it('rejects bad options', () => {
    expect(() => compileZone({}, { ttl: -1 })).toThrow(/ttl/);
    expect(() => compileZone({}, { zone: 'bad..zone' })).toThrow(/zone/);
    expect(() => compileZone({}, { pods: 'maybe' as never })).toThrow(/pods/);
  });
});

describe('issue #16 fixes', () => {
  const answersOf = (zone: ReturnType<typeof compileZone>, name: string, type: string) => {
    const r = resolve(zone, { name, type: type as 'A' });
    if (r.kind !== 'answer') throw new Error('forwarded');
    return { rcode: r.rcode, data: r.answers.map((a) => `${a.type} ${JSON.stringify(a.data)}`) };
  };

  it('the zone apex has an NS record (RFC 1034 §4.2.1), and its name the servers’ addresses', () => {
    const zone = compileZone({}, { nameservers: ['10.96.0.10', 'fd00:96::a'] });
    expect(answersOf(zone, 'cluster.local', 'NS').data).toEqual(['NS "ns.dns.cluster.local"']);
    expect(answersOf(zone, 'ns.dns.cluster.local', 'A').data).toEqual(['A "10.96.0.10"']);
    expect(answersOf(zone, 'ns.dns.cluster.local', 'AAAA').data).toEqual(['AAAA "fd00:96::a"']);
    const bare = compileZone({});
    expect(answersOf(bare, 'cluster.local', 'NS').data).toEqual(['NS "ns.dns.cluster.local"']);
    expect(() => compileZone({}, { nameservers: ['nope'] })).toThrow(/nameservers\[0\]/);
  });

  it('an IPv6 endpoint ending (or starting) with "::" gets a valid host label', () => {
    const zone = compileZone({
      services: [headlessService('default', 'v6', ['http:80'])],
      endpointSlices: [
        endpointSlice('default', 'v6', [{ ip: 'fd00:1::' }, { ip: '::1' }], ['http:80']),
      ],
    });
    const srv = answersOf(zone, '_http._tcp.v6.default.svc.cluster.local', 'SRV').data.join(' ');
    expect(srv).toContain('fd00-1--0.v6.default.svc.cluster.local');
    expect(srv).toContain('0--1.v6.default.svc.cluster.local');
    expect(answersOf(zone, 'fd00-1--0.v6.default.svc.cluster.local', 'AAAA').data).toEqual([
      'AAAA "fd00:1::"',
    ]);
    for (const name of [...zone.nodes.keys()])
      for (const label of name.split('.')) {
        expect(label.startsWith('-') || label.endsWith('-'), name).toBe(false);
      }
  });

  it('the tolerate-unready-endpoints annotation counts as publishNotReadyAddresses', () => {
    const svc = headlessService('default', 'db', ['pg:5432']);
    const annotated = {
      ...svc,
      metadata: {
        ...svc.metadata,
        annotations: { 'service.alpha.kubernetes.io/tolerate-unready-endpoints': 'true' },
      },
    };
    const slices = [
      endpointSlice('default', 'db', [{ ip: '10.1.0.5', ready: false }], ['pg:5432']),
    ];
    const plain = compileZone({ services: [svc], endpointSlices: slices });
    const tolerant = compileZone({ services: [annotated], endpointSlices: slices });
    expect(answersOf(plain, 'db.default.svc.cluster.local', 'A').data).toEqual([]);
    expect(answersOf(tolerant, 'db.default.svc.cluster.local', 'A').data).toEqual(['A "10.1.0.5"']);
  });
});
