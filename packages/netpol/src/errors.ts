/** Stable error codes thrown by `@podnet/netpol`. */
export type NetpolErrorCode =
  | 'INVALID_POLICY'
  | 'INVALID_STATE'
  | 'INVALID_FLOW'
  | 'INVALID_ARGUMENT'
  | 'APPLY_FAILED';

const marker = Symbol.for('@podnet/netpol/NetpolError');

/** One problem found while validating an object: the field path and what is wrong there. */
export interface FieldIssue {
  /** Dotted path from the object root, e.g. `spec.ingress[0].from[1].ipBlock.except[0]`. */
  path: string;
  message: string;
}

/** Details a {@link NetpolError} can carry. */
export interface NetpolErrorDetails {
  /** Field-level problems (for `INVALID_*`). */
  issues?: readonly FieldIssue[];
  /** `namespace/name` or `name` of the object at fault. */
  object?: string;
  cause?: unknown;
}

/** The one error class of `@podnet/netpol`: a stable `code`, a message, and the fields at fault. */
export class NetpolError extends Error {
  readonly code: NetpolErrorCode;
  readonly issues: readonly FieldIssue[];
  readonly object?: string;
  readonly [marker] = true;

  constructor(code: NetpolErrorCode, message: string, details: NetpolErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'NetpolError';
    this.code = code;
    this.issues = details.issues ?? [];
    this.object = details.object;
  }

  /** True for a `NetpolError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is NetpolError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
