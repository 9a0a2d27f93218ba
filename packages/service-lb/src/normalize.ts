import { isCidr, isIp } from '@podnet/host/validate';
import ipaddr from 'ipaddr.js';
import { ServiceLbError } from './errors.js';
import type {
  CompileOptions,
  EndpointSlice,
  IpFamily,
  NodeFacts,
  ObjectMeta,
  Service,
} from './types.js';

/** Layer-4 protocols a Service port can use, as nftables names them. */
export type L4Proto = 'tcp' | 'udp' | 'sctp';

/** Label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Annotation the EndpointSlice controller sets to the time of the change that triggered it. */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface NormPort {
  name: string;
  proto: L4Proto;
  port: number;
  nodePort?: number;
}

export interface NormService {
  key: string;
  namespace: string;
  name: string;
  /** Headless or ExternalName: no rules at all. */
  skip: boolean;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  sourceRanges: string[];
  ports: NormPort[];
  nodePorts: boolean;
  affinityTimeout?: number;
  internalLocal: boolean;
  externalLocal: boolean;
  topology: 'none' | 'zone' | 'node';
}

export interface NormEndpoint {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zoneHints?: string[];
  nodeHints?: string[];
}

export interface NormSlice {
  key: string;
  serviceKey: string;
  family: IpFamily;
  ports: Array<{ name: string; proto: L4Proto; port: number }>;
  endpoints: NormEndpoint[];
  triggerTime?: number;
}

export interface NormNode {
  name: string;
  zone?: string;
  addresses: Record<IpFamily, string[]>;
  clusterCIDRs: Record<IpFamily, string[]>;
  serviceCIDRs: Record<IpFamily, string[]>;
}

export interface CompileContext {
  table: string;
  families: IpFamily[];
  mark: number;
  node: NormNode;
}

/** The nftables family of an address. */
export function familyOf(ip: string): IpFamily {
  return ip.includes(':') ? 'ip6' : 'ip';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Fail = (field: string, value: unknown, why: string) => never;

function failer(
  code: 'INVALID_SERVICE' | 'INVALID_ENDPOINT_SLICE' | 'INVALID_NODE',
  kind: string,
  object: string,
): Fail {
  return (field, value, why) => {
    throw new ServiceLbError(
      code,
      `${kind} ${object}: ${field} ${JSON.stringify(value)} is invalid: ${why}`,
      {
        object,
        field,
        value,
      },
    );
  };
}

function strArray(v: unknown, field: string, fail: Fail): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(field, v, 'want a list');
  return v as string[];
}

function normProto(v: unknown, field: string, fail: Fail): L4Proto {
  if (v === undefined || v === null || v === '') return 'tcp';
  if (typeof v === 'string') {
    const p = v.toLowerCase();
    if (p === 'tcp' || p === 'udp' || p === 'sctp') return p;
  }
  return fail(field, v, 'want TCP, UDP or SCTP');
}

function normPort(v: unknown, field: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    fail(field, v, 'want an integer from 1 to 65535');
  }
  return v as number;
}

const CANONICAL_V4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function normIp(v: unknown, field: string, fail: Fail): string {
  if (typeof v === 'string' && CANONICAL_V4.test(v)) return v;
  if (!isIp(v)) fail(field, v, 'want an IPv4 or IPv6 address');
  return ipaddr.parse(v as string).toString();
}

function normCidr(v: unknown, field: string, fail: Fail): string {
  const s = typeof v === 'string' ? v.trim() : v;
  if (!isCidr(s)) fail(field, v, 'want a CIDR such as 10.0.0.0/8');
  const [addr, len] = ipaddr.parseCIDR(s as string);
  const net =
    addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(s as string)
      : ipaddr.IPv6.networkAddressFromCIDR(s as string);
  return `${net.toString()}/${len}`;
}

/** Drops CIDRs covered by another in the list (nftables interval sets refuse overlaps) and duplicates. */
export function withoutCoveredCidrs(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].map((c) => ({ c, p: ipaddr.parseCIDR(c) }));
  return parsed
    .filter(
      ({ c, p }) =>
        !parsed.some(
          (o) =>
            o.c !== c &&
            o.p[0].kind() === p[0].kind() &&
            o.p[1] <= p[1] &&
            p[0].match(o.p as never),
        ),
    )
    .map(({ c }) => c);
}

function byFamily(list: string[]): Record<IpFamily, string[]> {
  return {
    ip: list.filter((a) => familyOf(a) === 'ip'),
    ip6: list.filter((a) => familyOf(a) === 'ip6'),
  };
}

/**
 * Validates and normalises one Service. Throws `INVALID_SERVICE` naming the field; `index` (its
 * position in the input, or a label) names a Service that has no name yet.
 */
export function normalizeService(svc: Service, index: number | string = 0): NormService {
  const where = typeof index === 'number' ? `services[${index}]` : index;
  if (!isObject(svc)) failer('INVALID_SERVICE', 'Service', where)('', svc, 'want an object');
  const meta: ObjectMeta = isObject(svc.metadata) ? svc.metadata : {};
  const namespace =
    typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    failer('INVALID_SERVICE', 'Service', where)('metadata.name', name, 'want a non-empty name');
  }
  const key = `${namespace}/${name}`;
  const fail = failer('INVALID_SERVICE', 'Service', key);
  const spec = svc.spec;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
    return fail('spec', spec, 'want an object');
  const type = spec.type ?? 'ClusterIP';
  if (typeof type !== 'string')
    fail('spec.type', type, 'want ClusterIP, NodePort, LoadBalancer or ExternalName');
  const clusterIPsRaw = spec.clusterIPs?.length
    ? spec.clusterIPs
    : spec.clusterIP
      ? [spec.clusterIP]
      : [];
  const headless = type === 'ExternalName' || clusterIPsRaw.includes('None');
  const clusterIPs = headless
    ? []
    : strArray(clusterIPsRaw, 'spec.clusterIPs', fail).map((ip, i) =>
        normIp(ip, `spec.clusterIPs[${i}]`, fail),
      );
  const ports = strArray(spec.ports as unknown, 'spec.ports', fail).map((raw, i): NormPort => {
    const p = raw as unknown as Record<string, unknown>;
    if (!isObject(p)) fail(`spec.ports[${i}]`, p, 'want an object');
    const pname = p.name ?? '';
    if (typeof pname !== 'string') fail(`spec.ports[${i}].name`, pname, 'want a string');
    const out: NormPort = {
      name: pname as string,
      proto: normProto(p.protocol, `spec.ports[${i}].protocol`, fail),
      port: normPort(p.port, `spec.ports[${i}].port`, fail),
    };
    if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) {
      out.nodePort = normPort(p.nodePort, `spec.ports[${i}].nodePort`, fail);
    }
    return out;
  });
  const externalIPs = strArray(spec.externalIPs, 'spec.externalIPs', fail).map((ip, i) =>
    normIp(ip, `spec.externalIPs[${i}]`, fail),
  );
  const ingress = type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []) : [];
  if (!Array.isArray(ingress)) fail('status.loadBalancer.ingress', ingress, 'want a list');
  const loadBalancerIPs = ingress.flatMap((ing, i) =>
    ing?.ip && ing.ipMode !== 'Proxy'
      ? [normIp(ing.ip, `status.loadBalancer.ingress[${i}].ip`, fail)]
      : [],
  );
  const sourceRanges =
    type === 'LoadBalancer'
      ? strArray(spec.loadBalancerSourceRanges, 'spec.loadBalancerSourceRanges', fail).map((c, i) =>
          normCidr(c, `spec.loadBalancerSourceRanges[${i}]`, fail),
        )
      : [];
  let affinityTimeout: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 86400) {
      fail(
        'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
        t,
        'want an integer from 1 to 86400',
      );
    }
    affinityTimeout = t;
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None') {
    fail('spec.sessionAffinity', spec.sessionAffinity, 'want None or ClientIP');
  }
  for (const [field, v] of [
    ['spec.internalTrafficPolicy', spec.internalTrafficPolicy],
    ['spec.externalTrafficPolicy', spec.externalTrafficPolicy],
  ] as const) {
    if (v !== undefined && v !== 'Cluster' && v !== 'Local')
      fail(field, v, 'want Cluster or Local');
  }
  const mode = meta.annotations?.['service.kubernetes.io/topology-mode'];
  const td = spec.trafficDistribution;
  const topology =
    td === 'PreferSameNode'
      ? 'node'
      : td === 'PreferClose' || td === 'PreferSameZone' || mode === 'Auto' || mode === 'auto'
        ? 'zone'
        : 'none';
  const nodePorts = type === 'NodePort' || type === 'LoadBalancer';
  const hasExternal = nodePorts || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  return {
    key,
    namespace,
    name: name as string,
    skip: headless,
    clusterIPs,
    externalIPs,
    loadBalancerIPs,
    sourceRanges,
    ports,
    nodePorts,
    affinityTimeout,
    internalLocal: spec.internalTrafficPolicy === 'Local',
    externalLocal: hasExternal && spec.externalTrafficPolicy === 'Local',
    topology,
  };
}

/**
 * Validates and normalises one EndpointSlice. Returns `undefined` for slices that carry no
 * proxyable endpoints (FQDN, or no service-name label).
 *
 * Without `dropped`, the first invalid field throws `INVALID_ENDPOINT_SLICE`. With it, the slice is
 * read as kube-proxy reads one: an invalid port or endpoint is left out on its own, a fault of the
 * slice as a whole (its address type, a `ports` or `endpoints` that is not a list) leaves out the
 * whole slice (`undefined`); each omission is appended to `dropped` as the error it would have
 * thrown (`object` names the slice, `field` the part left out).
 */
export function normalizeSlice(
  slice: EndpointSlice,
  index = 0,
  dropped?: ServiceLbError[],
): NormSlice | undefined {
  /** Runs `read`; with `dropped`, an invalid input is recorded and gives `undefined`. */
  const lenient = <T>(read: () => T): T | undefined => {
    if (!dropped) return read();
    try {
      return read();
    } catch (error) {
      if (!ServiceLbError.isInstance(error)) throw error;
      dropped.push(error);
      return undefined;
    }
  };
  return lenient(() => readSlice(slice, index, lenient));
}

/** {@link normalizeSlice} proper: `item` reads one port or endpoint (dropping it if invalid). */
function readSlice(
  slice: EndpointSlice,
  index: number,
  item: <T>(read: () => T) => T | undefined,
): NormSlice | undefined {
  if (!isObject(slice)) {
    failer('INVALID_ENDPOINT_SLICE', 'EndpointSlice', `endpointSlices[${index}]`)(
      '',
      slice,
      'want an object',
    );
  }
  const meta: ObjectMeta = isObject(slice.metadata) ? slice.metadata : {};
  const namespace =
    typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  const key = `${namespace}/${typeof meta.name === 'string' ? meta.name : `endpointSlices[${index}]`}`;
  const fail = failer('INVALID_ENDPOINT_SLICE', 'EndpointSlice', key);
  const svcName = meta.labels?.[SERVICE_NAME_LABEL];
  if (typeof svcName !== 'string' || svcName === '') return undefined;
  if (slice.addressType === 'FQDN') return undefined;
  if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') {
    fail('addressType', slice.addressType, 'want IPv4, IPv6 or FQDN');
  }
  const family: IpFamily = slice.addressType === 'IPv4' ? 'ip' : 'ip6';
  const rawPorts = strArray(slice.ports as unknown, 'ports', fail);
  const rawEndpoints = strArray(slice.endpoints as unknown, 'endpoints', fail);
  const ports: NormSlice['ports'] = [];
  rawPorts.forEach((raw, i) => {
    const port = item(() => {
      const p = raw as unknown as Record<string, unknown>;
      if (!isObject(p)) fail(`ports[${i}]`, p, 'want an object');
      if (p.port === undefined || p.port === null) return undefined;
      const name = p.name ?? '';
      if (typeof name !== 'string') fail(`ports[${i}].name`, name, 'want a string');
      return {
        name: name as string,
        proto: normProto(p.protocol, `ports[${i}].protocol`, fail),
        port: normPort(p.port, `ports[${i}].port`, fail),
      };
    });
    if (port) ports.push(port);
  });
  const endpoints: NormEndpoint[] = [];
  rawEndpoints.forEach((raw, i) => {
    const endpoint = item((): NormEndpoint => {
      const e = raw as unknown as Record<string, unknown>;
      if (!isObject(e)) fail(`endpoints[${i}]`, e, 'want an object');
      const addrs = strArray(e.addresses, `endpoints[${i}].addresses`, fail);
      if (addrs.length === 0) fail(`endpoints[${i}].addresses`, addrs, 'want at least one address');
      const ip = normIp(addrs[0], `endpoints[${i}].addresses[0]`, fail);
      if (familyOf(ip) !== family)
        fail(`endpoints[${i}].addresses[0]`, addrs[0], `not an ${slice.addressType} address`);
      const c = isObject(e.conditions) ? e.conditions : {};
      const ready = c.ready !== false;
      const hints = isObject(e.hints) ? e.hints : undefined;
      const names = (v: unknown) =>
        Array.isArray(v)
          ? v.flatMap((h) => (isObject(h) && typeof h.name === 'string' ? [h.name] : []))
          : undefined;
      return {
        ip,
        ready,
        serving: typeof c.serving === 'boolean' ? c.serving : ready,
        terminating: c.terminating === true,
        nodeName: typeof e.nodeName === 'string' ? e.nodeName : undefined,
        zoneHints: names(hints?.forZones),
        nodeHints: names(hints?.forNodes),
      };
    });
    if (endpoint) endpoints.push(endpoint);
  });
  const trigger = meta.annotations?.[LAST_CHANGE_TRIGGER_TIME];
  const triggerTime = trigger ? Date.parse(trigger) : Number.NaN;
  return {
    key,
    serviceKey: `${namespace}/${svcName}`,
    family,
    ports,
    endpoints,
    triggerTime: Number.isFinite(triggerTime) ? triggerTime : undefined,
  };
}

/** Validates node facts and options into a compile context. Throws `INVALID_NODE` / `INVALID_OPTIONS`. */
export function compileContext(node: NodeFacts, options: CompileOptions = {}): CompileContext {
  const fail = failer('INVALID_NODE', 'node', typeof node?.name === 'string' ? node.name : '?');
  if (!isObject(node)) fail('', node, 'want an object');
  if (typeof node.name !== 'string' || node.name === '')
    fail('name', node.name, 'want a non-empty node name');
  if (node.zone !== undefined && typeof node.zone !== 'string')
    fail('zone', node.zone, 'want a string');
  const addresses = strArray(node.addresses, 'addresses', fail).map((a, i) =>
    normIp(a, `addresses[${i}]`, fail),
  );
  const clusterCIDRs = strArray(node.clusterCIDRs, 'clusterCIDRs', fail).map((c, i) =>
    normCidr(c, `clusterCIDRs[${i}]`, fail),
  );
  const serviceCIDRs = strArray(node.serviceCIDRs, 'serviceCIDRs', fail).map((c, i) =>
    normCidr(c, `serviceCIDRs[${i}]`, fail),
  );
  const table = options.table ?? 'podnet-svc';
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(table)) {
    throw new ServiceLbError(
      'INVALID_OPTIONS',
      `table ${JSON.stringify(table)} is not a valid nftables table name`,
      {
        field: 'table',
        value: table,
      },
    );
  }
  const families = [...new Set(options.families ?? ['ip', 'ip6'])];
  for (const f of families) {
    if (f !== 'ip' && f !== 'ip6') {
      throw new ServiceLbError('INVALID_OPTIONS', `family ${JSON.stringify(f)} is not ip or ip6`, {
        field: 'families',
        value: f,
      });
    }
  }
  const mark = options.masqueradeMark ?? 0x4000;
  if (!Number.isInteger(mark) || mark <= 0 || mark > 0xffffffff || (mark & (mark - 1)) !== 0) {
    throw new ServiceLbError('INVALID_OPTIONS', `masqueradeMark ${mark} must be a single bit`, {
      field: 'masqueradeMark',
      value: mark,
    });
  }
  return {
    table,
    families: families.sort() as IpFamily[],
    mark,
    node: {
      name: node.name,
      zone: node.zone,
      addresses: byFamily(addresses),
      clusterCIDRs: byFamily(withoutCoveredCidrs(clusterCIDRs)),
      serviceCIDRs: byFamily(withoutCoveredCidrs(serviceCIDRs)),
    },
  };
}
