import { assertInt, assertNftName } from '@podnet/host/validate';
import { isAudited, logsAllowed } from './audit.js';
import { cidrMinus, familyOf } from './cidr.js';
import { cnpPeerKnown, cnpRules, npRules, policyTypesOf, sortClusterPolicies } from './evaluate.js';
import { nameOf, namespaceOf } from './keys.js';
import { fqdnSetNames } from './fqdn.js';
import {
  type LogRateLimit,
  type LogRateLimitSpec,
  limitedLogRules,
  logRateLimitDecls,
  logRateLimitSpec,
} from './log-limit.js';
import { encodeLogPrefix, type LogPrefixInfo } from './log-prefix.js';
import { matchesSelector, selectorKey } from './selectors.js';
import {
  namespaceLabels,
  NAMESPACE_NAME_LABEL,
  nodeAddresses,
  type PodInfo,
  podInfo,
} from './state.js';
import type {
  ClusterNetworkPolicy,
  ClusterState,
  CnpPeer,
  CnpProtocol,
  Direction,
  LabelSelector,
  Labels,
  Namespace,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Node,
  Pod,
} from './types.js';
import {
  assertValidClusterNetworkPolicy,
  assertValidNetworkPolicy,
  type ValidClusterNetworkPolicy,
  type ValidNetworkPolicy,
} from './validate.js';

/** How verdicts are logged: to an NFLOG group (read it with `tcpdump -i nflog:GROUP`), the kernel log, or not at all. */
export type VerdictLogMode = { group: number } | 'kernel' | false;

/** Options of {@link compilePolicies} and {@link NetpolCompiler}. */
export interface CompileOptions {
  /** nftables table (family `inet`) owned by podnet's policy enforcement. Default `podnet_netpol`. */
  table?: string;
  /** Pods whose `spec.nodeName` is this are enforced here; unset enforces every pod (one node). */
  nodeName?: string;
  /** Where denied (and, with `logAccepted`, allowed) new flows are logged. Default NFLOG group 100. */
  log?: VerdictLogMode;
  /**
   * Also log the first packet of every allowed flow that a policy rule decided (a policy annotated
   * `podnet.io/log-allowed: "true"` has its accepted flows logged either way).
   */
  logAccepted?: boolean;
  /**
   * Rate limit on the log records, node-wide, in the kernel (see {@link LogRateLimit}): a storm of
   * denied packets cannot flood the reader. Packets over it keep their verdict, unlogged, and are
   * counted in the table's `log_limited` counter. Default: no limit (the node agent sets one).
   */
  logRateLimit?: LogRateLimit | false;
  /** Priority of the `forward`/`input` base chains (egress runs at `priority - 1`). Default 0. */
  priority?: number;
}

/** A named set of the compiled ruleset. */
export interface NftSetSpec {
  name: string;
  /** nftables type, e.g. `ipv4_addr` or `ipv4_addr . inet_proto . inet_service`. */
  type: string;
  interval: boolean;
  elements: string[];
  /** `flags timeout`: elements added at run time expire (FQDN egress sets, filled by DNS answers). */
  timeout?: boolean;
}

/** A verdict map (address → `goto chain`). */
export interface NftMapSpec {
  name: string;
  type: string;
  elements: [string, string][];
}

/** A chain; base chains carry their hook. */
export interface NftChainSpec {
  name: string;
  hook?: { hook: 'forward' | 'input'; priority: number };
  rules: string[];
}

/** The compiled ruleset: plain JSON, rendered to `nft -f` text by {@link renderRuleset}. */
export interface Ruleset {
  family: 'inet';
  table: string;
  sets: NftSetSpec[];
  maps: NftMapSpec[];
  chains: NftChainSpec[];
  /** The log rate limit and its counter, when one is configured. */
  logLimit?: LogRateLimitSpec;
}

type Fam = 4 | 6;
const FAMS: readonly Fam[] = [4, 6];
const ipKw = (f: Fam) => (f === 4 ? 'ip' : 'ip6');
const addrType = (f: Fam) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
/**
 * ipBlock sets are two-field (`addr . addr`) interval sets matched with `saddr . saddr`: the same
 * ranges as a one-field interval set, but nft (1.0.x) does not dump a concatenated set's elements
 * before every `add/delete element`, so a label change costs the same with 1 or 1,000 ipBlocks.
 */
const blockType = (f: Fam) => `${addrType(f)} . ${addrType(f)}`;
const blockMatch = (f: Fam, side: 'saddr' | 'daddr', set: string) =>
  `${ipKw(f)} ${side} . ${ipKw(f)} ${side} @${set}`;
/** nft's name of a (validated) protocol. */
const l4 = (p: string) => p.toLowerCase();

interface SelDef {
  nsName?: string;
  nsSel?: LabelSelector;
  podSel?: LabelSelector;
}

interface SelEntry {
  id: string;
  def: SelDef;
  withSet: boolean;
  members: Set<string>;
  refs: number;
}

interface BlockEntry {
  id: string;
  elements: Record<Fam, string[]>;
  refs: number;
}

interface NodeSetEntry {
  id: string;
  sel: LabelSelector;
  refs: number;
}

interface NamedEntry {
  id: string;
  name: string;
  refs: number;
}

interface Match {
  fam?: Fam;
  expr: string;
}

interface CompiledNp {
  key: string;
  id: string;
  np: ValidNetworkPolicy;
  subject: string;
  types: { ingress: boolean; egress: boolean };
  /** Numeric port intervals per direction, or null when a rule has no ports or a named port. */
  ports: Record<Direction, PortInterval[] | null>;
  refs: Refs;
  /** Annotated `podnet.io/enforcement: audit`. */
  audit: boolean;
  /** Its rule chains log accepts: audit signatures jump to `<chain>_n`, the same without logs. */
  quiet: boolean;
}

interface PortInterval {
  proto: string;
  lo: number;
  hi: number;
}

interface CnpRuleBody {
  match: string;
  action: 'Accept' | 'Deny' | 'Pass';
  index: number;
  ruleName?: string;
}

interface CompiledCnp {
  name: string;
  cnp: ValidClusterNetworkPolicy;
  subject: string;
  rules: Record<Direction, CnpRuleBody[]>;
  refs: Refs;
  /** Annotated `podnet.io/enforcement: audit`. */
  audit: boolean;
}

interface Refs {
  sels: string[];
  blocks: string[];
  named: string[];
  nodes: string[];
  /** FQDN egress sets (see fqdn.ts). */
  fqdn?: string[];
}

interface SigEntry {
  id: string;
  key: string;
  direction: Direction;
  admin: string[];
  nps: string[];
  baseline: string[];
  refs: number;
  qChains: string[];
  /** An audit signature: enforcing and audited policies together, denials logged as would-drop. */
  audit: boolean;
}

type ElemValue = string | null;

/** Dispatch slots of a local pod: the map it is entered in, per direction, enforcing or audit. */
type SigSlot = 'in' | 'eg' | 'ain' | 'aeg';
type PodSigs = Partial<Record<SigSlot, string>>;
const SIG_SLOTS: readonly { map: SigSlot; dir: Direction; audit: boolean }[] = [
  { map: 'in', dir: 'ingress', audit: false },
  { map: 'eg', dir: 'egress', audit: false },
  { map: 'ain', dir: 'ingress', audit: true },
  { map: 'aeg', dir: 'egress', audit: true },
];

function selDefKey(d: SelDef): string {
  return `${d.nsName ?? '*'}|${d.nsSel ? selectorKey(d.nsSel) : '*'}|${d.podSel ? selectorKey(d.podSel) : '*'}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * IPv6 neighbour discovery from a pod to its node (solicitations and advertisements, and router
 * solicitation; never a router advertisement): link-local plumbing that no policy selects, as
 * ARP is for IPv4. Without it a pod whose egress is isolated cannot answer its node's neighbour
 * solicitations, and so stops receiving anything over IPv6.
 */
const ND_TO_NODE =
  'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept';

/**
 * Incremental compiler from cluster state to podnet's nftables table. Pure (no I/O): mutate it
 * with `upsert*`/`delete*`, read the full {@link Ruleset} with {@link NetpolCompiler.ruleset}, and
 * take the nft script that moves the kernel from the last taken state to the current one with
 * {@link NetpolCompiler.takeScript}. A pod or label change touches only the sets, map entries and
 * chains it affects, independent of the number of policies.
 */
export class NetpolCompiler {
  readonly table: string;
  readonly nodeName?: string;
  private readonly logMode: VerdictLogMode;
  private readonly logAccepted: boolean;
  private readonly logLimit?: LogRateLimitSpec;
  private readonly priority: number;

  private readonly nsLabels = new Map<string, Labels>();
  private readonly pods = new Map<string, PodInfo>();
  private readonly podsByNs = new Map<string, Set<string>>();
  private readonly nodes = new Map<string, Node>();
  private readonly sels = new Map<string, SelEntry>();
  private readonly blocks = new Map<string, BlockEntry>();
  private readonly named = new Map<string, NamedEntry>();
  private readonly nodeSets = new Map<string, NodeSetEntry>();
  private readonly nps = new Map<string, CompiledNp>();
  private readonly npsByNs = new Map<string, Set<string>>();
  private readonly cnps = new Map<string, CompiledCnp>();
  private readonly sigs = new Map<string, SigEntry>();
  private readonly podSig = new Map<string, PodSigs>();
  private counter = 0;
  private deferSigs = false;
  private readonly pendingSigs = new Set<string>();

  private readonly setModel = new Map<
    string,
    { type: string; interval: boolean; elements: Set<string>; timeout?: boolean }
  >();
  /** References to each FQDN egress set (a replaced policy keeps its sets and their elements). */
  private readonly fqdnRefs = new Map<string, number>();
  private readonly mapModel = new Map<string, { type: string; elements: Map<string, string> }>();
  private readonly chainModel = new Map<string, NftChainSpec>();
  private full = true;
  private readonly created = new Set<string>();
  private readonly deleted = new Set<string>();
  private readonly dirtyChains = new Set<string>();
  private readonly touched = new Map<string, Map<string, ElemValue>>();

  constructor(options: CompileOptions = {}) {
    this.table = assertNftName(options.table ?? 'podnet_netpol');
    this.nodeName = options.nodeName;
    this.logMode = options.log === undefined ? { group: 100 } : options.log;
    if (typeof this.logMode === 'object') assertInt(this.logMode.group, 0, 65535, 'nflog group');
    this.logAccepted = options.logAccepted ?? false;
    if (options.logRateLimit) this.logLimit = logRateLimitSpec(options.logRateLimit);
    this.priority = assertInt(options.priority ?? 0, -400, 400, 'chain priority');
    this.initBase();
  }

  // ---- model primitives -------------------------------------------------------------------

  private initBase(): void {
    for (const d of ['in', 'eg'] as const) {
      for (const f of FAMS) this.createMap(`${d}_${f}`, `${addrType(f)} : verdict`);
    }
    const dispatch = (d: 'in' | 'eg') => [
      'ct state established,related accept',
      `meta nfproto ipv4 ip ${d === 'in' ? 'daddr' : 'saddr'} vmap @${d}_4`,
      `meta nfproto ipv6 ip6 ${d === 'in' ? 'daddr' : 'saddr'} vmap @${d}_6`,
    ];
    this.putChain({
      name: 'egress',
      hook: { hook: 'forward', priority: this.priority - 1 },
      rules: dispatch('eg'),
    });
    this.putChain({
      name: 'ingress',
      hook: { hook: 'forward', priority: this.priority },
      rules: dispatch('in'),
    });
    this.putChain({
      name: 'egress_local',
      hook: { hook: 'input', priority: this.priority - 1 },
      rules: [ND_TO_NODE, ...dispatch('eg')],
    });
  }

  private createSet(
    name: string,
    type: string,
    interval: boolean,
    elements: Iterable<string> = [],
  ): void {
    this.setModel.set(name, { type, interval, elements: new Set(elements) });
    this.markCreated(`set:${name}`);
  }

  private createMap(name: string, type: string): void {
    this.mapModel.set(name, { type, elements: new Map() });
    this.markCreated(`map:${name}`);
  }

  private markCreated(id: string): void {
    if (this.deleted.has(id)) {
      this.deleted.delete(id);
      this.deleted.add(`${id}#recreate`);
    }
    this.created.add(id);
  }

  private dropObject(kind: 'set' | 'map' | 'chain', name: string): void {
    const id = `${kind}:${name}`;
    if (kind === 'set') this.setModel.delete(name);
    else if (kind === 'map') this.mapModel.delete(name);
    else this.chainModel.delete(name);
    this.touched.delete(name);
    this.dirtyChains.delete(name);
    if (this.created.has(id) && !this.deleted.has(`${id}#recreate`)) this.created.delete(id);
    else {
      this.created.delete(id);
      this.deleted.delete(`${id}#recreate`);
      this.deleted.add(id);
    }
  }

  private touch(name: string, key: string, before: ElemValue): void {
    if (this.full || this.created.has(`set:${name}`) || this.created.has(`map:${name}`)) return;
    let t = this.touched.get(name);
    if (!t) {
      t = new Map();
      this.touched.set(name, t);
    }
    if (!t.has(key)) t.set(key, before);
  }

  private setAdd(name: string, el: string): void {
    const s = this.setModel.get(name);
    if (!s || s.elements.has(el)) return;
    this.touch(name, el, null);
    s.elements.add(el);
  }

  private setDel(name: string, el: string): void {
    const s = this.setModel.get(name);
    if (!s?.elements.has(el)) return;
    this.touch(name, el, '1');
    s.elements.delete(el);
  }

  private mapPut(name: string, key: string, value: string | undefined): void {
    const m = this.mapModel.get(name);
    if (!m) return;
    const before = m.elements.get(key);
    if (before === value) return;
    this.touch(name, key, before ?? null);
    if (value === undefined) m.elements.delete(key);
    else m.elements.set(key, value);
  }

  private putChain(chain: NftChainSpec): void {
    const old = this.chainModel.get(chain.name);
    if (
      old &&
      old.rules.length === chain.rules.length &&
      old.rules.every((r, i) => r === chain.rules[i])
    )
      return;
    if (!old) this.markCreated(`chain:${chain.name}`);
    this.chainModel.set(chain.name, chain);
    this.dirtyChains.add(chain.name);
  }

  // ---- logging ----------------------------------------------------------------------------

  private logStmt(info: LogPrefixInfo): string {
    if (this.logMode === false) return '';
    const prefix = encodeLogPrefix(info);
    // NFLOG: the headers only (96 bytes hold IPv4 with options or IPv6, and the ports), and each
    // record handed to the reader at once (the kernel's default holds records up to a second)
    return this.logMode === 'kernel'
      ? `log prefix "${prefix}" `
      : `log group ${this.logMode.group} snaplen 96 queue-threshold 1 prefix "${prefix}" `;
  }

  /** The rule(s) of one logged verdict: with a rate limit, a second counts what it suppressed. */
  private logged(match: string, info: LogPrefixInfo, verdict: string): string[] {
    return limitedLogRules(match, this.logStmt(info), verdict, this.logLimit);
  }

  // ---- selectors and address sets ---------------------------------------------------------

  private nsLabelsOf(ns: string): Labels {
    return this.nsLabels.get(ns) ?? { [NAMESPACE_NAME_LABEL]: ns };
  }

  private selMatches(def: SelDef, pod: PodInfo): boolean {
    if (pod.hostNetwork) return false;
    if (def.nsName !== undefined && pod.namespace !== def.nsName) return false;
    if (def.nsSel && !matchesSelector(def.nsSel, this.nsLabelsOf(pod.namespace))) return false;
    return !def.podSel || matchesSelector(def.podSel, pod.labels);
  }

  private candidatePods(def: SelDef): Iterable<string> {
    if (def.nsName !== undefined) return this.podsByNs.get(def.nsName) ?? [];
    return this.pods.keys();
  }

  private refSel(def: SelDef, withSet: boolean): string {
    const key = `${withSet ? 'a' : 's'}${selDefKey(def)}`;
    let e = this.sels.get(key);
    if (!e) {
      e = { id: `s${++this.counter}`, def, withSet, members: new Set(), refs: 0 };
      this.sels.set(key, e);
      if (withSet) for (const f of FAMS) this.createSet(`${e.id}_${f}`, addrType(f), false);
      for (const pk of this.candidatePods(def)) {
        const pod = this.pods.get(pk);
        if (pod && this.selMatches(def, pod)) this.addMember(e, pod);
      }
    }
    e.refs++;
    return key;
  }

  private addMember(e: SelEntry, pod: PodInfo): void {
    e.members.add(pod.key);
    if (e.withSet) for (const ip of pod.ips) this.setAdd(`${e.id}_${familyOf(ip)}`, ip);
  }

  private removeMember(e: SelEntry, pod: PodInfo): void {
    e.members.delete(pod.key);
    if (e.withSet) for (const ip of pod.ips) this.setDel(`${e.id}_${familyOf(ip)}`, ip);
  }

  private refBlock(cidr: string, except: readonly string[]): string {
    const key = `${cidr}|${[...except].sort().join(',')}`;
    let e = this.blocks.get(key);
    if (!e) {
      const f = familyOf(cidr);
      e = { id: `b${++this.counter}`, elements: { 4: [], 6: [] }, refs: 0 };
      e.elements[f] = cidrMinus(cidr, except).map((r) => `${r} . ${r}`);
      this.blocks.set(key, e);
      this.createSet(`${e.id}_${f}`, blockType(f), true, e.elements[f]);
    }
    e.refs++;
    return key;
  }

  private refNamed(name: string): string {
    let e = this.named.get(name);
    if (!e) {
      e = { id: `n${++this.counter}`, name, refs: 0 };
      this.named.set(name, e);
      for (const f of FAMS)
        this.createSet(`${e.id}_${f}`, `${addrType(f)} . inet_proto . inet_service`, false);
      for (const pod of this.pods.values()) this.namedPodElements(e, pod, true);
    }
    e.refs++;
    return name;
  }

  private namedPodElements(e: NamedEntry, pod: PodInfo, add: boolean): void {
    if (pod.hostNetwork) return;
    for (const p of pod.ports) {
      if (p.name !== e.name) continue;
      for (const ip of pod.ips) {
        const el = `${ip} . ${l4(p.protocol)} . ${p.port}`;
        if (add) this.setAdd(`${e.id}_${familyOf(ip)}`, el);
        else this.setDel(`${e.id}_${familyOf(ip)}`, el);
      }
    }
  }

  private refNodes(sel: LabelSelector): string {
    const key = selectorKey(sel);
    let e = this.nodeSets.get(key);
    if (!e) {
      e = { id: `h${++this.counter}`, sel, refs: 0 };
      this.nodeSets.set(key, e);
      for (const f of FAMS) this.createSet(`${e.id}_${f}`, addrType(f), false);
      this.fillNodeSet(e);
    }
    e.refs++;
    return key;
  }

  private fillNodeSet(e: NodeSetEntry): void {
    const want = new Set<string>();
    for (const n of this.nodes.values()) {
      if (matchesSelector(e.sel, n.metadata?.labels ?? {}))
        for (const a of nodeAddresses(n)) want.add(a);
    }
    for (const f of FAMS) {
      const name = `${e.id}_${f}`;
      for (const el of [...(this.setModel.get(name)?.elements ?? [])])
        if (!want.has(el)) this.setDel(name, el);
    }
    for (const a of want) this.setAdd(`${e.id}_${familyOf(a)}`, a);
  }

  /**
   * A `domainNames` peer of egress rule `index`: the rule's FQDN sets (`pod . destination`, with
   * timeouts, filled at run time by the node's DNS server), matched on source and destination.
   */
  private fqdnPeer(policy: string, index: number, patterns: string[], refs: Refs): Match[] {
    const sets = fqdnSetNames(policy, index, patterns);
    const out: Match[] = [];
    for (const f of FAMS) {
      const name = f === 4 ? sets.ipv4 : sets.ipv6;
      const n = this.fqdnRefs.get(name) ?? 0;
      if (n === 0) {
        this.createSet(name, `${addrType(f)} . ${addrType(f)}`, false);
        (this.setModel.get(name) as { timeout?: boolean }).timeout = true;
      }
      this.fqdnRefs.set(name, n + 1);
      (refs.fqdn ??= []).push(name);
      out.push({ fam: f, expr: `${ipKw(f)} saddr . ${ipKw(f)} daddr @${name}` });
    }
    return out;
  }

  private unref(refs: Refs): void {
    for (const name of refs.fqdn ?? []) {
      const n = (this.fqdnRefs.get(name) ?? 1) - 1;
      if (n > 0) this.fqdnRefs.set(name, n);
      else {
        this.fqdnRefs.delete(name);
        this.dropObject('set', name);
      }
    }
    for (const k of refs.sels) {
      const e = this.sels.get(k);
      if (!e || --e.refs > 0) continue;
      this.sels.delete(k);
      if (e.withSet) for (const f of FAMS) this.dropObject('set', `${e.id}_${f}`);
    }
    for (const k of refs.blocks) {
      const e = this.blocks.get(k);
      if (!e || --e.refs > 0) continue;
      this.blocks.delete(k);
      for (const f of FAMS)
        if (this.setModel.has(`${e.id}_${f}`)) this.dropObject('set', `${e.id}_${f}`);
    }
    for (const k of refs.named) {
      const e = this.named.get(k);
      if (!e || --e.refs > 0) continue;
      this.named.delete(k);
      for (const f of FAMS) this.dropObject('set', `${e.id}_${f}`);
    }
    for (const k of refs.nodes) {
      const e = this.nodeSets.get(k);
      if (!e || --e.refs > 0) continue;
      this.nodeSets.delete(k);
      for (const f of FAMS) this.dropObject('set', `${e.id}_${f}`);
    }
  }

  // ---- policy compilation -----------------------------------------------------------------

  private npPeerMatches(peer: NetworkPolicyPeer, ns: string, dir: Direction, refs: Refs): Match[] {
    const side = dir === 'ingress' ? 'saddr' : 'daddr';
    if (peer.ipBlock) {
      const key = this.refBlock(peer.ipBlock.cidr, peer.ipBlock.except ?? []);
      refs.blocks.push(key);
      const e = this.blocks.get(key) as BlockEntry;
      const f = familyOf(peer.ipBlock.cidr);
      return [{ fam: f, expr: blockMatch(f, side, `${e.id}_${f}`) }];
    }
    const def: SelDef = peer.namespaceSelector
      ? { nsSel: peer.namespaceSelector, podSel: peer.podSelector }
      : { nsName: ns, podSel: peer.podSelector };
    const key = this.refSel(def, true);
    refs.sels.push(key);
    const id = (this.sels.get(key) as SelEntry).id;
    return FAMS.map((f) => ({ fam: f, expr: `${ipKw(f)} ${side} @${id}_${f}` }));
  }

  private npPortMatches(p: NetworkPolicyPort, refs: Refs): Match[] {
    const proto = l4(p.protocol ?? 'TCP');
    if (p.port === undefined) return [{ expr: `meta l4proto ${proto}` }];
    if (typeof p.port === 'number') {
      const range =
        p.endPort !== undefined && p.endPort !== p.port ? `${p.port}-${p.endPort}` : `${p.port}`;
      return [{ expr: `meta l4proto ${proto} th dport ${range}` }];
    }
    refs.named.push(this.refNamed(p.port));
    const id = (this.named.get(p.port) as NamedEntry).id;
    return FAMS.map((f) => ({
      fam: f,
      expr: `meta l4proto ${proto} ${ipKw(f)} daddr . meta l4proto . th dport @${id}_${f}`,
    }));
  }

  private combine(peerM: Match[] | undefined, portM: Match[] | undefined): string[] {
    const peers = peerM ?? [{ expr: '' }];
    const ports = portM ?? [{ expr: '' }];
    const out: string[] = [];
    for (const a of peers) {
      for (const b of ports) {
        if (a.fam && b.fam && a.fam !== b.fam) continue;
        out.push([a.expr, b.expr].filter(Boolean).join(' '));
      }
    }
    return out;
  }

  private compileNp(np: ValidNetworkPolicy): CompiledNp {
    const ns = namespaceOf(np);
    const key = `${ns}/${np.metadata.name}`;
    const id = this.nps.get(key)?.id ?? `p${++this.counter}`;
    const refs: Refs = { sels: [], blocks: [], named: [], nodes: [] };
    const subject = this.refSel({ nsName: ns, podSel: np.spec.podSelector }, false);
    refs.sels.push(subject);
    const types = policyTypesOf(np);
    const logAccepts = this.logAccepted || logsAllowed(np);
    const quiet = logAccepts && this.logMode !== false;
    for (const dir of ['ingress', 'egress'] as const) {
      const name = `${id}_${dir === 'ingress' ? 'in' : 'eg'}`;
      if (!types[dir]) continue;
      const rules: string[] = [];
      const quietRules: string[] = [];
      npRules(np, dir).forEach((r, i) => {
        const peers = r.peers;
        const peerM =
          peers && peers.length > 0
            ? peers.flatMap((p) => this.npPeerMatches(p, ns, dir, refs))
            : undefined;
        const portM =
          r.ports && r.ports.length > 0
            ? r.ports.flatMap((p) => this.npPortMatches(p, refs))
            : undefined;
        const log = logAccepts
          ? this.logStmt({
              verdict: 'accept',
              direction: dir,
              kind: 'np',
              policies: [key],
              more: 0,
              rule: i,
            })
          : '';
        for (const m of this.combine(peerM, portM)) {
          rules.push(...limitedLogRules(m, log, 'accept', this.logLimit));
          quietRules.push(`${m} accept`.trim());
        }
      });
      this.putChain({ name, rules });
      // audit signatures evaluate flows the enforcing chains already accepted (and logged)
      if (quiet) this.putChain({ name: `${name}_n`, rules: quietRules });
      else if (this.chainModel.has(`${name}_n`)) this.dropObject('chain', `${name}_n`);
    }
    for (const dir of ['ingress', 'egress'] as const) {
      const name = `${id}_${dir === 'ingress' ? 'in' : 'eg'}`;
      if (!types[dir] && this.chainModel.has(name)) this.dropObject('chain', name);
      if ((!types[dir] || !quiet) && this.chainModel.has(`${name}_n`))
        this.dropObject('chain', `${name}_n`);
    }
    const ports: Record<Direction, PortInterval[] | null> = { ingress: null, egress: null };
    for (const dir of ['ingress', 'egress'] as const) {
      const out: PortInterval[] = [];
      let generic = false;
      for (const r of npRules(np, dir)) {
        if (!r.ports || r.ports.length === 0) generic = true;
        for (const p of r.ports ?? []) {
          if (typeof p.port !== 'number') generic = true;
          else out.push({ proto: l4(p.protocol ?? 'TCP'), lo: p.port, hi: p.endPort ?? p.port });
        }
      }
      ports[dir] = generic ? null : out;
    }
    return { key, id, np, subject, types, ports, refs, audit: isAudited(np), quiet };
  }

  private cnpPeerMatches(
    peer: CnpPeer,
    dir: Direction,
    action: string,
    refs: Refs,
  ): Match[] | 'none' | 'all' {
    const side = dir === 'ingress' ? 'saddr' : 'daddr';
    if (!cnpPeerKnown(peer, dir)) return action === 'Accept' ? 'none' : 'all';
    if (peer.namespaces || peer.pods) {
      const def: SelDef = peer.namespaces
        ? { nsSel: peer.namespaces }
        : { nsSel: peer.pods?.namespaceSelector ?? {}, podSel: peer.pods?.podSelector ?? {} };
      const key = this.refSel(def, true);
      refs.sels.push(key);
      const id = (this.sels.get(key) as SelEntry).id;
      return FAMS.map((f) => ({ fam: f, expr: `${ipKw(f)} ${side} @${id}_${f}` }));
    }
    if (peer.networks) {
      return peer.networks.map((c) => {
        const key = this.refBlock(c, []);
        refs.blocks.push(key);
        const f = familyOf(c);
        return {
          fam: f,
          expr: blockMatch(f, side, `${(this.blocks.get(key) as BlockEntry).id}_${f}`),
        };
      });
    }
    const key = this.refNodes(peer.nodes ?? {});
    refs.nodes.push(key);
    const id = (this.nodeSets.get(key) as NodeSetEntry).id;
    return FAMS.map((f) => ({ fam: f, expr: `${ipKw(f)} ${side} @${id}_${f}` }));
  }

  private cnpProtoMatches(pr: CnpProtocol, refs: Refs): Match[] {
    if (pr.destinationNamedPort !== undefined) {
      refs.named.push(this.refNamed(pr.destinationNamedPort));
      const id = (this.named.get(pr.destinationNamedPort) as NamedEntry).id;
      return FAMS.map((f) => ({
        fam: f,
        expr: `${ipKw(f)} daddr . meta l4proto . th dport @${id}_${f}`,
      }));
    }
    for (const [proto, spec] of [
      ['tcp', pr.tcp],
      ['udp', pr.udp],
      ['sctp', pr.sctp],
    ] as const) {
      if (!spec) continue;
      const dp = spec.destinationPort;
      if (!dp) return [{ expr: `meta l4proto ${proto}` }];
      if (dp.number !== undefined) return [{ expr: `meta l4proto ${proto} th dport ${dp.number}` }];
      if (dp.range)
        return [{ expr: `meta l4proto ${proto} th dport ${dp.range.start}-${dp.range.end}` }];
      return [{ expr: `meta l4proto ${proto}` }];
    }
    return [];
  }

  private compileCnp(cnp: ValidClusterNetworkPolicy): CompiledCnp {
    const refs: Refs = { sels: [], blocks: [], named: [], nodes: [] };
    const s = cnp.spec.subject;
    const subject = this.refSel(
      s.namespaces
        ? { nsSel: s.namespaces }
        : { nsSel: s.pods?.namespaceSelector ?? {}, podSel: s.pods?.podSelector ?? {} },
      false,
    );
    refs.sels.push(subject);
    const rules: Record<Direction, CnpRuleBody[]> = { ingress: [], egress: [] };
    for (const dir of ['ingress', 'egress'] as const) {
      cnpRules(cnp, dir).forEach((r, index) => {
        const peers = r.peers;
        const peerM: Match[] = [];
        let all = false;
        for (const p of peers ?? []) {
          if (p.domainNames !== undefined && dir === 'egress' && r.action === 'Accept') {
            const patterns = (peers ?? []).flatMap((q) => q.domainNames ?? []);
            peerM.push(...this.fqdnPeer(cnp.metadata.name, index, patterns, refs));
            continue;
          }
          const m = this.cnpPeerMatches(p, dir, r.action, refs);
          if (m === 'all') all = true;
          else if (m !== 'none') peerM.push(...m);
        }
        if (!all && peerM.length === 0) return;
        const portM =
          r.protocols && r.protocols.length > 0
            ? r.protocols.flatMap((p) => this.cnpProtoMatches(p, refs))
            : undefined;
        if (portM && portM.length === 0) return;
        for (const match of this.combine(all ? undefined : peerM, portM)) {
          rules[dir].push({ match, action: r.action, index, ruleName: r.name });
        }
      });
    }
    return { name: cnp.metadata.name, cnp, subject, rules, refs, audit: isAudited(cnp) };
  }

  // ---- signatures: which policies govern a local pod --------------------------------------

  private isLocal(pod: PodInfo): boolean {
    return (
      !pod.hostNetwork &&
      pod.ips.length > 0 &&
      (this.nodeName === undefined || pod.nodeName === this.nodeName)
    );
  }

  /**
   * The signature (policies in evaluation order) governing `pod` for `dir`. Enforcing signatures
   * leave audited policies out; an audit signature (`audit`) holds enforcing and audited policies
   * together and exists only when at least one audited policy is among them.
   */
  private sigFor(pod: PodInfo, dir: Direction, audit = false): SigEntry | undefined {
    const admin: string[] = [];
    const baseline: string[] = [];
    let audited = false;
    const sorted = sortClusterPolicies([...this.cnps.values()].map((c) => c.cnp));
    for (const cnp of sorted) {
      const c = this.cnps.get(cnp.metadata.name) as CompiledCnp;
      if (c.audit && !audit) continue;
      if (c.rules[dir].length === 0 && cnpRules(cnp, dir).length === 0) continue;
      if (!this.sels.get(c.subject)?.members.has(pod.key)) continue;
      (cnp.spec.tier === 'Admin' ? admin : baseline).push(c.name);
      audited ||= c.audit;
    }
    const nps: string[] = [];
    for (const k of this.npsByNs.get(pod.namespace) ?? []) {
      const c = this.nps.get(k) as CompiledNp;
      if (c.audit && !audit) continue;
      if (c.types[dir] && this.sels.get(c.subject)?.members.has(pod.key)) {
        nps.push(k);
        audited ||= c.audit;
      }
    }
    nps.sort(cmp);
    if (audit && !audited) return undefined;
    if (admin.length + nps.length + baseline.length === 0) return undefined;
    const key = `${audit ? 'audit|' : ''}${dir}|A:${admin.join(',')}|N:${nps.join(',')}|B:${baseline.join(',')}`;
    let e = this.sigs.get(key);
    if (!e) {
      if (audit) this.ensureAuditBase();
      e = {
        id: `${audit ? 'a' : ''}${dir === 'ingress' ? 'in' : 'eg'}${++this.counter}`,
        key,
        direction: dir,
        admin,
        nps,
        baseline,
        refs: 0,
        qChains: [],
        audit,
      };
      this.sigs.set(key, e);
      this.renderSig(e);
    }
    return e;
  }

  /**
   * Audit signatures run in base chains after the enforcing ones (`audit_eg`, `audit_in`,
   * `audit_eg_local`, dispatching through the `ain_*`/`aeg_*` maps), so they see only flows the
   * enforcing chains accepted. They exist while some pod has an audit signature.
   */
  private ensureAuditBase(): void {
    if (this.chainModel.has('audit_in')) return;
    for (const d of ['ain', 'aeg'] as const) {
      for (const f of FAMS) this.createMap(`${d}_${f}`, `${addrType(f)} : verdict`);
    }
    const dispatch = (d: 'in' | 'eg') => [
      'ct state established,related accept',
      `meta nfproto ipv4 ip ${d === 'in' ? 'daddr' : 'saddr'} vmap @a${d}_4`,
      `meta nfproto ipv6 ip6 ${d === 'in' ? 'daddr' : 'saddr'} vmap @a${d}_6`,
    ];
    const p = this.priority;
    this.putChain({
      name: 'audit_eg',
      hook: { hook: 'forward', priority: p + 1 },
      rules: dispatch('eg'),
    });
    this.putChain({
      name: 'audit_in',
      hook: { hook: 'forward', priority: p + 2 },
      rules: dispatch('in'),
    });
    this.putChain({
      name: 'audit_eg_local',
      hook: { hook: 'input', priority: p + 1 },
      rules: [ND_TO_NODE, ...dispatch('eg')],
    });
  }

  private dropAuditBaseIfUnused(): void {
    if (!this.chainModel.has('audit_in')) return;
    for (const e of this.sigs.values()) if (e.audit) return;
    for (const c of ['audit_eg', 'audit_in', 'audit_eg_local']) this.dropObject('chain', c);
    for (const d of ['ain', 'aeg']) for (const f of FAMS) this.dropObject('map', `${d}_${f}`);
  }

  private renderCnpRules(
    names: string[],
    dir: Direction,
    passVerdict: string,
    audit = false,
  ): string[] {
    const out: string[] = [];
    for (const n of names) {
      const c = this.cnps.get(n);
      if (!c) continue;
      const kind: LogPrefixInfo['kind'] = c.cnp.spec.tier === 'Admin' ? 'admin' : 'baseline';
      for (const r of c.rules[dir]) {
        const info: Omit<LogPrefixInfo, 'verdict'> = {
          direction: dir,
          kind,
          policies: [n],
          more: 0,
          rule: r.index,
          ruleName: r.ruleName,
        };
        const logAccept = !audit && (this.logAccepted || logsAllowed(c.cnp));
        if (r.action === 'Accept' && logAccept)
          out.push(...this.logged(r.match, { ...info, verdict: 'accept' }, 'accept'));
        else if (r.action === 'Deny' && audit)
          out.push(...this.logged(r.match, { ...info, verdict: 'would-drop' }, 'accept'));
        else if (r.action === 'Deny')
          out.push(...this.logged(r.match, { ...info, verdict: 'drop' }, 'drop'));
        else out.push(`${r.match} ${r.action === 'Accept' ? 'accept' : passVerdict}`.trim());
      }
    }
    return out;
  }

  private renderSig(e: SigEntry): void {
    const tail = `${e.id}_t`;
    const dir = e.direction;
    this.putChain({
      name: e.id,
      rules: [...this.renderCnpRules(e.admin, dir, `goto ${tail}`, e.audit), `goto ${tail}`],
    });
    const rules: string[] = [];
    const q: string[] = [];
    if (e.nps.length > 0) {
      const suffix = dir === 'ingress' ? 'in' : 'eg';
      const byPort: { id: string; ports: PortInterval[] }[] = [];
      for (const k of e.nps) {
        const c = this.nps.get(k);
        if (!c?.types[dir]) continue;
        const ports = c.ports[dir];
        const chain = `${c.id}_${suffix}${e.audit && c.quiet ? '_n' : ''}`;
        if (ports === null) rules.push(`jump ${chain}`);
        else if (ports.length > 0) byPort.push({ id: chain, ports });
      }
      if (byPort.length > 0) {
        const elements: string[] = [];
        const chainFor = new Map<string, string>();
        for (const seg of portSegments(byPort)) {
          const sig = seg.chains.join(',');
          let name = chainFor.get(sig);
          if (!name) {
            name = `${e.id}_q${chainFor.size}`;
            chainFor.set(sig, name);
            q.push(name);
            this.putChain({ name, rules: seg.chains.map((c) => `jump ${c}`) });
          }
          elements.push(
            `${seg.proto} . ${seg.lo === seg.hi ? seg.lo : `${seg.lo}-${seg.hi}`} : jump ${name}`,
          );
        }
        rules.push(`meta l4proto . th dport vmap { ${elements.join(', ')} }`);
      }
      if (e.audit) {
        const audited = e.nps.filter((k) => this.nps.get(k)?.audit);
        const policies = audited.length > 0 ? audited : e.nps;
        rules.push(
          ...this.logged(
            '',
            { verdict: 'would-drop', direction: dir, kind: 'np', policies, more: 0 },
            'accept',
          ),
        );
      } else {
        rules.push(
          ...this.logged(
            '',
            { verdict: 'drop', direction: dir, kind: 'np', policies: e.nps, more: 0 },
            'drop',
          ),
        );
      }
    } else {
      rules.push(...this.renderCnpRules(e.baseline, dir, 'return', e.audit));
    }
    this.putChain({ name: tail, rules });
    for (const old of e.qChains) if (!q.includes(old)) this.dropObject('chain', old);
    e.qChains = q;
  }

  private updatePodSig(key: string): void {
    if (this.deferSigs) {
      this.pendingSigs.add(key);
      return;
    }
    const pod = this.pods.get(key);
    const old = this.podSig.get(key) ?? {};
    const next: PodSigs = {};
    for (const slot of SIG_SLOTS) {
      const sig = pod && this.isLocal(pod) ? this.sigFor(pod, slot.dir, slot.audit) : undefined;
      if (sig) {
        sig.refs++;
        next[slot.map] = sig.key;
      }
    }
    const oldPod = this.lastIps.get(key) ?? [];
    const newIps = pod && this.isLocal(pod) ? pod.ips : [];
    for (const { map } of SIG_SLOTS) {
      const sig = next[map] ? this.sigs.get(next[map] as string) : undefined;
      for (const ip of oldPod)
        if (!newIps.includes(ip) || !sig) this.mapPut(`${map}_${familyOf(ip)}`, ip, undefined);
      if (sig) for (const ip of newIps) this.mapPut(`${map}_${familyOf(ip)}`, ip, `goto ${sig.id}`);
    }
    let auditGone = false;
    for (const { map } of SIG_SLOTS) {
      const k = old[map];
      if (!k) continue;
      const sig = this.sigs.get(k);
      if (sig && --sig.refs <= 0) {
        this.sigs.delete(k);
        this.dropObject('chain', sig.id);
        this.dropObject('chain', `${sig.id}_t`);
        for (const qc of sig.qChains) this.dropObject('chain', qc);
        auditGone ||= sig.audit;
      }
    }
    if (auditGone) this.dropAuditBaseIfUnused();
    if (Object.keys(next).length > 0) {
      this.podSig.set(key, next);
      this.lastIps.set(key, [...newIps]);
    } else {
      this.podSig.delete(key);
      this.lastIps.delete(key);
    }
  }

  private readonly lastIps = new Map<string, string[]>();

  private refreshSigsFor(pods: Iterable<string>): void {
    for (const k of pods) this.updatePodSig(k);
  }

  private rerenderSigsWithCnp(name: string): void {
    for (const e of this.sigs.values()) {
      if (e.admin.includes(name) || e.baseline.includes(name)) this.renderSig(e);
    }
  }

  // ---- public mutations -------------------------------------------------------------------

  /** Replaces everything with `state` (bulk: selector membership and signatures computed once). */
  load(state: ClusterState): this {
    return this.batch(() => {
      for (const ns of state.namespaces) this.upsertNamespace(ns);
      for (const n of state.nodes ?? []) this.upsertNode(n);
      for (const p of state.pods) this.upsertPod(p);
      for (const np of state.networkPolicies ?? []) this.upsertNetworkPolicy(np);
      for (const c of state.clusterNetworkPolicies ?? []) this.upsertClusterNetworkPolicy(c);
    });
  }

  /**
   * Runs several mutations and recomputes the affected pods' dispatch once at the end (many
   * policy changes at once cost one pass, not one pass each).
   */
  batch(mutate: () => void): this {
    const outer = this.deferSigs;
    this.deferSigs = true;
    try {
      mutate();
    } finally {
      if (!outer) {
        this.deferSigs = false;
        const keys = [...this.pendingSigs];
        this.pendingSigs.clear();
        this.refreshSigsFor(keys);
      }
    }
    return this;
  }

  /** Adds or changes a namespace (its labels); pods in it are re-matched. Ignored without a name. */
  upsertNamespace(ns: Namespace): void {
    const name = nameOf(ns);
    if (name === undefined) return;
    const labels = namespaceLabels(ns);
    const old = this.nsLabels.get(name);
    this.nsLabels.set(name, labels);
    if (old && JSON.stringify(old) === JSON.stringify(labels)) return;
    for (const k of this.podsByNs.get(name) ?? []) this.rematchPod(k);
  }

  /** Removes a namespace's labels (its pods keep existing until deleted). */
  deleteNamespace(name: string): void {
    if (!this.nsLabels.delete(name)) return;
    for (const k of this.podsByNs.get(name) ?? []) this.rematchPod(k);
  }

  /** Adds or changes a node (labels, addresses: used by `nodes` peers). Ignored without a name. */
  upsertNode(node: Node): void {
    const name = nameOf(node);
    if (name === undefined) return;
    this.nodes.set(name, node);
    for (const e of this.nodeSets.values()) this.fillNodeSet(e);
  }

  /** Removes a node. */
  deleteNode(name: string): void {
    if (!this.nodes.delete(name)) return;
    for (const e of this.nodeSets.values()) this.fillNodeSet(e);
  }

  /**
   * Adds or changes a pod: set memberships, named ports and (for local pods) its dispatch
   * entries. Ignored without a name; invalid addresses and ports are left out ({@link podInfo}).
   */
  upsertPod(pod: Pod): void {
    const next = podInfo(pod);
    if (!next) return;
    const old = this.pods.get(next.key);
    this.applyPod(old, next);
  }

  /** Removes a pod by `namespace/name`. */
  deletePod(key: string): void {
    const old = this.pods.get(key);
    if (old) this.applyPod(old, undefined);
  }

  private rematchPod(key: string): void {
    const pod = this.pods.get(key);
    if (pod) this.applyPod(pod, pod, true);
  }

  private applyPod(old: PodInfo | undefined, next: PodInfo | undefined, labelsOnly = false): void {
    const key = (next ?? old)?.key as string;
    if (next) {
      this.pods.set(key, next);
      let byNs = this.podsByNs.get(next.namespace);
      if (!byNs) {
        byNs = new Set();
        this.podsByNs.set(next.namespace, byNs);
      }
      byNs.add(key);
    } else {
      this.pods.delete(key);
      this.podsByNs.get(old?.namespace as string)?.delete(key);
    }
    for (const e of this.sels.values()) {
      const was = e.members.has(key);
      const is = next !== undefined && this.selMatches(e.def, next);
      if (was && is && old && next && old.ips.join() === next.ips.join()) {
        if (old !== next) e.members.add(key);
        continue;
      }
      if (was && old) this.removeMember(e, old);
      if (is && next) this.addMember(e, next);
    }
    if (!labelsOnly) {
      for (const e of this.named.values()) {
        if (old) this.namedPodElements(e, old, false);
        if (next) this.namedPodElements(e, next, true);
      }
    }
    this.updatePodSig(key);
  }

  /**
   * Adds or replaces a NetworkPolicy (validated; throws `INVALID_POLICY` with field paths and
   * changes nothing).
   */
  upsertNetworkPolicy(policy: NetworkPolicy): void {
    const np = assertValidNetworkPolicy(policy);
    const ns = namespaceOf(np);
    const key = `${ns}/${np.metadata.name}`;
    const old = this.nps.get(key);
    const oldMembers = old ? [...(this.sels.get(old.subject)?.members ?? [])] : [];
    const compiled = this.compileNp(np);
    this.nps.set(key, compiled);
    let byNs = this.npsByNs.get(ns);
    if (!byNs) {
      byNs = new Set();
      this.npsByNs.set(ns, byNs);
    }
    byNs.add(key);
    if (old) this.unref(old.refs);
    // Signatures naming this key render its chains: re-render them even without an `old` (a
    // delete and re-add in one batch leaves the signature alive until the batch ends).
    for (const e of this.sigs.values()) if (e.nps.includes(key)) this.renderSig(e);
    const newMembers = this.sels.get(compiled.subject)?.members ?? [];
    this.refreshSigsFor(new Set([...oldMembers, ...newMembers]));
  }

  /** Removes a NetworkPolicy by `namespace/name`. */
  deleteNetworkPolicy(key: string): void {
    const old = this.nps.get(key);
    if (!old) return;
    const members = [...(this.sels.get(old.subject)?.members ?? [])];
    this.nps.delete(key);
    this.npsByNs.get(key.slice(0, key.indexOf('/')))?.delete(key);
    this.refreshSigsFor(members);
    for (const s of ['in', 'eg', 'in_n', 'eg_n'])
      if (this.chainModel.has(`${old.id}_${s}`)) this.dropObject('chain', `${old.id}_${s}`);
    this.unref(old.refs);
  }

  /**
   * Adds or replaces a ClusterNetworkPolicy (validated; throws `INVALID_POLICY` with field paths
   * and changes nothing).
   */
  upsertClusterNetworkPolicy(policy: ClusterNetworkPolicy): void {
    const cnp = assertValidClusterNetworkPolicy(policy);
    const name = cnp.metadata.name;
    const old = this.cnps.get(name);
    const oldMembers = old ? [...(this.sels.get(old.subject)?.members ?? [])] : [];
    const compiled = this.compileCnp(cnp);
    this.cnps.set(name, compiled);
    if (old) this.unref(old.refs);
    this.rerenderSigsWithCnp(name);
    const members = this.sels.get(compiled.subject)?.members ?? [];
    this.refreshSigsFor(new Set([...oldMembers, ...members]));
  }

  /** Removes a ClusterNetworkPolicy by name. */
  deleteClusterNetworkPolicy(name: string): void {
    const old = this.cnps.get(name);
    if (!old) return;
    const members = [...(this.sels.get(old.subject)?.members ?? [])];
    this.cnps.delete(name);
    this.refreshSigsFor(members);
    this.unref(old.refs);
  }

  // ---- output -----------------------------------------------------------------------------

  /** The whole desired ruleset as plain JSON. */
  ruleset(): Ruleset {
    return {
      family: 'inet',
      table: this.table,
      sets: [...this.setModel].map(([name, s]) => ({
        name,
        type: s.type,
        interval: s.interval,
        elements: [...s.elements],
        ...(s.timeout ? { timeout: true } : {}),
      })),
      maps: [...this.mapModel].map(([name, m]) => ({
        name,
        type: m.type,
        elements: [...m.elements],
      })),
      chains: [...this.chainModel.values()].map((c) => ({ ...c, rules: [...c.rules] })),
      ...(this.logLimit ? { logLimit: { ...this.logLimit } } : {}),
    };
  }

  /**
   * The FQDN egress sets the current state uses (`fqdn_*`, see `fqdnSetNames`): sets with
   * timeouts whose elements the node's DNS server writes, not the compiler. A whole-table rebuild
   * starts them empty; {@link PolicySyncer} carries over what the kernel held.
   */
  fqdnSets(): string[] {
    return [...this.fqdnRefs.keys()];
  }

  /** Whether the next {@link NetpolCompiler.takeScript} rebuilds the whole table (at first, after {@link NetpolCompiler.invalidate}). */
  get pendingFull(): boolean {
    return this.full;
  }

  /** Makes the next {@link NetpolCompiler.takeScript} rebuild the whole table (e.g. after a failed apply). */
  invalidate(): void {
    this.full = true;
  }

  /**
   * The nft script from the last taken state to the current one (the whole table the first time
   * or after {@link NetpolCompiler.invalidate}); `''` when nothing changed. Marks it as taken.
   */
  takeScript(): string {
    const script = this.full ? renderRuleset(this.ruleset(), true) : this.renderDelta();
    this.full = false;
    this.created.clear();
    this.deleted.clear();
    this.dirtyChains.clear();
    this.touched.clear();
    return script;
  }

  private renderDelta(): string {
    const t = `inet ${this.table}`;
    const out: string[] = [];
    const newMapElements: string[] = [];
    for (const id of this.deleted) {
      if (!id.endsWith('#recreate')) continue;
      const [kind, name] = id.replace('#recreate', '').split(':') as [string, string];
      if (kind === 'chain') out.push(`flush chain ${t} ${name}`);
      else out.push(`flush ${kind} ${t} ${name}`);
    }
    for (const id of this.created) {
      const [kind, name] = id.split(':') as [string, string];
      if (kind === 'set') {
        const s = this.setModel.get(name);
        if (s) out.push(...setDecl(t, name, s.type, s.interval, [...s.elements], s.timeout));
      } else if (kind === 'map') {
        // elements after the chains: their `goto` targets may be created in this script too
        const m = this.mapModel.get(name);
        if (m) {
          const [decl, ...elements] = mapDecl(t, name, m.type, [...m.elements]);
          out.push(decl as string);
          newMapElements.push(...elements);
        }
      }
    }
    const chains = [...this.dirtyChains].filter((n) => this.chainModel.has(n));
    for (const n of chains) out.push(chainDecl(t, this.chainModel.get(n) as NftChainSpec));
    for (const n of chains) {
      out.push(`flush chain ${t} ${n}`);
      for (const r of (this.chainModel.get(n) as NftChainSpec).rules)
        out.push(`add rule ${t} ${n} ${r}`);
    }
    out.push(...newMapElements);
    const dels: string[] = [];
    const adds: string[] = [];
    for (const [name, keys] of this.touched) {
      const s = this.setModel.get(name);
      const m = this.mapModel.get(name);
      const delEls: string[] = [];
      const addEls: string[] = [];
      for (const [k, before] of keys) {
        const now = s ? (s.elements.has(k) ? '1' : null) : (m?.elements.get(k) ?? null);
        if (now === before) continue;
        if (before !== null) delEls.push(k);
        if (now !== null) addEls.push(m ? `${k} : ${now}` : k);
      }
      for (const chunk of chunks(delEls))
        dels.push(`delete element ${t} ${name} { ${chunk.join(', ')} }`);
      for (const chunk of chunks(addEls))
        adds.push(`add element ${t} ${name} { ${chunk.join(', ')} }`);
    }
    out.push(...dels, ...adds);
    // sets and maps before chains: a map's `goto` elements hold their chains (rules are flushed first)
    const gone = [...this.deleted]
      .filter((id) => !id.endsWith('#recreate'))
      .sort((a, b) => Number(a.startsWith('chain:')) - Number(b.startsWith('chain:')));
    for (const id of gone) if (id.startsWith('chain:')) out.push(`flush chain ${t} ${id.slice(6)}`);
    for (const id of gone) {
      const [kind, name] = id.split(':') as [string, string];
      out.push(`delete ${kind} ${t} ${name}`);
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }
}

/**
 * Splits the port space of several policies into disjoint segments per protocol, each with the
 * policy chains (in order) whose numeric ports cover it; adjacent segments with the same chains merge.
 */
function portSegments(
  policies: { id: string; ports: PortInterval[] }[],
): { proto: string; lo: number; hi: number; chains: string[] }[] {
  const out: { proto: string; lo: number; hi: number; chains: string[] }[] = [];
  const protos = [...new Set(policies.flatMap((p) => p.ports.map((i) => i.proto)))].sort();
  for (const proto of protos) {
    const cuts = new Set<number>();
    for (const p of policies) {
      for (const i of p.ports) {
        if (i.proto !== proto) continue;
        cuts.add(i.lo);
        cuts.add(i.hi + 1);
      }
    }
    const points = [...cuts].sort((a, b) => a - b);
    for (let k = 0; k + 1 < points.length; k++) {
      const lo = points[k] as number;
      const hi = (points[k + 1] as number) - 1;
      const chains = policies
        .filter((p) => p.ports.some((i) => i.proto === proto && i.lo <= lo && i.hi >= hi))
        .map((p) => p.id);
      if (chains.length === 0) continue;
      const prev = out[out.length - 1];
      if (
        prev &&
        prev.proto === proto &&
        prev.hi + 1 === lo &&
        prev.chains.join() === chains.join()
      )
        prev.hi = hi;
      else out.push({ proto, lo, hi, chains });
    }
  }
  return out;
}

function chunks<T>(a: T[], n = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

function setDecl(
  t: string,
  name: string,
  type: string,
  interval: boolean,
  elements: string[],
  timeout = false,
): string[] {
  const flags = interval ? ' flags interval;' : timeout ? ' flags timeout;' : '';
  const out = [`add set ${t} ${name} { type ${type};${flags} }`];
  for (const c of chunks(elements)) out.push(`add element ${t} ${name} { ${c.join(', ')} }`);
  return out;
}

function mapDecl(t: string, name: string, type: string, elements: [string, string][]): string[] {
  const out = [`add map ${t} ${name} { type ${type}; }`];
  for (const c of chunks(elements))
    out.push(`add element ${t} ${name} { ${c.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  return out;
}

function chainDecl(t: string, c: NftChainSpec): string {
  return c.hook
    ? `add chain ${t} ${c.name} { type filter hook ${c.hook.hook} priority ${c.hook.priority}; policy accept; }`
    : `add chain ${t} ${c.name}`;
}

/**
 * Renders a whole {@link Ruleset} as an `nft -f` script that replaces the table atomically
 * (`replace` false: only creates, for `nft -c` checks on an empty table).
 */
export function renderRuleset(rs: Ruleset, replace = true): string {
  const t = `${rs.family} ${rs.table}`;
  const out: string[] = [`add table ${t}`];
  if (replace) out.push(`delete table ${t}`, `add table ${t}`);
  if (rs.logLimit) out.push(...logRateLimitDecls(t, rs.logLimit));
  for (const s of rs.sets)
    out.push(...setDecl(t, s.name, s.type, s.interval, s.elements, s.timeout));
  for (const m of rs.maps) out.push(`add map ${t} ${m.name} { type ${m.type}; }`);
  for (const c of rs.chains) out.push(chainDecl(t, c));
  for (const c of rs.chains) for (const r of c.rules) out.push(`add rule ${t} ${c.name} ${r}`);
  for (const m of rs.maps) {
    for (const c of chunks(m.elements))
      out.push(`add element ${t} ${m.name} { ${c.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  }
  return `${out.join('\n')}\n`;
}

/** Compiles a cluster state into podnet's nftables ruleset for one node. Pure. */
export function compilePolicies(state: ClusterState, options: CompileOptions = {}): Ruleset {
  return new NetpolCompiler(options).load(state).ruleset();
}
