import ipaddr from 'ipaddr.js';
import { DnsError } from './errors.js';
import type {
  ClusterDnsState,
  DnsQuestion,
  DnsRecord,
  K8sEndpoint,
  K8sEndpointPort,
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
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const REVERSE_V4 = 'in-addr.arpa';
const REVERSE_V6 = 'ip6.arpa';

function checkLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 63 || !LABEL.test(value)) {
    throw new DnsError(
      'INVALID_STATE',
      `${field} must be a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(value)}`,
      {
        field,
        value,
      },
    );
  }
  return value;
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

function parseIp(value: unknown, field: string): { text: string; v6: boolean } {
  if (typeof value !== 'string' || !ipaddr.isValid(value)) {
    throw new DnsError(
      'INVALID_STATE',
      `${field} must be an IP address, got ${JSON.stringify(value)}`,
      { field, value },
    );
  }
  const addr = ipaddr.parse(value);
  return { text: addr.toString(), v6: addr.kind() === 'ipv6' };
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

function isReadyPod(pod: K8sPod): boolean {
  const conditions = pod.status?.conditions;
  if (conditions?.length) return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  return (pod.status?.phase ?? 'Running') === 'Running';
}

function podIpList(pod: K8sPod): string[] {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? [];
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  return ips;
}

function matchesSelector(
  labels: Record<string, string> | null | undefined,
  selector: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/**
 * Compiles plain Kubernetes objects into the cluster zone (pure). Throws `DnsError`
 * `INVALID_STATE` naming the field (e.g. `services[2].metadata.name`) for malformed objects.
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
  (state.namespaces ?? []).forEach((n, i) => {
    addNamespace(checkLabel(n?.metadata?.name, `namespaces[${i}].metadata.name`));
  });

  const podsByNs = new Map<string, K8sPod[]>();
  (state.pods ?? []).forEach((pod, i) => {
    const ns = checkLabel(pod?.metadata?.namespace ?? 'default', `pods[${i}].metadata.namespace`);
    addNamespace(ns);
    const list = podsByNs.get(ns) ?? [];
    list.push(pod);
    podsByNs.set(ns, list);
    const ips = podIps.get(ns) ?? new Set<string>();
    podIpList(pod).forEach((ip, j) => {
      ips.add(parseIp(ip, `pods[${i}].status.podIPs[${j}]`).text);
    });
    podIps.set(ns, ips);
  });

  const groups = new Map<string, EndpointGroup[]>();
  (state.endpointSlices ?? []).forEach((slice, i) => {
    const field = `endpointSlices[${i}]`;
    const ns = checkLabel(slice?.metadata?.namespace ?? 'default', `${field}.metadata.namespace`);
    addNamespace(ns);
    const svcName = slice.metadata?.labels?.['kubernetes.io/service-name'];
    if (svcName === undefined) return;
    checkLabel(svcName, `${field}.metadata.labels["kubernetes.io/service-name"]`);
    if (slice.addressType === 'FQDN') return;
    const group: EndpointGroup = { addrs: [], ports: [] };
    (slice.ports ?? []).forEach((p: K8sEndpointPort, j) => {
      if (!p.name || p.port == null) return;
      group.ports.push({
        name: checkLabel(p.name, `${field}.ports[${j}].name`),
        port: checkPort(p.port, `${field}.ports[${j}].port`),
        protocol: (p.protocol ?? 'TCP').toLowerCase(),
      });
    });
    (slice.endpoints ?? []).forEach((ep: K8sEndpoint, j) => {
      const ready = ep.conditions?.ready !== false;
      const hostname = ep.hostname
        ? checkLabel(ep.hostname, `${field}.endpoints[${j}].hostname`)
        : undefined;
      if (!Array.isArray(ep.addresses)) {
        throw new DnsError('INVALID_STATE', `${field}.endpoints[${j}].addresses must be a list`, {
          field: `${field}.endpoints[${j}].addresses`,
        });
      }
      ep.addresses.forEach((a, k) => {
        const ip = parseIp(a, `${field}.endpoints[${j}].addresses[${k}]`);
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
    const field = `services[${i}]`;
    const name = checkLabel(svc?.metadata?.name, `${field}.metadata.name`);
    const ns = checkLabel(svc.metadata?.namespace ?? 'default', `${field}.metadata.namespace`);
    addNamespace(ns);
    const fqdn = `${name}.${ns}.${svcZone}`;
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      const target = spec.externalName;
      if (typeof target !== 'string' || target.length === 0) {
        throw new DnsError('INVALID_STATE', `${field}.spec.externalName must be a domain name`, {
          field: `${field}.spec.externalName`,
          value: target,
        });
      }
      b.add({ name: fqdn, type: 'CNAME', class: 'IN', ttl, data: normalizeName(target) }, zone);
      return;
    }
    const ports = (spec.ports ?? []).map((p, j) => ({
      name: p.name ? checkLabel(p.name, `${field}.spec.ports[${j}].name`) : undefined,
      port: checkPort(p.port, `${field}.spec.ports[${j}].port`),
      targetPort: p.targetPort,
      protocol: (p.protocol ?? 'TCP').toLowerCase(),
    }));
    if (spec.clusterIP === 'None') {
      headless.add(`${ns}/${name}`);
      let svcGroups = groups.get(`${ns}/${name}`);
      if (!svcGroups && spec.selector && options.endpointsFromPods !== false) {
        svcGroups = [podEndpoints(podsByNs.get(ns) ?? [], spec.selector, name, ports)];
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
    const ips = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    if (ips.length === 0) return;
    ips.forEach((raw, j) => {
      const ip = parseIp(
        raw,
        spec.clusterIPs?.length ? `${field}.spec.clusterIPs[${j}]` : `${field}.spec.clusterIP`,
      );
      b.add({ name: fqdn, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: ip.text }, zone);
      b.add({ name: reverseName(ip.text), type: 'PTR', class: 'IN', ttl, data: fqdn }, zone);
    });
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
    for (const pod of list) {
      const hostname = pod.spec?.hostname;
      const subdomain = pod.spec?.subdomain;
      if (!hostname || !subdomain || !headless.has(`${ns}/${subdomain}`) || !isReadyPod(pod))
        continue;
      if (!LABEL.test(hostname)) continue;
      const host = `${hostname}.${subdomain}.${ns}.${svcZone}`;
      for (const raw of podIpList(pod)) {
        const ip = parseIp(raw, `pods[${ns}/${pod.metadata?.name}].status.podIPs`);
        b.add({ name: host, type: ip.v6 ? 'AAAA' : 'A', class: 'IN', ttl, data: ip.text }, zone);
      }
    }
  }

  for (const node of b.nodes.values()) {
    const srv = node.records.filter((r) => r.type === 'SRV');
    for (const r of srv)
      if (r.type === 'SRV' && r.data.weight === 0) r.data.weight = Math.floor(100 / srv.length);
  }
  return { zone, ttl, pods, serial, nodes: b.nodes, namespaces, podIps };
}

function checkPort(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new DnsError(
      'INVALID_STATE',
      `${field} must be a port number 1-65535, got ${JSON.stringify(value)}`,
      { field, value },
    );
  }
  return value;
}

function podEndpoints(
  pods: readonly K8sPod[],
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
  for (const pod of pods) {
    if (!matchesSelector(pod.metadata?.labels, selector)) continue;
    const hostname =
      pod.spec?.subdomain === svcName && pod.spec?.hostname && LABEL.test(pod.spec.hostname)
        ? pod.spec.hostname
        : undefined;
    for (const raw of podIpList(pod)) {
      if (!ipaddr.isValid(raw)) continue;
      const addr = ipaddr.parse(raw);
      group.addrs.push({
        ip: addr.toString(),
        v6: addr.kind() === 'ipv6',
        hostname,
        ready: isReadyPod(pod),
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
