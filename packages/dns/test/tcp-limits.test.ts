import dgram from 'node:dgram';
import net from 'node:net';
import { waitFor } from '@podnet/host/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsServer, type DnsServerOptions, encodeQuery } from '../src/index.js';
import { Z, answers, run, state } from './loopback-suite.js';

// Real TCP clients on loopback against a real DnsServer. Every 127.0.0.0/8 address is loopback on
// Linux, so clients bind 127.0.0.x (`localAddress`) to come from several sources.

/** Largest answer frame: the 2-byte length and a 65,535-byte message. */
const MAX_FRAME = 65_537;

let server: DnsServer | null = null;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.stop();
  server = null;
});

async function start(options: DnsServerOptions): Promise<number> {
  server = new DnsServer(options);
  server.update(state);
  return (await server.start({ address: '127.0.0.1', port: 0, udp: 'dgram' })).tcpPort;
}

function frame(name: string, id: number): Buffer {
  const q = encodeQuery({ id, name, type: 'A' });
  const out = Buffer.alloc(2 + q.length);
  out.writeUInt16BE(q.length, 0);
  out.set(q, 2);
  return out;
}

/** A connected client from `localAddress`; its `gone` promise settles when the socket closes. */
async function connect(
  port: number,
  localAddress: string,
): Promise<net.Socket & { gone: Promise<void> }> {
  const sock = net.createConnection({ host: '127.0.0.1', port, localAddress });
  sockets.push(sock);
  sock.on('error', () => undefined);
  const gone = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('close', () => reject(new Error(`connection from ${localAddress} closed`)));
  });
  return Object.assign(sock, { gone });
}

/** A valid client: `dig +tcp` from 127.0.0.1. */
async function digTcp(port: number, name: string): Promise<string[]> {
  const { stdout } = await run('dig', [
    '@127.0.0.1',
    '-b',
    '127.0.0.1',
    '-p',
    String(port),
    '+tcp',
    '+tries=1',
    '+time=10',
    name,
  ]);
  return answers(stdout);
}

const web = [`web.default.svc.${Z}. IN A 10.96.0.10`];

/**
 * A client that sends a valid query one byte every `everyMs`, starting the next query when one is
 * done, for ever. `sent` counts the bytes written.
 */
async function slowloris(port: number, localAddress: string, everyMs: number) {
  const sock = await connect(port, localAddress);
  const bytes = frame(`web.default.svc.${Z}`, 7);
  const drip = { sock, sent: 0, frameLength: bytes.length };
  const timer = setInterval(() => {
    if (sock.destroyed) return;
    sock.write(bytes.subarray(drip.sent % bytes.length, (drip.sent % bytes.length) + 1));
    drip.sent++;
  }, everyMs);
  sock.once('close', () => clearInterval(timer));
  sock.write(bytes.subarray(0, 1));
  drip.sent = 1;
  return drip;
}

describe('DNS over TCP: backpressure', () => {
  it('stops reading a client that pipelines and never reads; its unsent answers stay bounded while another client is answered', async () => {
    const cap = 32_768;
    const port = await start({ tcp: { maxBufferedBytes: cap, messageTimeoutMs: 60_000 } });
    const abuser = await connect(port, '127.0.0.2');
    abuser.pause(); // never reads: the kernel buffers fill, then the server's own
    const queries = 20_000;
    // 20,000 × ~1.7 kB answers (a 100-endpoint headless name): ~34 MB if the server kept them all.
    abuser.write(
      Buffer.concat(Array.from({ length: queries }, (_, i) => frame(`big.default.svc.${Z}`, i))),
    );
    const paused = await waitFor(
      () =>
        server?.tcpConnections().find((c) => c.remoteAddress === '127.0.0.2' && c.paused) ?? null,
      { timeoutMs: 15_000, what: 'the server to stop reading the non-reading client' },
    );
    expect(paused.bufferedBytes).toBeLessThanOrEqual(cap + MAX_FRAME);
    expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
    const s = server?.tcpStats();
    expect(s?.peakBufferedBytes).toBeLessThanOrEqual(cap + MAX_FRAME);
    expect(s?.paused).toBe(1);
    // Throttled: it is still connected, and the server has not taken most of its queries.
    expect(s?.connections).toBe(1);
    expect(server?.metrics.requestCount).toBeLessThan(queries / 2);
  });

  it('closes a client that leaves its answers unread past the message deadline, without buffering them', async () => {
    const cap = 32_768;
    const port = await start({ tcp: { maxBufferedBytes: cap, messageTimeoutMs: 300 } });
    const abuser = await connect(port, '127.0.0.2');
    abuser.pause();
    abuser.write(
      Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame(`big.default.svc.${Z}`, i))),
    );
    await waitFor(() => server?.tcpStats()?.closed.writeTimeout === 1, {
      timeoutMs: 15_000,
      what: 'the server to close the non-reading client',
    });
    // The client sees it once it reads what the kernel had already delivered.
    abuser.resume();
    await abuser.gone;
    const s = server?.tcpStats();
    expect(s?.connections).toBe(0);
    expect(s?.peakBufferedBytes).toBeLessThanOrEqual(cap + MAX_FRAME);
    expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
    expect(server?.renderMetrics()).toMatch(
      /^podnet_dns_tcp_closed_total\{reason="writeTimeout"\} 1$/m,
    );
  });

  it('takes at most maxPendingQueries queries of a connection while they wait for an upstream', async () => {
    const blackhole = dgram.createSocket('udp4'); // an upstream that never answers
    await new Promise<void>((r) => blackhole.bind(0, '127.0.0.1', () => r()));
    let seen = 0;
    blackhole.on('message', () => seen++);
    try {
      const port = await start({
        upstreams: [`127.0.0.1:${blackhole.address().port}`],
        forwardTimeoutMs: 60_000,
        tcp: { maxPendingQueries: 8 },
      });
      const client = await connect(port, '127.0.0.2');
      client.on('data', () => undefined);
      client.write(
        Buffer.concat(Array.from({ length: 2_000 }, (_, i) => frame(`n${i}.example.test`, i))),
      );
      await waitFor(
        () => server?.tcpConnections().find((c) => c.paused && c.pendingQueries === 8),
        { timeoutMs: 15_000, what: 'the connection to stop at 8 pending queries' },
      );
      expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
      expect(server?.tcpStats()?.peakPendingQueries).toBe(8);
      expect(server?.metrics.forwardRequests).toBe(8);
      expect(seen).toBeLessThanOrEqual(8);
    } finally {
      blackhole.close();
    }
  });
});

describe('DNS over TCP: slowloris and connection limits', () => {
  it('closes slowloris connections at the message deadline (not reset by each byte) and answers a valid client meanwhile', async () => {
    const port = await start({ tcp: { messageTimeoutMs: 500, idleTimeoutMs: 60_000 } });
    const drips = await Promise.all(
      Array.from({ length: 20 }, (_, i) => slowloris(port, `127.0.0.${2 + (i % 4)}`, 100)),
    );
    expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
    await Promise.all(drips.map((d) => d.sock.gone));
    for (const d of drips) {
      // Closed while its first query was still arriving, a few bytes in.
      expect(d.sent).toBeGreaterThanOrEqual(2);
      expect(d.sent).toBeLessThan(d.frameLength);
    }
    expect(server?.tcpStats()?.closed.messageTimeout).toBe(20);
    expect(server?.renderMetrics()).toMatch(
      /^podnet_dns_tcp_closed_total\{reason="messageTimeout"\} 20$/m,
    );
  });

  it('with the default limits full of idle and slowloris connections from 10 sources, a new client gets in by evicting the oldest idle one', async () => {
    // Default maxConnections (1000) and maxConnectionsPerSource (100); long timers so nothing
    // expires during the test.
    const port = await start({ tcp: { messageTimeoutMs: 120_000, idleTimeoutMs: 120_000 } });
    const idle: Awaited<ReturnType<typeof connect>>[] = [];
    for (let src = 10; src < 19; src++) {
      for (let i = 0; i < 100; i++) idle.push(await connect(port, `127.0.0.${src}`));
    }
    const drips = [];
    for (let i = 0; i < 100; i++) drips.push(await slowloris(port, '127.0.0.19', 1000));
    await waitFor(() => server?.tcpStats()?.connections === 1000, {
      what: '1000 connections',
    });
    expect(server?.tcpStats()?.sources).toBe(10);
    // The server is full; a valid client is still answered.
    expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
    await idle[0]?.gone;
    const s = server?.tcpStats();
    expect(s?.closed.evicted).toBe(1);
    expect(s?.closed.refusedFull).toBe(0);
    expect(drips.every((d) => !d.sock.destroyed)).toBe(true);
    // And again, from a source that is at its own limit: its oldest idle connection makes room.
    const more = await connect(port, '127.0.0.11');
    more.write(frame(`web.default.svc.${Z}`, 1));
    await idle[100]?.gone;
    expect(server?.tcpStats()?.closed.evicted).toBe(2);
    expect(server?.tcpStats()?.connections).toBeLessThanOrEqual(1000);
  });

  it('limits connections per source address: the source at its limit loses its own oldest idle one, other sources keep theirs', async () => {
    const port = await start({
      tcp: { maxConnectionsPerSource: 4, maxConnections: 8, idleTimeoutMs: 60_000 },
    });
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await connect(port, '127.0.0.2'));
    const b = [];
    for (let i = 0; i < 4; i++) b.push(await connect(port, '127.0.0.3'));
    const fifth = await connect(port, '127.0.0.2');
    await a[0]?.gone;
    const perSource = (addr: string) =>
      server?.tcpConnections().filter((c) => c.remoteAddress === addr).length;
    expect(perSource('127.0.0.2')).toBe(4);
    expect(perSource('127.0.0.3')).toBe(4);
    expect(fifth.destroyed).toBe(false);
    expect(b.every((s) => !s.destroyed)).toBe(true);
    expect(await digTcp(port, `web.default.svc.${Z}`)).toEqual(web);
    expect(server?.tcpStats()?.closed.evicted).toBe(2);
  });

  it('rejects bad limits naming the field', () => {
    expect(() => new DnsServer({ tcp: { idleTimeoutMs: 0 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'tcp.idleTimeoutMs' }),
    );
    expect(() => new DnsServer({ tcp: { maxConnections: 1.5 } })).toThrow(/tcp\.maxConnections/);
  });
});
