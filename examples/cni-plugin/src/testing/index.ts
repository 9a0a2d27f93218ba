import { createServer, type Server } from 'node:net';
import { decodeRequest, encodeResponse, type ShimRequest, type ShimResponse } from '../protocol.js';

/** How a {@link FakeAgent} treats a request: answer it, drop the connection, or stay silent. */
export type FakeAgentBehaviour =
  | ShimResponse
  | 'close'
  | 'silent'
  | ((req: ShimRequest) => ShimResponse | 'close' | 'silent');

/**
 * A stand-in for the node agent on a unix socket, for testing the shim (or a runtime that execs
 * it) without an agent: records every request and answers as told.
 */
export class FakeAgent {
  readonly requests: ShimRequest[] = [];
  behaviour: FakeAgentBehaviour = { exitCode: 0, stdout: '{"cniVersion":"1.1.0"}' };
  private server?: Server;

  constructor(readonly socketPath: string) {}

  async start(): Promise<void> {
    this.server = createServer((conn) => {
      let buf = '';
      conn.setEncoding('utf8');
      conn.on('error', () => {});
      conn.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        let req: ShimRequest;
        try {
          req = decodeRequest(buf.slice(0, nl));
        } catch {
          conn.end('not a frame\n');
          return;
        }
        this.requests.push(req);
        const b = typeof this.behaviour === 'function' ? this.behaviour(req) : this.behaviour;
        if (b === 'close') conn.destroy();
        else if (b !== 'silent') conn.end(encodeResponse(b));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
