/** The numeric error codes of the CNI specification (plus libcni's generic 999). */
export const CNI_ERROR_CODES = {
  /** The configuration's `cniVersion` is not supported (or no conversion exists). */
  INCOMPATIBLE_VERSION: 1,
  /** A configuration field is not supported by the plugin. */
  UNSUPPORTED_FIELD: 2,
  /** The container does not exist or is unknown to the plugin. */
  UNKNOWN_CONTAINER: 3,
  /** A `CNI_*` environment variable is missing or malformed. */
  INVALID_ENVIRONMENT: 4,
  /** An I/O failure, e.g. a file could not be read or written. */
  IO_FAILURE: 5,
  /** The content (stdin, a result) could not be decoded. */
  DECODE_FAILURE: 6,
  /** The network configuration is invalid. */
  INVALID_NETWORK_CONFIG: 7,
  /** Try again later: a transient condition (busy, timed out). */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin is not available (it cannot ADD now). */
  PLUGIN_NOT_AVAILABLE: 50,
  /** STATUS: the plugin can ADD, but pods will have limited connectivity. */
  LIMITED_CONNECTIVITY: 51,
  /** A generic plugin failure (what libcni's skeleton reports for untyped errors). */
  INTERNAL: 999,
} as const;

/** One of the named codes; plugin-specific codes are 100 and above. */
export type CniErrorCode = (typeof CNI_ERROR_CODES)[keyof typeof CNI_ERROR_CODES] | number;

/** The error object a plugin prints on stdout (spec section "Error"). */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Options for {@link CniError}. */
export interface CniErrorOptions {
  /** Longer, free-form detail (the spec's `details`). */
  details?: string;
  /** JSON path of the offending value, for validation errors (e.g. `$.plugins[0].type`). */
  path?: string;
  /** The `cniVersion` to render in {@link CniError.toJSON} when none is passed. */
  cniVersion?: string;
  cause?: unknown;
}

const marker = Symbol.for('@podnet/cni-spec/CniError');

/**
 * The one error class of `@podnet/cni-spec`: a CNI error with the spec's numeric `code`, `msg`
 * and `details`, rendered by {@link CniError.toJSON} exactly as a plugin prints it.
 */
export class CniError extends Error {
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
  readonly path?: string;
  readonly cniVersion?: string;
  readonly [marker] = true;

  constructor(code: CniErrorCode, msg: string, options: CniErrorOptions = {}) {
    super(
      options.details ? `${msg}: ${options.details}` : msg,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'CniError';
    this.code = Number.isInteger(code) && code > 0 ? code : CNI_ERROR_CODES.INTERNAL;
    this.msg = msg;
    if (options.details) this.details = options.details;
    if (options.path) this.path = options.path;
    if (options.cniVersion) this.cniVersion = options.cniVersion;
  }

  /** The spec's error JSON: `{cniVersion, code, msg, details?}`. */
  toJSON(cniVersion?: string): CniErrorJson {
    const out: CniErrorJson = {
      cniVersion: cniVersion || this.cniVersion || '1.1.0',
      code: this.code,
      msg: this.msg,
    };
    if (this.details) out.details = this.details;
    return out;
  }

  /** True for a `CniError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is CniError {
    return typeof error === 'object' && error !== null && marker in error;
  }

  /**
   * Reads a plugin's error output (`{code, msg, details}`); returns undefined when `value` is not
   * an error object.
   */
  static fromJSON(value: unknown): CniError | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.code !== 'number' || !Number.isInteger(v.code) || v.code < 1) return undefined;
    return new CniError(v.code, typeof v.msg === 'string' ? v.msg : '', {
      details: typeof v.details === 'string' ? v.details : undefined,
      cniVersion: typeof v.cniVersion === 'string' ? v.cniVersion : undefined,
    });
  }

  /** Wraps any thrown value as a `CniError` (code 999 unless it already is one). */
  static from(error: unknown): CniError {
    if (CniError.isInstance(error)) return error;
    const msg = error instanceof Error ? error.message : String(error);
    return new CniError(CNI_ERROR_CODES.INTERNAL, msg || 'plugin failed', { cause: error });
  }
}
