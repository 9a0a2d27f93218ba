/** Stable codes of {@link ClusterError}. */
export type ClusterErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CNI_FAILED'
  | 'TIMEOUT'
  | 'STATE_CORRUPT'
  | 'COMMAND_FAILED';

const MARK = Symbol.for('@podnet/cluster/ClusterError');

/** The one error class of @podnet/cluster: a stable string `code`, a message and a `cause`. */
export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  readonly [MARK] = true;

  constructor(code: ClusterErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ClusterError';
    this.code = code;
  }

  /** True for a ClusterError, also across two installed copies of the package. */
  static isInstance(value: unknown): value is ClusterError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARK] === true
    );
  }
}
