/** Stable error codes of the node agent. */
export type AgentErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_MANIFEST'
  | 'NO_POD_CIDR'
  | 'DATAPATH_FAILED'
  | 'SOURCE_FAILED'
  /** A bad query to the agent's HTTP endpoint (e.g. a `/flows` filter). */
  | 'INVALID_REQUEST';

const marker = Symbol.for('@podnet/example-node-agent/AgentError');

/** The node agent's one error class: a stable `code`, a message and an optional `cause`. */
export class AgentError extends Error {
  readonly code: AgentErrorCode;
  /** The JSON path of the offending value, when there is one (e.g. `config.dns.ip`). */
  readonly path?: string;
  readonly [marker] = true;

  constructor(
    code: AgentErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.path = options.path;
  }

  /** True for an `AgentError`, even one from another installed copy of this package. */
  static isInstance(error: unknown): error is AgentError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
