import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';
import type {
  DnsRecord,
  K8sEndpoint,
  K8sEndpointPort,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
  PodsMode,
  SoaData,
  ZoneOptions,
} from './types.js';

// One object at a time: what each Namespace, Pod, EndpointSlice and Service adds to the zone.
// `compileZone` (the whole state) and `LiveZone` (one changed object) both compile through these,
// so the two cannot drift apart; only how contributions are assembled differs.

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A label of a name a Service may point at (RFC 1123, plus `_` and upper case, which encode fine). */
const TARGET_LABEL = /^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?$/i;
/** Apex of the IPv4 reverse zone. */
export const REVERSE_V4 = 'in-addr.arpa';
/** Apex of the IPv6 reverse zone. */
export const REVERSE_V6 = 'ip6.arpa';
/** Longest presentation name without the trailing dot that still encodes in 255 octets. */
const MAX_NAME = 253;
/** The EndpointSlice label naming its Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * An object, or part of one, that {@link compileZone} left out of the zone because a field is
 * malformed. Everything else in the state is still served.
 */
export interface SkippedObject {
  /**
   * The object: `Service shop/web`, `EndpointSlice shop/web-x7k2p`, `Pod shop/db-0`,
   * `Namespace shop`; its position (`Service services[3]`) when it has no usable name.
   */
  readonly object: string;
  /** Path of the bad field in the state, e.g. `services[3].spec.clusterIP`. */
  readonly field: string;
  /** What is wrong with it, e.g. `must be an IP address, got "10.0.0.300"`. */
  readonly reason: string;
  /**
   * What was left out: the whole `object`, or only one `port` of a Service or EndpointSlice,
   * one `endpoint` (all its addresses) or one endpoint `address` of an EndpointSlice (as
   * kube-proxy drops only a bad endpoint), or a Pod's `hostname` record.
   */
  readonly dropped: 'object' | 'port' | 'endpoint' | 'address' | 'hostname';
}

/** Version of the Kubernetes DNS specification served at `dns-version.<zone>`. */
export const SPEC_VERSION = '1.1.0';

/** The annotation older Services use for `publishNotReadyAddresses: true`. */
export const TOLERATE_UNREADY = 'service.alpha.kubernetes.io/tolerate-unready-endpoints';

/** The zone options, checked, with defaults applied. */
export interface ZoneSettings {
  /** Cluster domain, lower case, no trailing dot. */
  readonly zone: string;
  /** `svc.<zone>`. */
  readonly svcZone: string;
  readonly ttl: number;
  readonly pods: PodsMode;
  readonly endpointsFromPods: boolean;
  /** Addresses of the cluster DNS servers (A/AAAA of `ns.dns.<zone>`, the apex NS). */
  readonly nameservers: readonly { ip: string; v6: boolean }[];
}

/** Checks the zone options; throws `DnsError` `INVALID_ARGUMENT` naming the bad one. */
export function zoneSettings(options: ZoneOptions): ZoneSettings {
  const zone = normalizeName(options.zone ?? 'cluster.local');
  if (zone.length === 0 || zone.split('.').some((l) => !LABEL.test(l))) {
    throw new DnsError(
      'INVALID_ARGUMENT',
      `zone must be a domain name, got ${JSON.stringify(options.zone)}`,
      { field: 'zone', value: options.zone },
    );
  }
  const ttl = options.ttl ?? 5;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) {
    throw new DnsError(
      'INVALID_ARGUMENT',
      `ttl must be a non-negative integer, got ${JSON.stringify(ttl)}`,
      { field: 'ttl', value: ttl },
    );
  }
  const pods = options.pods ?? 'insecure';
  if (!['disabled', 'insecure', 'verified'].includes(pods)) {
    throw new DnsError(
      'INVALID_ARGUMENT',
      `pods must be disabled, insecure or verified, got ${JSON.stringify(pods)}`,
      { field: 'pods', value: pods },
    );
  }
  const nameservers = (options.nameservers ?? []).map((a, i) => {
    if (typeof a !== 'string' || !ipaddr.isValid(a)) {
      throw new DnsError(
        'INVALID_ARGUMENT',
        `nameservers[${i}] must be an IP address, got ${JSON.stringify(a)}`,
        { field: `nameservers[${i}]`, value: a },
      );
    }
    const addr = ipaddr.parse(a);
    return { ip: addr.toString(), v6: addr.kind() === 'ipv6' };
  });
  return {
    zone,
    svcZone: `svc.${zone}`,
    ttl,
    pods,
    endpointsFromPods: options.endpointsFromPods !== false,
    nameservers,
  };
}

/**
 * The records every zone has at and under its apex: the SOA, the NS (RFC 1034 §4.2.1: a zone's
 * apex names its servers; `ns.dns.<zone>`, as CoreDNS answers), the A/AAAA of that name when the
 * server's addresses are known, and `dns-version.<zone>`.
 */
export function apexRecords(settings: ZoneSettings, serial: number): DnsRecord[] {
  const { zone, ttl } = settings;
  const ns = `ns.dns.${zone}`;
  return [
    { name: zone, type: 'SOA', class: 'IN', ttl, data: soaData(zone, serial, ttl) },
    { name: zone, type: 'NS', class: 'IN', ttl, data: ns },
    ...settings.nameservers.map(
      (a): DnsRecord => ({ name: ns, type: a.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: a.ip }),
    ),
    { name: `dns-version.${zone}`, type: 'TXT', class: 'IN', ttl, data: [SPEC_VERSION] },
  ];
}

/**
 * Where the per-object compilers report what an object adds: records, the namespace it makes
 * exist, and what of it is skipped.
 */
export interface ZoneSink {
  record(rr: DnsRecord): void;
  namespace(ns: string): void;
  /**
   * `object` is null when the object has no usable name (it is then named by its position, as
   * `Service services[3]`); `field` is the path inside the object (`.spec.clusterIP`, or `''`
   * for the object itself), to be put after its position in the state.
   */
  skip(
    object: string | null,
    dropped: SkippedObject['dropped'],
    field: string,
    reason: string,
  ): void;
}

function labelProblem(value: unknown): string | null {
  if (typeof value === 'string' && value.length <= 63 && LABEL.test(value)) return null;
  return `must be a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(value)}`;
}

function portProblem(value: unknown): string | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535)
    return null;
  return `must be a port number 1-65535, got ${JSON.stringify(value)}`;
}

function targetProblem(value: unknown): string | null {
  const bad = `must be a domain name, got ${JSON.stringify(value)}`;
  if (typeof value !== 'string') return bad;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > MAX_NAME) return bad;
  for (const label of name.split('.'))
    if (label.length > 63 || !TARGET_LABEL.test(label)) return bad;
  return null;
}

function nameProblem(name: string): string | null {
  return name.length > MAX_NAME
    ? `makes the name ${name} longer than ${MAX_NAME} characters`
    : null;
}

/** `Kind ns/name`, or null (named by its position) when the name is not a non-empty string. */
function objectName(kind: string, ns: unknown, name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return null;
  return ns === undefined ? `${kind} ${name}` : `${kind} ${String(ns)}/${name}`;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

/** Normalises a presentation name: lower case (ASCII only), no trailing dot. */
export function normalizeName(name: string): string {
  const trimmed = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  return trimmed.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/** The PTR owner name of an IP address (`in-addr.arpa` or nibble `ip6.arpa`). */
export function reverseName(ip: string): string {
  if (isCanonicalIpv4(ip)) return `${ip.split('.').reverse().join('.')}.${REVERSE_V4}`;
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return `${addr.toByteArray().reverse().join('.')}.${REVERSE_V4}`;
  const nibbles: string[] = [];
  for (const byte of addr.toByteArray())
    nibbles.push((byte >> 4).toString(16), (byte & 0xf).toString(16));
  return `${nibbles.reverse().join('.')}.${REVERSE_V6}`;
}

/** The dashed form of an IP used in generated hostnames and pod names (`10-0-0-1`, `2001-db8--1`). */
export function dashedIp(ip: string): string {
  const dashed = ip.replace(/[.:]/g, '-');
  // a label may not start or end with '-' (RFC 1123): `fd00::` is `fd00--0`, `::1` is `0--1`
  // (both read back as the same address); CoreDNS appends the same 0
  const tail = dashed.endsWith('-') ? `${dashed}0` : dashed;
  return tail.startsWith('-') ? `0${tail}` : tail;
}

/**
 * `name` and the names between it and `apex` (apex excluded): the empty non-terminals a record
 * at `name` makes exist.
 */
export function entChain(name: string, apex: string): string[] {
  const out: string[] = [];
  let n = name;
  while (n.length > apex.length && n.endsWith(apex)) {
    out.push(n);
    const dot = n.indexOf('.');
    if (dot < 0) break;
    n = n.slice(dot + 1);
  }
  return out;
}

interface ParsedIp {
  text: string;
  v6: boolean;
}

/**
 * Whether `s` is an IPv4 address in canonical dotted-decimal form (four parts 0-255, no leading
 * zeros): the form the API server writes, which needs no parsing to be printed. Other forms
 * (`010.1`, hex parts) go through ipaddr.js.
 */
export function isCanonicalIpv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || value > 255) return false;
      parts++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (c - 48);
      digits++;
    } else return false;
  }
  return parts === 4;
}

function parseIp(value: unknown): ParsedIp | null {
  if (typeof value === 'string' && isCanonicalIpv4(value)) return { text: value, v6: false };
  if (typeof value !== 'string' || !ipaddr.isValid(value)) return null;
  const addr = ipaddr.parse(value);
  return { text: addr.toString(), v6: addr.kind() === 'ipv6' };
}

function ipProblem(value: unknown): string {
  return `must be an IP address, got ${JSON.stringify(value)}`;
}

interface EndpointAddr {
  ip: string;
  v6: boolean;
  hostname?: string;
  ready: boolean;
}

/** The endpoints and named ports one EndpointSlice gives its Service. */
export interface EndpointGroup {
  addrs: EndpointAddr[];
  ports: { name: string; port: number; protocol: string }[];
}

/** A Pod whose namespace and IPs are valid, with its parsed IPs. */
export interface PodEntry {
  pod: K8sPod;
  /** `metadata.namespace` (or `default`). */
  ns: string;
  ips: ParsedIp[];
  /** `spec.hostname` when it is a DNS label. */
  hostname?: string;
}

function isReadyPod(pod: K8sPod): boolean {
  const conditions = pod.status?.conditions;
  if (conditions?.length)
    return conditions.some((c) => c?.type === 'Ready' && c?.status === 'True');
  return (pod.status?.phase ?? 'Running') === 'Running';
}

/** The pod's IPs with the path of the field each came from. */
function podIpList(pod: K8sPod): { raw: unknown; field: string }[] {
  const list = pod.status?.podIPs;
  if (Array.isArray(list) && list.length > 0)
    return list.map((p, j) => ({ raw: p?.ip, field: `.status.podIPs[${j}].ip` }));
  const one = pod.status?.podIP;
  return one ? [{ raw: one, field: '.status.podIP' }] : [];
}

/** Whether `labels` carry every `key: value` of `selector`. */
export function matchesSelector(
  labels: Record<string, string> | null | undefined,
  selector: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** A Namespace: its name when valid (it then exists in the zone), else null (skipped). */
export function compileNamespace(n: K8sNamespace, sink: ZoneSink): string | null {
  const name = n?.metadata?.name;
  const bad = labelProblem(name);
  if (bad !== null) {
    sink.skip(objectName('Namespace', undefined, name), 'object', '.metadata.name', bad);
    return null;
  }
  sink.namespace(name as string);
  return name as string;
}

/** A Pod: its entry when its namespace and IPs are valid, else null (skipped). */
export function compilePod(pod: K8sPod, sink: ZoneSink): PodEntry | null {
  if (!isObject(pod)) {
    sink.skip(null, 'object', '', 'must be an object');
    return null;
  }
  const ns = pod.metadata?.namespace ?? 'default';
  const object = objectName('Pod', ns, pod.metadata?.name);
  const badNs = labelProblem(ns);
  if (badNs !== null) {
    sink.skip(object, 'object', '.metadata.namespace', badNs);
    return null;
  }
  const ips: ParsedIp[] = [];
  for (const { raw, field } of podIpList(pod)) {
    const ip = parseIp(raw);
    if (!ip) {
      sink.skip(object, 'object', field, ipProblem(raw));
      return null;
    }
    ips.push(ip);
  }
  let hostname: string | undefined;
  const rawHost = pod.spec?.hostname;
  if (rawHost) {
    const badHost = labelProblem(rawHost);
    if (badHost === null) hostname = rawHost;
    else sink.skip(object, 'hostname', '.spec.hostname', badHost);
  }
  sink.namespace(ns);
  return { pod, ns, ips, hostname };
}

/**
 * `<ns>/<subdomain>` of a Pod that asks for a `<hostname>.<subdomain>` record (whether it gets
 * one depends on that Service being headless), else null.
 */
export function podHostKey(entry: PodEntry): string | null {
  const subdomain = entry.pod.spec?.subdomain;
  return entry.hostname && subdomain ? `${entry.ns}/${subdomain}` : null;
}

/**
 * The `<hostname>.<subdomain>.<ns>.svc.<zone>` records of a ready Pod whose subdomain names a
 * headless Service of its namespace (`headless` answers for `ns/name`).
 */
export function compilePodHost(
  entry: PodEntry,
  headless: (serviceKey: string) => boolean,
  s: ZoneSettings,
  sink: ZoneSink,
): void {
  const { pod, ns, ips, hostname } = entry;
  const subdomain = pod.spec?.subdomain;
  if (!hostname || !subdomain || !headless(`${ns}/${subdomain}`) || !isReadyPod(pod)) return;
  const host = `${hostname}.${subdomain}.${ns}.${s.svcZone}`;
  if (nameProblem(host) !== null) return;
  for (const ip of ips)
    sink.record({ name: host, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl: s.ttl, data: ip.text });
}

/** What an EndpointSlice gives: its namespace and, when it feeds a Service, the Service's key and its endpoints. */
export interface CompiledSlice {
  ns: string;
  /** `ns/service` of the Service it belongs to, when it names a valid one. */
  serviceKey?: string;
  /** Its endpoints and ports (absent for FQDN slices, which give no records). */
  group?: EndpointGroup;
}

/** An EndpointSlice; null when it is skipped as a whole. */
export function compileSlice(
  slice: K8sEndpointSlice,
  s: ZoneSettings,
  sink: ZoneSink,
): CompiledSlice | null {
  if (!isObject(slice)) {
    sink.skip(null, 'object', '', 'must be an object');
    return null;
  }
  const ns = slice.metadata?.namespace ?? 'default';
  const object = objectName('EndpointSlice', ns, slice.metadata?.name);
  const badNs = labelProblem(ns);
  if (badNs !== null) {
    sink.skip(object, 'object', '.metadata.namespace', badNs);
    return null;
  }
  const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (svcName === undefined) {
    sink.namespace(ns);
    return { ns };
  }
  const badSvc = labelProblem(svcName);
  if (badSvc !== null) {
    sink.skip(object, 'object', `.metadata.labels["${SERVICE_NAME_LABEL}"]`, badSvc);
    return null;
  }
  sink.namespace(ns);
  const serviceKey = `${ns}/${svcName}`;
  if (slice.addressType === 'FQDN') return { ns, serviceKey };
  const fqdn = `${svcName}.${ns}.${s.svcZone}`;
  const group: EndpointGroup = { addrs: [], ports: [] };
  (slice.ports ?? []).forEach((p: K8sEndpointPort, j) => {
    if (!p?.name || p.port == null) return;
    const protocol = (p.protocol ?? 'TCP').toLowerCase();
    const bad =
      labelProblem(p.name) ??
      nameProblem(`_${p.name}._${protocol}.${fqdn}`) ??
      (LABEL.test(protocol) ? null : `protocol must be a DNS label, got ${p.protocol}`);
    const badPort = portProblem(p.port);
    if (bad !== null) sink.skip(object, 'port', `.ports[${j}].name`, bad);
    else if (badPort !== null) sink.skip(object, 'port', `.ports[${j}].port`, badPort);
    else group.ports.push({ name: p.name, port: p.port, protocol });
  });
  (slice.endpoints ?? []).forEach((ep: K8sEndpoint, j) => {
    const epAt = `.endpoints[${j}]`;
    if (!isObject(ep)) {
      sink.skip(object, 'endpoint', epAt, 'must be an object');
      return;
    }
    const ready = ep.conditions?.ready !== false;
    let hostname: string | undefined;
    if (ep.hostname) {
      const bad = labelProblem(ep.hostname) ?? nameProblem(`${ep.hostname}.${fqdn}`);
      if (bad !== null) {
        sink.skip(object, 'endpoint', `${epAt}.hostname`, bad);
        return;
      }
      hostname = ep.hostname;
    }
    if (!Array.isArray(ep.addresses)) {
      sink.skip(object, 'endpoint', `${epAt}.addresses`, 'must be a list');
      return;
    }
    ep.addresses.forEach((a, k) => {
      const ip = parseIp(a);
      if (!ip) {
        sink.skip(object, 'address', `${epAt}.addresses[${k}]`, ipProblem(a));
        return;
      }
      group.addrs.push({ ip: ip.text, v6: ip.v6, hostname, ready });
    });
  });
  return { ns, serviceKey, group };
}

/** What a Service is, as far as other objects' records depend on it. */
export interface CompiledService {
  ns: string;
  /** Headless (clusterIP None, not ExternalName): Pods may get `<hostname>.<subdomain>` records. */
  headless: boolean;
  /** The selector its endpoints were derived from, when they came from Pods (no EndpointSlice). */
  podSelector?: Record<string, string>;
}

interface ServicePortEntry {
  name?: string;
  port: number;
  targetPort?: number | string | null;
  protocol: string;
}

/**
 * A Service and its records. `groups` gives the endpoints of the EndpointSlices of a Service key
 * (undefined when it has none), `pods` the valid Pods of a namespace (for `endpointsFromPods`).
 * Null when the Service is skipped as a whole.
 */
export function compileService(
  svc: K8sService,
  s: ZoneSettings,
  groups: (serviceKey: string) => readonly EndpointGroup[] | undefined,
  pods: (ns: string) => readonly PodEntry[],
  sink: ZoneSink,
): CompiledService | null {
  if (!isObject(svc)) {
    sink.skip(null, 'object', '', 'must be an object');
    return null;
  }
  const { ttl, svcZone } = s;
  const name = svc.metadata?.name;
  const ns = svc.metadata?.namespace ?? 'default';
  const object = objectName('Service', ns, name);
  const badName = labelProblem(name);
  if (badName !== null) {
    sink.skip(object, 'object', '.metadata.name', badName);
    return null;
  }
  const badNs = labelProblem(ns);
  if (badNs !== null) {
    sink.skip(object, 'object', '.metadata.namespace', badNs);
    return null;
  }
  const fqdn = `${name}.${ns}.${svcZone}`;
  const tooLong = nameProblem(fqdn);
  if (tooLong !== null) {
    sink.skip(object, 'object', '.metadata.name', tooLong);
    return null;
  }
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') {
    const target = spec.externalName;
    const bad = targetProblem(target);
    if (bad !== null) {
      sink.skip(object, 'object', '.spec.externalName', bad);
      return null;
    }
    sink.namespace(ns);
    sink.record({
      name: fqdn,
      type: 'CNAME',
      class: 'IN',
      ttl,
      data: normalizeName(target as string),
    });
    return { ns, headless: false };
  }
  const headlessSvc = spec.clusterIP === 'None';
  const ips: ParsedIp[] = [];
  if (!headlessSvc) {
    const raw = spec.clusterIPs?.length
      ? spec.clusterIPs.map((ip, j) => ({ ip, field: `.spec.clusterIPs[${j}]` }))
      : spec.clusterIP
        ? [{ ip: spec.clusterIP, field: '.spec.clusterIP' }]
        : [];
    for (const { ip, field } of raw) {
      const parsed = parseIp(ip);
      if (!parsed) {
        sink.skip(object, 'object', field, ipProblem(ip));
        return null;
      }
      ips.push(parsed);
    }
  }
  sink.namespace(ns);
  const ports: ServicePortEntry[] = [];
  (spec.ports ?? []).forEach((p, j) => {
    if (!isObject(p)) {
      sink.skip(object, 'port', `.spec.ports[${j}]`, 'must be an object');
      return;
    }
    const protocol = (p.protocol ?? 'TCP').toLowerCase();
    const badPortName = p.name
      ? (labelProblem(p.name) ??
        nameProblem(`_${p.name}._${protocol}.${fqdn}`) ??
        (LABEL.test(protocol) ? null : `protocol must be a DNS label, got ${p.protocol}`))
      : null;
    const badPort = portProblem(p.port);
    const badTarget = typeof p.targetPort === 'number' ? portProblem(p.targetPort) : null;
    if (badPortName !== null) sink.skip(object, 'port', `.spec.ports[${j}].name`, badPortName);
    else if (badPort !== null) sink.skip(object, 'port', `.spec.ports[${j}].port`, badPort);
    else if (badTarget !== null)
      sink.skip(object, 'port', `.spec.ports[${j}].targetPort`, badTarget);
    else
      ports.push({ name: p.name || undefined, port: p.port, targetPort: p.targetPort, protocol });
  });
  if (headlessSvc) {
    let svcGroups = groups(`${ns}/${name}`);
    let podSelector: Record<string, string> | undefined;
    if (!svcGroups && spec.selector && s.endpointsFromPods) {
      podSelector = spec.selector;
      svcGroups = [podEndpoints(pods(ns), spec.selector, name as string, ports)];
    }
    // the spec's "ready": publishNotReadyAddresses, or the older annotation that means the same
    const publishNotReady =
      spec.publishNotReadyAddresses === true ||
      svc.metadata?.annotations?.[TOLERATE_UNREADY] === 'true';
    for (const g of svcGroups ?? []) {
      const addrs = g.addrs.filter((a) => publishNotReady || a.ready);
      for (const a of addrs) {
        const host = `${a.hostname ?? dashedIp(a.ip)}.${fqdn}`;
        const type = a.v6 ? 'AAAA' : 'A';
        sink.record({ name: fqdn, type, class: 'IN', ttl, data: a.ip });
        sink.record({ name: host, type, class: 'IN', ttl, data: a.ip });
        sink.record({ name: reverseName(a.ip), type: 'PTR', class: 'IN', ttl, data: host });
      }
      for (const p of g.ports) {
        const owner = `_${p.name}._${p.protocol}.${fqdn}`;
        const targets = [...new Set(addrs.map((a) => `${a.hostname ?? dashedIp(a.ip)}.${fqdn}`))];
        for (const target of targets) {
          sink.record({
            name: owner,
            type: 'SRV',
            class: 'IN',
            ttl,
            data: { priority: 0, weight: 0, port: p.port, target },
          });
        }
      }
    }
    return podSelector ? { ns, headless: true, podSelector } : { ns, headless: true };
  }
  for (const ip of ips) {
    sink.record({ name: fqdn, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: ip.text });
    sink.record({ name: reverseName(ip.text), type: 'PTR', class: 'IN', ttl, data: fqdn });
  }
  if (ips.length === 0) return { ns, headless: false };
  for (const p of ports) {
    if (!p.name) continue;
    sink.record({
      name: `_${p.name}._${p.protocol}.${fqdn}`,
      type: 'SRV',
      class: 'IN',
      ttl,
      data: { priority: 0, weight: 100, port: p.port, target: fqdn },
    });
  }
  return { ns, headless: false };
}

function podEndpoints(
  pods: readonly PodEntry[],
  selector: Record<string, string>,
  svcName: string,
  ports: readonly ServicePortEntry[],
): EndpointGroup {
  const group: EndpointGroup = { addrs: [], ports: [] };
  for (const p of ports) {
    if (p.name)
      group.ports.push({
        name: p.name,
        port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
        protocol: p.protocol,
      });
  }
  for (const { pod, ips, hostname } of pods) {
    if (!matchesSelector(pod.metadata?.labels, selector)) continue;
    const ready = isReadyPod(pod);
    for (const ip of ips) {
      group.addrs.push({
        ip: ip.text,
        v6: ip.v6,
        hostname: pod.spec?.subdomain === svcName ? hostname : undefined,
        ready,
      });
    }
  }
  return group;
}

/**
 * Records of one name, deduplicated (first wins, as records are added) with the weights of
 * headless SRV records (weight 0 until here) spread evenly. Returns new record objects where it
 * changes a weight.
 */
export function finishRecords(records: readonly DnsRecord[]): DnsRecord[] {
  let out: DnsRecord[] = records as DnsRecord[];
  if (records.length > 1) {
    const seen = new Set<string>();
    out = [];
    for (const rr of records) {
      const key = `${rr.type}|${JSON.stringify(rr.data)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(rr);
    }
  }
  let srv = 0;
  for (const r of out) if (r.type === 'SRV') srv++;
  if (srv === 0) return out.slice();
  return out.map((r) =>
    r.type === 'SRV' && r.data.weight === 0
      ? { ...r, data: { ...r.data, weight: Math.floor(100 / srv) } }
      : r,
  );
}

/** SOA data of the cluster zone. */
export function soaData(zone: string, serial: number, ttl: number): SoaData {
  return {
    mname: `ns.dns.${zone}`,
    rname: `hostmaster.${zone}`,
    serial,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: ttl,
  };
}

/**
 * Which of `skipped` were not skipped last time (`before`, as returned then), so a caller logs
 * each skipped object once for as long as it stays skipped. An object's position in the state
 * (`services[3]`), which moves as others come and go, is not part of what identifies it.
 */
export function newlySkipped(
  skipped: readonly SkippedObject[],
  before: ReadonlySet<string>,
): { fresh: SkippedObject[]; now: Set<string> } {
  const now = new Set<string>();
  const fresh: SkippedObject[] = [];
  for (const s of skipped) {
    const id = JSON.stringify([s.object, s.field.replace(/^\w+\[\d+\]/, ''), s.reason, s.dropped]);
    now.add(id);
    if (!before.has(id)) fresh.push(s);
  }
  return { fresh, now };
}
