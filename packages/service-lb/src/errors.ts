/** Stable error codes thrown by `@podnet/service-lb`. */
export type ServiceLbErrorCode =
  | 'INVALID_SERVICE'
  | 'INVALID_ENDPOINT_SLICE'
  | 'INVALID_NODE'
  | 'INVALID_OPTIONS'
  | 'SYNC_FAILED'
  | 'CONNTRACK_FAILED';

const marker = Symbol.for('@podnet/service-lb/ServiceLbError');

/** Details a {@link ServiceLbError} can carry. */
export interface ServiceLbErrorDetails {
  /** `namespace/name` of the Service or EndpointSlice at fault, when there is one. */
  object?: string;
  /** The path of the offending field, e.g. `spec.ports[0].port`. */
  field?: string;
  /** The offending value. */
  value?: unknown;
  cause?: unknown;
}

/** The one error class of `@podnet/service-lb`: a stable `code`, a message, and what failed. */
export class ServiceLbError extends Error {
  readonly code: ServiceLbErrorCode;
  readonly object?: string;
  readonly field?: string;
  readonly value?: unknown;
  readonly [marker] = true;

  constructor(code: ServiceLbErrorCode, message: string, details: ServiceLbErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ServiceLbError';
    this.code = code;
    this.object = details.object;
    this.field = details.field;
    this.value = details.value;
  }

  /** True for a `ServiceLbError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is ServiceLbError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
