import { cnpRules } from './evaluate.js';
import { namespaceOf } from './keys.js';
import { matchesSelector } from './selectors.js';
import { NAMESPACE_NAME_LABEL, namespaceLabels, podInfo } from './state.js';
import type { ClusterNetworkPolicy, ClusterState, Labels } from './types.js';
import { assertValidClusterNetworkPolicy } from './validate.js';

/**
 * The nftables sets of one ClusterNetworkPolicy egress rule with `domainNames` peers. Elements
 * are `pod address . destination address` with a timeout: a pod reaches exactly the addresses
 * it resolved itself, until they expire.
 */
export interface FqdnSets {
  ipv4: string;
  ipv6: string;
}

/** One egress rule with `domainNames` peers. */
export interface FqdnRule {
  /** The ClusterNetworkPolicy's name. */
  policy: string;
  /** Index of the rule in `spec.egress`. */
  rule: number;
  /** Its domain names, lower case without the trailing dot (`*.` prefixes kept). */
  patterns: string[];
  sets: FqdnSets;
}

/**
 * Which domain patterns apply to which pods, and which sets their answers go to: plain JSON, the
 * seam between the policy compiler (which matches the sets) and the DNS server (which fills them).
 */
export interface FqdnPlan {
  /** The nftables table (family `inet`) the sets live in. */
  table: string;
  rules: FqdnRule[];
  /** Local pod address → indices into {@link rules} of the rules whose subject selects the pod. */
  pods: Record<string, number[]>;
}

/** Options of {@link planFqdn}. */
export interface FqdnPlanOptions {
  /** The policy table; default `podnet_netpol` (as the compiler's). */
  table?: string;
  /** Only pods on this node (the DNS server answering them runs there); unset: every pod. */
  nodeName?: string;
}

/**
 * The names of the sets of egress rule `rule` of policy `policy` with the domain `patterns`:
 * `fqdn_<8 hex>_<rule>_4|6`, the hex an FNV-1a hash of the policy name and the rule's patterns
 * (normalized as {@link fqdnPatterns} does, in any order). Names stay short and valid for any
 * policy name, and a rule whose domain names change gets new, empty sets: addresses resolved for
 * the old names do not stay allowed under the new ones, while an edit elsewhere in the policy
 * keeps the sets and what the pods resolved. Pure.
 */
export function fqdnSetNames(
  policy: string,
  rule: number,
  patterns: readonly string[] = [],
): FqdnSets {
  const text = [policy, ...[...fqdnPatterns(patterns)].sort()].join('\n');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const id = `fqdn_${h.toString(16).padStart(8, '0')}_${rule}`;
  return { ipv4: `${id}_4`, ipv6: `${id}_6` };
}

/**
 * A rule's `domainNames` as podnet matches them: lower case, without a trailing dot, each once,
 * in their first order. Pure.
 */
export function fqdnPatterns(domainNames: readonly string[]): string[] {
  return [...new Set(domainNames.map((d) => trimDot(d.toLowerCase())))];
}

/**
 * Whether `name` matches a `domainNames` entry, as network-policy-api defines it: an exact
 * name matches only itself; `*.example.com` matches names that have one or more whole labels
 * before `example.com` (`www.example.com`, `a.b.example.com`), never `example.com` itself.
 * Case-insensitive; a trailing dot on either side is ignored. Pure.
 */
export function matchDomainName(pattern: string, name: string): boolean {
  const p = trimDot(pattern.toLowerCase());
  const n = trimDot(name.toLowerCase());
  if (!p.startsWith('*.')) return p === n;
  const suffix = p.slice(1);
  return n.length > suffix.length && n.endsWith(suffix);
}

/**
 * Whether a change to objects of `kinds` can change `plan`: a ClusterNetworkPolicy change always
 * can; a Pod or Namespace change only while some rule has domain names (without one the plan is
 * empty whatever the pods are). Lets a caller skip re-planning on the pod events of a cluster
 * without FQDN rules.
 */
export function fqdnPlanAffected(plan: FqdnPlan, kinds: Iterable<string>): boolean {
  for (const k of kinds) {
    if (k === 'ClusterNetworkPolicy') return true;
    if ((k === 'Pod' || k === 'Namespace') && plan.rules.length > 0) return true;
  }
  return false;
}

/**
 * Plans FQDN egress for a node: every valid ClusterNetworkPolicy egress rule with `domainNames`
 * peers (the API allows them in Accept rules only), its sets, and the local pods its subject
 * selects. Policies that do not validate are left out (the compiler refuses them too). Pure.
 */
export function planFqdn(state: ClusterState, options: FqdnPlanOptions = {}): FqdnPlan {
  const table = options.table ?? 'podnet_netpol';
  const rules: FqdnRule[] = [];
  const subjects: { cnp: ClusterNetworkPolicy; rules: number[] }[] = [];
  const policies = [...(state.clusterNetworkPolicies ?? [])].sort((a, b) =>
    (a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1,
  );
  for (const raw of policies) {
    let cnp: ReturnType<typeof assertValidClusterNetworkPolicy>;
    try {
      cnp = assertValidClusterNetworkPolicy(raw);
    } catch {
      continue;
    }
    const mine: number[] = [];
    cnpRules(cnp, 'egress').forEach((r, index) => {
      if (r.action !== 'Accept') return;
      const patterns = fqdnPatterns((r.peers ?? []).flatMap((p) => p.domainNames ?? []));
      if (patterns.length === 0) return;
      mine.push(rules.length);
      rules.push({
        policy: cnp.metadata.name,
        rule: index,
        patterns,
        sets: fqdnSetNames(cnp.metadata.name, index, patterns),
      });
    });
    if (mine.length > 0) subjects.push({ cnp, rules: mine });
  }
  const nsLabels = new Map<string, Labels>();
  for (const ns of state.namespaces) {
    const name = ns.metadata?.name;
    if (name) nsLabels.set(name, namespaceLabels(ns));
  }
  const pods: Record<string, number[]> = {};
  if (subjects.length === 0) return { table, rules, pods };
  for (const raw of state.pods) {
    const pod = podInfo(raw);
    if (!pod || pod.hostNetwork || pod.ips.length === 0) continue;
    if (options.nodeName !== undefined && pod.nodeName !== options.nodeName) continue;
    const ns = namespaceOf(raw);
    const labels = nsLabels.get(ns) ?? { [NAMESPACE_NAME_LABEL]: ns };
    const applies: number[] = [];
    for (const s of subjects) {
      const subject = s.cnp.spec.subject;
      const selected = subject.namespaces
        ? matchesSelector(subject.namespaces, labels)
        : matchesSelector(subject.pods?.namespaceSelector ?? {}, labels) &&
          matchesSelector(subject.pods?.podSelector ?? {}, pod.labels);
      if (selected) applies.push(...s.rules);
    }
    if (applies.length > 0) for (const ip of pod.ips) pods[ip] = applies;
  }
  return { table, rules, pods };
}

/**
 * The sets an answer for `name` to the pod at `podIp` goes to: those of every rule that applies
 * to the pod and has a pattern matching `name`. Pure.
 */
export function fqdnTargets(plan: FqdnPlan, podIp: string, name: string): FqdnSets[] {
  const out: FqdnSets[] = [];
  for (const i of plan.pods[podIp] ?? []) {
    const rule = plan.rules[i];
    if (rule?.patterns.some((p) => matchDomainName(p, name))) out.push(rule.sets);
  }
  return out;
}

/**
 * The nft script that lets `podIp` reach `addrs` through `targets` for `timeoutSeconds`: one
 * `add element ... timeout Ns` per set. Adding an element that is there gives it the new timeout
 * (Linux 6.x; checked on 6.18), and an expired one that the kernel has not collected yet is
 * replaced. (A delete + add pair in one transaction instead fails as a whole when the element
 * expires between the two.) Addresses of the other family than the pod's are left out. Pure.
 */
export function renderFqdnElements(
  table: string,
  targets: readonly FqdnSets[],
  podIp: string,
  addrs: readonly string[],
  timeoutSeconds: number,
): string {
  const v6 = podIp.includes(':');
  const same = addrs.filter((a) => a.includes(':') === v6);
  if (same.length === 0 || targets.length === 0) return '';
  const secs = Math.max(1, Math.ceil(timeoutSeconds));
  const timed = same.map((a) => `${podIp} . ${a} timeout ${secs}s`).join(', ');
  return `${targets.map((s) => `add element inet ${table} ${v6 ? s.ipv6 : s.ipv4} { ${timed} }`).join('\n')}\n`;
}

function trimDot(s: string): string {
  return s.endsWith('.') ? s.slice(0, -1) : s;
}
