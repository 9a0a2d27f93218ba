import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FlowRecorder, matchesFlowFilter, parseFlowFilter } from './flows.js';

/** The path of the flow stream on the agent's HTTP endpoint. */
export const FLOWS_PATH = '/flows';

/**
 * Serves `GET /flows`: the recorder's events as newline-delimited JSON, filtered by the query
 * (`pod`, `namespace`, `verdict`, `since`: see `parseFlowFilter`); with `follow=1` the stream
 * stays open and goes on with new events. The writer respects the socket's backpressure: a
 * reader that does not keep up falls behind in the ring and gets a `lost` line counting what
 * was overwritten. A bad query answers 400 naming the parameter.
 */
export function serveFlowStream(
  recorder: FlowRecorder,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const url = new URL(req.url ?? '/', 'http://agent');
  let filter: ReturnType<typeof parseFlowFilter>;
  try {
    filter = parseFlowFilter(url.searchParams);
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    return;
  }
  const followParam = url.searchParams.get('follow');
  const follow = followParam === '1' || followParam === 'true' || followParam === '';
  const cursor = recorder.cursor();
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  res.flushHeaders();
  let closed = false;
  let waiting = false;
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    if (closed || waiting) return;
    for (;;) {
      const batch = recorder.read(cursor, 512);
      if (batch.length === 0) break;
      let chunk = '';
      for (const e of batch) if (matchesFlowFilter(e, filter)) chunk += `${JSON.stringify(e)}\n`;
      if (chunk !== '' && !res.write(chunk)) {
        waiting = true;
        res.once('drain', () => {
          waiting = false;
          pump();
        });
        return;
      }
    }
    if (!follow) {
      closed = true;
      res.end();
    }
  };
  const unsubscribe = follow
    ? recorder.onAppend(() => {
        if (scheduled || waiting || closed) return;
        scheduled = true;
        setImmediate(pump);
      })
    : undefined;
  res.on('close', () => {
    closed = true;
    unsubscribe?.();
  });
  pump();
}
