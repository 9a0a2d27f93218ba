import { type FifoOutcome, fifoRoundTrip, writeRequest } from './fifo-transport.js';
import {
  cniErrorResponse,
  EARLY_REQUEST_MAX_BYTES,
  configVersion,
  decodeResponse,
  encodeRequest,
  MAX_REQUEST_BYTES,
  pickCniEnv,
  requestTooLarge,
  type ShimResponse,
  SUPPORTED_CNI_VERSIONS,
} from './protocol.js';

/** Default time the shim waits for the agent's answer (the runtime has its own timeout too). */
export const DEFAULT_SHIM_TIMEOUT_MS = 60_000;

/** The longest `timeoutMs` a configuration may set: one hour (no runtime waits that long). */
export const MAX_SHIM_TIMEOUT_MS = 3_600_000;

/** The longest unix socket path: `sun_path` holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** Inputs of one shim invocation. */
export interface ShimInvocation {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
  /**
   * Try the agent's FIFOs first (see `replyDir`): the request goes there and the caller waits
   * synchronously for the answer, with no socket client loaded. For the exec'd shim only; a
   * process that serves the agent itself would block it. Default false: the socket.
   */
  readonly fifo?: boolean;
}

/**
 * Runs one CNI invocation as the `podnet` plugin: answers VERSION itself, runs standalone mode
 * in-process, and forwards everything else to the agent socket named by the config's `socket`.
 * Never throws: every failure becomes a CNI error answer.
 */
export async function runShim(inv: ShimInvocation): Promise<ShimResponse> {
  const command = inv.env.CNI_COMMAND ?? '';
  const version = configVersion(inv.stdin);
  let config: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(inv.stdin);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return cniErrorResponse(version, 6, 'decoding the network configuration: want a JSON object');
    }
    config = parsed as Record<string, unknown>;
  } catch (e) {
    return cniErrorResponse(
      version,
      6,
      'decoding the network configuration: invalid JSON',
      String(e),
    );
  }
  if (command === 'VERSION') {
    return {
      exitCode: 0,
      stdout: `${JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_CNI_VERSIONS })}\n`,
    };
  }
  if (config.mode === 'standalone') {
    const { runStandalone } = await import('./standalone.js');
    return runStandalone(inv);
  }
  if (config.mode !== undefined && config.mode !== 'agent') {
    return cniErrorResponse(
      version,
      7,
      `mode: want "agent" or "standalone", got ${JSON.stringify(config.mode)}`,
    );
  }
  if (typeof config.socket !== 'string' || !config.socket.startsWith('/')) {
    return cniErrorResponse(version, 7, 'socket: want the absolute path of the agent socket');
  }
  // a longer path is cut short by connect(2) and fails as "missing": code 11 for ever
  if (Buffer.byteLength(config.socket) > MAX_SOCKET_PATH_BYTES) {
    return cniErrorResponse(
      version,
      7,
      `socket: want a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (a unix socket address), got ${Buffer.byteLength(config.socket)}`,
    );
  }
  const timeoutMs = config.timeoutMs ?? DEFAULT_SHIM_TIMEOUT_MS;
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > MAX_SHIM_TIMEOUT_MS
  ) {
    return cniErrorResponse(
      version,
      7,
      `timeoutMs: want an integer number of milliseconds from 1 to ${MAX_SHIM_TIMEOUT_MS}, got ${JSON.stringify(config.timeoutMs)}`,
    );
  }
  return forward(
    config.socket,
    { env: pickCniEnv(inv.env), stdin: inv.stdin },
    timeoutMs,
    command,
    version,
    inv.fifo === true,
  );
}

function forward(
  socket: string,
  req: { env: Record<string, string>; stdin: string },
  timeoutMs: number,
  command: string,
  version: string,
  useFifo: boolean,
): Promise<ShimResponse> {
  const unavailable = (why: string) =>
    command === 'STATUS'
      ? cniErrorResponse(version, 50, `podnet agent not available: ${why}`)
      : cniErrorResponse(version, 11, `podnet agent not available, try again later: ${why}`);
  const request = { id: requestId(), ...req };
  const frame = encodeRequest(request);
  const bytes = Buffer.from(frame, 'utf8');
  // the agent would refuse it: a permanent error now, not a retry (code 11) after a round trip
  if (bytes.length - 1 > MAX_REQUEST_BYTES) {
    return Promise.resolve(requestTooLarge(version, bytes.length - 1));
  }
  // the FIFOs first: when the agent has them, no socket client is loaded at all
  const fifo: FifoOutcome = useFifo
    ? fifoRoundTrip(socket, request, timeoutMs)
    : { kind: 'socket', sent: false };
  if (fifo.kind === 'answer') return Promise.resolve(fifo.response);
  if (fifo.kind === 'timeout') {
    return Promise.resolve(unavailable(`no answer from ${socket} within ${timeoutMs} ms`));
  }
  // still early: the agent starts on the FIFO copy while node:net loads
  if (!fifo.sent && bytes.length <= EARLY_REQUEST_MAX_BYTES) writeRequest(socket, bytes);
  return new Promise((resolve) => {
    let done = false;
    const chunks: Buffer[] = [];
    const finish = (r: ShimResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // closed one turn later: a bin exits before that turn (destroying touches process.stderr,
      // which costs a start of its stream), a library caller still gets the socket closed
      conn.unref();
      setImmediate(() => conn.destroy());
      resolve(r);
    };
    // node:net (and Node's whole stream stack) loads only here, so VERSION and config errors
    // never pay for it
    const { createConnection } = process.getBuiltinModule('node:net');
    const conn = createConnection(socket);
    const timer = setTimeout(
      () => finish(unavailable(`no answer from ${socket} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    // queued now and sent as soon as the socket connects: the agent starts one event-loop turn
    // earlier than when writing from the 'connect' callback; a failed connect still ends in 'error'
    conn.write(bytes);
    // Buffers joined once (no setEncoding: that loads a string decoder per start)
    conn.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunk.indexOf(10) < 0) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const nl = text.indexOf('\n');
      try {
        finish(decodeResponse(text.slice(0, nl)));
      } catch (e) {
        finish(
          cniErrorResponse(
            version,
            5,
            'invalid answer from the podnet agent',
            (e as Error).message,
          ),
        );
      }
    });
    conn.on('error', (e: NodeJS.ErrnoException) =>
      finish(unavailable(`${e.code ?? 'error'} on ${socket}`)),
    );
    conn.on('close', () => finish(unavailable(`${socket} closed the connection before answering`)));
  });
}

function requestId(): string {
  return `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
}
