import { DnsServer, decodeMessage, encodeQuery } from '@podnet/dns';
import { describe, expect, it } from 'vitest';
import { dnsServerOptions, dnsSettingsArgv } from '../src/dns-process.js';
import { AgentError, parseAgentConfig } from '../src/index.js';
import { withDns } from './config-fixture.js';

function errorOf(v: unknown): AgentError {
  try {
    parseAgentConfig(v);
  } catch (e) {
    if (AgentError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('the agent config dns section', () => {
  it('takes upstreams, stub domains, TTL, pod records mode and cache size', () => {
    const c = parseAgentConfig(
      withDns({
        upstreams: ['10.0.0.53', '10.0.0.54:5353', '[fd00::53]:53', 'fd00::54'],
        stubDomains: { 'corp.example.': ['10.1.2.3'], 'lab.example': ['10.1.2.4:5353'] },
        ttl: 30,
        pods: 'verified',
        cacheSize: 0,
      }),
    );
    expect(c.dns).toEqual({
      ip: '169.254.20.10',
      clusterDomain: 'cluster.local',
      upstreams: ['10.0.0.53', '10.0.0.54:5353', '[fd00::53]:53', 'fd00::54'],
      stubDomains: { 'corp.example': ['10.1.2.3'], 'lab.example': ['10.1.2.4:5353'] },
      ttl: 30,
      pods: 'verified',
      cacheSize: 0,
    });
  });

  it('leaves every setting out when not given (the defaults are the DNS server’s)', () => {
    expect(parseAgentConfig(withDns({})).dns).toEqual({
      ip: '169.254.20.10',
      clusterDomain: 'cluster.local',
    });
  });

  it.each([
    [{ upstreams: [] }, 'config.dns.upstreams', 'at least 1'],
    [{ upstreams: 'x' }, 'config.dns.upstreams', 'want an array'],
    [{ upstreams: ['resolver.example'] }, 'config.dns.upstreams[0]', 'want an IP address'],
    [{ upstreams: ['10.0.0.1:0'] }, 'config.dns.upstreams[0]', 'want an IP address'],
    [{ upstreams: ['10.0.0.1:70000'] }, 'config.dns.upstreams[0]', 'want an IP address'],
    [{ upstreams: ['[10.0.0.1]:53'] }, 'config.dns.upstreams[0]', 'want an IP address'],
    [{ stubDomains: ['corp.example'] }, 'config.dns.stubDomains', 'want an object'],
    [{ stubDomains: { x: ['10.0.0.300'] } }, 'config.dns.stubDomains["x"][0]', 'want an IP'],
    [{ stubDomains: { 'corp.example': [] } }, 'config.dns.stubDomains["corp.example"]', 'at least'],
    [
      { stubDomains: { 'corp.example': '10.1.2.3' } },
      'config.dns.stubDomains["corp.example"]',
      'want an array',
    ],
    [
      { stubDomains: { 'Bad Domain': ['10.1.2.3'] } },
      'config.dns.stubDomains["Bad Domain"]',
      'domain name',
    ],
    [
      { stubDomains: { 'svc.cluster.local': ['10.1.2.3'] } },
      'config.dns.stubDomains["svc.cluster.local"]',
      'inside the cluster zone',
    ],
    [
      { stubDomains: { 'cluster.local.': ['10.1.2.3'] } },
      'config.dns.stubDomains["cluster.local."]',
      'inside the cluster zone',
    ],
    [
      { stubDomains: { 'a.example': ['10.1.2.3'], 'a.example.': ['10.1.2.4'] } },
      'config.dns.stubDomains["a.example."]',
      'given twice',
    ],
    [{ ttl: -1 }, 'config.dns.ttl', 'from 0 to 3600'],
    [{ ttl: 3601 }, 'config.dns.ttl', 'from 0 to 3600'],
    [{ ttl: 2.5 }, 'config.dns.ttl', 'from 0 to 3600'],
    [{ ttl: '30' }, 'config.dns.ttl', 'from 0 to 3600'],
    [{ pods: 'enabled' }, 'config.dns.pods', '"disabled", "insecure" or "verified"'],
    [{ cacheSize: -1 }, 'config.dns.cacheSize', 'from 0 to 1000000'],
    [{ cacheSize: 1e7 }, 'config.dns.cacheSize', 'from 0 to 1000000'],
    [{ cache: true }, 'config.dns.cache', 'unknown field'],
  ])('rejects %j naming %s', (dns, path, why) => {
    const e = errorOf(withDns(dns));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.path).toBe(path);
    expect(e.message).toContain(`${path}: `);
    expect(e.message).toContain(why);
  });

  it('accepts the bounds', () => {
    expect(parseAgentConfig(withDns({ ttl: 0, cacheSize: 1_000_000 })).dns).toMatchObject({
      ttl: 0,
      cacheSize: 1_000_000,
    });
    expect(parseAgentConfig(withDns({ ttl: 3600 })).dns.ttl).toBe(3600);
  });
});

describe('the dns settings as podnet-dns flags and DnsServer options', () => {
  const full = parseAgentConfig(
    withDns({
      upstreams: ['10.0.0.53', '10.0.0.54:5353'],
      stubDomains: { 'z.example': ['10.1.2.9'], 'corp.example': ['10.1.2.3', '10.1.2.4'] },
      ttl: 30,
      pods: 'disabled',
      cacheSize: 0,
    }),
  ).dns;
  const bare = parseAgentConfig(withDns({})).dns;

  it('gives podnet-dns every setting, stub domains in a fixed order', () => {
    expect(dnsSettingsArgv(full)).toEqual([
      '--address',
      '169.254.20.10',
      '--port',
      '53',
      '--zone',
      'cluster.local',
      '--upstream',
      '10.0.0.53',
      '--upstream',
      '10.0.0.54:5353',
      '--stub-domain',
      'corp.example=10.1.2.3,10.1.2.4',
      '--stub-domain',
      'z.example=10.1.2.9',
      '--ttl',
      '30',
      '--pods',
      'disabled',
      '--cache-size',
      '0',
    ]);
    // the node's resolv.conf when no upstreams are configured, as before
    expect(dnsSettingsArgv(bare)).toEqual([
      '--address',
      '169.254.20.10',
      '--port',
      '53',
      '--zone',
      'cluster.local',
      '--resolv-conf',
      '/etc/resolv.conf',
    ]);
  });

  it('a changed setting changes the argv (so a restarted agent replaces the adopted process)', () => {
    const argv = dnsSettingsArgv(full).join(' ');
    for (const change of [
      { ttl: 31 },
      { pods: 'verified' as const },
      { cacheSize: 10 },
      { upstreams: ['10.0.0.53'] },
      { stubDomains: { 'corp.example': ['10.1.2.3'] } },
    ])
      expect(dnsSettingsArgv({ ...full, ...change }).join(' ')).not.toBe(argv);
  });

  it('gives the embedded DnsServer the same settings', () => {
    expect(dnsServerOptions(full)).toEqual({
      zone: 'cluster.local',
      nameservers: ['169.254.20.10'],
      upstreams: ['10.0.0.53', '10.0.0.54:5353'],
      stubDomains: { 'z.example': ['10.1.2.9'], 'corp.example': ['10.1.2.3', '10.1.2.4'] },
      ttl: 30,
      pods: 'disabled',
      cache: false,
    });
    expect(dnsServerOptions({ ...bare, cacheSize: 500 })).toEqual({
      zone: 'cluster.local',
      nameservers: ['169.254.20.10'],
      resolvConf: '/etc/resolv.conf',
      cache: { maxEntries: 500 },
    });
    const server = new DnsServer(dnsServerOptions(full));
    expect(server.upstreams).toEqual([
      { host: '10.0.0.53', port: 53 },
      { host: '10.0.0.54', port: 5353 },
    ]);
    expect(Object.keys(server.stubDomains)).toEqual(['corp.example', 'z.example']);
  });

  it('the defaults written out (as the kind ConfigMap has them) answer as the bare settings do', async () => {
    const written = {
      ...bare,
      stubDomains: {},
      ttl: 5,
      pods: 'insecure' as const,
      cacheSize: 10_000,
    };
    const servers = [written, bare].map((d) => {
      const s = new DnsServer(dnsServerOptions(d));
      s.update({ namespaces: [{ metadata: { name: 'default' } }] });
      return s;
    });
    for (const name of [
      '10-244-1-5.default.pod.cluster.local',
      'nothing.default.svc.cluster.local',
    ]) {
      const q = encodeQuery({ id: 7, name, type: 'A' });
      const [a, b] = await Promise.all(servers.map((s) => s.handle(q)));
      const [da, db] = [decodeMessage(a!), decodeMessage(b!)];
      // the SOA serial is the time of the update: compare everything else
      for (const m of [da, db])
        for (const r of m.authorities) (r.data as { serial: number }).serial = 0;
      expect(da).toEqual(db);
    }
    const pod = decodeMessage(
      (await servers[0]!.handle(
        encodeQuery({ id: 8, name: '10-244-1-5.default.pod.cluster.local', type: 'A' }),
      ))!,
    );
    expect(pod.answers).toMatchObject([{ ttl: 5, data: '10.244.1.5' }]);
  });
});
