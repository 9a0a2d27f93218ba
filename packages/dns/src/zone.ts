import ipaddr from 'ipaddr.js';
import type {
  ClusterDnsState,
  DnsQuestion,
  DnsRecord,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
  PodsMode,
  Resolution,
  ZoneOptions,
} from './types.js';
import {
  type EndpointGroup,
  type PodEntry,
  REVERSE_V4,
  REVERSE_V6,
  type SkippedObject,
  type ZoneSink,
  compileNamespace,
  compilePod,
  compilePodHost,
  compileService,
  compileSlice,
  entChain,
  normalizeName,
  apexRecords,
  soaData,
  zoneSettings,
} from './zone-objects.js';

export {
  SPEC_VERSION,
  dashedIp,
  newlySkipped,
  normalizeName,
  reverseName,
} from './zone-objects.js';
export type { SkippedObject } from './zone-objects.js';

/** A name in the zone and every record it owns (none for an empty non-terminal). */
export interface ZoneNode {
  readonly records: DnsRecord[];
}

/** The compiled cluster zone: every name the resolver answers, indexed by lower-case name. */
export interface DnsZone {
  /** Cluster domain, lower case, no trailing dot. */
  readonly zone: string;
  readonly ttl: number;
  readonly pods: PodsMode;
  readonly serial: number;
  /** Names owned by the zone and the reverse zones. */
  readonly nodes: ReadonlyMap<string, ZoneNode>;
  /** Namespaces that exist (declared, or holding a Service, EndpointSlice or Pod). */
  readonly namespaces: ReadonlySet<string>;
  /** Pod IPs per namespace, for `pods verified`. */
  readonly podIps: ReadonlyMap<string, ReadonlySet<string>>;
  /** Objects (or parts of them) left out because a field is malformed; empty when all are good. */
  readonly skipped: readonly SkippedObject[];
}

/** A name and its records while the zone is built; de-duplicates records (first wins). */
class ZoneBuilder {
  readonly nodes = new Map<string, ZoneNode>();
  private readonly seen = new Set<string>();

  node(name: string): ZoneNode {
    let n = this.nodes.get(name);
    if (!n) {
      n = { records: [] };
      this.nodes.set(name, n);
    }
    return n;
  }

  /** Adds a record (deduplicated) and the empty non-terminals between it and `apex`. */
  add(rr: DnsRecord, apex: string): void {
    const key = `${rr.name}|${rr.type}|${JSON.stringify(rr.data)}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.node(rr.name).records.push(rr);
    this.ent(rr.name, apex);
  }

  ent(name: string, apex: string): void {
    for (const n of entChain(name, apex)) this.node(n);
  }
}

/**
 * Compiles plain Kubernetes objects into the cluster zone (pure). A malformed object does not
 * stop the rest: the smallest sensible unit that holds the bad field (the whole Namespace,
 * Service, Pod or EndpointSlice; one port; one endpoint or endpoint address) is left out and
 * listed in {@link DnsZone.skipped}. Throws `DnsError` `INVALID_ARGUMENT` only for bad
 * `options` (zone, ttl, pods).
 */
export function compileZone(state: ClusterDnsState, options: ZoneOptions = {}): DnsZone {
  const settings = zoneSettings(options);
  const { zone, ttl, pods, svcZone } = settings;
  const serial = options.serial ?? 1;
  const b = new ZoneBuilder();
  const namespaces = new Set<string>();
  const podIps = new Map<string, Set<string>>();
  const skipped: SkippedObject[] = [];
  let kind = '';
  let at = '';
  const sink: ZoneSink = {
    record: (rr) => b.add(rr, zone),
    namespace: (ns) => {
      if (namespaces.has(ns)) return;
      namespaces.add(ns);
      b.ent(`${ns}.${svcZone}`, zone);
      b.ent(`${ns}.pod.${zone}`, zone);
    },
    skip: (object, dropped, field, reason) => {
      skipped.push({ object: object ?? `${kind} ${at}`, field: `${at}${field}`, reason, dropped });
    },
  };

  for (const rr of apexRecords(settings, serial)) b.add(rr, zone);
  b.ent(svcZone, zone);
  b.ent(`pod.${zone}`, zone);

  kind = 'Namespace';
  (state.namespaces ?? []).forEach((n: K8sNamespace, i) => {
    at = `namespaces[${i}]`;
    compileNamespace(n, sink);
  });

  const podsByNs = new Map<string, PodEntry[]>();
  kind = 'Pod';
  (state.pods ?? []).forEach((pod: K8sPod, i) => {
    at = `pods[${i}]`;
    const entry = compilePod(pod, sink);
    if (!entry) return;
    const list = podsByNs.get(entry.ns) ?? [];
    list.push(entry);
    podsByNs.set(entry.ns, list);
    const set = podIps.get(entry.ns) ?? new Set<string>();
    for (const ip of entry.ips) set.add(ip.text);
    podIps.set(entry.ns, set);
  });

  const groups = new Map<string, EndpointGroup[]>();
  kind = 'EndpointSlice';
  (state.endpointSlices ?? []).forEach((slice: K8sEndpointSlice, i) => {
    at = `endpointSlices[${i}]`;
    const compiled = compileSlice(slice, settings, sink);
    if (!compiled?.group || compiled.serviceKey === undefined) return;
    const list = groups.get(compiled.serviceKey) ?? [];
    list.push(compiled.group);
    groups.set(compiled.serviceKey, list);
  });

  const headless = new Set<string>();
  kind = 'Service';
  (state.services ?? []).forEach((svc: K8sService, i) => {
    at = `services[${i}]`;
    const compiled = compileService(
      svc,
      settings,
      (key) => groups.get(key),
      (ns) => podsByNs.get(ns) ?? [],
      sink,
    );
    if (compiled?.headless) headless.add(`${compiled.ns}/${svc.metadata?.name}`);
  });

  for (const list of podsByNs.values())
    for (const entry of list) compilePodHost(entry, (key) => headless.has(key), settings, sink);

  for (const node of b.nodes.values()) {
    const srv = node.records.filter((r) => r.type === 'SRV');
    for (const r of srv)
      if (r.type === 'SRV' && r.data.weight === 0) r.data.weight = Math.floor(100 / srv.length);
  }
  return { zone, ttl, pods, serial, nodes: b.nodes, namespaces, podIps, skipped };
}

/** The SOA record that goes with negative answers for `apex` (the zone or a reverse zone). */
export function soaRecord(zone: DnsZone, apex: string = zone.zone): DnsRecord {
  return {
    name: apex,
    type: 'SOA',
    class: 'IN',
    ttl: zone.ttl,
    data: soaData(zone.zone, zone.serial, zone.ttl),
  };
}

/** Where a name belongs: the cluster zone, a reverse zone, or elsewhere. Returns the apex or null. */
export function authorityOf(zone: string, name: string): string | null {
  for (const apex of [zone, REVERSE_V4, REVERSE_V6]) {
    if (
      name === apex ||
      (name.endsWith(apex) && name.charCodeAt(name.length - apex.length - 1) === 0x2e)
    )
      return apex;
  }
  return null;
}

function answer(
  rcode: 'NOERROR' | 'NXDOMAIN',
  answers: DnsRecord[],
  authorities: DnsRecord[],
  additionals: DnsRecord[] = [],
): Resolution {
  return { kind: 'answer', rcode, answers, authorities, additionals };
}

function podAddress(zone: DnsZone, name: string): { ip: string; v6: boolean } | null | 'nxdomain' {
  const suffix = `.pod.${zone.zone}`;
  if (!name.endsWith(suffix)) return null;
  const rel = name.slice(0, -suffix.length).split('.');
  if (rel.length !== 2) return null;
  const [label, ns] = rel as [string, string];
  if (zone.pods === 'disabled') return 'nxdomain';
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (
    /^\d{1,3}(-\d{1,3}){3}$/.test(label) &&
    ipaddr.IPv4.isValidFourPartDecimal(label.replace(/-/g, '.'))
  ) {
    addr = ipaddr.IPv4.parse(label.replace(/-/g, '.'));
  } else if (label.includes('-') && ipaddr.IPv6.isValid(label.replace(/-/g, ':'))) {
    addr = ipaddr.IPv6.parse(label.replace(/-/g, ':'));
  } else {
    return 'nxdomain';
  }
  const ip = addr.toString();
  if (zone.pods === 'verified' && !zone.podIps.get(ns)?.has(ip)) return 'nxdomain';
  return { ip, v6: addr.kind() === 'ipv6' };
}

/**
 * The answer the Kubernetes DNS specification requires for `question` (pure). Names outside
 * the zone, and reverse names the cluster does not own, resolve to `{ kind: 'forward' }`.
 */
export function resolve(zone: DnsZone, question: DnsQuestion): Resolution {
  const name = normalizeName(question.name);
  const type = typeof question.type === 'number' ? numericTypeName(question.type) : question.type;
  const apex = authorityOf(zone.zone, name);
  if (apex === null) return { kind: 'forward' };
  const node = zone.nodes.get(name);
  const soa = [soaRecord(zone, apex)];
  if (!node) {
    if (apex !== zone.zone) return { kind: 'forward' };
    const pod = podAddress(zone, name);
    if (pod === null || pod === 'nxdomain') return answer('NXDOMAIN', [], soa);
    const rtype = pod.v6 ? 'AAAA' : 'A';
    if (type !== rtype && type !== 'ANY') return answer('NOERROR', [], soa);
    return answer('NOERROR', [{ name, type: rtype, class: 'IN', ttl: zone.ttl, data: pod.ip }], []);
  }
  const cname = node.records.find((r) => r.type === 'CNAME');
  if (cname) return answer('NOERROR', [cname], []);
  const answers =
    type === 'ANY' ? node.records.slice() : node.records.filter((r) => r.type === type);
  if (answers.length === 0) return answer('NOERROR', [], soa);
  const additionals: DnsRecord[] = [];
  for (const rr of answers) {
    if (rr.type !== 'SRV') continue;
    const target = zone.nodes.get(rr.data.target);
    for (const t of target?.records ?? []) {
      if ((t.type === 'A' || t.type === 'AAAA') && !additionals.includes(t)) additionals.push(t);
    }
  }
  return answer('NOERROR', answers, [], additionals);
}

const NUMERIC: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  255: 'ANY',
};

function numericTypeName(code: number): string | number {
  return NUMERIC[code] ?? code;
}
