import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { cpSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DnsServer, decodeMessage, encodeQuery, nativeUdpAvailable } from '../../src/index.js';
import { Z, answers, dig, loopbackSuite, state } from '../loopback-suite.js';

const run = promisify(execFile);
const PKG = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'podnet-dns-native-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Blocks this thread (and so the server's event loop) until `file` exists. */
function blockUntilExists(file: string, timeoutMs: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear`);
    Atomics.wait(cell, 0, 0, 10);
  }
}

/**
 * A client in another process: sends `count` queries (ids 0..count-1) for web.default, writes
 * `sentFile`, then collects answers and prints how many were right.
 */
const BURST_CLIENT = `
const dgram = require('node:dgram');
const fs = require('node:fs');
const [port, count, sentFile, queryHex] = process.argv.slice(1);
const query = Buffer.from(queryHex, 'hex');
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
const seen = new Set();
let good = 0;
const finish = () => { process.stdout.write(JSON.stringify({ good, seen: seen.size })); process.exit(0); };
sock.on('message', (m) => {
  const id = m.readUInt16BE(0);
  if (seen.has(id)) return;
  seen.add(id);
  if ((m[2] & 0x80) && (m[3] & 0xf) === 0 && m.readUInt16BE(6) === 1) good++;
  if (seen.size === Number(count)) finish();
});
sock.bind(0, '127.0.0.1', () => {
  let sent = 0;
  const next = () => {
    if (sent === Number(count)) { fs.writeFileSync(sentFile, 'sent'); return; }
    const q = Buffer.from(query);
    q.writeUInt16BE(sent++, 0);
    sock.send(q, Number(port), '127.0.0.1', next);
  };
  next();
});
setTimeout(finish, 60000).unref();
`;

describe('native UDP fast path (built by the package build)', () => {
  it('is built, and chosen by default', async () => {
    expect(nativeUdpAvailable()).toBe(true);
    const s = new DnsServer();
    s.update(state);
    const addr = await s.start();
    try {
      expect(addr.udpPath).toBe('native');
      expect(answers(await dig(addr.port, [`web.default.svc.${Z}`]))).toEqual([
        `web.default.svc.${Z}. IN A 10.96.0.10`,
      ]);
      expect(s.udpStats()).toMatchObject({ datagrams: 1, batches: 1, sent: 1 });
    } finally {
      await s.stop();
    }
  });

  it('answers every query of a burst larger than one recvmmsg batch', async () => {
    const s = new DnsServer();
    s.update(state);
    const addr = await s.start({ udp: 'native', udpBatch: 16 });
    const count = 200;
    const sentFile = join(work, 'burst-sent');
    const query = Buffer.from(
      encodeQuery({ id: 0, name: `web.default.svc.${Z}`, type: 'A', udpSize: 1232 }),
    ).toString('hex');
    try {
      const child = spawn(
        process.execPath,
        ['-e', BURST_CLIENT, String(addr.port), String(count), sentFile, query],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      const exited = new Promise((r) => child.once('exit', r));
      // The whole burst queues in the socket while this thread is blocked: the server then
      // drains it in full batches.
      blockUntilExists(sentFile, 60_000);
      await exited;
      expect(JSON.parse(stdout)).toEqual({ good: count, seen: count });
      const stats = s.udpStats();
      expect(stats).toMatchObject({ datagrams: count, largestBatch: 16, sent: count });
      expect(stats?.batches).toBeGreaterThanOrEqual(count / 16);
      expect(s.renderMetrics()).toMatch(/podnet_dns_udp_batches_total \d+/);
    } finally {
      await s.stop();
    }
  });

  it('drops datagrams longer than its input slot and random garbage, and keeps answering', async () => {
    const s = new DnsServer();
    s.update(state);
    const addr = await s.start({ udp: 'native', udpBatch: 4 });
    const sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const replies: Buffer[] = [];
      sock.on('message', (m) => replies.push(m));
      const huge = Buffer.alloc(5000, 7);
      sock.send(huge, addr.port, '127.0.0.1');
      for (let i = 0; i < 50; i++) {
        const g = Buffer.alloc(1 + ((i * 37) % 300));
        for (let j = 0; j < g.length; j++) g[j] = (i * 131 + j * 17) & 0xff;
        g[2] = (g[2] as number) & 0x7f;
        sock.send(g, addr.port, '127.0.0.1');
      }
      sock.send(
        encodeQuery({ id: 0x4242, name: `web.default.svc.${Z}`, type: 'A' }),
        addr.port,
        '127.0.0.1',
      );
      const deadline = Date.now() + 30_000;
      while (!replies.some((m) => m.readUInt16BE(0) === 0x4242) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const good = replies.find((m) => m.readUInt16BE(0) === 0x4242);
      expect(good && decodeMessage(good).answers[0]).toMatchObject({ data: '10.96.0.10' });
      expect(s.udpStats()).toMatchObject({ truncated: 1, datagrams: 52 });
      expect(s.metrics.dropped).toBeGreaterThanOrEqual(1);
    } finally {
      sock.close();
      await s.stop();
    }
  });

  it('serves IPv6, and frees its port on stop', async () => {
    const s = new DnsServer();
    s.update(state);
    const addr = await s.start({ address: '::1', udp: 'native' });
    const out = await run('dig', [
      '@::1',
      '-p',
      String(addr.port),
      '+short',
      `web.default.svc.${Z}`,
    ]);
    expect(out.stdout.trim()).toBe('10.96.0.10');
    await s.stop();
    const again = new DnsServer();
    again.update(state);
    const addr2 = await again.start({ address: '::1', port: addr.port, udp: 'native' });
    expect(addr2.port).toBe(addr.port);
    await again.stop();
  });

  it('is not chosen with udp: dgram or PODNET_DNS_UDP=dgram, and rejects bad udp options', async () => {
    const s = new DnsServer();
    s.update(state);
    expect((await s.start({ udp: 'dgram' })).udpPath).toBe('dgram');
    expect(s.udpStats()).toBeNull();
    await s.stop();
    process.env.PODNET_DNS_UDP = 'dgram';
    try {
      expect((await s.start()).udpPath).toBe('dgram');
      await s.stop();
    } finally {
      delete process.env.PODNET_DNS_UDP;
    }
    await expect(s.start({ udp: 'fast' as 'native' })).rejects.toMatchObject({ field: 'udp' });
    await expect(s.start({ udpBatch: 0 })).rejects.toMatchObject({ field: 'udpBatch' });
  });

  it('the binary falls back to node:dgram when the addon is missing, and --udp native says why', async () => {
    const copy = mkdtempSync(join(PKG, '.nodist-'));
    try {
      cpSync(join(PKG, 'dist'), join(copy, 'dist'), { recursive: true });
      unlinkSync(join(copy, 'dist', 'dns-udp.node'));
      writeFileSync(join(work, 'empty.yaml'), '');
      const bin = join(copy, 'dist', 'bin', 'podnet-dns.js');
      const child = spawn(
        process.execPath,
        [bin, '--manifests', work, '--port', '0', '--no-watch'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      const deadline = Date.now() + 30_000;
      while (!stdout.includes('"listening"') && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      const listening = JSON.parse(
        stdout.split('\n').find((l) => l.includes('"listening"')) ?? '{}',
      );
      expect(listening.udpPath).toBe('dgram');
      const forced = await run(process.execPath, [
        bin,
        '--manifests',
        work,
        '--port',
        '0',
        '--no-watch',
        '--udp',
        'native',
      ]).catch((e: { code: number; stderr: string }) => e);
      expect(forced).toMatchObject({ code: 2 });
      expect((forced as { stderr: string }).stderr).toMatch(/native.*not built/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

loopbackSuite('native');
