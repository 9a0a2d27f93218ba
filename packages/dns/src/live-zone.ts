import type {
  DnsRecord,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
  ZoneOptions,
} from './types.js';
import type { DnsZone, ZoneNode } from './zone.js';
import {
  type EndpointGroup,
  type PodEntry,
  type SkippedObject,
  type ZoneSettings,
  type ZoneSink,
  compileNamespace,
  compilePod,
  compilePodHost,
  compileService,
  compileSlice,
  entChain,
  finishRecords,
  matchesSelector,
  podHostKey,
  apexRecords,
  zoneSettings,
} from './zone-objects.js';
import { intern } from './intern.js';

/** The objects the cluster zone is made from, by kind (the names cluster-state's store uses). */
export interface DnsObjectKinds {
  Namespace: K8sNamespace;
  Service: K8sService;
  EndpointSlice: K8sEndpointSlice;
  Pod: K8sPod;
}

/** A kind of object the cluster zone is made from. */
export type DnsObjectKind = keyof DnsObjectKinds;

/**
 * Read access to the current cluster objects: one object by kind and key, and every object of a
 * kind. Keys are `namespace/name` (`default` for an absent namespace) and a Namespace's name, as
 * `@podnet/cluster-state`'s `objectKey` makes them; its `ClusterStore` is such a source.
 */
export interface DnsObjectSource {
  /** The object of `kind` with `key`, or undefined when there is none. */
  get<K extends DnsObjectKind>(kind: K, key: string): DnsObjectKinds[K] | undefined;
  /** Every object of `kind` (read by full updates only). */
  list<K extends DnsObjectKind>(kind: K): readonly DnsObjectKinds[K][];
}

/**
 * The keys of the objects added, changed or deleted since the last update, by kind. An
 * EndpointSlice is named by its own key (`namespace/name`): the zone remembers which Service each
 * slice fed, so a slice that moves to another Service needs no more than its key.
 */
export interface DnsObjectChanges {
  namespaces?: Iterable<string>;
  services?: Iterable<string>;
  endpointSlices?: Iterable<string>;
  pods?: Iterable<string>;
}

/** A skip of one object, with its position in the state still open. */
interface ObjectSkip {
  object: string | null;
  dropped: SkippedObject['dropped'];
  field: string;
  reason: string;
}

interface NamespacePart {
  /** Its name when valid (it then makes the namespace exist). */
  ns: string | null;
  skips: ObjectSkip[] | null;
}

interface PodPart {
  /** Null when the Pod is skipped. */
  entry: PodEntry | null;
  /** `ns/subdomain` when it asks for a `<hostname>.<subdomain>` record. */
  hostKey: string | null;
  skips: ObjectSkip[] | null;
}

interface SlicePart {
  ns: string | null;
  serviceKey: string | null;
  /** It gives its Service endpoints (a valid, non-FQDN slice of a named Service). */
  grouped: boolean;
  skips: ObjectSkip[] | null;
}

interface ServicePart {
  ns: string | null;
  headless: boolean;
  podSelector: Record<string, string> | null;
  skips: ObjectSkip[] | null;
  /** Names its records are at (interned), null when none. */
  names: string[] | null;
}

/** The records of one owner, by name. */
type Output = Map<string, DnsRecord[]>;

/** What one object (or its records) reports while compiled. */
class Collector implements ZoneSink {
  readonly records: Output = new Map();
  ns: string | null = null;
  skips: ObjectSkip[] | null = null;

  record(rr: DnsRecord): void {
    const list = this.records.get(rr.name);
    if (list) list.push(rr);
    else this.records.set(rr.name, [rr]);
  }

  namespace(ns: string): void {
    this.ns = ns;
  }

  skip(object: string | null, dropped: ObjectSkip['dropped'], field: string, reason: string): void {
    (this.skips ??= []).push({ object, dropped, field, reason });
  }
}

const IGNORE: ZoneSink = { record() {}, namespace() {}, skip() {} };

/** Where skipped objects are listed, in `compileZone`'s order: kind, then position. */
const SKIP_KINDS: readonly [DnsObjectKind, string][] = [
  ['Namespace', 'namespaces'],
  ['Pod', 'pods'],
  ['EndpointSlice', 'endpointSlices'],
  ['Service', 'services'],
];

/*
 * Owners of records: the static records every zone has (SOA, `dns-version`), a Service (named by
 * its key itself, which starts with a namespace name, a DNS label: no new string per Service),
 * a Pod (this mark and its key). Sorted as strings they come in compileZone's order: the static
 * records, every Service by key, every Pod by key.
 */
const STATIC = '\u0000';
const POD = '\uffff';

/** The store key of an object (cluster-state's `objectKey`). */
function keyOf(kind: DnsObjectKind, object: unknown): string {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = meta?.name ?? '';
  return kind === 'Namespace' ? `${name}` : `${meta?.namespace || 'default'}/${name}`;
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Index of `key` in the sorted `keys`, or where it would go. */
function bisect(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A zone change: the names whose answers changed, and the zone to answer them from. */
export interface ZonePatch {
  /**
   * The zone's settings and, in `nodes`, every name of `names` that still exists (names of
   * `names` missing from it were removed) plus the targets of their SRV records.
   */
  readonly zone: DnsZone;
  /** Names to prepare again (or drop). */
  readonly names: readonly string[];
}

/**
 * The cluster zone kept up to date one object at a time (pure). It remembers, per object, only
 * what other objects' records depend on (which Service a slice feeds, whether a Service is
 * headless or takes its endpoints from Pods, a Pod's IPs and hostname) and which names each
 * Service's and Pod's records went to; a change recompiles the objects named and those that
 * depend on them, through the same per-object compilers as {@link compileZone}, and reports the
 * names whose records changed; a name shared by several objects (a PTR name two Services share,
 * a Pod's hostname record on a headless Service's endpoint name) is merged from all of them, in
 * compileZone's order. The result always equals `compileZone` of the source's objects in key
 * order (as `ClusterStore.list` returns them), skipped objects and their positions included.
 * A skipped object's position costs a sorted list of its kind's keys, kept only while that kind
 * has a skipped object.
 */
export class LiveZone {
  private readonly settings: ZoneSettings;
  private source: DnsObjectSource | null = null;
  private serial = 1;
  private readonly namespaceParts = new Map<string, NamespacePart>();
  private readonly podParts = new Map<string, PodPart>();
  private readonly sliceParts = new Map<string, SlicePart>();
  private readonly serviceParts = new Map<string, ServicePart>();
  private readonly nsCount = new Map<string, number>();
  private readonly namespaces = new Set<string>();
  private readonly podIpCount = new Map<string, Map<string, number>>();
  private readonly podIps = new Map<string, Set<string>>();
  /** Grouped EndpointSlice keys by Service key. */
  private readonly slicesOf = new Map<string, Set<string>>();
  /** Valid Pod keys by namespace. */
  private readonly podsIn = new Map<string, Set<string>>();
  /** Pod keys by the `ns/subdomain` they ask a hostname record under. */
  private readonly podsNamed = new Map<string, Set<string>>();
  /** Service keys whose endpoints come from Pods, by namespace. */
  private readonly podDerived = new Map<string, Set<string>>();
  /** Names the static and Pod owners have records at (a Service's are in its part). */
  private readonly ownerNames = new Map<string, string[]>();
  /** Owners with records at each name. */
  private readonly ownersAt = new Map<string, string | string[]>();
  /** Reasons an empty non-terminal exists (records below it, a namespace). */
  private readonly refs = new Map<string, number>();
  private readonly skipKeys = new Map<DnsObjectKind, Set<string>>();
  private readonly sortedKeys = new Map<DnsObjectKind, string[]>();
  private skippedList: SkippedObject[] | null = [];
  // per change
  private affected = new Set<string>();
  private outputs = new Map<string, Output>();
  private groups = new Map<string, EndpointGroup | null>();
  private podLists = new Map<string, PodEntry[]>();

  /** Throws `DnsError` `INVALID_ARGUMENT` for bad options, as {@link compileZone} does. */
  constructor(options: ZoneOptions = {}) {
    this.settings = zoneSettings(options);
    this.reset();
  }

  /** The source the zone was last built or patched from. */
  get current(): DnsObjectSource | null {
    return this.source;
  }

  /** What the zone leaves out, as {@link compileZone}'s `skipped` of the same objects. */
  get skipped(): readonly SkippedObject[] {
    this.skippedList ??= this.renderSkipped();
    return this.skippedList;
  }

  /** Compiles every object of `source`: the whole zone, every name in `nodes`. */
  build(source: DnsObjectSource, serial: number): DnsZone {
    this.reset();
    const keys = (kind: DnsObjectKind): string[] =>
      source.list(kind).map((o: unknown) => keyOf(kind, o));
    const patch = this.patch(
      source,
      {
        namespaces: keys('Namespace'),
        pods: keys('Pod'),
        endpointSlices: keys('EndpointSlice'),
        services: keys('Service'),
      },
      serial,
    );
    return patch.zone;
  }

  /**
   * Applies the objects of `changed` as `source` holds them now (absent: deleted). Work is
   * proportional to those objects and the ones whose records depend on them (a slice's Service,
   * the Services selecting a changed Pod, the Pods named under a Service that becomes or stops
   * being headless), not to the zone. When it throws (a source that throws), the zone is left
   * half updated: {@link build} it again.
   */
  patch(source: DnsObjectSource, changed: DnsObjectChanges, serial: number): ZonePatch {
    this.source = source;
    this.serial = serial;
    // the SOA serial changes with every patch
    this.affected.add(this.settings.zone);
    const dirtyServices = new Set<string>();
    const dirtyPods = new Set<string>();
    try {
      for (const key of changed.namespaces ?? []) this.namespaceChanged(key);
      for (const key of changed.pods ?? []) this.podChanged(key, dirtyServices, dirtyPods);
      for (const key of changed.endpointSlices ?? []) this.sliceChanged(key, dirtyServices);
      for (const key of changed.services ?? []) dirtyServices.add(key);
      for (const key of dirtyServices) this.serviceChanged(key, dirtyPods);
      for (const key of dirtyPods) {
        const owner = intern(POD + key);
        this.setOwner(owner, this.output(owner).keys());
      }
      if (!this.ownerNames.has(STATIC)) this.setOwner(STATIC, this.output(STATIC).keys());
      const nodes = new Map<string, ZoneNode>();
      for (const name of this.affected) {
        const node = this.node(name);
        if (node) nodes.set(name, node);
      }
      const names = [...this.affected];
      for (const name of names) {
        for (const rr of nodes.get(name)?.records ?? []) {
          if (rr.type !== 'SRV' || nodes.has(rr.data.target)) continue;
          const target = this.node(rr.data.target);
          if (target) nodes.set(rr.data.target, target);
        }
      }
      return { zone: this.zoneWith(nodes), names };
    } finally {
      this.affected = new Set();
      this.outputs = new Map();
      this.groups = new Map();
      this.podLists = new Map();
    }
  }

  private zoneWith(nodes: ReadonlyMap<string, ZoneNode>): DnsZone {
    const { zone, ttl, pods } = this.settings;
    return {
      zone,
      ttl,
      pods,
      serial: this.serial,
      nodes,
      namespaces: this.namespaces,
      podIps: this.podIps,
      skipped: this.skipped,
    };
  }

  private reset(): void {
    for (const m of [
      this.namespaceParts,
      this.podParts,
      this.sliceParts,
      this.serviceParts,
      this.nsCount,
      this.podIpCount,
      this.podIps,
      this.slicesOf,
      this.podsIn,
      this.podsNamed,
      this.podDerived,
      this.ownerNames,
      this.ownersAt,
      this.refs,
      this.skipKeys,
      this.sortedKeys,
    ] as Map<unknown, unknown>[])
      m.clear();
    this.namespaces.clear();
    this.skippedList = [];
    const { zone, svcZone } = this.settings;
    for (const n of entChain(svcZone, zone)) this.bump(n, 1);
    for (const n of entChain(`pod.${zone}`, zone)) this.bump(n, 1);
  }

  private namespaceChanged(name: string): void {
    const key = intern(name);
    const object = this.source?.get('Namespace', key);
    const had = this.namespaceParts.get(key);
    if (had) this.countNamespace(had.ns, -1);
    const c = new Collector();
    if (object !== undefined) compileNamespace(object, c);
    this.member('Namespace', key, had !== undefined, object !== undefined);
    this.setSkips('Namespace', key, had?.skips ?? null, c.skips);
    if (object === undefined) {
      this.namespaceParts.delete(key);
      return;
    }
    this.namespaceParts.set(key, { ns: c.ns, skips: c.skips });
    this.countNamespace(c.ns, 1);
  }

  private podChanged(name: string, dirtyServices: Set<string>, dirtyPods: Set<string>): void {
    const key = intern(name);
    const object = this.source?.get('Pod', key);
    const had = this.podParts.get(key);
    const c = new Collector();
    const entry = object === undefined ? null : compilePod(object, c);
    const part: PodPart | undefined =
      object === undefined
        ? undefined
        : { entry, hostKey: entry ? podHostKey(entry) : null, skips: c.skips };
    // Services that take their endpoints from Pods this one is (or was) selected by
    for (const e of [had?.entry, entry]) {
      if (!e) continue;
      for (const svc of this.podDerived.get(e.ns) ?? []) {
        const selector = this.serviceParts.get(svc)?.podSelector;
        if (selector && matchesSelector(e.pod.metadata?.labels, selector)) dirtyServices.add(svc);
      }
    }
    // The headless Service whose SRV records may point at its hostname record
    for (const hostKey of [had?.hostKey, part?.hostKey]) {
      if (hostKey && this.serviceParts.get(hostKey)?.headless) dirtyServices.add(hostKey);
    }
    dirtyPods.add(key);
    if (had?.entry) {
      removeFrom(this.podsIn, had.entry.ns, key);
      for (const ip of had.entry.ips) this.countPodIp(had.entry.ns, ip.text, -1);
      this.countNamespace(had.entry.ns, -1);
    }
    if (had?.hostKey) removeFrom(this.podsNamed, had.hostKey, key);
    this.member('Pod', key, had !== undefined, part !== undefined);
    this.setSkips('Pod', key, had?.skips ?? null, c.skips);
    if (!part) {
      this.podParts.delete(key);
      return;
    }
    this.podParts.set(key, part);
    if (entry) {
      addTo(this.podsIn, entry.ns, key);
      for (const ip of entry.ips) this.countPodIp(entry.ns, ip.text, 1);
      this.countNamespace(entry.ns, 1);
    }
    if (part.hostKey) addTo(this.podsNamed, part.hostKey, key);
  }

  private sliceChanged(name: string, dirtyServices: Set<string>): void {
    const key = intern(name);
    const object = this.source?.get('EndpointSlice', key);
    const had = this.sliceParts.get(key);
    const c = new Collector();
    const compiled = object === undefined ? null : compileSlice(object, this.settings, c);
    this.groups.set(key, compiled?.group ?? null);
    if (had) {
      if (had.serviceKey !== null) dirtyServices.add(had.serviceKey);
      if (had.grouped && had.serviceKey !== null) removeFrom(this.slicesOf, had.serviceKey, key);
      this.countNamespace(had.ns, -1);
    }
    this.member('EndpointSlice', key, had !== undefined, object !== undefined);
    this.setSkips('EndpointSlice', key, had?.skips ?? null, c.skips);
    if (object === undefined) {
      this.sliceParts.delete(key);
      return;
    }
    const part: SlicePart = {
      ns: compiled?.ns ?? null,
      serviceKey: compiled?.serviceKey ?? null,
      grouped: compiled?.group !== undefined && compiled?.serviceKey !== undefined,
      skips: c.skips,
    };
    this.sliceParts.set(key, part);
    if (part.serviceKey !== null) {
      dirtyServices.add(part.serviceKey);
      if (part.grouped) addTo(this.slicesOf, part.serviceKey, key);
    }
    this.countNamespace(part.ns, 1);
  }

  private serviceChanged(name: string, dirtyPods: Set<string>): void {
    const key = intern(name);
    const object = this.source?.get('Service', key);
    const had = this.serviceParts.get(key);
    const { compiled, collector: c } = this.compileService(object);
    this.outputs.set(key, c.records);
    const part: ServicePart | undefined =
      object === undefined
        ? undefined
        : {
            ns: compiled?.ns ?? null,
            headless: compiled?.headless ?? false,
            podSelector: compiled?.podSelector ?? null,
            skips: c.skips,
            names: null,
          };
    if ((had?.headless ?? false) !== (part?.headless ?? false))
      for (const pod of this.podsNamed.get(key) ?? []) dirtyPods.add(pod);
    if (had) {
      if (had.podSelector && had.ns !== null) removeFrom(this.podDerived, had.ns, key);
      this.countNamespace(had.ns, -1);
    }
    this.member('Service', key, had !== undefined, part !== undefined);
    this.setSkips('Service', key, had?.skips ?? null, c.skips);
    if (part) {
      this.serviceParts.set(key, part);
      if (part.podSelector && part.ns !== null) addTo(this.podDerived, part.ns, key);
      this.countNamespace(part.ns, 1);
    } else {
      this.serviceParts.delete(key);
    }
    const names = this.moveOwner(key, had?.names ?? null, c.records.keys());
    if (part) part.names = names;
  }

  private compileService(object: K8sService | undefined): {
    compiled: ReturnType<typeof compileService>;
    collector: Collector;
  } {
    const c = new Collector();
    const compiled =
      object === undefined
        ? null
        : compileService(
            object,
            this.settings,
            (k) => this.groupsOf(k),
            (ns) => this.podsOf(ns),
            c,
          );
    return { compiled, collector: c };
  }

  /** The endpoint groups of a Service's slices, in key order; undefined when it has none. */
  private groupsOf(serviceKey: string): EndpointGroup[] | undefined {
    const keys = this.slicesOf.get(serviceKey);
    if (!keys || keys.size === 0) return undefined;
    const out: EndpointGroup[] = [];
    for (const key of [...keys].sort()) {
      let group = this.groups.get(key);
      if (group === undefined) {
        const slice = this.source?.get('EndpointSlice', key);
        group =
          slice === undefined ? null : (compileSlice(slice, this.settings, IGNORE)?.group ?? null);
        this.groups.set(key, group);
      }
      if (group) out.push(group);
    }
    return out.length > 0 ? out : undefined;
  }

  /** The valid Pods of a namespace, in key order. */
  private podsOf(ns: string): PodEntry[] {
    let list = this.podLists.get(ns);
    if (!list) {
      list = [];
      for (const key of [...(this.podsIn.get(ns) ?? [])].sort()) {
        const entry = this.podParts.get(key)?.entry;
        if (entry) list.push(entry);
      }
      this.podLists.set(ns, list);
    }
    return list;
  }

  /** The records of an owner (compiled once per change). */
  private output(owner: string): Output {
    let out = this.outputs.get(owner);
    if (out) return out;
    if (owner !== STATIC && owner[0] !== POD) {
      out = this.compileService(this.source?.get('Service', owner)).collector.records;
    } else if (owner[0] === POD) {
      const key = owner.slice(1);
      const c = new Collector();
      const entry = this.podParts.get(key)?.entry;
      if (entry)
        compilePodHost(entry, (k) => this.serviceParts.get(k)?.headless === true, this.settings, c);
      out = c.records;
    } else {
      out = new Map<string, DnsRecord[]>();
      for (const rr of apexRecords(this.settings, this.serial)) {
        const list = out.get(rr.name) ?? [];
        list.push(rr);
        out.set(rr.name, list);
      }
    }
    this.outputs.set(owner, out);
    return out;
  }

  /** Records that `owner` (static or a Pod) now has at `names`: see {@link moveOwner}. */
  private setOwner(owner: string, names: Iterable<string>): void {
    const after = this.moveOwner(owner, this.ownerNames.get(owner) ?? null, names);
    if (after) this.ownerNames.set(owner, after);
    else this.ownerNames.delete(owner);
  }

  /**
   * Records that `owner` now has at `names` instead of at `before`: names it left or reached are
   * affected. Returns the names (interned), null when none.
   */
  private moveOwner(
    owner: string,
    before: readonly string[] | null,
    names: Iterable<string>,
  ): string[] | null {
    const after = Array.from(names, intern);
    const kept = before && before.length > 0 ? new Set(after) : null;
    for (const name of before ?? []) {
      this.affected.add(name);
      if (!kept?.has(name)) this.removeOwner(name, owner);
    }
    const had = before && before.length > 0 ? new Set(before) : null;
    for (const name of after) {
      this.affected.add(name);
      if (!had?.has(name)) this.addOwner(name, owner);
    }
    return after.length > 0 ? after : null;
  }

  private addOwner(name: string, owner: string): void {
    const at = this.ownersAt.get(name);
    if (at === undefined) {
      this.ownersAt.set(name, owner);
      for (const n of entChain(name, this.settings.zone)) if (n !== name) this.bump(n, 1);
    } else if (typeof at === 'string') {
      this.ownersAt.set(name, [at, owner]);
    } else {
      at.push(owner);
    }
  }

  private removeOwner(name: string, owner: string): void {
    const at = this.ownersAt.get(name);
    if (at === owner) {
      this.ownersAt.delete(name);
      for (const n of entChain(name, this.settings.zone)) if (n !== name) this.bump(n, -1);
    } else if (Array.isArray(at)) {
      const rest = at.filter((o) => o !== owner);
      this.ownersAt.set(name, rest.length === 1 ? (rest[0] as string) : rest);
    }
  }

  private bump(name: string, delta: number): void {
    const before = this.refs.get(name) ?? 0;
    const n = before + delta;
    if (n === 0) this.refs.delete(name);
    else this.refs.set(name, n);
    // only a count that reaches or leaves 0 can make an empty non-terminal appear or go
    if (before === 0 || n === 0) this.affected.add(name);
  }

  /** The merged node at `name` (owners in compileZone's order), or null when it does not exist. */
  private node(name: string): ZoneNode | null {
    const at = this.ownersAt.get(name);
    if (at === undefined) return this.refs.has(name) ? { records: [] } : null;
    if (typeof at === 'string') return { records: finishRecords(this.output(at).get(name) ?? []) };
    const records: DnsRecord[] = [];
    // the static records, then every Service by key, then every Pod by key (see STATIC and POD)
    for (const owner of [...at].sort()) records.push(...(this.output(owner).get(name) ?? []));
    return { records: finishRecords(records) };
  }

  private countNamespace(ns: string | null, delta: number): void {
    if (ns === null) return;
    const n = (this.nsCount.get(ns) ?? 0) + delta;
    if (n === 0) this.nsCount.delete(ns);
    else this.nsCount.set(ns, n);
    if ((n === 0) === !this.namespaces.has(ns)) return;
    const { zone, svcZone } = this.settings;
    if (n === 0) this.namespaces.delete(ns);
    else this.namespaces.add(ns);
    for (const name of [
      ...entChain(`${ns}.${svcZone}`, zone),
      ...entChain(`${ns}.pod.${zone}`, zone),
    ])
      this.bump(name, n === 0 ? -1 : 1);
  }

  private countPodIp(ns: string, ip: string, delta: number): void {
    let counts = this.podIpCount.get(ns);
    if (!counts) {
      counts = new Map();
      this.podIpCount.set(ns, counts);
    }
    const n = (counts.get(ip) ?? 0) + delta;
    if (n > 0) {
      counts.set(ip, n);
      addTo(this.podIps, ns, ip);
      return;
    }
    counts.delete(ip);
    if (counts.size === 0) this.podIpCount.delete(ns);
    removeFrom(this.podIps, ns, ip);
  }

  /** Keeps the sorted keys of `kind` (when kept) as objects come and go. */
  private member(kind: DnsObjectKind, key: string, before: boolean, after: boolean): void {
    if (before === after) return;
    const sorted = this.sortedKeys.get(kind);
    if (sorted) {
      const i = bisect(sorted, key);
      if (after) sorted.splice(i, 0, key);
      else if (sorted[i] === key) sorted.splice(i, 1);
    }
    // positions of this kind's skipped objects may have moved
    if (this.skipKeys.get(kind)?.size) this.skippedList = null;
  }

  private setSkips(
    kind: DnsObjectKind,
    key: string,
    before: ObjectSkip[] | null,
    after: ObjectSkip[] | null,
  ): void {
    if (before === null && after === null) return;
    this.skippedList = null;
    let keys = this.skipKeys.get(kind);
    if (after !== null) {
      if (!keys) {
        keys = new Set();
        this.skipKeys.set(kind, keys);
      }
      keys.add(key);
    } else {
      keys?.delete(key);
    }
  }

  private partsOf(kind: DnsObjectKind): Map<string, { skips: ObjectSkip[] | null }> {
    switch (kind) {
      case 'Namespace':
        return this.namespaceParts;
      case 'Pod':
        return this.podParts;
      case 'EndpointSlice':
        return this.sliceParts;
      default:
        return this.serviceParts;
    }
  }

  private renderSkipped(): SkippedObject[] {
    const out: SkippedObject[] = [];
    for (const [kind, field] of SKIP_KINDS) {
      const keys = this.skipKeys.get(kind);
      if (!keys?.size) continue;
      const parts = this.partsOf(kind);
      let sorted = this.sortedKeys.get(kind);
      if (!sorted) {
        sorted = [...parts.keys()].sort();
        this.sortedKeys.set(kind, sorted);
      }
      for (const key of [...keys].sort()) {
        const at = `${field}[${bisect(sorted, key)}]`;
        for (const s of parts.get(key)?.skips ?? [])
          out.push({
            object: s.object ?? `${kind} ${at}`,
            field: `${at}${s.field}`,
            reason: s.reason,
            dropped: s.dropped,
          });
      }
    }
    return out;
  }
}
