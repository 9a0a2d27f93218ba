import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder, decodeMessage, encodeMessage } from '../src/index.js';

describe('Forwarder', () => {
  let sock: dgram.Socket;
  let port: number;

  beforeAll(async () => {
    sock = dgram.createSocket('udp4');
    // Answers every query twice: first for another question (a spoof), then for the real one.
    sock.on('message', (msg, rinfo) => {
      const q = decodeMessage(msg);
      const base = { ...q, qr: true, ra: true, edns: undefined, authorities: [], additionals: [] };
      const spoof = encodeMessage({
        ...base,
        questions: [{ name: 'evil.test', type: 'A' }],
        answers: [{ name: 'evil.test', type: 'A', class: 'IN', ttl: 60, data: '203.0.113.66' }],
      });
      const real = encodeMessage({
        ...base,
        answers: [
          { name: q.questions[0]?.name ?? '', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' },
        ],
      });
      sock.send(spoof, rinfo.port, rinfo.address, () => sock.send(real, rinfo.port, rinfo.address));
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    port = (sock.address() as AddressInfo).port;
  });
  afterAll(() => sock.close());

  it('accepts only an answer to the question it asked', async () => {
    const f = new Forwarder([{ host: '127.0.0.1', port }], { timeoutMs: 5000 });
    try {
      const res = decodeMessage(await f.query('www.example.test', 1));
      expect(res.answers).toEqual([
        expect.objectContaining({ name: 'www.example.test', data: '192.0.2.1' }),
      ]);
    } finally {
      f.close();
    }
  });

  it('fails with UPSTREAM_FAILED when no upstream answers', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const f = new Forwarder([{ host: '127.0.0.1', port: (silent.address() as AddressInfo).port }], {
      timeoutMs: 300,
    });
    try {
      await expect(f.query('www.example.test', 1)).rejects.toMatchObject({
        code: 'UPSTREAM_FAILED',
      });
    } finally {
      f.close();
      silent.close();
    }
  });
});
