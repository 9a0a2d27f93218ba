import dgram from 'node:dgram';
import net from 'node:net';
import { createRequire } from 'node:module';
import { DnsError } from './errors.js';
import { MAX_UDP_PAYLOAD } from './prepared.js';
import type { Upstream } from './resolv-conf.js';
import { encodeQuery, typeName } from './wire.js';

interface Pending {
  upstream: Upstream;
  resolve: (msg: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The query sent, to check that the answer is for its question. */
  query: Uint8Array;
}

let cryptoRandomInt: ((min: number, max: number) => number) | undefined;

/**
 * An unpredictable query ID (a guessable one lets an off-path attacker spoof answers). node:crypto
 * is loaded by the first query forwarded, not at import: a server without upstreams never needs
 * it, and loading it costs ~1.5 MB resident.
 */
function randomId(): number {
  cryptoRandomInt ??= (
    createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
  ).randomInt;
  return cryptoRandomInt(0, 0x10000);
}
/** True when `answer` is a response carrying the same question as `query` (case-insensitive). */
function sameQuestion(query: Uint8Array, answer: Uint8Array): boolean {
  if (answer.length < query.length - 11 || !((answer[2] as number) & 0x80)) return false;
  if ((((answer[4] as number) << 8) | (answer[5] as number)) !== 1) return false;
  let end = 12;
  while (end < query.length && query[end] !== 0) end += (query[end] as number) + 1;
  end += 5;
  for (let i = 12; i < end; i++) {
    const a = query[i] as number;
    const b = answer[i] as number;
    if (a !== b && (a | 0x20) !== (b | 0x20)) return false;
  }
  return true;
}

/** Options of {@link Forwarder}. */
export interface ForwarderOptions {
  /** Time to wait for one upstream before trying the next, in ms; default 2000. */
  timeoutMs?: number;
}

/** Sends queries to upstream resolvers over UDP (TCP when truncated), trying each in turn. */
export class Forwarder {
  private sockets = new Map<4 | 6, dgram.Socket>();
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private closed = false;

  constructor(
    readonly upstreams: readonly Upstream[],
    options: ForwarderOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Resolves `name`/`qtype` upstream; rejects with `DnsError` `UPSTREAM_FAILED` when all fail. */
  async query(name: string, qtype: number): Promise<Uint8Array> {
    let last: unknown;
    for (const upstream of this.upstreams) {
      try {
        const udp = await this.udp(upstream, name, qtype);
        if ((udp[2] as number) & 0x02) return await this.tcp(upstream, name, qtype);
        return udp;
      } catch (err) {
        last = err;
      }
    }
    throw new DnsError(
      'UPSTREAM_FAILED',
      `no upstream answered ${name} ${String(typeName(qtype))}`,
      { cause: last },
    );
  }

  private encode(id: number, name: string, qtype: number): Uint8Array {
    return encodeQuery({ id, name, type: qtype, udpSize: MAX_UDP_PAYLOAD });
  }

  private socket(family: 4 | 6): dgram.Socket {
    let s = this.sockets.get(family);
    if (!s) {
      s = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
      s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
      s.on('error', () => undefined);
      s.unref();
      this.sockets.set(family, s);
    }
    return s;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p || rinfo.port !== p.upstream.port || rinfo.address !== p.upstream.host) return;
    if (!sameQuestion(p.query, msg)) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(new Uint8Array(msg));
  }

  private udp(upstream: Upstream, name: string, qtype: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new DnsError('NOT_STARTED', 'forwarder closed'));
    let id = randomId();
    for (let i = 0; this.pending.has(id) && i < 16; i++) id = randomId();
    const msg = this.encode(id, name, qtype);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new DnsError('UPSTREAM_FAILED', `upstream ${upstream.host}:${upstream.port} timed out`),
        );
      }, this.timeoutMs);
      this.pending.set(id, { upstream, resolve, reject, timer, query: msg });
      this.socket(net.isIPv6(upstream.host) ? 6 : 4).send(
        msg,
        upstream.port,
        upstream.host,
        (err) => {
          if (!err) return;
          clearTimeout(timer);
          this.pending.delete(id);
          reject(
            new DnsError('UPSTREAM_FAILED', `send to ${upstream.host}:${upstream.port} failed`, {
              cause: err,
            }),
          );
        },
      );
    });
  }

  private tcp(upstream: Upstream, name: string, qtype: number): Promise<Uint8Array> {
    const id = randomId();
    const msg = this.encode(id, name, qtype);
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: upstream.host, port: upstream.port });
      let buf = Buffer.alloc(0);
      const fail = (err: unknown): void => {
        sock.destroy();
        reject(
          new DnsError('UPSTREAM_FAILED', `TCP to ${upstream.host}:${upstream.port} failed`, {
            cause: err,
          }),
        );
      };
      sock.setTimeout(this.timeoutMs, () => fail(new Error('timeout')));
      sock.on('error', fail);
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([len, msg]));
      });
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const out = new Uint8Array(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          sock.end();
          if (out.length < 12 || (((out[0] as number) << 8) | (out[1] as number)) !== id)
            fail(new Error('mismatched TCP answer'));
          else resolve(out);
        }
      });
      sock.on('end', () => fail(new Error('connection closed')));
    });
  }

  /** Closes the sockets and fails pending queries. */
  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new DnsError('NOT_STARTED', 'forwarder closed'));
    }
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}
