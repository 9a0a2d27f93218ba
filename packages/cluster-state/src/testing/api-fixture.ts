import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RESOURCE_PATHS } from '../resources.js';

/** A Kubernetes object as the fixture stores it. */
export interface FixtureObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: FixtureObject;
}

interface Resource {
  readonly listKind: string;
  readonly objects: Map<string, FixtureObject>;
  readonly events: WatchEvent[];
  /** Watches from a resourceVersion below this get 410 Gone. */
  compactedBelow: number;
  /** `objects` sorted by namespace/name, until the next change. */
  sorted?: FixtureObject[];
}

/** Faults the fixture can inject. */
export interface FixtureFaults {
  /** Answer the next N list requests with HTTP 500. */
  failLists: number;
  /** Answer the next N watch requests with HTTP 500. */
  failWatches: number;
  /** Accept watches but never send them anything (a dead connection the client cannot see). */
  silentWatches: boolean;
}

const RESOURCES: Record<string, string> = Object.fromEntries(
  Object.entries(RESOURCE_PATHS).map(([kind, path]) => [path, `${kind}List`]),
);

/** Whether an object matches a `field=value[,field=value]` selector (dotted paths). */
function matchesFieldSelector(obj: FixtureObject, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [path, want] = term.split('=') as [string, string];
    let v: unknown = obj;
    for (const part of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
    return String(v ?? '') === want;
  });
}

/**
 * A plain-HTTP list/watch server for every kind podnet reads ({@link RESOURCE_PATHS}), as the
 * API server serves them: paginated lists (`limit`/`continue`), `fieldSelector`, watches from a
 * resourceVersion with bookmarks when asked, newline-delimited JSON flushed per event. Faults can
 * be injected: 500s on lists and watches, 410 Gone (HTTP status or an ERROR event),
 * server-closed watches and silent watches.
 */
export class ApiFixture {
  readonly faults: FixtureFaults = { failLists: 0, failWatches: 0, silentWatches: false };
  readonly requests: string[] = [];
  /** Resource paths answered with 404, as an API server without that CRD installed. */
  readonly unserved = new Set<string>();
  private readonly resources = new Map<string, Resource>();
  private readonly watches = new Set<{
    path: string;
    res: ServerResponse;
    silent: boolean;
    selector: string | null;
    bookmarks: boolean;
  }>();
  private server?: Server;
  private rv = 100;

  constructor() {
    for (const [path, listKind] of Object.entries(RESOURCES)) {
      this.resources.set(path, { listKind, objects: new Map(), events: [], compactedBelow: 0 });
    }
  }

  /**
   * A kubeconfig (as JSON text, which kubeconfig loaders read) that points a client at `url`
   * (the fixture's, from {@link ApiFixture.start}) without credentials or TLS.
   */
  static kubeconfig(url: string): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fx', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'fx', context: { cluster: 'fx', user: 'u' } }],
      'current-context': 'fx',
    });
  }

  /** Starts listening on 127.0.0.1 (ephemeral port); resolves with the server URL. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    this.watches.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Creates or replaces an object under `path` (e.g. `/api/v1/pods`). */
  upsert(path: string, obj: FixtureObject): void {
    const r = this.resource(path);
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const type = r.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    r.objects.set(key, stored);
    r.sorted = undefined;
    this.emit(path, { rv: this.rv, type, object: stored });
  }

  /** Deletes an object. */
  remove(path: string, name: string, namespace?: string): void {
    const r = this.resource(path);
    const key = `${namespace ?? ''}/${name}`;
    const old = r.objects.get(key);
    if (!old) return;
    r.objects.delete(key);
    r.sorted = undefined;
    const gone = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } };
    this.emit(path, { rv: this.rv, type: 'DELETED', object: gone });
  }

  /** The objects currently stored under `path`, sorted by namespace/name. */
  objects(path: string): FixtureObject[] {
    const r = this.resource(path);
    // sorted once per change, not once per list page (10,000 objects in 20 pages)
    r.sorted ??= [...r.objects.values()].sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
      ),
    );
    return [...r.sorted];
  }

  /** Forgets history: watches from any earlier resourceVersion now get 410 Gone. */
  compact(): void {
    for (const r of this.resources.values()) {
      r.compactedBelow = this.rv;
      r.events.length = 0;
    }
  }

  /** Sends an in-stream ERROR event with code 410 to every open watch, then closes them. */
  expireOpenWatches(): void {
    this.compact();
    for (const w of this.watches) {
      w.res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`,
      );
    }
    this.watches.clear();
  }

  /** Closes every open watch from the server side (a normal watch timeout). */
  closeOpenWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** How many watches are open now. */
  get openWatches(): number {
    return this.watches.size;
  }

  private resource(path: string): Resource {
    const r = this.resources.get(path);
    if (!r) throw new Error(`unknown resource path ${path}`);
    return r;
  }

  private emit(path: string, ev: WatchEvent): void {
    this.resource(path).events.push(ev);
    for (const w of this.watches) {
      if (w.path === path && !w.silent && matchesFieldSelector(ev.object, w.selector))
        w.res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    }
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch that asked for them. */
  bookmark(): void {
    for (const w of this.watches) {
      if (w.silent || !w.bookmarks) continue;
      const kind = this.resource(w.path).listKind.replace(/List$/, '');
      w.res.write(
        `${JSON.stringify({ type: 'BOOKMARK', object: { kind, metadata: { resourceVersion: String(this.rv) } } })}\n`,
      );
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const r = this.unserved.has(url.pathname) ? undefined : this.resources.get(url.pathname);
    const watch = url.searchParams.get('watch') === 'true';
    this.requests.push(`${watch ? 'WATCH' : 'LIST'} ${url.pathname}`);
    if (!r) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"kind":"Status","code":404}');
      return;
    }
    if (!watch) {
      if (this.faults.failLists > 0) {
        this.faults.failLists--;
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"kind":"Status","code":500,"message":"injected"}');
        return;
      }
      const selector = url.searchParams.get('fieldSelector');
      const all = this.objects(url.pathname).filter((o) => matchesFieldSelector(o, selector));
      const limit = Number(url.searchParams.get('limit') ?? '0');
      const cont = url.searchParams.get('continue');
      let start = 0;
      let listRv = String(this.rv);
      if (cont) {
        const [rv, offset] = cont.split(':');
        if (Number(rv) < r.compactedBelow) {
          res
            .writeHead(410, { 'content-type': 'application/json' })
            .end('{"kind":"Status","code":410,"reason":"Expired"}');
          return;
        }
        listRv = rv!;
        start = Number(offset);
      }
      const end = limit > 0 ? Math.min(all.length, start + limit) : all.length;
      const body = {
        kind: r.listKind,
        apiVersion: url.pathname.startsWith('/api/v1')
          ? 'v1'
          : url.pathname.split('/').slice(2, 4).join('/'),
        metadata: {
          resourceVersion: listRv,
          ...(end < all.length ? { continue: `${listRv}:${end}` } : {}),
        },
        items: all.slice(start, end),
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    if (this.faults.failWatches > 0) {
      this.faults.failWatches--;
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end('{"kind":"Status","code":500,"message":"injected"}');
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < r.compactedBelow) {
      res
        .writeHead(410, { 'content-type': 'application/json' })
        .end('{"kind":"Status","code":410,"reason":"Expired"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const entry = {
      path: url.pathname,
      res,
      silent: this.faults.silentWatches,
      selector: url.searchParams.get('fieldSelector'),
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
    };
    this.watches.add(entry);
    res.on('close', () => this.watches.delete(entry));
    if (!entry.silent) {
      for (const ev of r.events) {
        if (ev.rv > from && matchesFieldSelector(ev.object, entry.selector))
          res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
      }
    }
  }
}
