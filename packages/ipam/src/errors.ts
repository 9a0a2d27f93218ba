/** Stable error codes thrown by `@podnet/ipam`. */
export type IpamErrorCode =
  /** The configuration is invalid; `field` names the offending key (CNI code 7). */
  | 'INVALID_CONFIG'
  /** A request argument (container ID, ifname, requested IP) is invalid. */
  | 'INVALID_ARGUMENT'
  /** No free address (or node subnet) is left in a range set. */
  | 'EXHAUSTED'
  /** A specifically requested address is taken, the gateway, or outside every range. */
  | 'UNAVAILABLE'
  /** The (container ID, ifname) pair already holds an address in this range set. */
  | 'DUPLICATE_ALLOCATION'
  /** Reading or writing the store failed (CNI code 5). */
  | 'STORE_FAILED'
  /** The store's lock could not be taken in time (CNI code 11, try again later). */
  | 'LOCK_FAILED';

const marker = Symbol.for('@podnet/ipam/IpamError');

/** Details an {@link IpamError} can carry. */
export interface IpamErrorDetails {
  /** Dotted path of the offending configuration field, e.g. `ranges[0][1].gateway`. */
  field?: string;
  /** The offending value. */
  value?: unknown;
  cause?: unknown;
}

/** The one error class of `@podnet/ipam`: a stable `code`, a message, and the field at fault. */
export class IpamError extends Error {
  readonly code: IpamErrorCode;
  readonly field?: string;
  readonly value?: unknown;
  readonly [marker] = true;

  constructor(code: IpamErrorCode, message: string, details: IpamErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'IpamError';
    this.code = code;
    this.field = details.field;
    this.value = details.value;
  }

  /** True for an `IpamError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is IpamError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}

/**
 * The CNI error code for an {@link IpamError}: 7 for configuration, 5 for I/O, 11 for a busy
 * lock, 100+ for podnet-ipam's own conditions.
 */
export function cniCodeFor(error: IpamError): number {
  switch (error.code) {
    case 'INVALID_CONFIG':
      return 7;
    case 'INVALID_ARGUMENT':
      return 7;
    case 'STORE_FAILED':
      return 5;
    case 'LOCK_FAILED':
      return 11;
    case 'EXHAUSTED':
      return 110;
    case 'UNAVAILABLE':
      return 111;
    case 'DUPLICATE_ALLOCATION':
      return 112;
  }
}
