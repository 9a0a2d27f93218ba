import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';
import type {
  ClusterDnsState,
  DnsQuestion,
  DnsRecord,
  K8sEndpoint,
  K8sEndpointPort,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
  PodsMode,
  Resolution,
  SoaData,
  ZoneOptions,
} from './types.js';

/** Version of the Kubernetes DNS specification served at `dns-version.<zone>`. */
export const SPEC_VERSION = '1.1.0';

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

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A label of a name a Service may point at (RFC 1123, plus `_` and upper case, which encode fine). */
const TARGET_LABEL = /^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?$/i;
const REVERSE_V4 = 'in-addr.arpa';
const REVERSE_V6 = 'ip6.arpa';
/** Longest presentation name without the trailing dot that still encodes in 255 octets. */
const MAX_NAME = 253;

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

/** `Kind ns/name`, or `Kind <position>` when the name is not a string. */
function objectName(kind: string, ns: unknown, name: unknown, position: string): string {
  if (typeof name !== 'string' || name.length === 0) return `${kind} ${position}`;
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
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return `${addr.toByteArray().reverse().join('.')}.${REVERSE_V4}`;
  const nibbles: string[] = [];
  for (const byte of addr.toByteArray())
    nibbles.push((byte >> 4).toString(16), (byte & 0xf).toString(16));
  return `${nibbles.reverse().join('.')}.${REVERSE_V6}`;
}

/** The dashed form of an IP used in generated hostnames and pod names (`10-0-0-1`, `2001-db8--1`). */
export function dashedIp(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

interface ParsedIp {
  text: string;
  v6: boolean;
}

function parseIp(value: unknown): ParsedIp | null {
  if (typeof value !== 'string' || !ipaddr.isValid(value)) return null;
  const addr = ipaddr.parse(value);
  return { text: addr.toString(), v6: addr.kind() === 'ipv6' };
}

function ipProblem(value: unknown): string {
  return `must be an IP address, got ${JSON.stringify(value)}`;
}

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
    let n = name;
    while (n.length > apex.length && n.endsWith(apex)) {
      this.node(n);
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
  }
}

interface EndpointAddr {
  ip: string;
  v6: boolean;
  hostname?: string;
  ready: boolean;
}

interface EndpointGroup {
  addrs: EndpointAddr[];
  ports: { name: string; port: number; protocol: string }[];
}

/** A Pod whose namespace and IPs are valid, with its parsed IPs. */
interface PodEntry {
  pod: K8sPod;
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

/** The pod's IPs with the field each came from. */
function podIpList(pod: K8sPod, at: string): { raw: unknown; field: string }[] {
  const list = pod.status?.podIPs;
  if (Array.isArray(list) && list.length > 0)
    return list.map((p, j) => ({ raw: p?.ip, field: `${at}.status.podIPs[${j}].ip` }));
  const one = pod.status?.podIP;
  return one ? [{ raw: one, field: `${at}.status.podIP` }] : [];
}

function matchesSelector(
  labels: Record<string, string> | null | undefined,
  selector: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/**
 * Compiles plain Kubernetes objects into the cluster zone (pure). A malformed object does not
 * stop the rest: the smallest sensible unit that holds the bad field (the whole Namespace,
 * Service, Pod or EndpointSlice; one port; one endpoint or endpoint address) is left out and
 * listed in {@link DnsZone.skipped}. Throws `DnsError` `INVALID_ARGUMENT` only for bad
 * `options` (zone, ttl, pods).
 */
export function compileZone(state: ClusterDnsState, options: ZoneOptions = {}): DnsZone {
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
  const serial = options.serial ?? 1;
  const b = new ZoneBuilder();
  const svcZone = `svc.${zone}`;
  const namespaces = new Set<string>();
  const podIps = new Map<string, Set<string>>();
  const skipped: SkippedObject[] = [];
  const skip = (
    object: string,
    dropped: SkippedObject['dropped'],
    field: string,
    reason: string,
  ): void => {
    skipped.push({ object, field, reason, dropped });
  };

  b.add({ name: zone, type: 'SOA', class: 'IN', ttl, data: soaData(zone, serial, ttl) }, zone);
  b.add({ name: `dns-version.${zone}`, type: 'TXT', class: 'IN', ttl, data: [SPEC_VERSION] }, zone);
  b.ent(svcZone, zone);
  b.ent(`pod.${zone}`, zone);

  const addNamespace = (ns: string): void => {
    if (namespaces.has(ns)) return;
    namespaces.add(ns);
    b.ent(`${ns}.${svcZone}`, zone);
    b.ent(`${ns}.pod.${zone}`, zone);
  };
  (state.namespaces ?? []).forEach((n: K8sNamespace, i) => {
    const at = `namespaces[${i}]`;
    const name = n?.metadata?.name;
    const bad = labelProblem(name);
    if (bad !== null) {
      skip(objectName('Namespace', undefined, name, at), 'object', `${at}.metadata.name`, bad);
      return;
    }
    addNamespace(name as string);
  });

  const podsByNs = new Map<string, PodEntry[]>();
  (state.pods ?? []).forEach((pod: K8sPod, i) => {
    const at = `pods[${i}]`;
    if (!isObject(pod)) {
      skip(`Pod ${at}`, 'object', at, 'must be an object');
      return;
    }
    const ns = pod.metadata?.namespace ?? 'default';
    const object = objectName('Pod', ns, pod.metadata?.name, at);
    const badNs = labelProblem(ns);
    if (badNs !== null) {
      skip(object, 'object', `${at}.metadata.namespace`, badNs);
      return;
    }
    const ips: ParsedIp[] = [];
    for (const { raw, field } of podIpList(pod, at)) {
      const ip = parseIp(raw);
      if (!ip) {
        skip(object, 'object', field, ipProblem(raw));
        return;
      }
      ips.push(ip);
    }
    let hostname: string | undefined;
    const rawHost = pod.spec?.hostname;
    if (rawHost) {
      const badHost = labelProblem(rawHost);
      if (badHost === null) hostname = rawHost;
      else skip(object, 'hostname', `${at}.spec.hostname`, badHost);
    }
    addNamespace(ns);
    const list = podsByNs.get(ns) ?? [];
    list.push({ pod, ips, hostname });
    podsByNs.set(ns, list);
    const set = podIps.get(ns) ?? new Set<string>();
    for (const ip of ips) set.add(ip.text);
    podIps.set(ns, set);
  });

  const groups = new Map<string, EndpointGroup[]>();
  (state.endpointSlices ?? []).forEach((slice: K8sEndpointSlice, i) => {
    const at = `endpointSlices[${i}]`;
    if (!isObject(slice)) {
      skip(`EndpointSlice ${at}`, 'object', at, 'must be an object');
      return;
    }
    const ns = slice.metadata?.namespace ?? 'default';
    const object = objectName('EndpointSlice', ns, slice.metadata?.name, at);
    const badNs = labelProblem(ns);
    if (badNs !== null) {
      skip(object, 'object', `${at}.metadata.namespace`, badNs);
      return;
    }
    const svcName = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (svcName === undefined) {
      addNamespace(ns);
      return;
    }
    const badSvc = labelProblem(svcName);
    if (badSvc !== null) {
      skip(object, 'object', `${at}.metadata.labels["kubernetes.io/service-name"]`, badSvc);
      return;
    }
    addNamespace(ns);
    if (slice.addressType === 'FQDN') return;
    const fqdn = `${svcName}.${ns}.${svcZone}`;
    const group: EndpointGroup = { addrs: [], ports: [] };
    (slice.ports ?? []).forEach((p: K8sEndpointPort, j) => {
      if (!p?.name || p.port == null) return;
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      const bad =
        labelProblem(p.name) ??
        nameProblem(`_${p.name}._${protocol}.${fqdn}`) ??
        (LABEL.test(protocol) ? null : `protocol must be a DNS label, got ${p.protocol}`);
      const badPort = portProblem(p.port);
      if (bad !== null) skip(object, 'port', `${at}.ports[${j}].name`, bad);
      else if (badPort !== null) skip(object, 'port', `${at}.ports[${j}].port`, badPort);
      else group.ports.push({ name: p.name, port: p.port, protocol });
    });
    (slice.endpoints ?? []).forEach((ep: K8sEndpoint, j) => {
      const epAt = `${at}.endpoints[${j}]`;
      if (!isObject(ep)) {
        skip(object, 'endpoint', epAt, 'must be an object');
        return;
      }
      const ready = ep.conditions?.ready !== false;
      let hostname: string | undefined;
      if (ep.hostname) {
        const bad = labelProblem(ep.hostname) ?? nameProblem(`${ep.hostname}.${fqdn}`);
        if (bad !== null) {
          skip(object, 'endpoint', `${epAt}.hostname`, bad);
          return;
        }
        hostname = ep.hostname;
      }
      if (!Array.isArray(ep.addresses)) {
        skip(object, 'endpoint', `${epAt}.addresses`, 'must be a list');
        return;
      }
      ep.addresses.forEach((a, k) => {
        const ip = parseIp(a);
        if (!ip) {
          skip(object, 'address', `${epAt}.addresses[${k}]`, ipProblem(a));
          return;
        }
        group.addrs.push({ ip: ip.text, v6: ip.v6, hostname, ready });
      });
    });
    const key = `${ns}/${svcName}`;
    const list = groups.get(key) ?? [];
    list.push(group);
    groups.set(key, list);
  });

  const headless = new Set<string>();
  (state.services ?? []).forEach((svc: K8sService, i) => {
    const at = `services[${i}]`;
    if (!isObject(svc)) {
      skip(`Service ${at}`, 'object', at, 'must be an object');
      return;
    }
    const name = svc.metadata?.name;
    const ns = svc.metadata?.namespace ?? 'default';
    const object = objectName('Service', ns, name, at);
    const badName = labelProblem(name);
    if (badName !== null) {
      skip(object, 'object', `${at}.metadata.name`, badName);
      return;
    }
    const badNs = labelProblem(ns);
    if (badNs !== null) {
      skip(object, 'object', `${at}.metadata.namespace`, badNs);
      return;
    }
    const fqdn = `${name}.${ns}.${svcZone}`;
    const tooLong = nameProblem(fqdn);
    if (tooLong !== null) {
      skip(object, 'object', `${at}.metadata.name`, tooLong);
      return;
    }
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = spec.externalName;
      const bad = targetProblem(target);
      if (bad !== null) {
        skip(object, 'object', `${at}.spec.externalName`, bad);
        return;
      }
      addNamespace(ns);
      b.add(
        { name: fqdn, type: 'CNAME', class: 'IN', ttl, data: normalizeName(target as string) },
        zone,
      );
      return;
    }
    const headlessSvc = spec.clusterIP === 'None';
    const ips: ParsedIp[] = [];
    if (!headlessSvc) {
      const raw = spec.clusterIPs?.length
        ? spec.clusterIPs.map((ip, j) => ({ ip, field: `${at}.spec.clusterIPs[${j}]` }))
        : spec.clusterIP
          ? [{ ip: spec.clusterIP, field: `${at}.spec.clusterIP` }]
          : [];
      for (const { ip, field } of raw) {
        const parsed = parseIp(ip);
        if (!parsed) {
          skip(object, 'object', field, ipProblem(ip));
          return;
        }
        ips.push(parsed);
      }
    }
    addNamespace(ns);
    const ports: {
      name?: string;
      port: number;
      targetPort?: number | string | null;
      protocol: string;
    }[] = [];
    (spec.ports ?? []).forEach((p, j) => {
      if (!isObject(p)) {
        skip(object, 'port', `${at}.spec.ports[${j}]`, 'must be an object');
        return;
      }
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      const badName = p.name
        ? (labelProblem(p.name) ??
          nameProblem(`_${p.name}._${protocol}.${fqdn}`) ??
          (LABEL.test(protocol) ? null : `protocol must be a DNS label, got ${p.protocol}`))
        : null;
      const badPort = portProblem(p.port);
      const badTarget = typeof p.targetPort === 'number' ? portProblem(p.targetPort) : null;
      if (badName !== null) skip(object, 'port', `${at}.spec.ports[${j}].name`, badName);
      else if (badPort !== null) skip(object, 'port', `${at}.spec.ports[${j}].port`, badPort);
      else if (badTarget !== null)
        skip(object, 'port', `${at}.spec.ports[${j}].targetPort`, badTarget);
      else
        ports.push({ name: p.name || undefined, port: p.port, targetPort: p.targetPort, protocol });
    });
    if (headlessSvc) {
      headless.add(`${ns}/${name}`);
      let svcGroups = groups.get(`${ns}/${name}`);
      if (!svcGroups && spec.selector && options.endpointsFromPods !== false) {
        svcGroups = [podEndpoints(podsByNs.get(ns) ?? [], spec.selector, name as string, ports)];
      }
      const publishNotReady = spec.publishNotReadyAddresses === true;
      for (const g of svcGroups ?? []) {
        const addrs = g.addrs.filter((a) => publishNotReady || a.ready);
        for (const a of addrs) {
          const host = `${a.hostname ?? dashedIp(a.ip)}.${fqdn}`;
          const type = a.v6 ? 'AAAA' : 'A';
          b.add({ name: fqdn, type, class: 'IN', ttl, data: a.ip }, zone);
          b.add({ name: host, type, class: 'IN', ttl, data: a.ip }, zone);
          b.add({ name: reverseName(a.ip), type: 'PTR', class: 'IN', ttl, data: host }, zone);
        }
        for (const p of g.ports) {
          const owner = `_${p.name}._${p.protocol}.${fqdn}`;
          const targets = [...new Set(addrs.map((a) => `${a.hostname ?? dashedIp(a.ip)}.${fqdn}`))];
          for (const target of targets) {
            b.add(
              {
                name: owner,
                type: 'SRV',
                class: 'IN',
                ttl,
                data: { priority: 0, weight: 0, port: p.port, target },
              },
              zone,
            );
          }
        }
      }
      return;
    }
    if (ips.length === 0) return;
    for (const ip of ips) {
      b.add({ name: fqdn, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: ip.text }, zone);
      b.add({ name: reverseName(ip.text), type: 'PTR', class: 'IN', ttl, data: fqdn }, zone);
    }
    for (const p of ports) {
      if (!p.name) continue;
      b.add(
        {
          name: `_${p.name}._${p.protocol}.${fqdn}`,
          type: 'SRV',
          class: 'IN',
          ttl,
          data: { priority: 0, weight: 100, port: p.port, target: fqdn },
        },
        zone,
      );
    }
  });

  for (const [ns, list] of podsByNs) {
    for (const { pod, ips, hostname } of list) {
      const subdomain = pod.spec?.subdomain;
      if (!hostname || !subdomain || !headless.has(`${ns}/${subdomain}`) || !isReadyPod(pod))
        continue;
      const host = `${hostname}.${subdomain}.${ns}.${svcZone}`;
      if (nameProblem(host) !== null) continue;
      for (const ip of ips)
        b.add({ name: host, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: ip.text }, zone);
    }
  }

  for (const node of b.nodes.values()) {
    const srv = node.records.filter((r) => r.type === 'SRV');
    for (const r of srv)
      if (r.type === 'SRV' && r.data.weight === 0) r.data.weight = Math.floor(100 / srv.length);
  }
  return { zone, ttl, pods, serial, nodes: b.nodes, namespaces, podIps, skipped };
}

function podEndpoints(
  pods: readonly PodEntry[],
  selector: Record<string, string>,
  svcName: string,
  ports: { name?: string; port: number; targetPort?: number | string | null; protocol: string }[],
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

function soaData(zone: string, serial: number, ttl: number): SoaData {
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
