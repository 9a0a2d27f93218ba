/** Stable error codes of `@podnet/cluster-state`. */
export type ClusterStateErrorCode =
  /** The API server could not be read (HTTP errors, bad JSON, no current cluster). */
  | 'SOURCE_FAILED'
  /** A call was used wrongly (nested transactions, a missing optional peer dependency). */
  | 'INVALID_ARGUMENT';

const marker = Symbol.for('@podnet/cluster-state/ClusterStateError');

/** Details a {@link ClusterStateError} can carry. */
export interface ClusterStateErrorDetails {
  /** The file the problem is in. */
  file?: string;
  /** 1-based document number in the file. */
  document?: number;
  /** Dotted field path inside the object, e.g. `spec.ports[0].port`. */
  path?: string;
  /** `Kind namespace/name` of the object at fault. */
  object?: string;
  cause?: unknown;
}

/** The one error class of `@podnet/cluster-state`: a stable `code`, a message, and where. */
export class ClusterStateError extends Error {
  readonly code: ClusterStateErrorCode;
  readonly file?: string;
  readonly document?: number;
  readonly path?: string;
  readonly object?: string;
  readonly [marker] = true;

  constructor(
    code: ClusterStateErrorCode,
    message: string,
    details: ClusterStateErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ClusterStateError';
    this.code = code;
    this.file = details.file;
    this.document = details.document;
    this.path = details.path;
    this.object = details.object;
  }

  /** True for a `ClusterStateError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is ClusterStateError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
