/** Stable error codes thrown by `@podnet/host`. */
export type HostErrorCode =
  | 'INVALID_ARGUMENT'
  | 'COMMAND_FAILED'
  | 'TIMEOUT'
  | 'SPAWN_FAILED'
  | 'PARSE_FAILED';

const marker = Symbol.for('@podnet/host/HostError');

/** Details a {@link HostError} can carry about the command that failed. */
export interface HostErrorDetails {
  /** The argv that was run (or would have been). */
  command?: readonly string[];
  /** 1-based line of the batch input that failed, when the tool reports one. */
  lineNumber?: number;
  /** The text of the failing batch line. */
  line?: string;
  /** The tool's standard error. */
  stderr?: string;
  /** The process exit code. */
  exitCode?: number | null;
  /** The offending value, for `INVALID_ARGUMENT`. */
  value?: unknown;
  cause?: unknown;
}

/** The one error class of `@podnet/host`: a stable `code`, a message, and what failed. */
export class HostError extends Error {
  readonly code: HostErrorCode;
  readonly command?: readonly string[];
  readonly lineNumber?: number;
  readonly line?: string;
  readonly stderr?: string;
  readonly exitCode?: number | null;
  readonly value?: unknown;
  readonly [marker] = true;

  constructor(code: HostErrorCode, message: string, details: HostErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'HostError';
    this.code = code;
    this.command = details.command;
    this.lineNumber = details.lineNumber;
    this.line = details.line;
    this.stderr = details.stderr;
    this.exitCode = details.exitCode;
    this.value = details.value;
  }

  /** True for a `HostError`, even one created by another installed copy of this package. */
  static isInstance(error: unknown): error is HostError {
    return typeof error === 'object' && error !== null && marker in error;
  }
}
