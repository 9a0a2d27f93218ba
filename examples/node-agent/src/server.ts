import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { handleInvocation, type PluginHandlers } from '@podnet/cni-spec';
import type { Logger } from './log.js';

/** Protocol revision spoken with the shim (see `@podnet/example-cni-plugin`'s protocol.ts). */
export const SHIM_PROTOCOL_VERSION = 1;
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** One decoded shim request. */
export interface ShimRequest {
  readonly env: Record<string, string>;
  readonly stdin: string;
}

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
  return { env, stdin: o.stdin };
}

/** Options of {@link serveCni}. */
export interface CniServerOptions {
  readonly socketPath: string;
  readonly handlers: PluginHandlers;
  readonly log: Logger;
  /** Called after each request with the command, success and duration in seconds. */
  readonly onRequest?: (command: string, ok: boolean, seconds: number) => void;
}

/**
 * Serves CNI requests from the shim on a unix socket (mode 0600): one JSON line in, one JSON
 * line `{exitCode, stdout}` out, per connection. A stale socket file is replaced.
 */
export async function serveCni(options: CniServerOptions): Promise<Server> {
  mkdirSync(dirname(options.socketPath), { recursive: true, mode: 0o755 });
  rmSync(options.socketPath, { force: true });
  const server = createServer((conn) => handle(conn, options));
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

function handle(conn: Socket, options: CniServerOptions): void {
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
    void answer(conn, buf.slice(0, nl), options);
  });
}

async function answer(conn: Socket, line: string, options: CniServerOptions): Promise<void> {
  const t0 = performance.now();
  let command = 'INVALID';
  let out: { stdout: string; exitCode: number };
  try {
    const req = decodeShimRequest(line);
    command = req.env.CNI_COMMAND ?? 'UNKNOWN';
    out = await handleInvocation({ env: req.env, stdin: req.stdin }, options.handlers);
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
  const seconds = (performance.now() - t0) / 1000;
  options.onRequest?.(command, out.exitCode === 0, seconds);
  if (out.exitCode !== 0)
    options.log.warn('CNI request failed', { command, answer: out.stdout.slice(0, 500) });
  conn.end(`${JSON.stringify({ exitCode: out.exitCode, stdout: out.stdout })}\n`);
}
