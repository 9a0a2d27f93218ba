import { isAudited } from './audit.js';
import { cidrContains } from './cidr.js';
import { NetpolError } from './errors.js';
import { nameOf, namespaceOf } from './keys.js';
import { describeSelector, matchesSelector } from './selectors.js';
import { type ClusterIndex, indexState, NAMESPACE_NAME_LABEL, type PodInfo } from './state.js';
import type {
  ClusterNetworkPolicy,
  ClusterState,
  CnpAction,
  CnpPeer,
  CnpProtocol,
  Direction,
  Labels,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  ObjectMeta,
  Protocol,
} from './types.js';
import {
  assertValidClusterNetworkPolicy,
  assertValidNetworkPolicy,
  type InvalidPolicy,
  partitionPolicies,
} from './validate.js';

/** The protocol of a probed flow: a NetworkPolicy protocol, or ICMP (which no port rule matches). */
export type FlowProtocol = Protocol | 'ICMP';

/**
 * A connection attempt. `src` and `dst` are each a pod (`namespace/name`) or an IP address (a
 * pod's IP resolves to that pod).
 */
export interface Flow {
  src: string;
  dst: string;
  /** Defaults to TCP. */
  protocol?: FlowProtocol;
  /** Destination port; required for TCP, UDP and SCTP. */
  port?: number;
}

/** Names a policy. */
export interface PolicyRef {
  kind: 'NetworkPolicy' | 'ClusterNetworkPolicy';
  name: string;
  /** Set for NetworkPolicy. */
  namespace?: string;
  /** Set for ClusterNetworkPolicy. */
  tier?: 'Admin' | 'Baseline';
  priority?: number;
}

/** Names one rule of a policy. */
export interface RuleRef extends PolicyRef {
  direction: Direction;
  /** Index in `spec.ingress` / `spec.egress`. */
  index: number;
  /** A ClusterNetworkPolicy rule's `name`. */
  ruleName?: string;
  action?: CnpAction;
}

/** Which stage of evaluation decided one direction. */
export type DecidedBy =
  | 'admin'
  | 'networkpolicy'
  | 'baseline'
  | 'default'
  | 'not-a-pod'
  | 'host-network'
  | 'node-local';

/** The verdict for one direction (egress of the source, ingress of the destination). */
export interface DirectionVerdict {
  direction: Direction;
  /** The pod this direction is evaluated for (`namespace/name`), if it is a pod. */
  subject?: string;
  allowed: boolean;
  decidedBy: DecidedBy;
  /** The rule that decided (Accept/Deny of a ClusterNetworkPolicy, or the allowing NetworkPolicy rule). */
  rule?: RuleRef;
  /** ClusterNetworkPolicy Pass rules that were hit on the way. */
  passed: RuleRef[];
  /** NetworkPolicies that select the subject for this direction (and so isolate it). */
  isolatedBy: PolicyRef[];
  /** One sentence for people. */
  reason: string;
}

/**
 * What audited policies (`podnet.io/enforcement: audit`) say about a flow. They never change
 * {@link Evaluation.verdict}: it is computed as if they did not exist.
 */
export interface AuditEvaluation {
  /** Audited policies that select the source (for egress) or the destination (for ingress). */
  policies: PolicyRef[];
  /** The verdict were the audited policies enforced too. */
  verdict: 'allow' | 'deny';
  /** Allowed now, denied once the audited policies enforce: logged as `would-drop`. */
  wouldDrop: boolean;
  /** Both directions evaluated with the audited policies enforced. */
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

/** What {@link evaluate} returns. */
export interface Evaluation {
  verdict: 'allow' | 'deny';
  explanation: {
    egress: DirectionVerdict;
    ingress: DirectionVerdict;
    /** A short paragraph for people: the verdict and why. */
    summary: string;
  };
  /** Present when an audited policy selects either end of the flow. */
  audit?: AuditEvaluation;
}

interface Endpoint {
  label: string;
  ip?: string;
  pod?: PodInfo;
}

interface NormalFlow {
  src: Endpoint;
  dst: Endpoint;
  protocol: FlowProtocol;
  port: number;
}

/** Formats a policy reference, e.g. `NetworkPolicy x/allow-80` or `ClusterNetworkPolicy Admin/10 deny-all`. */
export function formatPolicyRef(p: PolicyRef): string {
  return p.kind === 'NetworkPolicy'
    ? `NetworkPolicy ${p.namespace}/${p.name}`
    : `ClusterNetworkPolicy ${p.name} (${p.tier} tier, priority ${p.priority})`;
}

/** Formats a rule reference, e.g. `NetworkPolicy x/allow-80 ingress[0]`. */
export function formatRuleRef(r: RuleRef): string {
  const name = r.ruleName ? ` "${r.ruleName}"` : '';
  const action = r.action ? ` (${r.action})` : '';
  return `${formatPolicyRef(r)} ${r.direction}[${r.index}]${name}${action}`;
}

function nsLabelsOf(idx: ClusterIndex, ns: string): Labels {
  return idx.namespaces.get(ns) ?? { [NAMESPACE_NAME_LABEL]: ns };
}

function npPeerMatches(peer: NetworkPolicyPeer, policyNs: string, ep: Endpoint, idx: ClusterIndex) {
  if (peer.ipBlock) {
    const ip = ep.ip;
    if (ip === undefined) return false;
    return (
      cidrContains(peer.ipBlock.cidr, ip) &&
      !(peer.ipBlock.except ?? []).some((e) => cidrContains(e, ip))
    );
  }
  if (!peer.podSelector && !peer.namespaceSelector) return false;
  const pod = ep.pod;
  if (!pod || pod.hostNetwork) return false;
  if (peer.namespaceSelector) {
    if (!matchesSelector(peer.namespaceSelector, nsLabelsOf(idx, pod.namespace))) return false;
  } else if (pod.namespace !== policyNs) {
    return false;
  }
  return !peer.podSelector || matchesSelector(peer.podSelector, pod.labels);
}

function namedPortMatches(
  dst: PodInfo | undefined,
  name: string,
  protocol: FlowProtocol,
  port: number,
) {
  return (
    dst !== undefined &&
    !dst.hostNetwork &&
    dst.ports.some((p) => p.name === name && p.protocol === protocol && p.port === port)
  );
}

/** One NetworkPolicy rule of a direction: its peers (`from`/`_from` or `to`) and ports. */
export interface NpRule {
  peers?: readonly NetworkPolicyPeer[];
  ports?: readonly NetworkPolicyPort[];
}

/**
 * The rules of one direction of a NetworkPolicy. The one place that reads an ingress rule's
 * peers: `from` on the wire, `_from` in client-node's typed model (`ingressPeers` in
 * `@podnet/cluster-state`; read here to keep that package out of netpol's run time).
 */
export function npRules(np: NetworkPolicy, direction: Direction): NpRule[] {
  if (direction === 'ingress')
    return (np.spec?.ingress ?? []).map((r) => ({ peers: r.from ?? r._from, ports: r.ports }));
  return (np.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
}

function npPortMatches(p: NetworkPolicyPort, flow: NormalFlow): boolean {
  const proto = p.protocol ?? 'TCP';
  if (flow.protocol !== proto) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number') return flow.port >= p.port && flow.port <= (p.endPort ?? p.port);
  return namedPortMatches(flow.dst.pod, p.port, proto, flow.port);
}

/** Which policy types a NetworkPolicy has, with the API's defaulting. */
export function policyTypesOf(np: NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = np.spec?.policyTypes;
  if (types && types.length > 0)
    return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  return { ingress: true, egress: np.spec?.egress !== undefined };
}

/** One ClusterNetworkPolicy rule of a direction, its peers (`from` or `to`) under one name. */
export interface CnpRule {
  name?: string;
  action: CnpAction;
  peers?: readonly CnpPeer[];
  protocols?: readonly CnpProtocol[];
}

/** The rules of one direction of a ClusterNetworkPolicy. */
export function cnpRules(cnp: ClusterNetworkPolicy, direction: Direction): CnpRule[] {
  if (direction === 'ingress')
    return (cnp.spec.ingress ?? []).map((r) => ({
      name: r.name,
      action: r.action,
      peers: r.from,
      protocols: r.protocols,
    }));
  return (cnp.spec.egress ?? []).map((r) => ({
    name: r.name,
    action: r.action,
    peers: r.to,
    protocols: r.protocols,
  }));
}

/** True when `cnp`'s subject selects `pod` (host-network pods are never selected). */
export function cnpSelects(cnp: ClusterNetworkPolicy, pod: PodInfo, nsLabels: Labels): boolean {
  if (pod.hostNetwork) return false;
  const s = cnp.spec.subject;
  if (s.namespaces) return matchesSelector(s.namespaces, nsLabels);
  if (s.pods) {
    return (
      matchesSelector(s.pods.namespaceSelector ?? {}, nsLabels) &&
      matchesSelector(s.pods.podSelector ?? {}, pod.labels)
    );
  }
  return false;
}

/** True when a ClusterNetworkPolicy peer has a field this package enforces. */
export function cnpPeerKnown(peer: CnpPeer, direction: Direction): boolean {
  if (peer.namespaces || peer.pods) return true;
  return direction === 'egress' && (peer.networks !== undefined || peer.nodes !== undefined);
}

function cnpPeerMatches(
  peer: CnpPeer,
  action: CnpAction,
  ep: Endpoint,
  idx: ClusterIndex,
  dir: Direction,
) {
  if (!cnpPeerKnown(peer, dir)) return action !== 'Accept';
  if (peer.namespaces || peer.pods) {
    const pod = ep.pod;
    if (!pod || pod.hostNetwork) return false;
    const nsl = nsLabelsOf(idx, pod.namespace);
    if (peer.namespaces) return matchesSelector(peer.namespaces, nsl);
    const p = peer.pods;
    return (
      p !== undefined &&
      matchesSelector(p.namespaceSelector ?? {}, nsl) &&
      matchesSelector(p.podSelector ?? {}, pod.labels)
    );
  }
  const ip = ep.ip;
  if (ip === undefined) return false;
  if (peer.networks) return peer.networks.some((c) => cidrContains(c, ip));
  if (peer.nodes) {
    for (const n of idx.nodes.values()) {
      if (matchesSelector(peer.nodes, n.labels) && n.addresses.includes(ip)) return true;
    }
  }
  return false;
}

function cnpProtocolMatches(pr: CnpProtocol, flow: NormalFlow): boolean {
  if (pr.destinationNamedPort !== undefined) {
    return namedPortMatches(flow.dst.pod, pr.destinationNamedPort, flow.protocol, flow.port);
  }
  const entries: [
    Protocol,
    { destinationPort?: { number?: number; range?: { start: number; end: number } } } | undefined,
  ][] = [
    ['TCP', pr.tcp],
    ['UDP', pr.udp],
    ['SCTP', pr.sctp],
  ];
  for (const [proto, spec] of entries) {
    if (!spec) continue;
    if (flow.protocol !== proto) return false;
    const dp = spec.destinationPort;
    if (!dp) return true;
    if (dp.number !== undefined) return flow.port === dp.number;
    if (dp.range) return flow.port >= dp.range.start && flow.port <= dp.range.end;
    return true;
  }
  return false;
}

/** Sorts ClusterNetworkPolicies the way they are evaluated: priority, then name. */
export function sortClusterPolicies<T extends ClusterNetworkPolicy>(cnps: readonly T[]): T[] {
  const name = (c: T) => c.metadata?.name ?? '';
  return [...cnps].sort(
    (a, b) =>
      a.spec.priority - b.spec.priority || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0),
  );
}

function cnpRef(cnp: ReadableClusterNetworkPolicy): PolicyRef {
  return {
    kind: 'ClusterNetworkPolicy',
    name: cnp.metadata.name,
    tier: cnp.spec.tier,
    priority: cnp.spec.priority,
  };
}

function flowText(flow: NormalFlow): string {
  const what = flow.protocol === 'ICMP' ? 'ICMP' : `${flow.protocol}/${flow.port}`;
  return `${flow.src.label} -> ${flow.dst.label} ${what}`;
}

type NamedMeta = ObjectMeta & { name: string };

/** A NetworkPolicy the evaluator can read: it has a name and a spec. */
type ReadableNetworkPolicy = NetworkPolicy & {
  metadata: NamedMeta;
  spec: NonNullable<NetworkPolicy['spec']>;
};

/** A ClusterNetworkPolicy the evaluator can read: it has a name, a spec and a subject. */
type ReadableClusterNetworkPolicy = ClusterNetworkPolicy & { metadata: NamedMeta };

const isReadableNp = (np: NetworkPolicy): np is ReadableNetworkPolicy =>
  nameOf(np) !== undefined && typeof np.spec === 'object' && np.spec !== null;

const isReadableCnp = (cnp: ClusterNetworkPolicy): cnp is ReadableClusterNetworkPolicy =>
  nameOf(cnp) !== undefined &&
  typeof cnp.spec === 'object' &&
  cnp.spec !== null &&
  typeof cnp.spec.subject === 'object' &&
  cnp.spec.subject !== null;

/**
 * An evaluator bound to one cluster state (indexes built once). It reads policies as they are,
 * without validating them first (`validatePolicy` does that); a policy it cannot read at all (no
 * `metadata.name`, no `spec`, a ClusterNetworkPolicy without `spec.subject`) is left out and
 * listed in {@link PolicyEvaluator.skipped}. Unknown protocols and selector operators match
 * nothing. Namespaces, pods and nodes without a name are ignored.
 */
export class PolicyEvaluator {
  /** Policies left out because they lack a name or spec, each with the validator's error. */
  readonly skipped: readonly InvalidPolicy[];
  private readonly idx: ClusterIndex;
  private readonly nps: ReadableNetworkPolicy[];
  private readonly admin: ReadableClusterNetworkPolicy[];
  private readonly baseline: ReadableClusterNetworkPolicy[];
  /** Audited policies, left out of enforcement. */
  private readonly auditedNps: ReadableNetworkPolicy[] = [];
  private readonly auditedCnps: ReadableClusterNetworkPolicy[] = [];
  /** The same state with audited policies enforced (absent when there are none). */
  private readonly enforcedAudit?: PolicyEvaluator;

  /**
   * `withAudited`: treat audited policies as enforcing (what {@link AuditEvaluation} reports);
   * by default they are left out of the verdict and reported apart.
   */
  constructor(state: ClusterState, withAudited = false) {
    this.idx = indexState(state);
    const skipped: InvalidPolicy[] = [];
    const nps: ReadableNetworkPolicy[] = [];
    for (const np of state.networkPolicies ?? []) {
      if (isReadableNp(np)) nps.push(np);
      // always rejected: the validator requires a name and a spec
      else partitionPolicies([np], assertValidNetworkPolicy, skipped);
    }
    const readableCnps: ReadableClusterNetworkPolicy[] = [];
    for (const cnp of state.clusterNetworkPolicies ?? []) {
      if (isReadableCnp(cnp)) readableCnps.push(cnp);
      else partitionPolicies([cnp], assertValidClusterNetworkPolicy, skipped);
    }
    this.skipped = skipped;
    if (!withAudited) {
      const audited = (p: NetworkPolicy | ClusterNetworkPolicy) => isAudited(p);
      this.auditedNps = nps.filter(audited);
      this.auditedCnps = readableCnps.filter(audited);
      if (this.auditedNps.length + this.auditedCnps.length > 0) {
        this.enforcedAudit = new PolicyEvaluator(state, true);
        nps.splice(0, nps.length, ...nps.filter((p) => !audited(p)));
        readableCnps.splice(0, readableCnps.length, ...readableCnps.filter((p) => !audited(p)));
      }
    }
    const key = (np: ReadableNetworkPolicy) => `${namespaceOf(np)}/${np.metadata.name}`;
    this.nps = nps.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const cnps = sortClusterPolicies(readableCnps);
    this.admin = cnps.filter((c) => c.spec.tier === 'Admin');
    this.baseline = cnps.filter((c) => c.spec.tier === 'Baseline');
  }

  /** Evaluates one flow. Throws `INVALID_FLOW` for an unknown pod or a bad port. */
  evaluate(flow: Flow): Evaluation {
    const f = this.normalize(flow);
    const egress = this.direction('egress', f);
    const ingress = this.direction('ingress', f);
    const allowed = egress.allowed && ingress.allowed;
    const head = `${flowText(f)}: ${allowed ? 'ALLOWED' : 'DENIED'}.`;
    const summary = [head, `Egress: ${egress.reason}`, `Ingress: ${ingress.reason}`].join(' ');
    const out: Evaluation = {
      verdict: allowed ? 'allow' : 'deny',
      explanation: { egress, ingress, summary },
    };
    const audit = this.auditOf(f, flow, allowed);
    if (audit) out.audit = audit;
    return out;
  }

  /** The audited policies selecting either end, and the verdict were they enforced. */
  private auditOf(f: NormalFlow, flow: Flow, allowed: boolean): AuditEvaluation | undefined {
    if (!this.enforcedAudit) return undefined;
    const policies: PolicyRef[] = [];
    for (const [pod, dir] of [
      [f.src.pod, 'egress'],
      [f.dst.pod, 'ingress'],
    ] as const) {
      if (!pod || pod.hostNetwork) continue;
      for (const np of this.auditedNps) {
        if (namespaceOf(np) !== pod.namespace || !policyTypesOf(np)[dir]) continue;
        if (!matchesSelector(np.spec.podSelector, pod.labels)) continue;
        const ref: PolicyRef = {
          kind: 'NetworkPolicy',
          namespace: namespaceOf(np),
          name: np.metadata.name,
        };
        if (
          !policies.some(
            (p) => p.kind === ref.kind && p.namespace === ref.namespace && p.name === ref.name,
          )
        )
          policies.push(ref);
      }
      for (const cnp of this.auditedCnps) {
        if (cnpRules(cnp, dir).length === 0) continue;
        if (!cnpSelects(cnp, pod, nsLabelsOf(this.idx, pod.namespace))) continue;
        if (
          !policies.some((p) => p.kind === 'ClusterNetworkPolicy' && p.name === cnp.metadata.name)
        )
          policies.push(cnpRef(cnp));
      }
    }
    if (policies.length === 0) return undefined;
    const e = this.enforcedAudit.evaluate(flow);
    return {
      policies,
      verdict: e.verdict,
      wouldDrop: allowed && e.verdict === 'deny',
      egress: e.explanation.egress,
      ingress: e.explanation.ingress,
    };
  }

  /** The NetworkPolicies that select a pod for a direction. */
  isolatingPolicies(pod: PodInfo, direction: Direction): NetworkPolicy[] {
    return this.selecting(pod, direction);
  }

  private selecting(pod: PodInfo, direction: Direction): ReadableNetworkPolicy[] {
    if (pod.hostNetwork) return [];
    return this.nps.filter(
      (np) =>
        namespaceOf(np) === pod.namespace &&
        policyTypesOf(np)[direction] &&
        matchesSelector(np.spec.podSelector, pod.labels),
    );
  }

  private endpoint(s: string): Endpoint {
    if (typeof s !== 'string' || s === '') {
      throw new NetpolError(
        'INVALID_FLOW',
        `flow endpoint ${JSON.stringify(s)} is neither a pod nor an IP`,
      );
    }
    if (s.includes('/')) {
      const pod = this.idx.pods.get(s);
      if (!pod) throw new NetpolError('INVALID_FLOW', `flow endpoint ${s}: no such pod`);
      return { label: s, pod, ip: pod.hostNetwork ? pod.hostIPs[0] : pod.ips[0] };
    }
    const pod = this.idx.podsByIp.get(s);
    return { label: pod ? `${pod.key} (${s})` : s, ip: s, pod };
  }

  private normalize(flow: Flow): NormalFlow {
    const protocol = flow.protocol ?? 'TCP';
    if (!['TCP', 'UDP', 'SCTP', 'ICMP'].includes(protocol)) {
      throw new NetpolError(
        'INVALID_FLOW',
        `flow protocol ${JSON.stringify(protocol)}: want TCP, UDP, SCTP or ICMP`,
      );
    }
    const port = flow.port ?? 0;
    if (protocol !== 'ICMP' && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new NetpolError('INVALID_FLOW', `flow port ${JSON.stringify(flow.port)}: want 1-65535`);
    }
    return { src: this.endpoint(flow.src), dst: this.endpoint(flow.dst), protocol, port };
  }

  private direction(direction: Direction, f: NormalFlow): DirectionVerdict {
    const subjectEp = direction === 'egress' ? f.src : f.dst;
    const peer = direction === 'egress' ? f.dst : f.src;
    const pod = subjectEp.pod;
    const passed: RuleRef[] = [];
    const base = { direction, subject: pod?.key, passed, isolatedBy: [] as PolicyRef[] };
    if (!pod) {
      return {
        ...base,
        allowed: true,
        decidedBy: 'not-a-pod',
        reason: `${subjectEp.label} is not a pod; no policy applies.`,
      };
    }
    if (pod.hostNetwork) {
      return {
        ...base,
        allowed: true,
        decidedBy: 'host-network',
        reason: `${pod.key} uses the host network; policies do not select it.`,
      };
    }
    if (direction === 'ingress' && peer.ip !== undefined && pod.hostIPs.includes(peer.ip)) {
      return {
        ...base,
        allowed: true,
        decidedBy: 'node-local',
        reason: `traffic from ${pod.key}'s own node is always allowed.`,
      };
    }
    const nsl = nsLabelsOf(this.idx, pod.namespace);
    const tier = (
      list: ReadableClusterNetworkPolicy[],
      stage: 'admin' | 'baseline',
    ): DirectionVerdict | undefined => {
      for (const cnp of list) {
        if (!cnpSelects(cnp, pod, nsl)) continue;
        const rules = cnpRules(cnp, direction);
        for (let i = 0; i < rules.length; i++) {
          const r = rules[i];
          if (!r) continue;
          const peers = r.peers;
          if (!(peers ?? []).some((p) => cnpPeerMatches(p, r.action, peer, this.idx, direction)))
            continue;
          if (
            r.protocols &&
            r.protocols.length > 0 &&
            !r.protocols.some((pr) => cnpProtocolMatches(pr, f))
          )
            continue;
          const ref: RuleRef = {
            ...cnpRef(cnp),
            direction,
            index: i,
            ruleName: r.name,
            action: r.action,
          };
          if (r.action === 'Pass') {
            passed.push(ref);
            return undefined;
          }
          const allowed = r.action === 'Accept';
          return {
            ...base,
            allowed,
            decidedBy: stage,
            rule: ref,
            reason: `${allowed ? 'accepted' : 'denied'} by ${formatRuleRef(ref)}.`,
          };
        }
      }
      return undefined;
    };
    const admin = tier(this.admin, 'admin');
    if (admin) return admin;
    const isolating = this.selecting(pod, direction);
    if (isolating.length > 0) {
      const isolatedBy: PolicyRef[] = isolating.map((np) => ({
        kind: 'NetworkPolicy',
        namespace: namespaceOf(np),
        name: np.metadata.name,
      }));
      for (const np of isolating) {
        const ns = namespaceOf(np);
        const rules = npRules(np, direction);
        for (let i = 0; i < rules.length; i++) {
          const r = rules[i];
          if (!r) continue;
          const peers = r.peers;
          const peerOk =
            !peers || peers.length === 0 || peers.some((p) => npPeerMatches(p, ns, peer, this.idx));
          const portOk =
            !r.ports || r.ports.length === 0 || r.ports.some((p) => npPortMatches(p, f));
          if (peerOk && portOk) {
            const ref: RuleRef = {
              kind: 'NetworkPolicy',
              namespace: ns,
              name: np.metadata.name,
              direction,
              index: i,
            };
            return {
              ...base,
              isolatedBy,
              allowed: true,
              decidedBy: 'networkpolicy',
              rule: ref,
              reason: `allowed by ${formatRuleRef(ref)}.`,
            };
          }
        }
      }
      const names = isolatedBy.map((p) => `${p.namespace}/${p.name}`).join(', ');
      return {
        ...base,
        isolatedBy,
        allowed: false,
        decidedBy: 'networkpolicy',
        reason: `${pod.key} is isolated for ${direction} by NetworkPolicy ${names} (selector ${isolating
          .map((np) => describeSelector(np.spec.podSelector))
          .join(
            ' | ',
          )}), and no ${direction} rule of ${isolating.length === 1 ? 'it' : 'them'} allows ${
          direction === 'ingress' ? `from ${peer.label}` : `to ${peer.label}`
        } on ${f.protocol === 'ICMP' ? 'ICMP' : `${f.protocol}/${f.port}`}.`,
      };
    }
    const baseline = tier(this.baseline, 'baseline');
    if (baseline) return baseline;
    const passNote =
      passed.length > 0 ? ` (after Pass by ${passed.map(formatRuleRef).join(', ')})` : '';
    return {
      ...base,
      allowed: true,
      decidedBy: 'default',
      reason: `no policy selects ${pod.key} for ${direction}${passNote}; allowed by default.`,
    };
  }
}

/** Evaluates one flow against a cluster state: a verdict and an explanation. Pure. */
export function evaluate(state: ClusterState, flow: Flow): Evaluation {
  return new PolicyEvaluator(state).evaluate(flow);
}
