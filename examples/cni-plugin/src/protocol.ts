/**
 * The wire protocol between the `podnet` shim and the node agent: one request line and one answer
 * line of JSON over a unix stream socket. Pure (no node:* imports) so both sides share the rules.
 */

/** Protocol revision; the agent refuses requests of another revision. */
export const SHIM_PROTOCOL_VERSION = 1;

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
 * `REPLY_SLOTS - 1`, each a FIFO the agent made, taken by a shim that creates `<slot>.lock`
 * (exclusively, holding its pid) and removed when it is done. A request naming a slot in `reply`
 * is answered there with `{id, exitCode, stdout}` (or `{id, socket: true}`: ask the socket), so
 * a shim needs no socket client at all.
 */
export function replyDir(socket: string): string {
  return `${socket}.replies`;
}

/** How many reply FIFOs the agent keeps. */
export const REPLY_SLOTS = 32;

/** What the shim sends: the CNI environment and the plugin configuration from stdin. */
export interface ShimRequest {
  readonly v: number;
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

/** Encodes one frame: JSON and a newline (JSON never contains a raw newline). */
export function encodeFrame(value: ShimRequest | ShimResponse): string {
  return `${JSON.stringify(value)}\n`;
}

/** Decodes a request line; throws `Error` naming the field that is wrong. */
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
    if (typeof val !== 'string') throw new Error(`request.env.${k}: want a string`);
    env[k] = val;
  }
  if (v.id !== undefined && (typeof v.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(v.id))) {
    throw new Error('request.id: want 1-64 characters of [A-Za-z0-9._-]');
  }
  if (
    v.reply !== undefined &&
    (typeof v.reply !== 'number' ||
      !Number.isInteger(v.reply) ||
      v.reply < 0 ||
      v.reply >= REPLY_SLOTS)
  ) {
    throw new Error(`request.reply: want an integer 0-${REPLY_SLOTS - 1}`);
  }
  return {
    v: SHIM_PROTOCOL_VERSION,
    ...(v.id === undefined ? {} : { id: v.id as string }),
    ...(v.reply === undefined ? {} : { reply: v.reply as number }),
    env,
    stdin: v.stdin,
  };
}

/** Decodes an answer line; throws `Error` naming the field that is wrong. */
export function decodeResponse(line: string): ShimResponse {
  const v = parseObject(line, 'response');
  if (
    typeof v.exitCode !== 'number' ||
    !Number.isInteger(v.exitCode) ||
    v.exitCode < 0 ||
    v.exitCode > 255
  ) {
    throw new Error('response.exitCode: want an integer 0-255');
  }
  if (typeof v.stdout !== 'string') throw new Error('response.stdout: want a string');
  return { exitCode: v.exitCode, stdout: v.stdout };
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
