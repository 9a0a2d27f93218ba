import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsServer } from '../src/index.js';
import { type FakeUpstream, startFakeUpstream } from '../src/testing/index.js';
import { Z, answers, dig, state, status } from './loopback-suite.js';

const a = (name: string, ip: string) => ({
  name,
  type: 'A' as const,
  class: 'IN' as const,
  ttl: 60,
  data: ip,
});

describe('DnsServer stubDomains', () => {
  let upstream: FakeUpstream;
  let corp: FakeUpstream;
  let lab: FakeUpstream;
  let server: DnsServer;
  let port: number;

  beforeAll(async () => {
    upstream = await startFakeUpstream({
      records: {
        'www.example.org': [a('www.example.org', '192.0.2.1')],
        'corp.example.org': [a('corp.example.org', '192.0.2.2')],
      },
    });
    corp = await startFakeUpstream({
      records: {
        'corp.example': [a('corp.example', '198.51.100.1')],
        'db.corp.example': [a('db.corp.example', '198.51.100.2')],
        'host.lab.corp.example': [a('host.lab.corp.example', '198.51.100.3')],
      },
    });
    lab = await startFakeUpstream({
      records: { 'host.lab.corp.example': [a('host.lab.corp.example', '203.0.113.3')] },
    });
    server = new DnsServer({
      upstreams: [upstream.address],
      stubDomains: { 'Corp.Example.': [corp.address], 'lab.corp.example': [lab.address] },
    });
    server.update({
      ...state,
      services: [
        ...(state.services ?? []),
        {
          metadata: { name: 'corp-db', namespace: 'default' },
          spec: { type: 'ExternalName', externalName: 'db.corp.example' },
        },
      ],
    });
    ({ port } = await server.start({ port: 0 }));
  });
  afterAll(async () => {
    await server?.stop();
    await Promise.all([upstream?.stop(), corp?.stop(), lab?.stop()]);
  });

  it('sends a stub domain and the names below it to its resolvers, the rest to the upstreams', async () => {
    expect(answers(await dig(port, ['corp.example']))).toEqual(['corp.example. IN A 198.51.100.1']);
    expect(answers(await dig(port, ['DB.corp.example']))).toEqual([
      'DB.corp.example. IN A 198.51.100.2',
    ]);
    // a label boundary, not a string suffix: corp.example.org is not in corp.example
    expect(answers(await dig(port, ['corp.example.org']))).toEqual([
      'corp.example.org. IN A 192.0.2.2',
    ]);
    expect(answers(await dig(port, ['www.example.org']))).toEqual([
      'www.example.org. IN A 192.0.2.1',
    ]);
    expect(corp.queries.map((q) => q.name.toLowerCase())).toEqual([
      'corp.example',
      'db.corp.example',
    ]);
    expect(upstream.queries.map((q) => q.name)).toEqual(['corp.example.org', 'www.example.org']);
    expect(server.stubDomains).toEqual({
      'lab.corp.example': [{ host: '127.0.0.1', port: lab.port }],
      'corp.example': [{ host: '127.0.0.1', port: corp.port }],
    });
  });

  it('picks the longest matching stub domain', async () => {
    expect(answers(await dig(port, ['host.lab.corp.example']))).toEqual([
      'host.lab.corp.example. IN A 203.0.113.3',
    ]);
    expect(corp.queries.some((q) => q.name.startsWith('host.'))).toBe(false);
  });

  it('follows an ExternalName into a stub domain through that domain', async () => {
    const out = await dig(port, [`corp-db.default.svc.${Z}`]);
    expect(status(out)).toBe('NOERROR');
    expect(answers(out)).toEqual([
      `corp-db.default.svc.${Z}. IN CNAME db.corp.example.`,
      'db.corp.example. IN A 198.51.100.2',
    ]);
  });

  it('forwards stub domains even without upstreams (other names are refused)', async () => {
    const only = new DnsServer({ stubDomains: { 'corp.example': [corp.address] } });
    only.update(state);
    const addr = await only.start({ port: 0 });
    try {
      expect(answers(await dig(addr.port, ['db.corp.example']))).toEqual([
        'db.corp.example. IN A 198.51.100.2',
      ]);
      expect(status(await dig(addr.port, ['www.example.org']))).toBe('REFUSED');
    } finally {
      await only.stop();
    }
  });

  it.each([
    [{ 'corp.example': ['not-an-ip'] }, 'stubDomains["corp.example"][0]'],
    [{ 'corp.example': [] }, 'stubDomains["corp.example"]'],
    [{ 'bad..name': ['10.0.0.1'] }, 'stubDomains["bad..name"]'],
    [{ 'x.svc.cluster.local': ['10.0.0.1'] }, 'stubDomains["x.svc.cluster.local"]'],
    [{ 'cluster.local': ['10.0.0.1'] }, 'stubDomains["cluster.local"]'],
    [{ 'A.example': ['10.0.0.1'], 'a.example.': ['10.0.0.2'] }, 'stubDomains["a.example."]'],
  ])('rejects %j naming %s', (stubDomains, field) => {
    expect(() => new DnsServer({ stubDomains })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field }),
    );
  });
});
