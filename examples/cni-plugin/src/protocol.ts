/**
 * The wire protocol between the `podnet` shim and the node agent, the one copy both sides use
 * (the agent imports it as `@podnet/example-cni-plugin/protocol`): the frames, their limits and
 * the paths of the FIFOs next to the agent's socket. Pure (no node:* imports) so the exec'd shim
 * bundles it without loading anything else.
 *
 * A request is one line of JSON `{v, id?, reply?, env, stdin}`; the answer one line
 * `{exitCode, stdout}` on the socket, or `{id, exitCode, stdout}` / `{id, socket: true}` on a
 * reply FIFO.
 */

/** Protocol revision; the agent refuses requests of another revision. */
export const SHIM_PROTOCOL_VERSION = 1;

/**
 * The largest request frame (bytes, without its newline) the agent reads: 4 MiB. A larger one is
 * a configuration the agent will never take, so it is answered with CNI code 7 (invalid network
 * config, permanent), never with code 11 (try again later).
 */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * The FIFO next to the agent's socket (`<socket>.fifo`) where a shim may write its request
 * before it loads its socket client, so the agent starts while the shim is still starting. The
 * same request, with the same `id`, then goes over the socket, which is where the answer comes
 * from; the agent runs each `id` once. A frame is only written there when it fits in one atomic
 * pipe write ({@link EARLY_REQUEST_MAX_BYTES}).
 */
export function earlyRequestPath(socket: string): string {
  return `${socket}.fifo`;
}

/** The largest frame written to the FIFO: Linux's PIPE_BUF, below which a pipe write is atomic. */
export const EARLY_REQUEST_MAX_BYTES = 4096;

/**
 * The directory of reply FIFOs next to the socket (`<socket>.replies`): slots `0` to
 * `REPLY_SLOTS - 1`, each a FIFO the agent made ({@link replySlotPath}), taken by a shim that
 * creates {@link replyLockPath} exclusively (holding its pid) and removes it when it is done. A
 * request naming a slot in `reply` is answered there (see {@link encodeReply}), so a shim needs no
 * socket client at all.
 */
export function replyDir(socket: string): string {
  return `${socket}.replies`;
}

/** How many reply FIFOs the agent keeps. */
export const REPLY_SLOTS = 32;

/** The reply FIFO of one slot: `<socket>.replies/<slot>`. */
export function replySlotPath(socket: string, slot: number): string {
  return `${replyDir(socket)}/${slot}`;
}

/** The lock a shim creates to take a slot: `<socket>.replies/<slot>.lock`. */
export function replyLockPath(socket: string, slot: number): string {
  return `${replyDir(socket)}/${slot}.lock`;
}

/** A request as the agent reads it: the CNI environment and the plugin configuration. */
export interface ShimRequest {
  /** Names a request sent twice (FIFO and socket) so that the agent runs it once. */
  readonly id?: string;
  /** The reply FIFO slot (see {@link replyDir}) where the shim waits for the answer. */
  readonly reply?: number;
  /** Only the `CNI_*` variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Stdin as the runtime wrote it (the plugin configuration JSON). */
  readonly stdin: string;
}

/** What the agent answers: the exact stdout to print and the exit code to exit with. */
export interface ShimResponse {
  readonly exitCode: number;
  readonly stdout: string;
}

/** The CNI variables a request carries (everything else in the environment stays behind). */
export const CNI_ENV_KEYS = [
  'CNI_COMMAND',
  'CNI_CONTAINERID',
  'CNI_NETNS',
  'CNI_IFNAME',
  'CNI_ARGS',
  'CNI_PATH',
] as const;

/** Picks the `CNI_*` variables out of an environment. */
export function pickCniEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of CNI_ENV_KEYS) {
    const v = env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Encodes a request frame: `{v, ...request}` as JSON and a newline (JSON holds no raw newline). */
export function encodeRequest(request: ShimRequest): string {
  return `${JSON.stringify({ v: SHIM_PROTOCOL_VERSION, ...request })}\n`;
}

/** Encodes an answer frame for the socket: JSON and a newline. */
export function encodeResponse(response: ShimResponse): string {
  return `${JSON.stringify({ exitCode: response.exitCode, stdout: response.stdout })}\n`;
}

/**
 * Decodes a request line; throws `Error` naming the field that is wrong. Keeps only the `CNI_*`
 * variables of `env` (anything else is dropped unread).
 */
export function decodeRequest(line: string): ShimRequest {
  const v = parseObject(line, 'request');
  if (v.v !== SHIM_PROTOCOL_VERSION) {
    throw new Error(
      `request.v: want protocol ${SHIM_PROTOCOL_VERSION}, got ${JSON.stringify(v.v)}`,
    );
  }
  if (typeof v.stdin !== 'string') throw new Error('request.stdin: want a string');
  if (typeof v.env !== 'object' || v.env === null || Array.isArray(v.env)) {
    throw new Error('request.env: want an object of strings');
  }
  const env: Record<string, string> = {};
  for (const [k, val] of Object.entries(v.env as Record<string, unknown>)) {
    if (!k.startsWith('CNI_')) continue;
    if (typeof val !== 'string') throw new Error(`request.env.${k}: want a string`);
    env[k] = val;
  }
  if (v.id !== undefined && (typeof v.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(v.id))) {
    throw new Error('request.id: want 1-64 characters of [A-Za-z0-9._-]');
  }
  if (v.reply !== undefined && !isSlot(v.reply)) {
    throw new Error(`request.reply: want an integer 0-${REPLY_SLOTS - 1}`);
  }
  return {
    ...(v.id === undefined ? {} : { id: v.id as string }),
    ...(v.reply === undefined ? {} : { reply: v.reply as number }),
    env,
    stdin: v.stdin,
  };
}

/** Decodes an answer line from the socket; throws `Error` naming the field that is wrong. */
export function decodeResponse(line: string): ShimResponse {
  const v = parseObject(line, 'response');
  if (!isExitCode(v.exitCode)) throw new Error('response.exitCode: want an integer 0-255');
  if (typeof v.stdout !== 'string') throw new Error('response.stdout: want a string');
  return { exitCode: v.exitCode, stdout: v.stdout };
}

/**
 * Encodes an answer frame for a reply FIFO: `{id, exitCode, stdout}`, or `{id, socket: true}`
 * when the agent tells the shim to ask the socket for it (`'socket'`).
 */
export function encodeReply(id: string, answer: ShimResponse | 'socket'): string {
  return answer === 'socket'
    ? `${JSON.stringify({ id, socket: true })}\n`
    : `${JSON.stringify({ id, exitCode: answer.exitCode, stdout: answer.stdout })}\n`;
}

/**
 * Reads one line from a reply FIFO for the request `id`: the answer; `'socket'` when the agent
 * says so or the frame for `id` is malformed (the socket gets a proper answer); undefined for a
 * line that is not for `id` (left in the slot by an earlier, abandoned request) or not JSON.
 */
export function decodeReply(line: string, id: string): ShimResponse | 'socket' | undefined {
  let v: { id?: unknown; exitCode?: unknown; stdout?: unknown; socket?: unknown };
  try {
    v = JSON.parse(line) as typeof v;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || v.id !== id) return undefined;
  if (v.socket === true || typeof v.stdout !== 'string' || !isExitCode(v.exitCode)) {
    return 'socket';
  }
  return { exitCode: v.exitCode, stdout: v.stdout };
}

function isSlot(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < REPLY_SLOTS;
}

function isExitCode(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`${what}: not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${what}: want an object`);
  return v as Record<string, unknown>;
}

/** The CNI spec versions the podnet plugin accepts (it prints results in the one it was given). */
export const SUPPORTED_CNI_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** A CNI error object as printed on stdout. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Renders a CNI error answer (stdout text and exit code 1). */
export function cniErrorResponse(
  cniVersion: string,
  code: number,
  msg: string,
  details?: string,
): ShimResponse {
  const err: CniErrorJson = { cniVersion, code, msg };
  if (details) err.details = details;
  return { exitCode: 1, stdout: `${JSON.stringify(err)}\n` };
}

/**
 * The answer to a request larger than {@link MAX_REQUEST_BYTES}: CNI code 7 (the configuration is
 * too large, which retrying cannot change), with the limit in `msg` and the size, when known, in
 * `details`.
 */
export function requestTooLarge(cniVersion: string, bytes?: number): ShimResponse {
  return cniErrorResponse(
    cniVersion,
    7,
    `network configuration too large: the podnet agent takes requests of at most ${MAX_REQUEST_BYTES} bytes (4 MiB)`,
    bytes === undefined ? undefined : `this request is ${bytes} bytes`,
  );
}

/** The `cniVersion` of a configuration text, `0.1.0` when missing, `1.1.0` when unreadable. */
export function configVersion(stdin: string): string {
  try {
    const c = JSON.parse(stdin) as { cniVersion?: unknown };
    if (typeof c.cniVersion === 'string') return c.cniVersion;
    return '0.1.0';
  } catch {
    return '1.1.0';
  }
}
