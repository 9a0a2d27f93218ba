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
import {
  assertNetns,
  handleInvocation,
  type PluginHandlers,
  type PluginOptions,
} from '@podnet/cni-spec';
import { assertIfName, assertNetnsPath } from '@podnet/host';
import {
  cniErrorResponse,
  decodeRequest,
  earlyRequestPath,
  encodeReply,
  encodeResponse,
  MAX_REQUEST_BYTES,
  REPLY_SLOTS,
  replyDir,
  replyLockPath,
  replySlotPath,
  requestTooLarge,
  type ShimRequest,
} from '@podnet/example-cni-plugin/protocol';
import type { Logger } from './log.js';

// the agent's names for the shim protocol, all from the one protocol module the shim bundles
export {
  decodeRequest as decodeShimRequest,
  REPLY_SLOTS,
  SHIM_PROTOCOL_VERSION,
  type ShimRequest,
} from '@podnet/example-cni-plugin/protocol';

/** How long an answer to a request that came early on the FIFO waits for its socket twin. */
const EARLY_ANSWER_TTL_MS = 120_000;
const REPLY_LOCK_STALE_MS = 10 * 60_000;

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
    options.socketPath,
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
 * Makes the reply FIFOs (`replySlotPath`, mode 0600, in a 0700 `replyDir`) and sweeps the slot
 * locks of shims that died holding them. `send` answers a slot without blocking: a shim that is
 * gone (no reader) or an answer larger than the pipe only lose the reply; the shim asks the socket.
 */
async function makeReplySlots(
  socketPath: string,
  log: Logger,
  staleMs: number,
): Promise<{ send(slot: number, id: string, a: Answer): void; stop(): void } | undefined> {
  const dir = replyDir(socketPath);
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    const slots = Array.from({ length: REPLY_SLOTS }, (_, k) => replySlotPath(socketPath, k));
    await promisify(execFile)('mkfifo', ['-m', '0600', ...slots]);
  } catch (e) {
    log.warn('no reply FIFOs; shims answer through the socket', { dir, error: String(e) });
    return undefined;
  }
  // a lock older than any shim waits (its timeout is a minute by default) belongs to a shim that
  // died holding it; by age, as the shim's pid may be in another pid namespace than ours
  const sweep = () => {
    for (let k = 0; k < REPLY_SLOTS; k++) {
      const lock = replyLockPath(socketPath, k);
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
        fd = openSync(replySlotPath(socketPath, slot), constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        return;
      }
      try {
        let frame = Buffer.from(encodeReply(id, a), 'utf8');
        if (frame.length > PIPE_CAPACITY) frame = Buffer.from(encodeReply(id, 'socket'), 'utf8');
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
          req = decodeRequest(line);
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

/**
 * Reads one request line from a connection. A request over `MAX_REQUEST_BYTES` is answered at
 * once with code 7 (too large, permanent: a runtime must not retry it), and the rest of it is
 * read and dropped so that the client, still writing, gets that answer rather than a reset.
 */
function handle(conn: Socket, run: (req: ShimRequest) => Promise<Answer>): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let started = false;
  conn.on('error', () => {});
  conn.on('data', (chunk: Buffer) => {
    if (started) return;
    const nl = chunk.indexOf(10);
    const head = nl < 0 ? chunk : chunk.subarray(0, nl);
    size += head.length;
    if (size > MAX_REQUEST_BYTES) {
      started = true;
      chunks.length = 0;
      conn.end(encodeResponse(requestTooLarge('1.1.0')));
      return;
    }
    chunks.push(head);
    if (nl < 0) return;
    started = true;
    void answer(conn, Buffer.concat(chunks).toString('utf8'), run);
  });
}

async function answer(
  conn: Socket,
  line: string,
  run: (req: ShimRequest) => Promise<Answer>,
): Promise<void> {
  let out: Answer;
  try {
    out = await run(decodeRequest(line));
  } catch (e) {
    out = cniErrorResponse(
      '1.1.0',
      5,
      'podnet agent: bad request from the shim',
      (e as Error).message,
    );
  }
  conn.end(encodeResponse(out));
}

async function execute(req: ShimRequest, options: CniServerOptions): Promise<Answer> {
  const t0 = performance.now();
  const command = req.env.CNI_COMMAND ?? 'UNKNOWN';
  const out = await handleInvocation(
    { env: req.env, stdin: req.stdin },
    options.handlers,
    AGENT_CHECKS,
  );
  options.onRequest?.(command, out.exitCode === 0, (performance.now() - t0) / 1000);
  if (out.exitCode !== 0)
    options.log.warn('CNI request failed', { command, answer: out.stdout.slice(0, 500) });
  return out;
}

/**
 * What the skeleton checks before a handler runs, so that bad input is code 4 naming the
 * variable instead of a failure later (999): an interface name `ip` takes, and a `CNI_NETNS` that
 * is a network namespace at a path `ip` takes.
 */
const AGENT_CHECKS: PluginOptions = {
  checkIfName: assertIfName,
  checkNetns: (path) => {
    assertNetnsPath(path);
    assertNetns(path);
  },
};
