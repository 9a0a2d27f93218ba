/** Stable error codes thrown by `@podnet/overlay-vxlan`. */
export type OverlayErrorCode =
  | 'INVALID_LOCAL'
  | 'INVALID_PEER'
  | 'INVALID_ANNOTATION'
  | 'UPLINK_NOT_FOUND'
  | 'READ_FAILED'
  | 'APPLY_FAILED';

const marker = Symbol.for('@podnet/overlay-vxlan/OverlayError');

/** Details an {@link OverlayError} can carry. */
export interface OverlayErrorDetails {
  /** The input field at fault, e.g. `local.podCIDRs[1]` or `annotations["overlay.podnet.io/vtep-mac"]`. */
  field?: string;
  /** The offending value. */
  value?: unknown;
  cause?: unknown;
}

/** The one error class of `@podnet/overlay-vxlan`: a stable `code`, the field at fault, a `cause`. */
export class OverlayError extends Error {
  readonly code: OverlayErrorCode;
  readonly field?: string;
  readonly value?: unknown;
  readonly [marker] = true;

  constructor(code: OverlayErrorCode, message: string, details: OverlayErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OverlayError';
    this.code = code;
    this.field = details.field;
    this.value = details.value;
  }

  /** True for an `OverlayError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is OverlayError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
