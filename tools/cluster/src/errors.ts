import type { ManifestProblem } from '@podnet/cluster-state';

/** Stable codes of {@link ClusterError}. */
export type ClusterErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_MANIFEST'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CNI_FAILED'
  | 'TIMEOUT'
  | 'STATE_CORRUPT'
  | 'STATE_VERSION'
  | 'COMMAND_FAILED';

const MARK = Symbol.for('@podnet/cluster/ClusterError');

/** Details a {@link ClusterError} can carry. */
export interface ClusterErrorOptions {
  cause?: unknown;
  /** `INVALID_MANIFEST`: every problem found (file, document, field path), as the message lists them. */
  problems?: readonly ManifestProblem[];
}

/** The one error class of @podnet/cluster: a stable string `code`, a message and a `cause`. */
export class ClusterError extends Error {
  readonly code: ClusterErrorCode;
  readonly problems: readonly ManifestProblem[];
  readonly [MARK] = true;

  constructor(code: ClusterErrorCode, message: string, options: ClusterErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'ClusterError';
    this.code = code;
    this.problems = options.problems ?? [];
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
