import type { RunRequest, RunResult, Runner } from '../runner.js';

/** Decides the answer to one recorded request; return `undefined` to fall through. */
export type FakeResponder = (request: RunRequest) => Partial<RunResult> | undefined;

/**
 * A {@link Runner} that records every request and answers from responders (first match wins,
 * default: exit 0 with empty output). Starts no process.
 */
export class RecordingRunner implements Runner {
  readonly requests: RunRequest[] = [];
  private readonly responders: FakeResponder[] = [];

  /** Adds a responder; later ones are tried first. */
  respond(responder: FakeResponder): this {
    this.responders.unshift(responder);
    return this;
  }

  /** Answers requests whose argv starts with `prefix` with `result`. */
  respondTo(prefix: readonly string[], result: Partial<RunResult>): this {
    return this.respond((r) => (prefix.every((p, i) => r.argv[i] === p) ? result : undefined));
  }

  /** The argv of each request, joined by spaces (handy for snapshots). */
  get commands(): string[] {
    return this.requests.map((r) => r.argv.join(' '));
  }

  /** Forgets recorded requests (keeps responders). */
  clear(): void {
    this.requests.length = 0;
  }

  async run(request: RunRequest): Promise<RunResult> {
    this.requests.push(request);
    for (const responder of this.responders) {
      const r = responder(request);
      if (r) return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', code: r.code ?? 0 };
    }
    return { stdout: '', stderr: '', code: 0 };
  }
}
