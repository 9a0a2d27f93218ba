import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { handleInvocation, type PluginHandlers } from '@podnet/cni-spec';
import type { Logger } from './log.js';

/** Protocol revision spoken with the shim (see `@podnet/example-cni-plugin`'s protocol.ts). */
export const SHIM_PROTOCOL_VERSION = 1;
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** One decoded shim request. */
export interface ShimRequest {
  /** Set when the shim sent the request twice, on the FIFO and on the socket. */
  readonly id?: string;
  /** The reply FIFO slot a shim waits on (requests that came on the FIFO only). */
  readonly reply?: number;
  readonly env: Record<string, string>;
  readonly stdin: string;
}

/** How long an answer to a request that came early on the FIFO waits for its socket twin. */
const EARLY_ANSWER_TTL_MS = 120_000;

/** Decodes a request line from the shim; throws `Error` naming the bad field. Pure. */
export function decodeShimRequest(line: string): ShimRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('request: not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error('request: want an object');
  const o = v as Record<string, unknown>;
  if (o.v !== SHIM_PROTOCOL_VERSION)
    throw new Error(`request.v: want ${SHIM_PROTOCOL_VERSION}, got ${JSON.stringify(o.v)}`);
  if (typeof o.stdin !== 'string') throw new Error('request.stdin: want a string');
  if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env))
    throw new Error('request.env: want an object');
  const env: Record<string, string> = {};
  for (const [k, val] of Object.entries(o.env)) {
    if (!k.startsWith('CNI_')) continue;
    if (typeof val !== 'string') throw new Error(`request.env.${k}: want a string`);
    env[k] = val;
  }
  if (o.id !== undefined && (typeof o.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.id)))
    throw new Error('request.id: want 1-64 characters of [A-Za-z0-9._-]');
  const reply = o.reply;
  if (
    reply !== undefined &&
    (typeof reply !== 'number' || !Number.isInteger(reply) || reply < 0 || reply >= REPLY_SLOTS)
  )
    throw new Error(`request.reply: want an integer 0-${REPLY_SLOTS - 1}`);
  return {
    ...(o.id === undefined ? {} : { id: o.id as string }),
    ...(reply === undefined ? {} : { reply: reply as number }),
    env,
    stdin: o.stdin,
  };
}

/** How many reply FIFOs (`<socket>.replies/0` ...) the agent keeps for shims. */
export const REPLY_SLOTS = 32;
const REPLY_LOCK_STALE_MS = 10 * 60_000;

/** The FIFO next to the socket where a shim may write its request early (see serveCni). */
export function earlyRequestPath(socketPath: string): string {
  return `${socketPath}.fifo`;
}

/** Options of {@link serveCni}. */
export interface CniServerOptions {
  readonly socketPath: string;
  readonly handlers: PluginHandlers;
  readonly log: Logger;
  /** Called after each request with the command, success and duration in seconds. */
  readonly onRequest?: (command: string, ok: boolean, seconds: number) => void;
  /**
   * A reply-slot lock older than this belongs to a shim that died holding it and is removed
   * (default 10 minutes: longer than any shim waits); checked every `staleMs / 20`.
   */
  readonly replyLockStaleMs?: number;
}

type Answer = { stdout: string; exitCode: number };

/**
 * Serves CNI requests from the shim on a unix socket (mode 0600): one JSON line in, one JSON
 * line `{exitCode, stdout}` out, per connection. A stale socket file is replaced.
 *
 * Next to it, a FIFO (`<socket>.fifo`, mode 0600) takes the same requests: a shim writes its
 * request there before it would load a socket client. A request naming a reply slot is answered
 * into that FIFO of `<socket>.replies/` (mode 0700, {@link REPLY_SLOTS} FIFOs), so the shim needs
 * no socket at all; otherwise the socket request with the same `id` gets that run's answer. Each
 * `id` runs once whichever copy arrives first; an answer nobody asks for is dropped after two
 * minutes.
 */
export async function serveCni(options: CniServerOptions): Promise<Server> {
  mkdirSync(dirname(options.socketPath), { recursive: true, mode: 0o755 });
  rmSync(options.socketPath, { force: true });
  const runs = new Map<string, { answer: Promise<Answer>; timer?: NodeJS.Timeout }>();
  const run = (req: ShimRequest): Promise<Answer> => {
    if (req.id === undefined) return execute(req, options);
    const known = runs.get(req.id);
    if (known) {
      clearTimeout(known.timer);
      runs.delete(req.id);
      return known.answer;
    }
    const answer = execute(req, options);
    const entry: { answer: Promise<Answer>; timer?: NodeJS.Timeout } = { answer };
    entry.timer = setTimeout(() => runs.delete(req.id!), EARLY_ANSWER_TTL_MS).unref();
    runs.set(req.id, entry);
    return answer;
  };
  const replies = await makeReplySlots(
    `${options.socketPath}.replies`,
    options.log,
    options.replyLockStaleMs ?? REPLY_LOCK_STALE_MS,
  );
  const early = await readEarlyRequests(
    earlyRequestPath(options.socketPath),
    options.log,
    (req) => {
      const answer = run(req);
      if (replies && req.reply !== undefined && req.id !== undefined)
        void answer.then((a) => replies.send(req.reply!, req.id!, a));
    },
  );
  const server = createServer((conn) => handle(conn, run));
  server.once('close', () => {
    early?.destroy();
    replies?.stop();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(options.socketPath, 0o600);
  return server;
}

/**
 * Makes the reply FIFOs (`<dir>/<slot>`, mode 0600, in a 0700 directory) and sweeps the slot
 * locks of shims that died holding them. `send` answers a slot without blocking: a shim that is
 * gone (no reader) or an answer larger than the pipe only lose the reply; the shim asks the socket.
 */
async function makeReplySlots(
  dir: string,
  log: Logger,
  staleMs: number,
): Promise<{ send(slot: number, id: string, a: Answer): void; stop(): void } | undefined> {
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    const slots = Array.from({ length: REPLY_SLOTS }, (_, k) => `${dir}/${k}`);
    await promisify(execFile)('mkfifo', ['-m', '0600', ...slots]);
  } catch (e) {
    log.warn('no reply FIFOs; shims answer through the socket', { dir, error: String(e) });
    return undefined;
  }
  // a lock older than any shim waits (its timeout is a minute by default) belongs to a shim that
  // died holding it; by age, as the shim's pid may be in another pid namespace than ours
  const sweep = () => {
    for (let k = 0; k < REPLY_SLOTS; k++) {
      const lock = `${dir}/${k}.lock`;
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { force: true });
      } catch {
        // no lock
      }
    }
  };
  const timer = setInterval(sweep, Math.max(10, staleMs / 20)).unref();
  return {
    send(slot, id, a) {
      let fd: number;
      try {
        fd = openSync(`${dir}/${slot}`, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        return;
      }
      try {
        let frame = Buffer.from(`${JSON.stringify({ id, ...a })}\n`, 'utf8');
        if (frame.length > PIPE_CAPACITY)
          frame = Buffer.from(`${JSON.stringify({ id, socket: true })}\n`);
        writeSync(fd, frame);
      } catch (e) {
        log.warn('reply FIFO write failed', { slot, error: String(e) });
      } finally {
        closeSync(fd);
      }
    },
    stop: () => clearInterval(timer),
  };
}

/** Linux's default pipe capacity: an answer this large fits into an empty reply FIFO at once. */
const PIPE_CAPACITY = 65_536;

/** Creates the FIFO (replacing a stale one) and reads request lines from it. */
async function readEarlyRequests(
  path: string,
  log: Logger,
  run: (req: ShimRequest) => void,
): Promise<Socket | undefined> {
  try {
    rmSync(path, { force: true });
    await promisify(execFile)('mkfifo', ['-m', '0600', path]);
    // read-write: the open does not wait for a writer, and the last shim closing it is no EOF
    const fifo = new Socket({
      fd: openSync(path, constants.O_RDWR | constants.O_NONBLOCK),
      readable: true,
      writable: false,
    });
    let buf = '';
    fifo.setEncoding('utf8');
    fifo.on('error', (e) => log.warn('early request FIFO failed', { path, error: String(e) }));
    fifo.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let req: ShimRequest;
        try {
          req = decodeShimRequest(line);
        } catch (e) {
          log.warn('bad early request', { error: (e as Error).message });
          continue;
        }
        if (req.id !== undefined) run(req);
      }
      if (buf.length > MAX_REQUEST_BYTES) buf = '';
    });
    return fifo;
  } catch (e) {
    log.warn('no early request FIFO; requests come by the socket only', {
      path,
      error: String(e),
    });
    return undefined;
  }
}

function handle(conn: Socket, run: (req: ShimRequest) => Promise<Answer>): void {
  let buf = '';
  let started = false;
  conn.setEncoding('utf8');
  conn.on('error', () => {});
  conn.on('data', (chunk: string) => {
    if (started) return;
    buf += chunk;
    if (buf.length > MAX_REQUEST_BYTES) {
      started = true;
      conn.destroy();
      return;
    }
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    started = true;
    void answer(conn, buf.slice(0, nl), run);
  });
}

async function answer(
  conn: Socket,
  line: string,
  run: (req: ShimRequest) => Promise<Answer>,
): Promise<void> {
  let out: Answer;
  try {
    out = await run(decodeShimRequest(line));
  } catch (e) {
    out = {
      exitCode: 1,
      stdout: JSON.stringify({
        cniVersion: '1.1.0',
        code: 5,
        msg: 'podnet agent: bad request from the shim',
        details: (e as Error).message,
      }),
    };
  }
  conn.end(`${JSON.stringify({ exitCode: out.exitCode, stdout: out.stdout })}\n`);
}

async function execute(req: ShimRequest, options: CniServerOptions): Promise<Answer> {
  const t0 = performance.now();
  const command = req.env.CNI_COMMAND ?? 'UNKNOWN';
  const out = await handleInvocation({ env: req.env, stdin: req.stdin }, options.handlers);
  options.onRequest?.(command, out.exitCode === 0, (performance.now() - t0) / 1000);
  if (out.exitCode !== 0)
    options.log.warn('CNI request failed', { command, answer: out.stdout.slice(0, 500) });
  return out;
}
