import http from 'node:http';
import https from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { ClusterStateError } from '../errors.js';
import { objectKey } from '../keys.js';
import { type ClusterSource, type SourceLogger, silentLogger } from '../source.js';
import type { ClusterStore } from '../store.js';
import { type ClusterObject, OBJECT_KINDS, type ObjectKind } from '../types.js';
import { validateObject } from '../validate.js';
import { RESOURCE_PATHS } from '../resources.js';

/** Options of {@link KubernetesSource}. */
export interface KubernetesSourceOptions {
  /** Path of a kubeconfig file; default: in-cluster service account, else `~/.kube/config`. */
  readonly kubeconfig?: string;
  /** Or a ready KubeConfig. */
  readonly kubeConfig?: KubeConfig;
  readonly log?: SourceLogger;
  /** The kinds to read (default: all of podnet's). */
  readonly kinds?: readonly ObjectKind[];
  /** A field selector per kind, e.g. `{ Pod: 'spec.nodeName=node-1' }` (this node's pods only). */
  readonly fieldSelectors?: Partial<Record<ObjectKind, string>>;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long (default 300 s). */
  readonly watchIdleMs?: number;
  /** First retry delay after an error (default 250 ms), doubled up to `maxBackoffMs` (30 s). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Page size of lists (default 500, as client-go's reflector). */
  readonly pageSize?: number;
}

interface WatchEvent {
  type: string;
  object: { metadata?: { resourceVersion?: string }; code?: number; [k: string]: unknown };
}

class Gone extends Error {
  readonly statusCode = 410;
}

/** The API server does not serve the resource (e.g. ClusterNetworkPolicy's CRD is not installed). */
class NotServed extends Error {
  readonly statusCode = 404;
}

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** GET a JSON document from the API server with the kubeconfig's credentials. */
// biome-ignore lint/suspicious/noExplicitAny: a list response is plain JSON, read field by field
async function getJson(kc: KubeConfig, path: string, query: Record<string, string>): Promise<any> {
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new ClusterStateError('SOURCE_FAILED', 'the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const opts: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const plain = url.protocol === 'http:';
  if (plain) delete opts.agent;
  return new Promise((resolve, reject) => {
    const req = (plain ? http : https).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 410) return reject(new Gone(`list ${path}: 410 Gone`));
        if (res.statusCode === 404) return reject(new NotServed(`list ${path}: 404 Not Found`));
        if (res.statusCode !== 200) {
          const e = new ClusterStateError(
            'SOURCE_FAILED',
            `list ${path}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`,
          );
          return reject(e);
        }
        try {
          resolve(JSON.parse(body));
        } catch (cause) {
          reject(new ClusterStateError('SOURCE_FAILED', `list ${path}: bad JSON`, { cause }));
        }
      });
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`list ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * One kind, listed then watched, kept in the store: client-go's reflector, on
 * `@kubernetes/client-node`'s `KubeConfig` and `Watch`. Objects stay in their wire form (no
 * typed deserialisation: `from` stays `from`, timestamps stay strings), as manifests have them.
 */
class Reflector {
  resourceVersion = '';
  listed = false;
  lastActivity = Date.now();
  /** What the reflector is doing: the watchdog only looks at an open watch. */
  phase: 'listing' | 'watching' | 'waiting' = 'waiting';
  private backoffMs: number;
  private controller?: AbortController;
  private timer?: NodeJS.Timeout;
  private generation = 0;
  private stopped = false;
  private invalid = new Set<string>();
  private notServed = false;

  constructor(
    readonly kind: ObjectKind,
    private readonly source: KubernetesSource,
    private readonly kc: KubeConfig,
    private readonly store: ClusterStore,
    private readonly options: KubernetesSourceOptions,
  ) {
    this.backoffMs = options.minBackoffMs ?? 250;
  }

  private get log(): SourceLogger {
    return this.options.log ?? silentLogger;
  }

  private get path(): string {
    return RESOURCE_PATHS[this.kind];
  }

  private selector(): Record<string, string> {
    const s = this.options.fieldSelectors?.[this.kind];
    return s ? { fieldSelector: s } : {};
  }

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.timer);
    this.controller?.abort();
  }

  /** Restarts the watch (the watchdog, for a silent connection). */
  restartWatch(): void {
    if (this.stopped || this.timer || this.phase !== 'watching') return;
    this.source.count('watchdogRestarts');
    this.log.warn('watch silent; restarting it', {
      resource: this.path,
      idleMs: Date.now() - this.lastActivity,
    });
    this.generation++;
    this.controller?.abort();
    this.controller = undefined;
    void this.watch();
  }

  private retry(what: 'relist' | 'watch', err: unknown): void {
    if (this.stopped) return;
    this.source.count('errors');
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    this.log.warn(`${what} failed; retrying after backoff`, {
      resource: this.path,
      error: String((err as Error)?.message ?? err),
      delayMs: Math.round(delay),
    });
    clearTimeout(this.timer);
    this.phase = 'waiting';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void (what === 'relist' ? this.relist() : this.watch());
    }, delay);
    this.timer.unref?.();
  }

  private async relist(): Promise<void> {
    const gen = ++this.generation;
    this.phase = 'listing';
    this.controller?.abort();
    this.controller = undefined;
    const items: ClusterObject[] = [];
    let rv = '';
    try {
      let cont = '';
      do {
        const page = await getJson(this.kc, this.path, {
          limit: String(this.options.pageSize ?? 500),
          ...(cont ? { continue: cont } : {}),
          ...this.selector(),
        });
        if (gen !== this.generation || this.stopped) return;
        this.lastActivity = Date.now();
        for (const o of page.items ?? []) items.push(o);
        rv = page.metadata?.resourceVersion ?? rv;
        cont = page.metadata?.continue ?? '';
      } while (cont);
    } catch (e) {
      if (gen !== this.generation) return;
      if (e instanceof NotServed) {
        // an API that is not installed holds no objects: synced and empty, checked again later
        if (!this.notServed)
          this.log.info('resource not served; reading it as empty', { resource: this.path });
        this.notServed = true;
        this.store.transaction((tx) => {
          tx.replace(this.kind, []);
          tx.markSynced(this.kind);
        });
        this.listed = true;
        this.phase = 'waiting';
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.relist();
        }, this.options.maxBackoffMs ?? 30_000);
        this.timer.unref?.();
        return;
      }
      this.retry('relist', e);
      return;
    }
    this.notServed = false;
    this.source.count('lists');
    this.lastActivity = Date.now();
    this.resourceVersion = rv;
    this.backoffMs = this.options.minBackoffMs ?? 250;
    const valid = items.filter((o) => this.check(o));
    this.store.transaction((tx) => {
      tx.replace(this.kind, valid);
      tx.markSynced(this.kind);
    });
    this.listed = true;
    void this.watch();
  }

  /** Validates an object at the edge: an invalid one is logged once and kept out. */
  private check(o: ClusterObject): boolean {
    const problems = validateObject(this.kind, o);
    const key = objectKey(this.kind, o);
    if (problems.length === 0) {
      this.invalid.delete(key);
      return true;
    }
    if (!this.invalid.has(key)) {
      this.invalid.add(key);
      this.source.count('invalidObjects');
      this.log.warn('object skipped', {
        object: `${this.kind} ${key}`,
        field: problems[0]!.path,
        error: problems[0]!.message,
      });
    }
    return false;
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    this.phase = 'watching';
    this.lastActivity = Date.now();
    const current = () => gen === this.generation && !this.stopped;
    let gone = false;
    const onEvent = (type: string, obj: WatchEvent['object']) => {
      if (!current()) return;
      this.lastActivity = Date.now();
      if (type === 'ERROR') {
        if (obj?.code === 410) gone = true;
        else this.log.warn('watch error event', { resource: this.path, status: obj });
        return;
      }
      const rv = obj?.metadata?.resourceVersion;
      if (type === 'BOOKMARK') {
        if (rv) this.resourceVersion = rv;
        this.source.count('bookmarks');
        return;
      }
      this.source.count('events');
      const o = obj as unknown as ClusterObject;
      if (type === 'ADDED' || type === 'MODIFIED') {
        const ok = this.check(o);
        this.store.transaction((tx) => {
          if (ok) tx.upsert(this.kind, o);
          else tx.delete(this.kind, objectKey(this.kind, o));
        });
      } else if (type === 'DELETED') {
        this.store.transaction((tx) => tx.delete(this.kind, objectKey(this.kind, o)));
      }
      if (rv) this.resourceVersion = rv;
    };
    const done = (err: unknown) => {
      if (!current()) return;
      const status = (err as { statusCode?: number } | null)?.statusCode;
      if (gone || status === 410) {
        this.source.count('relists');
        this.log.info('watch expired (410 Gone); relisting', { resource: this.path });
        void this.relist();
      } else if (err) {
        this.retry('watch', err);
      } else {
        this.source.count('watchRestarts');
        void this.watch();
      }
    };
    try {
      const controller = await new Watch(this.kc).watch(
        this.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          ...this.selector(),
        },
        onEvent,
        done,
      );
      if (current()) {
        this.controller = controller;
        this.lastActivity = Date.now();
        this.backoffMs = this.options.minBackoffMs ?? 250;
      } else controller.abort();
    } catch (e) {
      if (current()) this.retry('watch', e);
    }
  }
}

/**
 * Cluster state from the Kubernetes API through `@kubernetes/client-node`: per kind, a paginated
 * list, then a watch with bookmarks from the list's resourceVersion; a server-closed watch is
 * resumed from the last resourceVersion, 410 Gone relists (deletions missed meanwhile become
 * deltas), errors retry with jittered exponential backoff, and a watchdog restarts a watch that
 * stayed silent longer than `watchIdleMs`. Nothing in the store is dropped while it recovers.
 * Objects that fail {@link validateObject} are logged once and kept out.
 */
export class KubernetesSource implements ClusterSource {
  readonly kinds: readonly ObjectKind[];
  private readonly kc: KubeConfig;
  private readonly counters: Record<string, number> = {
    lists: 0,
    relists: 0,
    errors: 0,
    events: 0,
    bookmarks: 0,
    watchRestarts: 0,
    watchdogRestarts: 0,
    invalidObjects: 0,
  };
  private reflectors: Reflector[] = [];
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly options: KubernetesSourceOptions = {}) {
    this.kc = options.kubeConfig ?? loadKubeConfig(options.kubeconfig);
    this.kinds = options.kinds ?? OBJECT_KINDS;
  }

  /** @internal */
  count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  get stats(): Readonly<Record<string, number>> {
    return { ...this.counters };
  }

  get synced(): boolean {
    return this.reflectors.length > 0 && this.reflectors.every((r) => r.listed);
  }

  async start(store: ClusterStore): Promise<void> {
    this.reflectors = this.kinds.map((k) => new Reflector(k, this, this.kc, store, this.options));
    for (const r of this.reflectors) r.start();
    const idle = this.options.watchIdleMs ?? 300_000;
    this.watchdog = setInterval(
      () => {
        const now = Date.now();
        for (const r of this.reflectors)
          if (r.listed && now - r.lastActivity >= idle) r.restartWatch();
      },
      Math.max(50, Math.min(idle / 4, 10_000)),
    );
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.watchdog);
    for (const r of this.reflectors) r.stop();
  }
}
