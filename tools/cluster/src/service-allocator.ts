/**
 * The Service address controller: ClusterIPs from the service CIDR and NodePorts from the
 * NodePort range, written into the Services' own fields, with the defaults the API server
 * fills in. Pure.
 */
import type { Service, ServicePort } from '@podnet/cluster-state';
import { keyOf, type ObjectProblem } from './cluster-objects.js';
import { ClusterError } from './errors.js';
import {
  canonicalIp,
  dnsIpsOf,
  formatIpv6,
  type IpFamily,
  ipv6Range,
  ofFamily,
  planFamilies,
  serviceCidrsOf,
} from './ip-family.js';
import { inCidr, intToIp, ipToInt } from './ipv4.js';
import type { ClusterPlan } from './plan.js';
import { serviceFamilies } from './service-families.js';

/**
 * Allocates the next free ClusterIP of the service CIDR of `family` (default: the primary
 * one), skipping the first 11 addresses (network, .1, the DNS IP) and the last.
 */
export function allocateClusterIp(
  plan: ClusterPlan,
  used: readonly string[],
  family: IpFamily = planFamilies(plan)[0]!,
): string {
  if (family === 'IPv6') return allocateClusterIp6(plan, used);
  const [base, bits] = plan.serviceCidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = ipToInt(base);
  const taken = new Set([...used, plan.dnsIp]);
  for (let i = 11; i < size - 1; i++) {
    const ip = intToIp(start + i);
    if (!taken.has(ip)) return ip;
  }
  throw new ClusterError('INVALID_ARGUMENT', `service CIDR ${plan.serviceCidr} is full`);
}

/** {@link allocateClusterIp} in the IPv6 service CIDR. */
function allocateClusterIp6(plan: ClusterPlan, used: readonly string[]): string {
  const cidr = ofFamily(serviceCidrsOf(plan), 'IPv6');
  const range = cidr ? ipv6Range(cidr) : undefined;
  if (!cidr || !range)
    throw new ClusterError('INVALID_ARGUMENT', 'the cluster has no IPv6 service CIDR');
  const taken = new Set([...used, ...dnsIpsOf(plan)]);
  for (let i = 11n; i < range.size - 1n; i++) {
    const ip = formatIpv6(range.base + i);
    if (!taken.has(ip)) return ip;
  }
  throw new ClusterError('INVALID_ARGUMENT', `service CIDR ${cidr} is full`);
}

/**
 * The NodePort of one port of Service `key`, as the API server picks it: a requested one is
 * checked (in the range, nobody's yet; returned even when refused), else the one the Service had
 * for that port and protocol, else the next free one. The port is claimed in `owners`; a problem
 * goes to `bad` at `path`.
 */
export function pickNodePort(
  plan: ClusterPlan,
  owners: Map<number, string>,
  key: string,
  port: ServicePort,
  old: Service | undefined,
  path: string,
  bad: (path: string, message: string) => void,
): number | undefined {
  const [lo, hi] = plan.nodePortRange;
  let nodePort = port.nodePort;
  if (nodePort !== undefined) {
    const owner = owners.get(nodePort);
    if (nodePort < lo || nodePort > hi)
      bad(path, `${nodePort} is outside the NodePort range ${lo}-${hi}`);
    else if (owner) bad(path, `${nodePort} is a NodePort of Service ${owner}`);
  } else {
    const protocol = port.protocol ?? 'TCP';
    const kept = old?.spec?.ports?.find(
      (o) => o.port === port.port && (o.protocol ?? 'TCP') === protocol,
    )?.nodePort;
    if (kept && !owners.has(kept)) nodePort = kept;
    else {
      try {
        nodePort = allocateNodePort(plan, [...owners.keys()]);
      } catch (e) {
        bad(path, (e as Error).message);
      }
    }
  }
  if (nodePort) owners.set(nodePort, key);
  return nodePort;
}

/** Allocates the next free NodePort in the plan's range. */
export function allocateNodePort(plan: ClusterPlan, used: readonly number[]): number {
  for (let p = plan.nodePortRange[0]; p <= plan.nodePortRange[1]; p++)
    if (!used.includes(p)) return p;
  throw new ClusterError(
    'INVALID_ARGUMENT',
    `no free NodePort in ${plan.nodePortRange[0]}-${plan.nodePortRange[1]}`,
  );
}

const isHeadless = (s: Service) =>
  s.spec?.clusterIP === 'None' || s.spec?.clusterIPs?.[0] === 'None';

/** Why a requested ClusterIP cannot be had, or undefined. */
function clusterIpProblem(
  plan: ClusterPlan,
  ip: string,
  owners: ReadonlyMap<string, string>,
): string | undefined {
  if (ip.includes(':')) {
    const cidr = ofFamily(serviceCidrsOf(plan), 'IPv6');
    const range = cidr ? ipv6Range(cidr) : undefined;
    const canonical = canonicalIp(ip);
    if (!cidr || !range || !canonical) return `${ip} is not in a service CIDR of the cluster`;
    const n = ipv6Range(`${canonical}/128`)!.base;
    if (n < range.base || n >= range.base + range.size)
      return `${ip} is not in the service CIDR ${cidr}`;
    if (n === range.base || n === range.base + range.size - 1n)
      return `${ip} is not a usable address of ${cidr}`;
    if (dnsIpsOf(plan).includes(canonical)) return `${ip} is the cluster DNS address`;
    const owner = owners.get(canonical);
    return owner ? `${ip} is the ClusterIP of Service ${owner}` : undefined;
  }
  const [base, bits] = plan.serviceCidr.split('/') as [string, string];
  const last = intToIp(ipToInt(base) + 2 ** (32 - Number(bits)) - 1);
  if (!inCidr(ip, plan.serviceCidr)) return `${ip} is not in the service CIDR ${plan.serviceCidr}`;
  if (ip === base || ip === last) return `${ip} is not a usable address of ${plan.serviceCidr}`;
  if (ip === plan.dnsIp) return `${ip} is the cluster DNS address`;
  const owner = owners.get(ip);
  return owner ? `${ip} is the ClusterIP of Service ${owner}` : undefined;
}

/**
 * Gives each of `incoming` its ClusterIP and (type NodePort) its NodePorts, as the API server
 * does: a requested address or port is checked (in range, not another Service's); otherwise a
 * Service applied again keeps what it had, and a new one gets the next free ones. Also fills in
 * `type`, `clusterIPs`, `ipFamilies`, `ipFamilyPolicy`, each port's `protocol` and `targetPort`;
 * drops `status` (the cluster's). `current` are the Services the cluster has; the result has one
 * Service per incoming one, in order, and every problem (index into `incoming`).
 */
export function allocateServices(
  plan: ClusterPlan,
  current: readonly Service[],
  incoming: readonly Service[],
): { services: Service[]; problems: ObjectProblem[] } {
  const replaced = new Set(incoming.map(keyOf));
  const others = current.filter((s) => !replaced.has(keyOf(s)));
  const ipOwners = new Map<string, string>();
  const portOwners = new Map<number, string>();
  const claim = (s: Service) => {
    const ips = s.spec?.clusterIPs?.length ? s.spec.clusterIPs : [s.spec?.clusterIP];
    for (const ip of ips) if (ip && ip !== 'None') ipOwners.set(ip, keyOf(s));
    for (const p of s.spec?.ports ?? []) if (p.nodePort) portOwners.set(p.nodePort, keyOf(s));
  };
  others.forEach(claim);
  const problems: ObjectProblem[] = [];
  const services = incoming.map((svc, index) => {
    const bad = (path: string, message: string) => problems.push({ index, path, message });
    const key = keyOf(svc);
    const old = current.find((s) => keyOf(s) === key);
    const spec = svc.spec ?? {};
    const type = spec.type ?? 'ClusterIP';
    // one ClusterIP per family of the Service (service-families.ts), the primary first
    const fam = serviceFamilies(planFamilies(plan), svc);
    for (const [path, message] of fam.problems) bad(path, message);
    let clusterIPs = ['None'];
    if (!isHeadless(svc)) {
      const ipsOf = (s: Service) =>
        (s.spec?.clusterIPs?.length ? s.spec.clusterIPs : [s.spec?.clusterIP ?? '']).filter(
          Boolean,
        );
      const asked = ipsOf(svc);
      const keptAll = old && !isHeadless(old) ? ipsOf(old) : [];
      clusterIPs = fam.families.map((family, i) => {
        const path = i === 0 ? 'spec.clusterIP' : `spec.clusterIPs[${i}]`;
        const requested = ofFamily(asked, family);
        if (requested) {
          const why = clusterIpProblem(plan, requested, ipOwners);
          if (why) bad(path, why);
          return canonicalIp(requested) ?? requested;
        }
        const kept = ofFamily(keptAll, family);
        if (kept && !ipOwners.has(kept)) return kept;
        try {
          return allocateClusterIp(plan, [...ipOwners.keys()], family);
        } catch (e) {
          bad(path, (e as Error).message);
          return 'None';
        }
      });
    }
    const clusterIP = clusterIPs[0]!;
    const ports = (spec.ports ?? []).map((p, i): ServicePort => {
      const protocol = p.protocol ?? 'TCP';
      const out: ServicePort = { ...p, protocol, targetPort: p.targetPort ?? p.port };
      if (type !== 'NodePort') return out;
      const nodePort = pickNodePort(
        plan,
        portOwners,
        key,
        p,
        old,
        `spec.ports[${i}].nodePort`,
        bad,
      );
      if (nodePort) out.nodePort = nodePort;
      return out;
    });
    const { status: _status, ...rest } = svc;
    const allocated: Service = {
      ...rest,
      spec: {
        ...spec,
        type,
        clusterIP,
        clusterIPs,
        ipFamilies: fam.families,
        ipFamilyPolicy: fam.policy,
        ports,
      },
    };
    claim(allocated);
    return allocated;
  });
  return { services, problems };
}
