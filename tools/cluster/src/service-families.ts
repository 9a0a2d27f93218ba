/**
 * The IP families of a Service as the API server decides them (Kubernetes "IPv4/IPv6
 * dual-stack"): `ipFamilyPolicy` SingleStack (default) gets one family, the first of
 * `spec.ipFamilies`, else of the requested ClusterIP, else the cluster's primary one;
 * PreferDualStack gets both families on a dual-stack cluster and one otherwise; RequireDualStack
 * gets both, and is refused on a single-stack cluster. Pure.
 */
import type { Service } from '@podnet/cluster-state';
import { familyOfIp, type IpFamily } from './ip-family.js';

/** The values of `spec.ipFamilyPolicy`. */
export const IP_FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;

/** One of {@link IP_FAMILY_POLICIES}. */
export type IpFamilyPolicy = (typeof IP_FAMILY_POLICIES)[number];

/** What {@link serviceFamilies} decided, and what is wrong with the request (field, message). */
export interface ServiceFamilies {
  policy: IpFamilyPolicy;
  /** The Service's families in `spec.ipFamilies` order (the primary first). */
  families: IpFamily[];
  problems: Array<[string, string]>;
}

const clusterName = (families: readonly IpFamily[]) =>
  families.length > 1 ? 'dual-stack' : `${families[0]} only`;

/**
 * The families of `svc` on a cluster of `clusterFamilies` (primary first), with every problem
 * of its `ipFamilyPolicy`, `ipFamilies` and `clusterIPs` named by field.
 */
export function serviceFamilies(
  clusterFamilies: readonly IpFamily[],
  svc: Service,
): ServiceFamilies {
  const spec = svc.spec ?? {};
  const problems: Array<[string, string]> = [];
  const rawPolicy = spec.ipFamilyPolicy ?? 'SingleStack';
  let policy: IpFamilyPolicy = 'SingleStack';
  if ((IP_FAMILY_POLICIES as readonly string[]).includes(rawPolicy))
    policy = rawPolicy as IpFamilyPolicy;
  else
    problems.push([
      'spec.ipFamilyPolicy',
      `want ${IP_FAMILY_POLICIES.join(', ')}, got ${JSON.stringify(rawPolicy)}`,
    ]);
  const dual = clusterFamilies.length > 1;
  if (policy === 'RequireDualStack' && !dual)
    problems.push([
      'spec.ipFamilyPolicy',
      `RequireDualStack needs a dual-stack cluster; this cluster is ${clusterName(clusterFamilies)} (podnet up --ip-family dual)`,
    ]);
  const requested: IpFamily[] = [];
  (spec.ipFamilies ?? []).forEach((f, i) => {
    const path = `spec.ipFamilies[${i}]`;
    if (f !== 'IPv4' && f !== 'IPv6') problems.push([path, `want IPv4 or IPv6, got ${f}`]);
    else if (requested.includes(f)) problems.push([path, `${f} is listed twice`]);
    else if (!clusterFamilies.includes(f))
      problems.push([
        path,
        `${f} is not configured on this cluster (${clusterName(clusterFamilies)})`,
      ]);
    else requested.push(f);
  });
  if ((spec.ipFamilies ?? []).length > 1 && policy === 'SingleStack')
    problems.push(['spec.ipFamilies', 'SingleStack takes one family']);
  const ips = (
    spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []
  ).filter((ip) => ip !== 'None' && ip !== '');
  const ipFamilies: IpFamily[] = [];
  ips.forEach((ip, i) => {
    const path = spec.clusterIPs?.length ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
    const f = familyOfIp(ip);
    if (!f) problems.push([path, `want an IP address, got ${JSON.stringify(ip)}`]);
    else if (!clusterFamilies.includes(f))
      problems.push([
        path,
        `${ip} is ${f}, not configured on this cluster (${clusterName(clusterFamilies)})`,
      ]);
    else if (ipFamilies.includes(f)) problems.push([path, `a second ${f} address`]);
    else if (requested[i] && requested[i] !== f)
      problems.push([path, `${ip} is ${f} but spec.ipFamilies[${i}] is ${requested[i]}`]);
    else ipFamilies.push(f);
  });
  if (ips.length > 1 && policy === 'SingleStack')
    problems.push(['spec.clusterIPs', 'two addresses need PreferDualStack or RequireDualStack']);
  const first = requested[0] ?? ipFamilies[0] ?? clusterFamilies[0]!;
  const families: IpFamily[] = [first];
  if (policy !== 'SingleStack' && dual) families.push(clusterFamilies.find((f) => f !== first)!);
  return { policy, families, problems };
}
