import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import * as packet from 'dns-packet';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterDnsState,
  DnsServer,
  type UdpPath,
  decodeMessage,
  encodeQuery,
} from '../src/index.js';
import {
  type FakeUpstream,
  clusterIpService,
  endpointSlice,
  headlessService,
  startFakeUpstream,
} from '../src/testing/index.js';

export const run = promisify(execFile);
export const Z = 'cluster.local';

const big = Array.from({ length: 100 }, (_, i) => ({
  ip: `10.8.${i >> 8}.${i & 0xff}`,
  hostname: `big-${i}`,
}));
export const state: ClusterDnsState = {
  namespaces: [{ metadata: { name: 'default' } }],
  services: [
    clusterIpService('default', 'web', ['10.96.0.10', 'fd00:96::10'], ['http:80']),
    headlessService('default', 'db', ['pg:5432']),
    headlessService('default', 'big', ['web:80']),
    {
      metadata: { name: 'ext', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: 'ext.example.test' },
    },
    {
      metadata: { name: 'alias', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: `web.default.svc.${'cluster.local'}` },
    },
    {
      metadata: { name: 'alias2', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: `alias.default.svc.${'cluster.local'}` },
    },
    {
      metadata: { name: 'dangling', namespace: 'default' },
      spec: { type: 'ExternalName', externalName: `gone.default.svc.${'cluster.local'}` },
    },
  ],
  endpointSlices: [
    endpointSlice(
      'default',
      'db',
      [{ ip: '10.1.0.5', hostname: 'db-0' }, { ip: '10.1.0.6' }],
      ['pg:5432'],
    ),
    endpointSlice('default', 'big', big, ['web:80']),
  ],
};

export async function dig(port: number, args: string[]): Promise<string> {
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-p',
    String(port),
    '+tries=1',
    '+time=10',
    ...args,
  ]);
  return stdout;
}

export function status(out: string): string | undefined {
  return /status: (\w+)/.exec(out)?.[1];
}

export function answers(out: string): string[] {
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
  return section
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      l
        .split(/\s+/)
        .filter((_, i) => i !== 1)
        .join(' '),
    );
}

/**
 * The loopback suite every UDP path must pass: real dig queries over UDP and TCP for each record
 * form, truncation, EDNS, forwarding and caching, metrics and fuzzing.
 */
export function loopbackSuite(udp: UdpPath): void {
  describe(`DnsServer with real clients on loopback (UDP path ${udp})`, () => {
    let server: DnsServer;
    let port: number;
    let httpPort: number;
    let upstream: FakeUpstream;

    beforeAll(async () => {
      upstream = await startFakeUpstream({
        records: {
          'www.example.test': [
            { name: 'www.example.test', type: 'A', class: 'IN', ttl: 120, data: '192.0.2.7' },
          ],
          'ext.example.test': [
            { name: 'ext.example.test', type: 'A', class: 'IN', ttl: 120, data: '192.0.2.8' },
          ],
          'many.example.test': Array.from({ length: 60 }, (_, i) => ({
            name: 'many.example.test',
            type: 'A' as const,
            class: 'IN' as const,
            ttl: 60,
            data: `192.0.2.${i}`,
          })),
        },
      });
      server = new DnsServer({ upstreams: [upstream.address], ttl: 30 });
      const addr = await server.start({ address: '127.0.0.1', port: 0, httpPort: 0, udp });
      expect(addr.udpPath).toBe(udp);
      expect(server.udpPath).toBe(udp);
      port = addr.port;
      httpPort = addr.httpPort as number;
    });
    afterAll(async () => {
      await server?.stop();
      await upstream?.stop();
    });

    it('answers SERVFAIL for the zone and is not ready until the first sync', async () => {
      expect(status(await dig(port, [`web.default.svc.${Z}`]))).toBe('SERVFAIL');
      expect((await fetch(`http://127.0.0.1:${httpPort}/ready`)).status).toBe(503);
      expect((await fetch(`http://127.0.0.1:${httpPort}/health`)).status).toBe(200);
      server.update(state);
      expect((await fetch(`http://127.0.0.1:${httpPort}/ready`)).status).toBe(200);
      expect(status(await dig(port, [`web.default.svc.${Z}`]))).toBe('NOERROR');
    });

    const forms: [string, string[], string, string[]][] = [
      [
        'ClusterIP A',
        [`web.default.svc.${Z}`, 'A'],
        'NOERROR',
        [`web.default.svc.${Z}. IN A 10.96.0.10`],
      ],
      [
        'ClusterIP AAAA',
        [`web.default.svc.${Z}`, 'AAAA'],
        'NOERROR',
        [`web.default.svc.${Z}. IN AAAA fd00:96::10`],
      ],
      [
        'mixed case',
        [`Web.DEFAULT.svc.${Z}`, 'A'],
        'NOERROR',
        [`Web.DEFAULT.svc.${Z}. IN A 10.96.0.10`],
      ],
      [
        'ClusterIP SRV',
        [`_http._tcp.web.default.svc.${Z}`, 'SRV'],
        'NOERROR',
        [`_http._tcp.web.default.svc.${Z}. IN SRV 0 100 80 web.default.svc.${Z}.`],
      ],
      [
        'ClusterIP PTR',
        ['-x', '10.96.0.10'],
        'NOERROR',
        [`10.0.96.10.in-addr.arpa. IN PTR web.default.svc.${Z}.`],
      ],
      [
        'IPv6 PTR',
        ['-x', 'fd00:96::10'],
        'NOERROR',
        [
          `0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. IN PTR web.default.svc.${Z}.`,
        ],
      ],
      [
        'headless A',
        [`db.default.svc.${Z}`, 'A'],
        'NOERROR',
        [`db.default.svc.${Z}. IN A 10.1.0.5`, `db.default.svc.${Z}. IN A 10.1.0.6`],
      ],
      [
        'endpoint hostname',
        [`db-0.db.default.svc.${Z}`, 'A'],
        'NOERROR',
        [`db-0.db.default.svc.${Z}. IN A 10.1.0.5`],
      ],
      [
        'generated hostname',
        [`10-1-0-6.db.default.svc.${Z}`, 'A'],
        'NOERROR',
        [`10-1-0-6.db.default.svc.${Z}. IN A 10.1.0.6`],
      ],
      [
        'headless SRV',
        [`_pg._tcp.db.default.svc.${Z}`, 'SRV'],
        'NOERROR',
        [
          `_pg._tcp.db.default.svc.${Z}. IN SRV 0 50 5432 10-1-0-6.db.default.svc.${Z}.`,
          `_pg._tcp.db.default.svc.${Z}. IN SRV 0 50 5432 db-0.db.default.svc.${Z}.`,
        ],
      ],
      [
        'endpoint PTR',
        ['-x', '10.1.0.5'],
        'NOERROR',
        [`5.0.1.10.in-addr.arpa. IN PTR db-0.db.default.svc.${Z}.`],
      ],
      [
        'ExternalName',
        [`ext.default.svc.${Z}`, 'A'],
        'NOERROR',
        [`ext.default.svc.${Z}. IN CNAME ext.example.test.`, 'ext.example.test. IN A 192.0.2.8'],
      ],
      [
        'ExternalName inside the zone: CNAME and the target in one answer',
        [`alias.default.svc.${Z}`, 'AAAA'],
        'NOERROR',
        [
          `alias.default.svc.${Z}. IN CNAME web.default.svc.${Z}.`,
          `web.default.svc.${Z}. IN AAAA fd00:96::10`,
        ],
      ],
      [
        'ExternalName chain inside the zone',
        [`alias2.default.svc.${Z}`, 'A'],
        'NOERROR',
        [
          `alias2.default.svc.${Z}. IN CNAME alias.default.svc.${Z}.`,
          `alias.default.svc.${Z}. IN CNAME web.default.svc.${Z}.`,
          `web.default.svc.${Z}. IN A 10.96.0.10`,
        ],
      ],
      [
        'ExternalName to a missing in-zone name',
        [`dangling.default.svc.${Z}`, 'A'],
        'NXDOMAIN',
        [`dangling.default.svc.${Z}. IN CNAME gone.default.svc.${Z}.`],
      ],
      ['dns-version', [`dns-version.${Z}`, 'TXT'], 'NOERROR', [`dns-version.${Z}. IN TXT "1.1.0"`]],
      [
        'pod A',
        [`10-244-1-9.default.pod.${Z}`, 'A'],
        'NOERROR',
        [`10-244-1-9.default.pod.${Z}. IN A 10.244.1.9`],
      ],
      ['NODATA', [`web.default.svc.${Z}`, 'TXT'], 'NOERROR', []],
      ['NODATA namespace', [`default.svc.${Z}`, 'A'], 'NOERROR', []],
      ['NXDOMAIN', [`nope.default.svc.${Z}`, 'A'], 'NXDOMAIN', []],
    ];

    for (const transport of ['+notcp', '+tcp']) {
      it.each(forms)(
        `%s over ${transport === '+tcp' ? 'TCP' : 'UDP'}`,
        async (_label, args, rcode, expected) => {
          const out = await dig(port, [transport, ...args]);
          expect(status(out)).toBe(rcode);
          expect(out).toMatch(/flags: qr aa rd ra;/);
          expect(answers(out).sort()).toEqual(expected.sort());
          if (expected.length === 0)
            expect(out).toMatch(
              new RegExp(
                `AUTHORITY SECTION:\\n${Z}\\.\\s+30\\s+IN\\s+SOA\\s+ns\\.dns\\.${Z}\\. hostmaster\\.${Z}\\.`,
              ),
            );
        },
      );
    }

    it('truncates a 100-endpoint headless answer over UDP and answers it in full over TCP', async () => {
      const udp = await dig(port, [`big.default.svc.${Z}`, 'A', '+ignore']);
      expect(udp).toMatch(/flags: qr aa tc rd ra;/);
      expect(answers(udp)).toEqual([]);
      const noEdns = await dig(port, [`big.default.svc.${Z}`, 'A', '+ignore', '+noedns']);
      expect(noEdns).toMatch(/flags: qr aa tc rd ra;/);
      const auto = await dig(port, [`big.default.svc.${Z}`, 'A']);
      expect(auto).toMatch(/Truncated, retrying in TCP mode/);
      expect(answers(auto)).toHaveLength(100);
      const tcp = await dig(port, ['+tcp', `big.default.svc.${Z}`, 'A']);
      expect(answers(tcp).sort()).toEqual(
        big.map((b) => `big.default.svc.${Z}. IN A ${b.ip}`).sort(),
      );
      const srv = await dig(port, ['+tcp', `_web._tcp.big.default.svc.${Z}`, 'SRV']);
      expect(answers(srv)).toHaveLength(100);
      expect(srv).toMatch(/ADDITIONAL: 101/);
    });

    it('compresses names: 100 A records fit in 12 + question + 100 × 16 bytes', async () => {
      const q = encodeQuery({ id: 9, name: `big.default.svc.${Z}`, type: 'A' });
      const res = await server.handle(q, 'tcp');
      if (!res) throw new Error('no response');
      const qlen = `big.default.svc.${Z}`.length + 2 + 4;
      expect(res.length).toBe(12 + qlen + 100 * 16);
      const theirs = packet.decode(Buffer.from(res));
      expect(theirs.answers).toHaveLength(100);
      expect(theirs.id).toBe(9);
    });

    it('caps EDNS payload at 1232 and answers BADVERS to EDNS version 1', async () => {
      const out = await dig(port, [`web.default.svc.${Z}`, '+bufsize=4096']);
      expect(out).toMatch(/udp: 1232/);
      const bad = await dig(port, [`web.default.svc.${Z}`, '+edns=1', '+noednsneg']);
      expect(status(bad)).toBe('BADVERS');
    });

    it('forwards names outside the zone and serves the second query from the cache', async () => {
      const before = upstream.queries.length;
      const hitsBefore = server.metrics.cacheHits;
      const first = await dig(port, ['www.example.test', 'A']);
      expect(status(first)).toBe('NOERROR');
      expect(answers(first)).toEqual(['www.example.test. IN A 192.0.2.7']);
      expect(first).toMatch(/www\.example\.test\.\s+(30|29)\s+IN\s+A/);
      const second = await dig(port, ['+tcp', 'WWW.example.test', 'A']);
      expect(answers(second)).toEqual(['WWW.example.test. IN A 192.0.2.7']);
      expect(upstream.queries.length - before).toBe(1);
      expect(server.metrics.cacheHits - hitsBefore).toBe(1);
    });

    it('caches negative answers by the SOA minimum', async () => {
      const before = upstream.queries.length;
      const first = await dig(port, ['missing.example.test', 'A']);
      expect(status(first)).toBe('NXDOMAIN');
      expect(first).toMatch(/AUTHORITY SECTION:\nexample\.\s+30\s+IN\s+SOA/);
      const second = await dig(port, ['missing.example.test', 'A']);
      expect(status(second)).toBe('NXDOMAIN');
      expect(upstream.queries.length - before).toBe(1);
    });

    it('retries a truncated upstream answer over TCP and truncates towards the client itself', async () => {
      const before = upstream.queries.length;
      const full = await dig(port, ['many.example.test', 'A']);
      expect(answers(full)).toHaveLength(60);
      expect(upstream.queries.slice(before).map((q) => q.transport)).toEqual(['udp', 'tcp']);
      const small = await dig(port, ['many.example.test', 'A', '+noedns', '+ignore']);
      expect(small).toMatch(/flags: qr tc rd ra;/);
    });

    it('exposes Prometheus metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(text).toMatch(/podnet_dns_requests_total\{proto="udp",type="A"\} \d+/);
      expect(text).toMatch(/podnet_dns_requests_total\{proto="tcp",type="SRV"\} \d+/);
      expect(text).toMatch(/podnet_dns_responses_total\{rcode="NXDOMAIN"\} \d+/);
      expect(text).toMatch(/podnet_dns_cache_hits_total [1-9]/);
      expect(text).toMatch(/podnet_dns_request_duration_seconds_count [1-9]/);
      expect(text).toMatch(/podnet_dns_synced 1/);
      expect(text).toContain(`podnet_dns_udp_path{path="${udp}"} 1`);
    });

    it('answers random and malformed packets with FORMERR/NOTIMP or drops them, and keeps answering', async () => {
      const valid = encodeQuery({ id: 77, name: `web.default.svc.${Z}`, type: 'A' });
      const mutated = fc
        .tuple(
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { maxLength: 6 }),
          fc.nat(valid.length + 4),
        )
        .map(([flips, cut]) => {
          const b = Uint8Array.from(valid);
          for (const [at, v] of flips) b[at] = v;
          return b.subarray(0, cut);
        });
      const input = fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated);
      await fc.assert(
        fc.asyncProperty(input, async (bytes) => {
          for (const transport of ['udp', 'tcp'] as const) {
            const res = await server.handle(bytes, transport);
            if (res === null) continue;
            const m = decodeMessage(res);
            expect(m.qr).toBe(true);
            expect(m.id).toBe(((bytes[0] as number) << 8) | (bytes[1] as number));
            if (m.rcode === 1 || m.rcode === 4) expect(m.answers).toEqual([]);
          }
        }),
        { numRuns: 3000 },
      );
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const garbage = fc.sample(input, 500);
      for (const g of garbage) sock.send(g, port, '127.0.0.1');
      const check = Uint8Array.from(valid);
      check[0] = 0x42;
      check[1] = 0x42;
      const reply = new Promise<packet.Packet>((resolve) =>
        sock.on('message', (m) => {
          try {
            const p = packet.decode(m);
            if (p.id === 0x4242 && p.answers?.length) resolve(p);
          } catch {
            // a reply to one of the garbage packets
          }
        }),
      );
      sock.send(check, port, '127.0.0.1');
      const got = await reply;
      sock.close();
      expect(got.answers?.[0]).toMatchObject({ type: 'A', data: '10.96.0.10' });
      expect(answers(await dig(port, ['+tcp', `web.default.svc.${Z}`]))).toEqual([
        `web.default.svc.${Z}. IN A 10.96.0.10`,
      ]);
    });

    it('skips a malformed Service, serves the good ones beside it, and counts the skip', async () => {
      const skipped = server.update({
        ...state,
        services: [
          { metadata: { name: 'x', namespace: 'default' }, spec: { clusterIP: 'bad' } },
          ...(state.services ?? []),
          clusterIpService('default', 'fresh', '10.96.0.77'),
        ],
      });
      expect(skipped).toEqual([
        {
          object: 'Service default/x',
          field: 'services[0].spec.clusterIP',
          reason: 'must be an IP address, got "bad"',
          dropped: 'object',
        },
      ]);
      expect(server.skippedObjects).toEqual(skipped);
      expect(answers(await dig(port, [`fresh.default.svc.${Z}`]))).toEqual([
        `fresh.default.svc.${Z}. IN A 10.96.0.77`,
      ]);
      expect(answers(await dig(port, ['+tcp', `web.default.svc.${Z}`]))).toEqual([
        `web.default.svc.${Z}. IN A 10.96.0.10`,
      ]);
      expect(status(await dig(port, [`x.default.svc.${Z}`]))).toBe('NXDOMAIN');
      const metrics = async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      expect(await metrics()).toMatch(/^podnet_dns_skipped_objects 1$/m);
      expect(server.update(state)).toEqual([]);
      expect(await metrics()).toMatch(/^podnet_dns_skipped_objects 0$/m);
      expect(status(await dig(port, [`fresh.default.svc.${Z}`]))).toBe('NXDOMAIN');
    });
  });
}
