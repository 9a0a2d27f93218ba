/**
 * IP families of a namespace cluster: the `--ip-family` modes, the per-family addressing table
 * (IPv4 as before dual stack; IPv6 unique local addresses, RFC 4193), IPv6 arithmetic, and
 * accessors that read a plan's per-family addresses (a plan made before dual stack has only the
 * IPv4 scalars). Pure.
 */
import type { AnyCniResult } from '@podnet/cni-spec';
import type { Pod } from '@podnet/cluster-state';
import ipaddr from 'ipaddr.js';

/** What `podnet up --ip-family` takes. */
export const IP_FAMILY_MODES = ['ipv4', 'ipv6', 'dual'] as const;

/** One of {@link IP_FAMILY_MODES}. */
export type IpFamilyMode = (typeof IP_FAMILY_MODES)[number];

/** An IP family as Kubernetes spells it (`spec.ipFamilies`, EndpointSlice `addressType`). */
export type IpFamily = 'IPv4' | 'IPv6';

/** The families of a mode, primary first (dual: IPv4 first, as kubeadm and kind order them). */
export function familiesOfMode(mode: IpFamilyMode): IpFamily[] {
  if (mode === 'ipv4') return ['IPv4'];
  if (mode === 'ipv6') return ['IPv6'];
  return ['IPv4', 'IPv6'];
}

/** The addresses of one family of a cluster, computed from node and segment numbers. */
export interface FamilyAddressing {
  family: IpFamily;
  /** Prefix length of an underlay segment and of the external segment. */
  segmentPrefix: number;
  segmentCidr(segment: number): string;
  segmentGateway(segment: number): string;
  /** Node `i` (1-based) on `segment`. */
  nodeIp(segment: number, i: number): string;
  podCidr(i: number): string;
  podGateway(i: number): string;
  externalIp: string;
  externalGateway: string;
  clusterCidr: string;
  serviceCidr: string;
  dnsIp: string;
}

/** IPv4: the addresses the cluster has always had. */
const IPV4: FamilyAddressing = {
  family: 'IPv4',
  segmentPrefix: 24,
  segmentCidr: (s) => `172.30.${s}.0/24`,
  segmentGateway: (s) => `172.30.${s}.1`,
  nodeIp: (s, i) => `172.30.${s}.${10 + i}`,
  podCidr: (i) => `10.244.${i}.0/24`,
  podGateway: (i) => `10.244.${i}.1`,
  externalIp: '203.0.113.10',
  externalGateway: '203.0.113.1',
  clusterCidr: '10.244.0.0/16',
  serviceCidr: '10.96.0.0/16',
  dnsIp: '10.96.0.10',
};

/** `fd00:30::` for segment 0, `fd00:30:1::` for segment 1 (canonical text, RFC 5952). */
const v6Segment = (s: number) => (s === 0 ? 'fd00:30::' : `fd00:30:${s}::`);

/**
 * IPv6: unique local addresses (RFC 4193, fd00::/8) mirroring the IPv4 ones: underlay segments
 * fd00:30:S::/64, pod CIDRs fd00:10:244:N::/64 in the cluster CIDR fd00:10:244::/56, Services
 * from fd00:10:96::/112 (Kubernetes allows at most a /108 for IPv6 Services), the external
 * segment fd00:113::/64 with the router at ::1.
 */
const IPV6: FamilyAddressing = {
  family: 'IPv6',
  segmentPrefix: 64,
  segmentCidr: (s) => `${v6Segment(s)}/64`,
  segmentGateway: (s) => `${v6Segment(s)}1`,
  nodeIp: (s, i) => `${v6Segment(s)}${10 + i}`,
  podCidr: (i) => `fd00:10:244:${i}::/64`,
  podGateway: (i) => `fd00:10:244:${i}::1`,
  externalIp: 'fd00:113::10',
  externalGateway: 'fd00:113::1',
  clusterCidr: 'fd00:10:244::/56',
  serviceCidr: 'fd00:10:96::/112',
  dnsIp: 'fd00:10:96::a',
};

/** The addressing table of a family. */
export function addressing(family: IpFamily): FamilyAddressing {
  return family === 'IPv4' ? IPV4 : IPV6;
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The family of an address (`undefined` when it is neither). */
export function familyOfIp(ip: string): IpFamily | undefined {
  if (V4.test(ip)) return 'IPv4';
  return parseIpv6(ip) === undefined ? undefined : 'IPv6';
}

/** The family of a CIDR's address. */
export function familyOfCidr(cidr: string): IpFamily | undefined {
  return familyOfIp(cidr.split('/')[0] ?? '');
}

/** An IPv6 address as a 128-bit number; `undefined` when it is not one (embedded IPv4 allowed). */
export function parseIpv6(ip: string): bigint | undefined {
  if (ip.includes('%') || !ipaddr.IPv6.isValid(ip)) return undefined;
  let n = 0n;
  for (const part of ipaddr.IPv6.parse(ip).parts) n = (n << 16n) | BigInt(part);
  return n;
}

/** A 128-bit number as canonical IPv6 text (RFC 5952: lower case, longest zero run as `::`). */
export function formatIpv6(n: bigint): string {
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** The canonical text of an address (IPv4 as given; IPv6 per RFC 5952); `undefined` if neither. */
export function canonicalIp(ip: string): string | undefined {
  if (V4.test(ip)) return ip;
  const n = parseIpv6(ip);
  return n === undefined ? undefined : formatIpv6(n);
}

/** The network, size and family of an IPv6 CIDR, or `undefined`. */
export function ipv6Range(cidr: string): { base: bigint; size: bigint } | undefined {
  const [addr, bits] = cidr.split('/');
  const n = addr === undefined ? undefined : parseIpv6(addr);
  const len = bits === undefined ? 128 : Number(bits);
  if (n === undefined || !Number.isInteger(len) || len < 0 || len > 128) return undefined;
  const size = 1n << BigInt(128 - len);
  return { base: (n / size) * size, size };
}

/** True when IPv6 `ip` lies in IPv6 `cidr`; false for anything else. */
export function inCidr6(ip: string, cidr: string): boolean {
  const r = ipv6Range(cidr);
  const n = parseIpv6(ip);
  return r !== undefined && n !== undefined && n >= r.base && n < r.base + r.size;
}

/** An address with brackets (`[fd00::1]`, as in `[fd00::1]:80`) or without, without them. */
export function unbracket(host: string): string {
  return /^\[.*\]$/.test(host) ? host.slice(1, -1) : host;
}

/** What {@link ClusterPlan} fields the accessors below read (kept structural: no import cycle). */
interface FamilyFields {
  ipFamilies?: IpFamily[];
  clusterCidr: string;
  clusterCidrs?: string[];
  serviceCidr: string;
  serviceCidrs?: string[];
  dnsIp: string;
  dnsIps?: string[];
  externalIp: string;
  externalIps?: string[];
}

/** A plan's families, primary first (a plan without `ipFamilies` is IPv4 only). */
export function planFamilies(plan: { ipFamilies?: IpFamily[] }): IpFamily[] {
  return plan.ipFamilies ?? ['IPv4'];
}

/** The cluster (pod) CIDRs of a plan, one per family, primary first. */
export function clusterCidrsOf(plan: FamilyFields): string[] {
  return plan.clusterCidrs ?? [plan.clusterCidr];
}

/** The Service CIDRs of a plan, one per family, primary first. */
export function serviceCidrsOf(plan: FamilyFields): string[] {
  return plan.serviceCidrs ?? [plan.serviceCidr];
}

/** The cluster DNS addresses of a plan, one per family, primary first. */
export function dnsIpsOf(plan: FamilyFields): string[] {
  return plan.dnsIps ?? [plan.dnsIp];
}

/** The external host's addresses, one per family, primary first. */
export function externalIpsOf(plan: FamilyFields): string[] {
  return plan.externalIps ?? [plan.externalIp];
}

/** A node's underlay addresses, one per family, primary first. */
export function nodeIpsOf(node: { ip: string; ips?: string[] }): string[] {
  return node.ips ?? [node.ip];
}

/** A node's pod CIDRs, one per family, primary first. */
export function podCidrsOf(node: { podCidr: string; podCidrs?: string[] }): string[] {
  return node.podCidrs ?? [node.podCidr];
}

/** The one of `list` in `family` (the first, when there are several). */
export function ofFamily(list: readonly string[], family: IpFamily): string | undefined {
  return list.find((x) => familyOfCidr(x) === family);
}

/** A pod's addresses (`status.podIPs`, else `status.podIP`), primary first. */
export function podIpsOf(pod: Pod): string[] {
  const list = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (list.length > 0) return list;
  return pod.status?.podIP ? [pod.status.podIP] : [];
}

/** Every address of a CNI result (any version), without prefix length, in result order. */
export function resultIps(result: AnyCniResult): string[] {
  return (result.ips ?? []).map((x) => x.address.split('/')[0]!);
}

/**
 * The addresses of a CNI result ordered by `families` (one per family; the primary first), as
 * kubelet publishes `status.podIPs`. Families the result lacks are left out.
 */
export function ipsByFamily(ips: readonly string[], families: readonly IpFamily[]): string[] {
  return families.flatMap((f) => {
    const ip = ips.find((a) => familyOfIp(a) === f);
    return ip ? [ip] : [];
  });
}
