/** Stable error codes thrown by `@podnet/dns`. */
export type DnsErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_STATE'
  | 'INVALID_MANIFEST'
  | 'MALFORMED_MESSAGE'
  | 'UPSTREAM_FAILED'
  | 'BIND_FAILED'
  | 'NOT_STARTED';

const marker = Symbol.for('@podnet/dns/DnsError');

/** Details a {@link DnsError} can carry. */
export interface DnsErrorDetails {
  /** The field or path that was wrong, e.g. `services[3].spec.clusterIP`. */
  field?: string;
  /** The offending value. */
  value?: unknown;
  cause?: unknown;
}

/** The one error class of `@podnet/dns`: a stable `code`, a message, and the field that failed. */
export class DnsError extends Error {
  readonly code: DnsErrorCode;
  readonly field?: string;
  readonly value?: unknown;
  readonly [marker] = true;

  constructor(code: DnsErrorCode, message: string, details: DnsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'DnsError';
    this.code = code;
    this.field = details.field;
    this.value = details.value;
  }

  /** True for a `DnsError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is DnsError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
