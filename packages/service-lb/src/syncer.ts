import { flat } from './flat.js';
import { type Host, NftSession } from '@podnet/host';
import { assembleRuleset, compileServiceFragment, type ServiceFragment } from './compile.js';
import {
  type ConntrackDeletion,
  conntrackArgv,
  parseConntrackDeleted,
  planConntrackCleanup,
} from './conntrack.js';
import { ServiceLbError } from './errors.js';
import {
  Histogram,
  PROGRAMMING_BUCKETS,
  renderMetrics,
  SYNC_BUCKETS,
  type ServiceLbMetrics,
} from './metrics.js';
import {
  type CompileContext,
  compileContext,
  LAST_CHANGE_TRIGGER_TIME,
  normalizeService,
  normalizeSlice,
  SERVICE_NAME_LABEL,
} from './normalize.js';
import {
  diffTableInto,
  emptyPhases,
  renderFullRuleset,
  type NftElement,
  type NftTable,
  phasesToOps,
  type Ruleset,
  renderTeardown,
  renderTransaction,
  type Transaction,
} from './ruleset.js';
import type { CompileOptions, EndpointSlice, NodeFacts, Service, ServiceState } from './types.js';

/** Options of a {@link ServiceSyncer}. */
export interface ServiceSyncerOptions extends CompileOptions {
  /** Host tools aimed at the node's network namespace (all `nft`/`conntrack` calls go here). */
  host: Host;
  node: NodeFacts;
  /** Delete stale UDP conntrack entries with `conntrack -D` (default true). */
  conntrack?: boolean;
  /** Timeout of one `nft -f -` transaction in milliseconds (default 120 000). */
  nftTimeoutMs?: number;
  /**
   * Apply partial syncs through one long-lived `nft -i` (`@podnet/host`'s {@link NftSession})
   * instead of a `nft -f -` process each: a one-endpoint change then costs ~2 ms instead of ~20 ms
   * (process start and netlink socket teardown). Full syncs still use `nft -f -`. Call
   * {@link ServiceSyncer.close} when done, or the `nft` process keeps running. Default false.
   */
  session?: boolean;
  /** Wall clock in milliseconds (default `Date.now`), for network programming latency. */
  now?: () => number;
}

/**
 * What a sync left out because it is invalid: a whole Service (`INVALID_SERVICE`), or an
 * EndpointSlice or one of its ports or endpoints (`INVALID_ENDPOINT_SLICE`) while the rest of its
 * Service is programmed, as kube-proxy ignores an invalid endpoint port.
 */
export interface InvalidObject {
  /** `namespace/name` of the Service or EndpointSlice. */
  object: string;
  /** What is wrong with it; `field` names the part left out (empty: the whole object). */
  error: ServiceLbError;
}

/** What one {@link ServiceSyncer.sync} did. */
export interface SyncResult {
  /** True when the tables were replaced as a whole (first sync, after a failure, node change). */
  full: boolean;
  /** nftables operations in the transaction (one per element, rule, chain or set change). */
  operations: number;
  /** Services whose inputs changed (or were added or removed) since the last sync. */
  changedServices: number;
  /** Seconds from the start of the sync to the end of the transaction (conntrack excluded). */
  durationSeconds: number;
  /** Of which seconds spent in nft (the `nft -f -` process, or the batch in the `session`). */
  applySeconds: number;
  /** `conntrack -D` filters run and entries they deleted. */
  conntrack: { filters: number; deleted: number; errors: string[] };
  /**
   * Services skipped because they are invalid, and the EndpointSlices (or their ports and
   * endpoints) dropped because they are, from every Service currently programmed or skipped.
   */
  invalid: InvalidObject[];
}

interface Entry {
  service: Service;
  slices: EndpointSlice[];
  fragment: ServiceFragment;
  /** The node facts and options the fragment was compiled with. */
  ctx: CompileContext;
  /** Parts of `slices` left out of the fragment because they are invalid. */
  dropped: InvalidObject[];
}

const keyCache = new WeakMap<object, string>();

/** `namespace/name` of a Service, or `namespace/service-name` of an EndpointSlice; cached per object. */
function cachedKey(obj: object, make: () => string): string {
  let k = keyCache.get(obj);
  if (k === undefined) {
    k = make();
    keyCache.set(obj, k);
  }
  return k;
}

function keyOf(meta: { name?: string; namespace?: string } | undefined): string {
  const ns = meta?.namespace || 'default';
  return `${ns}/${meta?.name ?? ''}`;
}

const serviceKey = (service: Service): string =>
  typeof service === 'object' && service !== null
    ? cachedKey(service, () => keyOf(service.metadata))
    : keyOf(undefined);

/** `namespace/service-name` of an EndpointSlice, or `undefined` without the service-name label. */
function sliceKey(s: EndpointSlice): string | undefined {
  const svcName = s?.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!svcName) return undefined;
  return cachedKey(s, () => `${s.metadata?.namespace || 'default'}/${svcName}`);
}

/** Positions where `a` and `b` (of equal length) hold different objects; `undefined` past `limit`. */
function changedPositions(
  a: readonly object[],
  b: readonly object[],
  limit: number,
): number[] | undefined {
  const out: number[] = [];
  const n = a.length;
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      out.push(i);
      if (out.length > limit) return undefined;
    }
  }
  return out;
}

/** What reading the input found: changed Services and the counters the metrics need. */
interface Scan {
  changed: Array<{ key: string; prev?: Entry; next?: Entry }>;
  endpointChanges: number;
  programming: number[];
  nowMs: number;
}

const newScan = (now: (() => number) | undefined): Scan => ({
  changed: [],
  endpointChanges: 0,
  programming: [],
  nowMs: (now ?? Date.now)(),
});

/** `namespace/name` of an EndpointSlice (how watch events identify it). */
const sliceName = (s: EndpointSlice): string =>
  `${s?.metadata?.namespace || 'default'}/${s?.metadata?.name ?? ''}`;

/**
 * Watch events for {@link ServiceSyncer.update}: objects added or changed (the whole new object),
 * and objects deleted (only `metadata.namespace` and `metadata.name` are read).
 */
export interface ServiceChanges {
  services?: readonly Service[];
  endpointSlices?: readonly EndpointSlice[];
  deletedServices?: readonly Service[];
  deletedEndpointSlices?: readonly EndpointSlice[];
}

function sameInputs(a: Entry, service: Service, slices: EndpointSlice[]): boolean {
  if (a.service !== service && !sameObject(a.service, service)) return false;
  if (a.slices.length !== slices.length) return false;
  for (let i = 0; i < slices.length; i++) {
    if (a.slices[i] !== slices[i] && !sameObject(a.slices[i], slices[i])) return false;
  }
  return true;
}

function sameObject(a: unknown, b: unknown): boolean {
  const rvA = (a as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
  const rvB = (b as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
  if (rvA !== undefined && rvB !== undefined) return rvA === rvB;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Copy-on-write view of the element-owner map: changes stay pending until {@link commit}. */
class OwnerOverlay {
  private readonly changes = new Map<string, string | null>();
  constructor(private readonly base: Map<string, string>) {}
  get(id: string): string | undefined {
    const c = this.changes.get(id);
    return c === undefined ? this.base.get(id) : (c ?? undefined);
  }
  set(id: string, owner: string): void {
    this.changes.set(id, owner);
  }
  delete(id: string): void {
    this.changes.set(id, null);
  }
  commit(): void {
    for (const [id, owner] of this.changes) {
      if (owner === null) this.base.delete(id);
      else this.base.set(id, owner);
    }
  }
}

const elementOwnerId = (t: NftTable, set: string, key: string) =>
  flat(t.family, '|', set, '|', key);

/**
 * A set element without a value (a cluster IP, a hairpin pair): several Services may want it at
 * once, so it is present while at least one does. Keyed by `family|set|key`.
 */
interface Shared {
  family: NftTable['family'];
  table: string;
  element: NftElement;
}

const sharedId = (family: string, s: Shared) =>
  flat(family, '|', s.element.set, '|', s.element.key);

/** The shared elements of one fragment table, and the table without them. */
function splitShared(t: NftTable | undefined): { own?: NftTable; shared: Shared[] } {
  if (!t) return { shared: [] };
  const shared: Shared[] = [];
  const elements = t.elements.filter((e) => {
    if (e.value !== undefined) return true;
    shared.push({ family: t.family, table: t.name, element: e });
    return false;
  });
  return { own: { ...t, elements }, shared };
}

/** Reference counts of {@link Shared} objects, with pending changes kept until commit. */
class RefCounts {
  private readonly changes = new Map<string, number>();
  constructor(private readonly base: Map<string, number>) {}
  get(id: string): number {
    return this.changes.get(id) ?? this.base.get(id) ?? 0;
  }
  set(id: string, n: number): void {
    this.changes.set(id, n);
  }
  commit(): void {
    for (const [id, n] of this.changes) {
      if (n === 0) this.base.delete(id);
      else this.base.set(id, n);
    }
  }
}

/**
 * Keeps podnet's service tables in a node's namespace equal to the desired state, like kube-proxy's
 * nftables proxier: the first sync (and the one after any failure or node change) replaces the
 * tables atomically; later syncs send only what changed (elements, chains of changed Services,
 * stale chains flushed then deleted) in one `nft -f -` transaction. UDP conntrack entries of
 * removed endpoints are deleted afterwards.
 */
export class ServiceSyncer {
  private readonly host: Host;
  private readonly options: ServiceSyncerOptions;
  private ctx: CompileContext;
  private entries = new Map<string, Entry>();
  private owners = new Map<string, string>();
  private refs = new Map<string, number>();
  /** What was left out, by the key of the Service it belongs to. */
  private invalid = new Map<string, InvalidObject[]>();
  private slicesByKey = new Map<string, EndpointSlice[]>();
  private sliceByName = new Map<string, EndpointSlice>();
  private serviceByKey = new Map<string, { service: Service; where: number | string }>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Shallow copies of the last input arrays, for {@link ServiceSyncer.scanChanges}. */
  private lastInput: { services: Service[]; endpointSlices: EndpointSlice[] } | undefined;
  private needFull = true;
  private session?: NftSession;
  private lastRuleset: Ruleset | undefined;
  private readonly syncHist = new Histogram(SYNC_BUCKETS);
  private readonly fullHist = new Histogram(SYNC_BUCKETS);
  private readonly partialHist = new Histogram(SYNC_BUCKETS);
  private readonly programmingHist = new Histogram(PROGRAMMING_BUCKETS);
  private counters = {
    lastSyncTimestampSeconds: 0,
    syncFailuresTotal: 0,
    serviceChangesTotal: 0,
    endpointChangesTotal: 0,
    lastSyncOperations: 0,
    conntrackEntriesDeletedTotal: 0,
  };
  private noLocal = { internal: 0, external: 0 };

  constructor(options: ServiceSyncerOptions) {
    this.options = options;
    this.host = options.host;
    this.ctx = compileContext(options.node, options);
  }

  /** The table name and families this syncer owns. */
  get tables(): Array<{ family: 'ip' | 'ip6'; name: string }> {
    return this.ctx.families.map((family) => ({ family, name: this.ctx.table }));
  }

  /** Replaces the node facts (e.g. its zone label changed); the next sync is a full one. */
  setNode(node: NodeFacts): void {
    this.ctx = compileContext(node, this.options);
    this.needFull = true;
  }

  /** Makes the next {@link ServiceSyncer.sync} a full resync. */
  requestFullSync(): void {
    this.needFull = true;
  }

  /** The ruleset last programmed, assembled from the cached fragments (`undefined` before the first success or after a failure). */
  programmed(): Ruleset | undefined {
    if (this.needFull) return undefined;
    this.lastRuleset ??= assembleRuleset(
      this.ctx,
      [...this.entries.values()].map((e) => e.fragment),
    );
    return this.lastRuleset;
  }

  /**
   * Brings the kernel to `state`. Throws `SYNC_FAILED` when the transaction is rejected (the next
   * call then does a full resync). Invalid Services are skipped, and invalid EndpointSlices (or
   * their invalid ports and endpoints) dropped while their Service keeps the rest; both are
   * reported in the result's `invalid`.
   * Treat the objects as immutable (as informer caches do): a changed Service or EndpointSlice must
   * be a new object (or carry a new `resourceVersion`), since unchanged ones are recognised by
   * identity.
   */
  sync(state: ServiceState): Promise<SyncResult> {
    return this.serial(() => {
      const started = performance.now();
      const scan = newScan(this.options.now);
      const updates = this.needFull ? undefined : this.scanChanges(state, scan);
      if (updates) return this.program(started, scan, updates);
      this.indexAll(state);
      return this.program(started, scan, undefined, this.buildAll(scan));
    });
  }

  /**
   * Applies watch events (Services and EndpointSlices added, changed or deleted) on top of what
   * the last {@link ServiceSyncer.sync} or `update` saw, without reading the rest of the state:
   * the work is proportional to the objects named. EndpointSlices are identified by
   * `namespace/name`, Services by `namespace/name`. Same results and errors as `sync`.
   */
  update(changes: ServiceChanges): Promise<SyncResult> {
    return this.serial(() => {
      const started = performance.now();
      const scan = newScan(this.options.now);
      this.lastInput = undefined;
      const affected = this.applyEvents(changes);
      if (this.needFull) return this.program(started, scan, undefined, this.buildAll(scan));
      return this.program(started, scan, this.recompile(affected, scan));
    });
  }

  /**
   * Starts the partial-sync session right after a full sync, with a no-op that touches what an
   * event touches: an element added to and removed from `cluster-ips` and `lb-endpoints` in one
   * transaction (keys no Service can have: address 0, port 0), so the first watch event does not
   * also pay for the `nft` process start and its first element commands on a big table. A
   * failure here only drops the session.
   */
  private async warmSession(timeoutMs: number): Promise<boolean> {
    this.session ??= new NftSession({ netns: this.host.netns, timeoutMs });
    try {
      await this.session.apply(this.warmScript());
      return true;
    } catch {
      this.session.close();
      this.session = undefined;
      return false;
    }
  }

  /** The no-op of {@link ServiceSyncer.warm}: per family, keys no Service has, in and out. */
  private warmScript(): string {
    return this.ctx.families
      .map((f) => {
        const zero = f === 'ip' ? '0.0.0.0' : '::';
        const t = `${f} ${this.ctx.table}`;
        return (
          `add element ${t} cluster-ips { ${zero} }\n` +
          `delete element ${t} cluster-ips { ${zero} }\n` +
          `add element ${t} lb-endpoints { ${zero} . tcp . 0 . 0 : ${zero} . 0 }\n` +
          `delete element ${t} lb-endpoints { ${zero} . tcp . 0 . 0 }\n`
        );
      })
      .join('');
  }

  /**
   * Readies the partial-sync session (the `session` option) for the next event again, for when
   * other tables were loaded beside this one after its full sync: at 10,000 Services the first
   * element command of the session after another process loaded podnet's policy table took
   * ~10 ms more than the next ones. Resolves true once the no-op is applied; false (doing
   * nothing) before the first full sync, without the `session` option, or when the next sync is
   * a full one anyway, and false when nft refused it (the session is then dropped, as after a
   * failed warm-up of a full sync). Never throws.
   */
  warm(): Promise<boolean> {
    return this.serial(async () => {
      if (!this.options.session || this.needFull || !this.session) return false;
      return this.warmSession(this.options.nftTimeoutMs ?? 120_000);
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Turns the scanned changes into one transaction, applies it and updates the bookkeeping. */
  private async program(
    started: number,
    scan: Scan,
    updates?: Map<string, Entry | undefined>,
    next?: Map<string, Entry>,
  ): Promise<SyncResult> {
    const { changed, endpointChanges, programming } = scan;
    const nextEntries = (): Map<string, Entry> => {
      if (next) return next;
      const m = new Map(this.entries);
      for (const [key, e] of updates!) {
        if (e) m.set(key, e);
        else m.delete(key);
      }
      return m;
    };
    const invalid = [...this.invalid.values()].flat();

    let full = this.needFull;
    let tx: Transaction | undefined;
    let script: string;
    let operations: number;
    const overlay = new OwnerOverlay(this.owners);
    const refOverlay = new RefCounts(this.refs);
    let owners: Map<string, string> | undefined;
    let refs: Map<string, number> | undefined;
    this.lastRuleset = undefined;
    if (!full) {
      try {
        tx = this.partialTransaction(changed, overlay, refOverlay);
      } catch {
        full = true;
      }
    }
    if (full || !tx) {
      owners = new Map();
      refs = new Map();
      const all = nextEntries();
      for (const e of all.values()) {
        for (const t of e.fragment.tables) {
          for (const sh of splitShared(t).shared) {
            const id = sharedId(t.family, sh);
            refs.set(id, (refs.get(id) ?? 0) + 1);
          }
        }
      }
      const ruleset = assembleRuleset(
        this.ctx,
        [...all.values()].map((e) => e.fragment),
        owners,
      );
      const rendered = renderFullRuleset(ruleset);
      script = rendered.script;
      operations = rendered.operations;
      this.lastRuleset = ruleset;
    } else {
      script = renderTransaction(tx);
      operations = tx.ops.length;
    }
    const applyStarted = performance.now();
    try {
      const timeoutMs = this.options.nftTimeoutMs ?? 120_000;
      if (full || !this.options.session) await this.host.nftApply(script, { timeoutMs });
      else {
        this.session ??= new NftSession({ netns: this.host.netns, timeoutMs });
        await this.session.apply(script);
      }
      if (full && this.options.session) await this.warmSession(timeoutMs);
    } catch (cause) {
      this.needFull = true;
      this.lastRuleset = undefined;
      this.counters.syncFailuresTotal++;
      throw new ServiceLbError(
        'SYNC_FAILED',
        `nftables transaction rejected: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (next) this.entries = next;
    else {
      for (const [key, e] of updates!) {
        if (e) this.entries.set(key, e);
        else this.entries.delete(key);
      }
    }
    if (owners) this.owners = owners;
    else overlay.commit();
    if (refs) this.refs = refs;
    else refOverlay.commit();
    this.needFull = false;
    const durationSeconds = (performance.now() - started) / 1000;
    const applySeconds = script === '' ? 0 : (performance.now() - applyStarted) / 1000;
    this.syncHist.observe(durationSeconds);
    (full ? this.fullHist : this.partialHist).observe(durationSeconds);
    for (const p of programming) this.programmingHist.observe(p);
    this.counters.lastSyncTimestampSeconds = (this.options.now ?? Date.now)() / 1000;
    this.counters.serviceChangesTotal += changed.length;
    this.counters.endpointChangesTotal += endpointChanges;
    this.counters.lastSyncOperations = operations;
    if (full) {
      this.noLocal = { internal: 0, external: 0 };
      for (const e of this.entries.values()) {
        this.noLocal.internal += e.fragment.noLocalEndpoints.internal;
        this.noLocal.external += e.fragment.noLocalEndpoints.external;
      }
    } else {
      for (const c of changed) {
        this.noLocal.internal +=
          (c.next?.fragment.noLocalEndpoints.internal ?? 0) -
          (c.prev?.fragment.noLocalEndpoints.internal ?? 0);
        this.noLocal.external +=
          (c.next?.fragment.noLocalEndpoints.external ?? 0) -
          (c.prev?.fragment.noLocalEndpoints.external ?? 0);
      }
    }

    const deletions: ConntrackDeletion[] = [];
    if (this.options.conntrack !== false) {
      for (const c of changed) {
        const p = c.prev?.fragment.udp ?? [];
        const n = c.next?.fragment.udp ?? [];
        if (p.length > 0 || n.length > 0) deletions.push(...planConntrackCleanup(p, n));
      }
    }
    const conntrack = await this.runConntrack(deletions);
    return {
      full,
      operations,
      changedServices: changed.length,
      durationSeconds,
      applySeconds,
      conntrack,
      invalid,
    };
  }

  /** Compiles `service` (`where`: its place in the input) with `slices` unless its inputs are unchanged. */
  private visit(
    scan: Scan,
    key: string,
    service: Service,
    where: number | string,
    slices: EndpointSlice[],
  ): Entry | undefined {
    const prev = this.entries.get(key);
    if (prev && prev.ctx === this.ctx && sameInputs(prev, service, slices)) {
      this.noteInvalid(key, prev.dropped);
      return prev;
    }
    let fragment: ServiceFragment;
    const errors: ServiceLbError[] = [];
    try {
      const svc = normalizeService(service, where);
      // A bad slice (or port or endpoint in one) is dropped alone: the Service keeps the rest.
      const norm = slices.flatMap((s, i) => {
        const n = normalizeSlice(s, i, errors);
        return n ? [n] : [];
      });
      fragment = compileServiceFragment(svc, norm, this.ctx);
    } catch (error) {
      if (!ServiceLbError.isInstance(error)) throw error;
      this.invalid.set(key, [{ object: key, error }]);
      return undefined;
    }
    const dropped = errors.map((error) => ({ object: error.object ?? key, error }));
    this.noteInvalid(key, dropped);
    const entry = { service, slices, fragment, ctx: this.ctx, dropped };
    scan.changed.push({ key, prev, next: entry });
    const before = new Set(prev?.slices ?? []);
    for (const s of slices) {
      if (before.has(s)) continue;
      scan.endpointChanges++;
      const t = Date.parse(s.metadata?.annotations?.[LAST_CHANGE_TRIGGER_TIME] ?? '');
      if (Number.isFinite(t) && prev) scan.programming.push(Math.max(0, (scan.nowMs - t) / 1000));
    }
    return entry;
  }

  /** Records what the Service `key` left out (nothing: forgets it). */
  private noteInvalid(key: string, dropped: InvalidObject[]): void {
    if (dropped.length > 0) this.invalid.set(key, dropped);
    else this.invalid.delete(key);
  }

  /**
   * Rebuilds the indexes from the whole state: O(Services + EndpointSlices). The slice lists in
   * `slicesByKey` are never changed in place (entries share them).
   */
  private indexAll(state: ServiceState): void {
    this.slicesByKey = new Map();
    this.sliceByName = new Map();
    this.serviceByKey = new Map();
    for (const s of state.endpointSlices) {
      this.sliceByName.set(sliceName(s), s);
      const key = sliceKey(s);
      if (key === undefined) continue;
      const list = this.slicesByKey.get(key);
      if (list) list.push(s);
      else this.slicesByKey.set(key, [s]);
    }
    let unique = true;
    state.services.forEach((service, index) => {
      const key = serviceKey(service);
      if (this.serviceByKey.has(key)) unique = false;
      this.serviceByKey.set(key, { service, where: index });
    });
    this.lastInput = unique
      ? { services: [...state.services], endpointSlices: [...state.endpointSlices] }
      : undefined;
  }

  /** Compiles every indexed Service (reusing unchanged entries): the next entries, whole. */
  private buildAll(scan: Scan): Map<string, Entry> {
    this.invalid = new Map();
    const next = new Map<string, Entry>();
    for (const [key, { service, where }] of this.serviceByKey) {
      const entry = this.visit(scan, key, service, where, this.slicesByKey.get(key) ?? []);
      if (entry) next.set(key, entry);
    }
    for (const [key, prev] of this.entries) if (!next.has(key)) scan.changed.push({ key, prev });
    return next;
  }

  /**
   * When the input arrays have the lengths of the last ones and differ in a few positions, updates
   * the indexes from those positions only (one identity comparison per object, no other work per
   * unchanged object) and recompiles the Services they touch. `undefined`: read everything.
   */
  private scanChanges(state: ServiceState, scan: Scan): Map<string, Entry | undefined> | undefined {
    const last = this.lastInput;
    if (!last) return undefined;
    const { services, endpointSlices } = state;
    if (services.length !== last.services.length) return undefined;
    if (endpointSlices.length !== last.endpointSlices.length) return undefined;
    const limit = Math.max(64, (services.length + endpointSlices.length) >> 4);
    const svcAt = changedPositions(services, last.services, limit);
    const sliceAt = svcAt && changedPositions(endpointSlices, last.endpointSlices, limit);
    if (!svcAt || !sliceAt) return undefined;
    const affected = new Set<string>();
    for (const i of svcAt) {
      const oldKey = serviceKey(last.services[i]!);
      const newKey = serviceKey(services[i]!);
      const held = this.serviceByKey.get(newKey);
      if (newKey !== oldKey && held && held.where !== i) {
        this.lastInput = undefined;
        return undefined;
      }
      if (this.serviceByKey.get(oldKey)?.where === i) this.serviceByKey.delete(oldKey);
      this.serviceByKey.set(newKey, { service: services[i]!, where: i });
      last.services[i] = services[i]!;
      affected.add(oldKey).add(newKey);
    }
    for (const i of sliceAt) {
      this.moveSlice(last.endpointSlices[i]!, endpointSlices[i]!, affected);
      last.endpointSlices[i] = endpointSlices[i]!;
    }
    return this.recompile(affected, scan);
  }

  /** Replaces slice `old` by `now` in the indexes (either may be absent); notes the keys touched. */
  private moveSlice(
    old: EndpointSlice | undefined,
    now: EndpointSlice | undefined,
    affected: Set<string>,
  ): void {
    const oldKey = old && sliceKey(old);
    const newKey = now && sliceKey(now);
    const list = oldKey === undefined ? undefined : this.slicesByKey.get(oldKey);
    const at = list && old ? list.indexOf(old) : -1;
    if (list && at >= 0 && oldKey === newKey) {
      this.slicesByKey.set(oldKey!, list.with(at, now!));
    } else {
      if (list && at >= 0) this.slicesByKey.set(oldKey!, list.toSpliced(at, 1));
      if (newKey !== undefined) {
        this.slicesByKey.set(newKey, [...(this.slicesByKey.get(newKey) ?? []), now!]);
      }
    }
    if (old && this.sliceByName.get(sliceName(old)) === old)
      this.sliceByName.delete(sliceName(old));
    if (now) this.sliceByName.set(sliceName(now), now);
    if (oldKey !== undefined) affected.add(oldKey);
    if (newKey !== undefined) affected.add(newKey);
  }

  /** Updates the indexes from watch events; returns the Service keys they touch. */
  private applyEvents(changes: ServiceChanges): Set<string> {
    const affected = new Set<string>();
    for (const service of changes.deletedServices ?? []) {
      const key = serviceKey(service);
      this.serviceByKey.delete(key);
      affected.add(key);
    }
    for (const service of changes.services ?? []) {
      const key = serviceKey(service);
      this.serviceByKey.set(key, { service, where: `service ${key}` });
      affected.add(key);
    }
    for (const s of changes.deletedEndpointSlices ?? []) {
      this.moveSlice(this.sliceByName.get(sliceName(s)), undefined, affected);
    }
    for (const s of changes.endpointSlices ?? []) {
      this.moveSlice(this.sliceByName.get(sliceName(s)), s, affected);
    }
    return affected;
  }

  /** Recompiles the Services behind `affected` keys: the entries to replace (`undefined`: remove). */
  private recompile(affected: Set<string>, scan: Scan): Map<string, Entry | undefined> {
    const updates = new Map<string, Entry | undefined>();
    for (const key of affected) {
      const held = this.serviceByKey.get(key);
      const prev = this.entries.get(key);
      if (!held) {
        this.invalid.delete(key);
        if (prev) {
          scan.changed.push({ key, prev });
          updates.set(key, undefined);
        }
        continue;
      }
      const entry = this.visit(
        scan,
        key,
        held.service,
        held.where,
        this.slicesByKey.get(key) ?? [],
      );
      if (!entry && prev) scan.changed.push({ key, prev });
      if (entry !== prev) updates.set(key, entry);
    }
    return updates;
  }

  private partialTransaction(
    changed: Array<{ key: string; prev?: Entry; next?: Entry }>,
    owners: OwnerOverlay,
    refs: RefCounts,
  ): Transaction {
    const phases = emptyPhases();
    const delta = new Map<string, { shared: Shared; by: number }>();
    const count = (list: Shared[], by: number) => {
      for (const sh of list) {
        const id = sharedId(sh.family, sh);
        const d = delta.get(id);
        if (d) d.by += by;
        else delta.set(id, { shared: sh, by });
      }
    };
    for (const c of changed) {
      const families = new Set([
        ...(c.prev?.fragment.tables ?? []).map((t) => t.family),
        ...(c.next?.fragment.tables ?? []).map((t) => t.family),
      ]);
      for (const family of families) {
        const p = splitShared(c.prev?.fragment.tables.find((t) => t.family === family));
        const n = splitShared(c.next?.fragment.tables.find((t) => t.family === family));
        count(p.shared, -1);
        count(n.shared, 1);
        const mine = (t: NftTable | undefined, claim: boolean): NftTable | undefined => {
          if (!t) return undefined;
          const elements = t.elements.filter((e) => {
            const id = elementOwnerId(t, e.set, e.key);
            const owner = owners.get(id);
            if (owner === undefined && claim) owners.set(id, c.key);
            return owners.get(id) === c.key;
          });
          return { ...t, elements };
        };
        const prevPart = mine(p.own, false);
        if (prevPart) {
          for (const e of prevPart.elements) owners.delete(elementOwnerId(prevPart, e.set, e.key));
        }
        try {
          diffTableInto(phases, prevPart, mine(n.own, true));
        } catch (cause) {
          throw new ServiceLbError(
            'SYNC_FAILED',
            `cannot diff ${c.key}: ${(cause as Error).message}`,
            { cause },
          );
        }
      }
    }
    const gone = new Map<string, NftTable>();
    const born = new Map<string, NftTable>();
    const part = (m: Map<string, NftTable>, sh: Shared) => {
      let t = m.get(sh.family);
      if (!t) {
        t = { family: sh.family, name: sh.table, sets: [], chains: [], elements: [] };
        m.set(sh.family, t);
      }
      t.elements.push(sh.element);
    };
    for (const [id, { shared, by }] of delta) {
      if (by === 0) continue;
      const before = refs.get(id);
      const after = before + by;
      if (after < 0) throw new ServiceLbError('SYNC_FAILED', `reference count of ${id} below 0`);
      refs.set(id, after);
      if (before === 0 && after > 0) part(born, shared);
      else if (before > 0 && after === 0) part(gone, shared);
    }
    for (const family of new Set([...gone.keys(), ...born.keys()])) {
      diffTableInto(phases, gone.get(family), born.get(family));
    }
    return { full: false, ops: phasesToOps(phases) };
  }

  private async runConntrack(deletions: ConntrackDeletion[]): Promise<SyncResult['conntrack']> {
    const out = { filters: deletions.length, deleted: 0, errors: [] as string[] };
    for (const d of deletions) {
      const argv = conntrackArgv(d);
      try {
        const r = await this.host.runner.run({ argv, netns: this.host.netns });
        const n = parseConntrackDeleted(r.stderr);
        out.deleted += n;
        if (r.code !== 0 && !/flow entr/.test(r.stderr))
          out.errors.push(`${argv.join(' ')}: ${r.stderr.trim()}`);
      } catch (e) {
        out.errors.push(`${argv.join(' ')}: ${(e as Error).message}`);
      }
    }
    this.counters.conntrackEntriesDeletedTotal += out.deleted;
    return out;
  }

  /** Ends the `nft -i` process of the `session` option (a later sync starts a new one). */
  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** Removes podnet's tables from the node (idempotent); the next sync is a full one. */
  async cleanup(): Promise<void> {
    this.close();
    await this.host.nftApply(renderTeardown(this.tables));
    this.entries = new Map();
    this.owners = new Map();
    this.refs = new Map();
    this.needFull = true;
    this.lastRuleset = undefined;
  }

  /** A snapshot of the metrics (plain JSON). */
  metrics(): ServiceLbMetrics {
    return {
      syncDuration: this.syncHist.snapshot(),
      fullSyncDuration: this.fullHist.snapshot(),
      partialSyncDuration: this.partialHist.snapshot(),
      networkProgrammingDuration: this.programmingHist.snapshot(),
      noLocalEndpoints: { ...this.noLocal },
      ...this.counters,
    };
  }

  /** The metrics in the Prometheus text format. */
  metricsText(): string {
    return renderMetrics(this.metrics());
  }
}
