import { ClusterStateError } from './errors.js';
import { objectKey, sliceServiceKey } from './keys.js';
import {
  type ClusterSnapshot,
  type KindMap,
  OBJECT_KINDS,
  type ObjectKind,
  SNAPSHOT_FIELDS,
} from './types.js';

/** One change of one object, with the object before and after. */
export type DeltaOf<K extends ObjectKind> =
  | { readonly type: 'added'; readonly kind: K; readonly key: string; readonly object: KindMap[K] }
  | {
      readonly type: 'updated';
      readonly kind: K;
      readonly key: string;
      readonly object: KindMap[K];
      readonly old: KindMap[K];
    }
  | { readonly type: 'deleted'; readonly kind: K; readonly key: string; readonly old: KindMap[K] };

/** A typed delta of any kind (narrow on `kind`, then on `type`). */
export type Delta = { [K in ObjectKind]: DeltaOf<K> }[ObjectKind];

/**
 * What one store transaction changed. `resync` is set when a source replaced a whole kind (a
 * relist, a rescan): consumers that keep derived state may take the chance to check it.
 */
export interface DeltaBatch {
  readonly deltas: readonly Delta[];
  /** Kinds replaced as a whole in this batch. */
  readonly resync: readonly ObjectKind[];
}

/** Receives each committed batch. */
export type DeltaListener = (batch: DeltaBatch) => void;

/** The changes a source makes in one {@link ClusterStore.transaction}. */
export interface StoreTransaction {
  /** Adds or replaces one object; no delta when it is unchanged. */
  upsert<K extends ObjectKind>(kind: K, object: KindMap[K]): void;
  /** Removes one object by key (`namespace/name` or `name`); no delta when absent. */
  delete(kind: ObjectKind, key: string): void;
  /**
   * Makes `objects` the whole content of `kind`: deltas for what differs. `resync` (default
   * true) reports the kind in {@link DeltaBatch.resync}, as a relist should; a source that
   * knows its deltas are exact (a rescan of unchanged files) passes false.
   */
  replace<K extends ObjectKind>(kind: K, objects: Iterable<KindMap[K]>, resync?: boolean): void;
  /** Marks `kind` as listed at least once (see {@link ClusterStore.synced}). */
  markSynced(kind: ObjectKind): void;
}

/**
 * Whether two versions of an object are the same: equal `resourceVersion`s when both have one
 * (as the API server guarantees), otherwise equal JSON.
 */
export function sameObject(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const rvA = (a as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
  const rvB = (b as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
  if (rvA !== undefined && rvB !== undefined) return rvA === rvB;
  return JSON.stringify(a) === JSON.stringify(b);
}

class KindIndex<T> {
  readonly objects = new Map<string, T>();
  readonly byNamespace = new Map<string, Set<string>>();
  readonly byLabel = new Map<string, Set<string>>();
  sorted: T[] | undefined;
}

const add = (m: Map<string, Set<string>>, k: string, v: string) => {
  let s = m.get(k);
  if (!s) {
    s = new Set();
    m.set(k, s);
  }
  s.add(v);
};
const remove = (m: Map<string, Set<string>>, k: string, v: string) => {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
};

const labelKey = (k: string, v: string) => `${k}=${v}`;

/**
 * The cluster as podnet reads it: every object by kind and key, indexed by namespace, by label
 * (`key=value`) and EndpointSlices by Service, with a consistent sorted snapshot. Sources change
 * it in transactions; each transaction that changed anything is delivered to the listeners as
 * one {@link DeltaBatch} of typed deltas (added / updated / deleted, with the old and new object).
 * Objects are stored as given: treat them as immutable, a change is a new object.
 */
export class ClusterStore {
  private readonly kinds = new Map<ObjectKind, KindIndex<unknown>>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly listeners = new Set<DeltaListener>();
  private readonly listed = new Set<ObjectKind>();
  private snapshotCache: ClusterSnapshot | undefined;
  private inTransaction = false;

  constructor() {
    for (const k of OBJECT_KINDS) this.kinds.set(k, new KindIndex());
  }

  private index<K extends ObjectKind>(kind: K): KindIndex<KindMap[K]> {
    return this.kinds.get(kind) as KindIndex<KindMap[K]>;
  }

  /** Subscribes to committed batches; returns the unsubscribe function. */
  subscribe(listener: DeltaListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True once every kind in `kinds` (default: all) was listed by a source at least once. */
  synced(kinds: readonly ObjectKind[] = OBJECT_KINDS): boolean {
    return kinds.every((k) => this.listed.has(k));
  }

  /** One object by kind and key. */
  get<K extends ObjectKind>(kind: K, key: string): KindMap[K] | undefined {
    return this.index(kind).objects.get(key);
  }

  /** Number of objects of a kind. */
  size(kind: ObjectKind): number {
    return this.index(kind).objects.size;
  }

  /** Every object of a kind, sorted by key (cached until the kind changes). */
  list<K extends ObjectKind>(kind: K): readonly KindMap[K][] {
    const idx = this.index(kind);
    if (!idx.sorted) {
      const keys = [...idx.objects.keys()].sort();
      idx.sorted = keys.map((k) => idx.objects.get(k)!);
    }
    return idx.sorted;
  }

  /** Objects of a kind in one namespace. */
  inNamespace<K extends ObjectKind>(kind: K, namespace: string): KindMap[K][] {
    const idx = this.index(kind);
    return [...(idx.byNamespace.get(namespace) ?? [])].map((k) => idx.objects.get(k)!);
  }

  /** Objects of a kind carrying label `key` with `value`. */
  withLabel<K extends ObjectKind>(kind: K, key: string, value: string): KindMap[K][] {
    const idx = this.index(kind);
    return [...(idx.byLabel.get(labelKey(key, value)) ?? [])].map((k) => idx.objects.get(k)!);
  }

  /** The EndpointSlices of Service `namespace/name`. */
  slicesOf(serviceKey: string): KindMap['EndpointSlice'][] {
    const idx = this.index('EndpointSlice');
    return [...(this.slicesByService.get(serviceKey) ?? [])].map((k) => idx.objects.get(k)!);
  }

  /** A consistent snapshot of every kind (cached until the next change). */
  snapshot(): ClusterSnapshot {
    if (!this.snapshotCache) {
      const out: Record<string, unknown> = {};
      for (const k of OBJECT_KINDS) out[SNAPSHOT_FIELDS[k]] = this.list(k);
      this.snapshotCache = out as unknown as ClusterSnapshot;
    }
    return this.snapshotCache;
  }

  /**
   * Runs `fn` with a transaction and delivers what it changed as one batch (none when nothing
   * changed). Not re-entrant.
   */
  transaction(fn: (tx: StoreTransaction) => void): DeltaBatch {
    if (this.inTransaction)
      throw new ClusterStateError('INVALID_ARGUMENT', 'store transactions do not nest');
    this.inTransaction = true;
    const deltas: Delta[] = [];
    const resync: ObjectKind[] = [];
    let listedChanged = false;
    const tx: StoreTransaction = {
      upsert: (kind, object) => {
        const d = this.put(kind, object);
        if (d) deltas.push(d);
      },
      delete: (kind, key) => {
        const d = this.drop(kind, key);
        if (d) deltas.push(d);
      },
      replace: (kind, objects, isResync = true) => {
        if (isResync) resync.push(kind);
        const idx = this.index(kind);
        const keep = new Set<string>();
        for (const o of objects) {
          const key = objectKey(kind, o);
          keep.add(key);
          const d = this.put(kind, o, key);
          if (d) deltas.push(d);
        }
        for (const key of [...idx.objects.keys()]) {
          if (keep.has(key)) continue;
          const d = this.drop(kind, key);
          if (d) deltas.push(d);
        }
      },
      markSynced: (kind) => {
        if (!this.listed.has(kind)) {
          this.listed.add(kind);
          listedChanged = true;
        }
      },
    };
    try {
      fn(tx);
    } finally {
      this.inTransaction = false;
    }
    const batch: DeltaBatch = { deltas, resync };
    if (deltas.length > 0 || resync.length > 0 || listedChanged) {
      for (const l of [...this.listeners]) l(batch);
    }
    return batch;
  }

  private put<K extends ObjectKind>(
    kind: K,
    object: KindMap[K],
    key = objectKey(kind, object),
  ): Delta | undefined {
    const idx = this.index(kind);
    const old = idx.objects.get(key);
    if (old !== undefined && sameObject(old, object)) return undefined;
    if (old !== undefined) this.unindex(kind, key, old);
    idx.objects.set(key, object);
    this.indexObject(kind, key, object);
    this.changed(kind);
    return (
      old === undefined
        ? { type: 'added', kind, key, object }
        : { type: 'updated', kind, key, object, old }
    ) as Delta;
  }

  private drop(kind: ObjectKind, key: string): Delta | undefined {
    const idx = this.index(kind);
    const old = idx.objects.get(key);
    if (old === undefined) return undefined;
    idx.objects.delete(key);
    this.unindex(kind, key, old);
    this.changed(kind);
    return { type: 'deleted', kind, key, old } as Delta;
  }

  private changed(kind: ObjectKind): void {
    this.index(kind).sorted = undefined;
    this.snapshotCache = undefined;
  }

  private indexObject(kind: ObjectKind, key: string, o: unknown): void {
    const idx = this.index(kind);
    const meta = (o as { metadata?: { namespace?: string; labels?: Record<string, string> } })
      .metadata;
    const slash = key.indexOf('/');
    if (slash >= 0) add(idx.byNamespace, key.slice(0, slash), key);
    for (const [k, v] of Object.entries(meta?.labels ?? {})) add(idx.byLabel, labelKey(k, v), key);
    if (kind === 'EndpointSlice') {
      const svc = sliceServiceKey(o as KindMap['EndpointSlice']);
      if (svc) add(this.slicesByService, svc, key);
    }
  }

  private unindex(kind: ObjectKind, key: string, o: unknown): void {
    const idx = this.index(kind);
    const meta = (o as { metadata?: { labels?: Record<string, string> } }).metadata;
    const slash = key.indexOf('/');
    if (slash >= 0) remove(idx.byNamespace, key.slice(0, slash), key);
    for (const [k, v] of Object.entries(meta?.labels ?? {}))
      remove(idx.byLabel, labelKey(k, v), key);
    if (kind === 'EndpointSlice') {
      const svc = sliceServiceKey(o as KindMap['EndpointSlice']);
      if (svc) remove(this.slicesByService, svc, key);
    }
  }
}
