import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { loadYaml, type ParsedDocument, parseText } from '../reader.js';

/**
 * Makes equal strings of a worker's parse result one string (in place; returns `docs`). The
 * message is a structured clone, which copies every string value on its own, where a parse on
 * this thread shares short ones: a list of 10,000 Services holds "v1", "Service", its namespace
 * names and "TCP" tens of thousands of times (~1.3 MB, kept as long as the objects).
 */
export function shareStrings(docs: ParsedDocument[]): ParsedDocument[] {
  const seen = new Map<string, string>();
  const share = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const s = seen.get(v);
      if (s !== undefined) return s;
      seen.set(v, v);
      return v;
    }
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = share(v[i]);
    } else {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = share(o[k]);
    }
    return v;
  };
  for (const d of docs) if (d.value !== undefined) share(d.value);
  return docs;
}

/**
 * `docs` as JSON text when `JSON.parse` gives exactly them back (plain objects and arrays,
 * strings, finite numbers other than -0, booleans, null; no undefined), else null. The parse
 * worker sends its results this way: objects `JSON.parse` makes hold exactly their properties,
 * where a structured clone's have room for four (~0.6 MB more at 10,000 Services). Runs on the
 * worker (its source is handed over): self-contained.
 */
export function exactJson(docs: unknown): string | null {
  let exact = true;
  let text: string;
  try {
    text = JSON.stringify(docs, function (this: Record<string, unknown>, key, value) {
      const v = this[key];
      if (v === null || typeof v === 'string' || typeof v === 'boolean') return value;
      if (typeof v === 'number') {
        if (!Number.isFinite(v) || Object.is(v, -0)) exact = false;
      } else if (typeof v === 'object') {
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== Array.prototype && proto !== null)
          exact = false;
      } else {
        exact = false;
      }
      return value;
    });
  } catch {
    return null;
  }
  return exact ? text : null;
}

/**
 * Parses manifest texts on a worker thread, so a big file (YAML parses at a few MB/s) never
 * holds up the event loop that serves CNI requests and DNS. The worker runs {@link parseText}
 * itself (its source is handed over), with the same `yaml` module. One worker, started on first
 * use, unref'd; {@link ParseWorker.close} ends it, and so does `idleMs` of quiet: a worker is
 * a V8 isolate of its own (about 10 MB resident), worth keeping only while big texts come.
 */
export class ParseWorker {
  private worker?: Worker;
  private idleTimer?: NodeJS.Timeout;
  private next = 0;
  private readonly pending = new Map<
    number,
    { resolve: (d: ParsedDocument[]) => void; reject: (e: Error) => void }
  >();

  /**
   * @param options.idleMs - end the worker after this many milliseconds without a parse
   *   (default: keep it); the next big text starts a new one.
   */
  constructor(private readonly options: { readonly idleMs?: number } = {}) {
    const idle = options.idleMs;
    if (idle !== undefined && !(Number.isFinite(idle) && idle >= 0))
      throw new TypeError(`idleMs must be a non-negative number, got ${String(idle)}`);
  }

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  parse(text: string, format: 'json' | 'yaml', maxAliasCount: number): Promise<ParsedDocument[]> {
    clearTimeout(this.idleTimer);
    const w = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, text, format, maxAliasCount });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    loadYaml(); // fails clearly when yaml is not installed
    const yamlPath = createRequire(import.meta.url).resolve('yaml');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const yaml = require(workerData.yamlPath);
      const parseText = ${parseText.toString()};
      const exactJson = ${exactJson.toString()};
      parentPort.on('message', (m) => {
        let out;
        try { out = parseText(yaml, m.text, m.format, m.maxAliasCount); }
        catch (e) { out = [{ document: 0, error: String(e && e.message) }]; }
        const json = exactJson(out);
        parentPort.postMessage(json === null ? { id: m.id, out } : { id: m.id, json });
      });`;
    const w = new Worker(code, { eval: true, workerData: { yamlPath } });
    w.unref();
    w.on('message', (m: { id: number; out?: ParsedDocument[]; json?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) {
        w.unref();
        this.endWhenIdle(w);
      }
      let out: ParsedDocument[];
      try {
        out = m.json === undefined ? (m.out ?? []) : (JSON.parse(m.json) as ParsedDocument[]);
      } catch (e) {
        out = [{ document: 0, error: `parse failed: ${(e as Error).message}` }];
      }
      p?.resolve(shareStrings(out));
    });
    const fail = (e: Error) => {
      // a worker ended on purpose (idle, close) has no parses left and is no longer current
      if (this.worker !== w) return;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`parse worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  private endWhenIdle(w: Worker): void {
    const idleMs = this.options.idleMs;
    if (idleMs === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.worker !== w || this.pending.size > 0) return;
      this.worker = undefined;
      void w.terminate();
    }, idleMs);
    this.idleTimer.unref();
  }

  /** Ends the worker (pending parses fail). */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    const e = new Error('parse worker closed');
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    if (w) await w.terminate();
  }
}
