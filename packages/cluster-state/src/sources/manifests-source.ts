import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_MAX_MANIFEST_BYTES,
  formatOf,
  formatProblem,
  loadYaml,
  type ManifestObject,
  type ManifestProblem,
  MAX_YAML_ALIASES,
  type ParsedDocument,
  parseText,
  readDocuments,
  sizeProblem,
} from '../reader.js';
import { objectKey } from '../keys.js';
import { type ClusterSource, type SourceLogger, silentLogger } from '../source.js';
import type { ClusterStore } from '../store.js';
import { type ClusterObject, OBJECT_KINDS, type ObjectKind } from '../types.js';
import { ParseWorker } from './parse-worker.js';

/** Options of {@link ManifestsSource}. */
export interface ManifestsSourceOptions {
  /** The directory: every `*.yaml`, `*.yml` and `*.json` in it (not hidden files) is read. */
  readonly dir: string;
  readonly log?: SourceLogger;
  /** Quiet time after a change event before the directory is read (default 50 ms). */
  readonly debounceMs?: number;
  /**
   * Safety rescan period (default 30 s): the directory is listed and each file `stat`ed; only
   * files whose size, mtime or inode changed are read again. Change events do the same at once.
   */
  readonly rescanMs?: number;
  /** Files larger than this are refused with a problem (default 4 MiB). */
  readonly maxFileBytes?: number;
  /** Texts larger than this are parsed on a worker thread (default 64 KiB; `Infinity`: never). */
  readonly workerThresholdBytes?: number;
  /**
   * End the parse worker after this many milliseconds without a big text (default: keep it);
   * a long-running process that reads big files rarely saves the worker's memory.
   */
  readonly workerIdleMs?: number;
  /** Watch the directory for changes (default true); false: only {@link ManifestsSource.rescan}. */
  readonly watch?: boolean;
}

/**
 * What one file gave, kept to make the union again when another file changes: its objects
 * column by column (a wrapper object and a key string per object would cost ~120 bytes each,
 * ~1.2 MB at 10,000 Services; the key is made again, as the store makes it, at each union).
 */
interface FileEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  kinds: ObjectKind[];
  objects: ClusterObject[];
  /** The document of the file each object came from. */
  documents: number[];
  problems: ManifestProblem[];
}

/** A file's {@link FileEntry} columns of `objects` (none when empty). */
function columns(
  objects: readonly ManifestObject[],
): Pick<FileEntry, 'kinds' | 'objects' | 'documents'> {
  return {
    kinds: objects.map((o) => o.kind),
    objects: objects.map((o) => o.object),
    documents: objects.map((o) => o.document),
  };
}

const NO_OBJECTS = columns([]);

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * A directory of Kubernetes manifests as a cluster source: watched with inotify (`fs.watch`),
 * debounced, with a slow safety rescan by size/mtime/inode, so editors' write-then-rename is seen
 * and nothing is re-read that did not change. Each changed file is parsed (big ones on a worker
 * thread) and checked; every unusable document costs one logged `manifest skipped` line naming
 * the file, the document and the field, and the rest keeps being served. The union of all files
 * (first file by name wins a duplicate) is applied to the store as typed deltas.
 */
export class ManifestsSource implements ClusterSource {
  readonly kinds: readonly ObjectKind[] = OBJECT_KINDS;
  private readonly log: SourceLogger;
  private readonly files = new Map<string, FileEntry>();
  private store?: ClusterStore;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private scanning: Promise<void> = Promise.resolve();
  private again = false;
  private running = false;
  private readonly worker: ParseWorker;
  private reported = new Set<string>();
  private isSynced = false;
  private stopped = false;
  private readonly counters = { scans: 0, filesRead: 0, problems: 0, objects: 0 };

  constructor(private readonly options: ManifestsSourceOptions) {
    this.log = options.log ?? silentLogger;
    this.worker = new ParseWorker({ idleMs: options.workerIdleMs });
  }

  get synced(): boolean {
    return this.isSynced;
  }

  get stats(): Readonly<Record<string, number>> {
    return { ...this.counters };
  }

  /** The problems of the last scan, every file. */
  get problems(): ManifestProblem[] {
    return [...this.files.values()].flatMap((f) => f.problems);
  }

  async start(store: ClusterStore): Promise<void> {
    this.store = store;
    // watch first, then read: a file written between the two is seen by one or the other
    if (this.options.watch !== false) {
      try {
        this.watcher = watch(this.options.dir, () => this.schedule());
        this.watcher.on('error', (e) =>
          this.log.warn('manifests watch failed; rescanning only', { error: String(e) }),
        );
      } catch (e) {
        this.log.warn('cannot watch manifests directory; rescanning only', {
          dir: this.options.dir,
          error: String(e),
        });
      }
    }
    await this.rescan();
    if (this.options.watch === false) return;
    this.timer = setInterval(() => this.schedule(), this.options.rescanMs ?? 30_000);
    this.timer.unref();
  }

  /** Reads what changed in the directory now; resolves when the store holds it. */
  rescan(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.scanning;
    }
    this.running = true;
    this.scanning = (async () => {
      try {
        do {
          this.again = false;
          await this.scanOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.running = false;
      }
    })();
    return this.scanning;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rescan(), this.options.debounceMs ?? 50);
  }

  private async scanOnce(): Promise<void> {
    const dir = this.options.dir;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => MANIFEST_FILE.test(n) && !n.startsWith('.'));
    } catch (e) {
      this.log.warn('cannot read manifests directory', { dir, error: String(e) });
      return;
    }
    this.counters.scans++;
    names.sort();
    const present = new Set(names);
    let changed = false;
    for (const name of [...this.files.keys()]) {
      if (!present.has(name)) {
        this.files.delete(name);
        changed = true;
      }
    }
    for (const name of names) {
      if (this.stopped) return;
      const path = join(dir, name);
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(path);
      } catch {
        if (this.files.delete(name)) changed = true;
        continue;
      }
      if (!st.isFile()) continue;
      const old = this.files.get(name);
      if (old && old.size === st.size && old.mtimeMs === st.mtimeMs && old.ino === st.ino) continue;
      this.files.set(name, await this.readOne(name, path, st));
      changed = true;
    }
    if (changed || !this.isSynced) this.apply(names);
  }

  private async readOne(
    name: string,
    path: string,
    st: { size: number; mtimeMs: number; ino: number },
  ): Promise<FileEntry> {
    const entry = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    const max = this.options.maxFileBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    const tooBig = sizeProblem(name, st.size, max);
    if (tooBig) return { ...entry, ...NO_OBJECTS, problems: [tooBig] };
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      return {
        ...entry,
        ...NO_OBJECTS,
        problems: [{ file: name, document: 0, path: '', message: `cannot read: ${String(e)}` }],
      };
    }
    this.counters.filesRead++;
    const again = sizeProblem(name, Buffer.byteLength(text, 'utf8'), max);
    if (again) return { ...entry, ...NO_OBJECTS, problems: [again] };
    const format = formatOf(name);
    let parsed: ParsedDocument[];
    if (text.length > (this.options.workerThresholdBytes ?? 64 * 1024)) {
      try {
        parsed = await this.worker.parse(text, format, MAX_YAML_ALIASES);
      } catch (e) {
        parsed = [{ document: 0, error: `parse failed: ${(e as Error).message}` }];
      }
    } else {
      parsed = parseText(loadYaml(), text, format, MAX_YAML_ALIASES);
    }
    const read = readDocuments(parsed, { file: name });
    return { ...entry, ...columns(read.objects), problems: read.problems };
  }

  /** Applies the union of every file to the store and logs problems not logged before. */
  private apply(names: readonly string[]): void {
    const byKind = new Map<ObjectKind, Map<string, ClusterObject>>();
    for (const k of OBJECT_KINDS) byKind.set(k, new Map());
    const where = new Map<string, string>();
    const dupes: ManifestProblem[] = [];
    let count = 0;
    for (const name of names) {
      const f = this.files.get(name);
      if (!f) continue;
      for (let i = 0; i < f.objects.length; i++) {
        const kind = f.kinds[i]!;
        const object = f.objects[i]!;
        const document = f.documents[i]!;
        const key = objectKey(kind, object);
        const id = `${kind} ${key}`;
        const first = where.get(id);
        if (first !== undefined) {
          dupes.push({
            file: name,
            document,
            path: 'metadata.name',
            message: `${id} is also defined in ${first}; this one is ignored`,
            object: id,
          });
          continue;
        }
        where.set(id, `${name} document ${document}`);
        byKind.get(kind)!.set(key, object);
        count++;
      }
    }
    this.counters.objects = count;
    const problems = [...names.flatMap((n) => this.files.get(n)?.problems ?? []), ...dupes];
    this.counters.problems = problems.length;
    const now = new Set<string>();
    for (const p of problems) {
      const text = formatProblem(p);
      now.add(text);
      if (!this.reported.has(text))
        this.log.warn('manifest skipped', {
          file: p.file,
          document: p.document,
          ...(p.object ? { object: p.object } : {}),
          field: p.path,
          error: p.message,
        });
    }
    this.reported = now;
    this.store!.transaction((tx) => {
      for (const k of OBJECT_KINDS) {
        tx.replace(k, byKind.get(k)!.values(), false);
        tx.markSynced(k);
      }
    });
    this.isSynced = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.scanning.catch(() => {});
    await this.worker.close();
  }
}
