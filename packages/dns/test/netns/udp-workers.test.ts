import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterDnsState,
  DnsServer,
  RCODES,
  decodeMessage,
  encodeQuery,
} from '../../src/index.js';
import { clusterIpService } from '../../src/testing/index.js';

const CLIENTS = 32;

function state(ip: string, extra: string[] = []): ClusterDnsState {
  return {
    services: [
      clusterIpService('default', 'web', ip),
      ...extra.map((name, i) => clusterIpService('default', name, `10.96.9.${i + 1}`)),
    ],
  };
}

/** One query from each of `sockets` (each its own source port); the answers' A records. */
async function askAll(
  sockets: dgram.Socket[],
  port: number,
  name: string,
): Promise<{ rcode: number; addrs: string[] }[]> {
  return Promise.all(
    sockets.map(
      (s, i) =>
        new Promise<{ rcode: number; addrs: string[] }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer on client ${i}`)), 5000);
          s.once('message', (msg) => {
            clearTimeout(timer);
            const m = decodeMessage(msg);
            resolve({ rcode: m.rcode, addrs: m.answers.map((a) => String(a.data)) });
          });
          s.send(encodeQuery({ id: i + 1, name, type: 'A' }), port, '127.0.0.1');
        }),
    ),
  );
}

describe('DnsServer with two UDP workers (in process, native path)', () => {
  const server = new DnsServer({ udpWorkers: 2 });
  let port: number;
  const sockets: dgram.Socket[] = [];

  beforeAll(async () => {
    server.update(state('10.96.0.1'));
    const addr = await server.start({ address: '127.0.0.1', port: 0 });
    expect(addr).toMatchObject({ udpPath: 'native', udpWorkers: 2 });
    port = addr.port;
    for (let i = 0; i < CLIENTS; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      sockets.push(s);
    }
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await server.stop();
  });

  it('answers from both workers, and every query after update() returns gets the new zone', async () => {
    const before = await askAll(sockets, port, 'web.default.svc.cluster.local');
    expect(before.map((a) => a.addrs)).toEqual(Array(CLIENTS).fill(['10.96.0.1']));
    const stats = server.udpWorkerStats();
    expect(stats).toHaveLength(2);
    expect(stats.every((w) => w.answered > 0)).toBe(true);
    // a negative answer, remembered by the workers for this zone
    for (let round = 0; round < 2; round++)
      expect(
        (await askAll(sockets, port, 'new.default.svc.cluster.local')).map((a) => a.rcode),
      ).toEqual(Array(CLIENTS).fill(RCODES.NXDOMAIN));
    // several updates in a row, each asked at once from every client: no old answer anywhere
    for (const [i, ip] of ['10.96.0.2', '10.96.0.3', '10.96.0.4'].entries()) {
      server.update(state(ip, i === 0 ? [] : ['new']));
      expect(
        (await askAll(sockets, port, 'web.default.svc.cluster.local')).map((a) => a.addrs),
      ).toEqual(Array(CLIENTS).fill([ip]));
      const added = await askAll(sockets, port, 'new.default.svc.cluster.local');
      expect(added.map((a) => (i === 0 ? a.rcode : a.addrs[0]))).toEqual(
        Array(CLIENTS).fill(i === 0 ? RCODES.NXDOMAIN : '10.96.9.1'),
      );
    }
    const after = server.udpWorkerStats();
    expect(after.every((w, i) => w.answered > (stats[i] as { answered: number }).answered)).toBe(
      true,
    );
    // the totals in /metrics hold the workers' answers
    const m = server.renderMetrics();
    const udpA = Number(/podnet_dns_requests_total\{proto="udp",type="A"\} (\d+)/.exec(m)?.[1]);
    expect(udpA).toBe(CLIENTS * 9);
    expect(m).toMatch(/podnet_dns_udp_worker_answered_total\{worker="1"\} [1-9]/);
  });

  it('starts a worker that ended again, from the zone published while it was gone', async () => {
    const pool = server['workerPool'];
    expect(pool).not.toBeNull();
    await pool?.terminate(1);
    // the kernel sends everything to the worker left meanwhile
    server.update(state('10.96.0.5'));
    expect(
      (await askAll(sockets, port, 'web.default.svc.cluster.local')).map((a) => a.addrs),
    ).toEqual(Array(CLIENTS).fill(['10.96.0.5']));
    const deadline = Date.now() + 10_000;
    while (pool?.restarts !== 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(pool?.restarts).toBe(1);
    server.update(state('10.96.0.6'));
    const before = server.udpWorkerStats();
    expect(
      (await askAll(sockets, port, 'web.default.svc.cluster.local')).map((a) => a.addrs),
    ).toEqual(Array(CLIENTS).fill(['10.96.0.6']));
    const after = server.udpWorkerStats();
    expect(after).toHaveLength(2);
    // both answer again: the restarted one (its counters start from 0) too
    expect(after.every((w, i) => w.answered > (before[i] as { answered: number }).answered)).toBe(
      true,
    );
    expect(server.renderMetrics()).toMatch(/podnet_dns_udp_worker_restarts_total 1\n/);
  });
});

describe('DnsServer with two UDP workers on IPv6', () => {
  it('binds both workers to [::1] and answers, and frees the port on stop', async () => {
    const server = new DnsServer({ udpWorkers: 2 });
    server.update(state('10.96.0.7'));
    const addr = await server.start({ address: '::1', port: 0 });
    expect(addr).toMatchObject({ udpPath: 'native', udpWorkers: 2 });
    const s = dgram.createSocket('udp6');
    try {
      const answer = await new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer over IPv6')), 5000);
        s.once('message', (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        s.send(
          encodeQuery({ id: 9, name: 'web.default.svc.cluster.local', type: 'A' }),
          addr.port,
          '::1',
        );
      });
      expect(decodeMessage(answer).answers.map((a) => a.data)).toEqual(['10.96.0.7']);
    } finally {
      s.close();
      await server.stop();
    }
    // every worker's socket is closed: the port can be bound again without SO_REUSEPORT
    const again = dgram.createSocket('udp6');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(addr.port, '::1', () => resolve());
    });
    again.close();
  });
});
