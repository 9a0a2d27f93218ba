import { isCidr } from '@podnet/host/validate';
import { annotationIssues } from './audit.js';
import { cidrWithin, familyOf } from './cidr.js';
import { type FieldIssue, NetpolError } from './errors.js';
import type { ClusterNetworkPolicy, LabelSelector, NetworkPolicy, ObjectMeta } from './types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DOMAIN =
  /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$/;

class Issues {
  readonly list: FieldIssue[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
  unknown(path: string, o: Obj, allowed: readonly string[]): void {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) this.add(`${path}.${k}`, 'unknown field');
  }
}

function labelKeyOk(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return (
    prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && LABEL_NAME.test(key.slice(slash + 1))
  );
}

function checkSelector(is: Issues, path: string, sel: unknown, required = true): void {
  if (sel === undefined) {
    if (required) is.add(path, 'required (use {} to select everything)');
    return;
  }
  if (!isObj(sel)) {
    is.add(path, 'must be a label selector object');
    return;
  }
  is.unknown(path, sel, ['matchLabels', 'matchExpressions']);
  if (sel.matchLabels !== undefined) {
    if (!isObj(sel.matchLabels)) is.add(`${path}.matchLabels`, 'must be an object of strings');
    else
      for (const [k, v] of Object.entries(sel.matchLabels)) {
        if (!labelKeyOk(k)) is.add(`${path}.matchLabels.${k}`, 'invalid label key');
        if (typeof v !== 'string' || !LABEL_VALUE.test(v))
          is.add(`${path}.matchLabels.${k}`, 'invalid label value');
      }
  }
  if (sel.matchExpressions !== undefined) {
    if (!Array.isArray(sel.matchExpressions)) {
      is.add(`${path}.matchExpressions`, 'must be a list');
      return;
    }
    sel.matchExpressions.forEach((e: unknown, i: number) => {
      const p = `${path}.matchExpressions[${i}]`;
      if (!isObj(e)) {
        is.add(p, 'must be an object');
        return;
      }
      if (typeof e.key !== 'string' || !labelKeyOk(e.key)) is.add(`${p}.key`, 'invalid label key');
      const values = e.values;
      if (
        values !== undefined &&
        (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
      ) {
        is.add(`${p}.values`, 'must be a list of strings');
      }
      const n = Array.isArray(values) ? values.length : 0;
      if (e.operator === 'In' || e.operator === 'NotIn') {
        if (n === 0) is.add(`${p}.values`, `must be non-empty when operator is ${e.operator}`);
      } else if (e.operator === 'Exists' || e.operator === 'DoesNotExist') {
        if (n > 0) is.add(`${p}.values`, `must be empty when operator is ${e.operator}`);
      } else {
        is.add(`${p}.operator`, 'must be one of In, NotIn, Exists, DoesNotExist');
      }
    });
  }
}

function checkMeta(is: Issues, o: Obj, namespaced: boolean): void {
  const m = o.metadata;
  if (!isObj(m)) {
    is.add('metadata', 'required');
    return;
  }
  if (typeof m.name !== 'string' || !DNS_SUBDOMAIN.test(m.name)) {
    is.add('metadata.name', 'required: a DNS subdomain (lowercase letters, digits, - and .)');
  }
  if (
    namespaced &&
    m.namespace !== undefined &&
    (typeof m.namespace !== 'string' || !DNS_LABEL.test(m.namespace))
  ) {
    is.add('metadata.namespace', 'must be a DNS label');
  }
  for (const [path, message] of annotationIssues(o)) is.add(path, message);
}

function checkPortNumber(is: Issues, path: string, v: unknown): boolean {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) {
    is.add(path, 'must be an integer 1-65535');
    return false;
  }
  return true;
}

function checkNpPeer(is: Issues, p: string, peer: unknown): void {
  if (!isObj(peer)) {
    is.add(p, 'must be an object');
    return;
  }
  is.unknown(p, peer, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const hasSel = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock !== undefined && hasSel) {
    is.add(p, 'ipBlock may not be combined with podSelector or namespaceSelector in one peer');
  }
  if (peer.ipBlock === undefined && !hasSel) {
    is.add(p, 'must set podSelector, namespaceSelector or ipBlock');
  }
  checkSelector(is, `${p}.podSelector`, peer.podSelector, false);
  checkSelector(is, `${p}.namespaceSelector`, peer.namespaceSelector, false);
  if (peer.ipBlock !== undefined) {
    const b = peer.ipBlock;
    const bp = `${p}.ipBlock`;
    if (!isObj(b)) {
      is.add(bp, 'must be an object');
      return;
    }
    is.unknown(bp, b, ['cidr', 'except']);
    if (!isCidr(b.cidr)) {
      is.add(`${bp}.cidr`, 'must be a CIDR such as 10.0.0.0/16');
      return;
    }
    const cidr = b.cidr;
    if (b.except !== undefined && !Array.isArray(b.except)) {
      is.add(`${bp}.except`, 'must be a list');
      return;
    }
    (b.except ?? []).forEach((e: unknown, i: number) => {
      const ep = `${bp}.except[${i}]`;
      if (!isCidr(e)) {
        is.add(ep, 'must be a CIDR');
        return;
      }
      if (familyOf(e) !== familyOf(cidr)) {
        is.add(ep, `must be the same IP family as cidr ${cidr}`);
        return;
      }
      const eBits = Number(e.split('/')[1]);
      const cBits = Number(cidr.split('/')[1]);
      if (!cidrWithin(e, cidr) || eBits <= cBits)
        is.add(ep, `must be a strict subset of cidr ${cidr}`);
    });
  }
}

function checkNpPort(is: Issues, p: string, port: unknown): void {
  if (!isObj(port)) {
    is.add(p, 'must be an object');
    return;
  }
  is.unknown(p, port, ['protocol', 'port', 'endPort']);
  if (port.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(port.protocol as string)) {
    is.add(`${p}.protocol`, 'must be TCP, UDP or SCTP');
  }
  const v = port.port;
  if (typeof v === 'string') {
    if (!PORT_NAME.test(v) || !/[a-z]/.test(v) || v.includes('--')) {
      is.add(
        `${p}.port`,
        'must be a port number or an IANA service name (1-15 of a-z, 0-9, -; one letter)',
      );
    }
  } else if (v !== undefined) {
    checkPortNumber(is, `${p}.port`, v);
  }
  if (port.endPort !== undefined) {
    if (typeof v !== 'number') is.add(`${p}.endPort`, 'may only be set when port is a number');
    else if (checkPortNumber(is, `${p}.endPort`, port.endPort) && (port.endPort as number) < v) {
      is.add(`${p}.endPort`, `must be greater than or equal to port (${v})`);
    }
  }
}

/** Field-level problems of a `NetworkPolicy` (empty when valid). Pure. */
export function validateNetworkPolicy(np: unknown): FieldIssue[] {
  const is = new Issues();
  if (!isObj(np)) {
    is.add('', 'must be an object');
    return is.list;
  }
  checkMeta(is, np, true);
  const spec = np.spec;
  if (!isObj(spec)) {
    is.add('spec', 'required');
    return is.list;
  }
  is.unknown('spec', spec, ['podSelector', 'policyTypes', 'ingress', 'egress']);
  checkSelector(is, 'spec.podSelector', spec.podSelector);
  if (spec.policyTypes !== undefined) {
    if (!Array.isArray(spec.policyTypes)) is.add('spec.policyTypes', 'must be a list');
    else
      spec.policyTypes.forEach((t: unknown, i: number) => {
        if (t !== 'Ingress' && t !== 'Egress')
          is.add(`spec.policyTypes[${i}]`, 'must be Ingress or Egress');
        else if (spec.policyTypes && (spec.policyTypes as unknown[]).indexOf(t) !== i) {
          is.add(`spec.policyTypes[${i}]`, 'duplicate');
        }
      });
  }
  for (const dir of ['ingress', 'egress'] as const) {
    const rules = spec[dir];
    if (rules === undefined) continue;
    if (!Array.isArray(rules)) {
      is.add(`spec.${dir}`, 'must be a list');
      continue;
    }
    // An ingress rule's peers are `from` on the wire and `_from` in client-node's typed model.
    const peersKeys = dir === 'ingress' ? ['from', '_from'] : ['to'];
    rules.forEach((r: unknown, i: number) => {
      const rp = `spec.${dir}[${i}]`;
      if (!isObj(r)) {
        is.add(rp, 'must be an object');
        return;
      }
      is.unknown(rp, r, [...peersKeys, 'ports']);
      if (r.from !== undefined && r._from !== undefined) {
        is.add(`${rp}._from`, "may not be set together with from (client-node's name for it)");
      }
      for (const peersKey of peersKeys) {
        const peers = r[peersKey];
        if (peers !== undefined && !Array.isArray(peers))
          is.add(`${rp}.${peersKey}`, 'must be a list');
        else
          (peers ?? []).forEach((peer: unknown, j: number) => {
            checkNpPeer(is, `${rp}.${peersKey}[${j}]`, peer);
          });
      }
      if (r.ports !== undefined && !Array.isArray(r.ports)) is.add(`${rp}.ports`, 'must be a list');
      else
        ((r.ports as unknown[]) ?? []).forEach((port, j) => {
          checkNpPort(is, `${rp}.ports[${j}]`, port);
        });
    });
  }
  return is.list;
}

function checkCnpPort(is: Issues, p: string, dp: unknown): void {
  if (!isObj(dp)) {
    is.add(p, 'must be an object');
    return;
  }
  is.unknown(p, dp, ['number', 'range']);
  const n = (dp.number !== undefined ? 1 : 0) + (dp.range !== undefined ? 1 : 0);
  if (n !== 1) {
    is.add(p, 'set exactly one of number or range');
    return;
  }
  if (dp.number !== undefined) checkPortNumber(is, `${p}.number`, dp.number);
  if (dp.range !== undefined) {
    const r = dp.range;
    if (!isObj(r)) {
      is.add(`${p}.range`, 'must be an object');
      return;
    }
    const ok =
      checkPortNumber(is, `${p}.range.start`, r.start) &&
      checkPortNumber(is, `${p}.range.end`, r.end);
    if (ok && (r.start as number) >= (r.end as number))
      is.add(`${p}.range`, 'start must be less than end');
  }
}

/** Field-level problems of a `ClusterNetworkPolicy` (v1alpha2) (empty when valid). Pure. */
export function validateClusterNetworkPolicy(cnp: unknown): FieldIssue[] {
  const is = new Issues();
  if (!isObj(cnp)) {
    is.add('', 'must be an object');
    return is.list;
  }
  checkMeta(is, cnp, false);
  const spec = cnp.spec;
  if (!isObj(spec)) {
    is.add('spec', 'required');
    return is.list;
  }
  is.unknown('spec', spec, ['tier', 'priority', 'subject', 'ingress', 'egress']);
  if (spec.tier !== 'Admin' && spec.tier !== 'Baseline')
    is.add('spec.tier', 'must be Admin or Baseline');
  if (
    !Number.isInteger(spec.priority) ||
    (spec.priority as number) < 0 ||
    (spec.priority as number) > 1000
  ) {
    is.add('spec.priority', 'must be an integer 0-1000');
  }
  const subj = spec.subject;
  if (!isObj(subj)) is.add('spec.subject', 'required');
  else {
    is.unknown('spec.subject', subj, ['namespaces', 'pods']);
    const n = (subj.namespaces !== undefined ? 1 : 0) + (subj.pods !== undefined ? 1 : 0);
    if (n !== 1) is.add('spec.subject', 'set exactly one of namespaces or pods');
    checkSelector(is, 'spec.subject.namespaces', subj.namespaces, false);
    checkNamespacedPod(is, 'spec.subject.pods', subj.pods);
  }
  for (const dir of ['ingress', 'egress'] as const) {
    const rules = spec[dir];
    if (rules === undefined) continue;
    if (!Array.isArray(rules)) {
      is.add(`spec.${dir}`, 'must be a list');
      continue;
    }
    if (rules.length > 25) is.add(`spec.${dir}`, 'at most 25 rules');
    const peersKey = dir === 'ingress' ? 'from' : 'to';
    const peerKinds =
      dir === 'ingress'
        ? ['namespaces', 'pods']
        : ['namespaces', 'pods', 'networks', 'nodes', 'domainNames'];
    rules.forEach((r: unknown, i: number) => {
      const rp = `spec.${dir}[${i}]`;
      if (!isObj(r)) {
        is.add(rp, 'must be an object');
        return;
      }
      is.unknown(rp, r, ['name', 'action', peersKey, 'protocols']);
      if (r.name !== undefined && (typeof r.name !== 'string' || r.name.length > 100)) {
        is.add(`${rp}.name`, 'must be a string of at most 100 characters');
      }
      if (!['Accept', 'Deny', 'Pass'].includes(r.action as string))
        is.add(`${rp}.action`, 'must be Accept, Deny or Pass');
      const peers = r[peersKey];
      let nonPodPeer = false;
      if (!Array.isArray(peers) || peers.length === 0)
        is.add(`${rp}.${peersKey}`, 'required: at least one peer');
      else
        peers.forEach((peer: unknown, j: number) => {
          const pp = `${rp}.${peersKey}[${j}]`;
          if (!isObj(peer)) {
            is.add(pp, 'must be an object');
            return;
          }
          is.unknown(pp, peer, peerKinds);
          const set = peerKinds.filter((k) => peer[k] !== undefined);
          if (set.length !== 1) {
            is.add(pp, `set exactly one of ${peerKinds.join(', ')}`);
            return;
          }
          checkSelector(is, `${pp}.namespaces`, peer.namespaces, false);
          checkNamespacedPod(is, `${pp}.pods`, peer.pods);
          checkSelector(is, `${pp}.nodes`, peer.nodes, false);
          if (
            peer.networks !== undefined ||
            peer.nodes !== undefined ||
            peer.domainNames !== undefined
          )
            nonPodPeer = true;
          if (peer.networks !== undefined) {
            if (
              !Array.isArray(peer.networks) ||
              peer.networks.length === 0 ||
              peer.networks.length > 25
            ) {
              is.add(`${pp}.networks`, 'must list 1-25 CIDRs');
            } else
              peer.networks.forEach((c: unknown, k: number) => {
                if (!isCidr(c)) is.add(`${pp}.networks[${k}]`, 'must be a CIDR');
              });
          }
          if (peer.domainNames !== undefined) {
            if (r.action !== 'Accept') is.add(`${pp}.domainNames`, 'only allowed in Accept rules');
            if (
              !Array.isArray(peer.domainNames) ||
              peer.domainNames.length === 0 ||
              peer.domainNames.length > 25
            ) {
              is.add(`${pp}.domainNames`, 'must list 1-25 domain names');
            } else
              peer.domainNames.forEach((d: unknown, k: number) => {
                if (typeof d !== 'string' || !DOMAIN.test(d))
                  is.add(`${pp}.domainNames[${k}]`, 'invalid domain name');
              });
          }
        });
      if (r.protocols !== undefined) {
        if (!Array.isArray(r.protocols) || r.protocols.length === 0 || r.protocols.length > 25) {
          is.add(`${rp}.protocols`, 'must list 1-25 protocols');
        } else
          r.protocols.forEach((pr: unknown, j: number) => {
            const pp = `${rp}.protocols[${j}]`;
            if (!isObj(pr)) {
              is.add(pp, 'must be an object');
              return;
            }
            const kinds = ['tcp', 'udp', 'sctp', 'destinationNamedPort'];
            is.unknown(pp, pr, kinds);
            const set = kinds.filter((k) => pr[k] !== undefined);
            if (set.length !== 1) {
              is.add(pp, 'set exactly one of tcp, udp, sctp, destinationNamedPort');
              return;
            }
            if (pr.destinationNamedPort !== undefined) {
              if (
                typeof pr.destinationNamedPort !== 'string' ||
                !PORT_NAME.test(pr.destinationNamedPort)
              ) {
                is.add(`${pp}.destinationNamedPort`, 'must be a port name');
              }
              if (nonPodPeer) {
                is.add(
                  `${pp}.destinationNamedPort`,
                  'cannot be used with networks, nodes or domainNames peers',
                );
              }
              return;
            }
            const k = set[0] as string;
            const body = pr[k];
            if (!isObj(body)) {
              is.add(`${pp}.${k}`, 'must be an object');
              return;
            }
            is.unknown(`${pp}.${k}`, body, ['destinationPort']);
            if (body.destinationPort === undefined) {
              is.add(`${pp}.${k}`, 'must set destinationPort');
              return;
            }
            checkCnpPort(is, `${pp}.${k}.destinationPort`, body.destinationPort);
          });
      }
    });
  }
  return is.list;
}

function checkNamespacedPod(is: Issues, p: string, v: unknown): void {
  if (v === undefined) return;
  if (!isObj(v)) {
    is.add(p, 'must be an object');
    return;
  }
  is.unknown(p, v, ['namespaceSelector', 'podSelector']);
  checkSelector(is, `${p}.namespaceSelector`, v.namespaceSelector, false);
  checkSelector(is, `${p}.podSelector`, v.podSelector, true);
}

/** True when an object looks like a ClusterNetworkPolicy (by `kind`, else by `spec.tier`). */
export function isClusterNetworkPolicy(o: unknown): o is ClusterNetworkPolicy {
  if (!isObj(o)) return false;
  if (o.kind !== undefined) return o.kind === 'ClusterNetworkPolicy';
  return isObj(o.spec) && 'tier' in o.spec;
}

/** Field-level problems of a NetworkPolicy or ClusterNetworkPolicy (chosen by `kind`/shape). */
export function validatePolicy(policy: unknown): FieldIssue[] {
  return isClusterNetworkPolicy(policy)
    ? validateClusterNetworkPolicy(policy)
    : validateNetworkPolicy(policy);
}

function objectName(o: unknown, namespaced: boolean): string {
  if (!isObj(o) || !isObj(o.metadata) || typeof o.metadata.name !== 'string') return '(unnamed)';
  const m = o.metadata;
  if (!namespaced) return String(m.name);
  return `${typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : 'default'}/${String(m.name)}`;
}

function invalid(kind: string, namespaced: boolean, policy: unknown, issues: FieldIssue[]): never {
  const name = objectName(policy, namespaced);
  throw new NetpolError(
    'INVALID_POLICY',
    `invalid ${kind} ${name}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues, object: name },
  );
}

/** A policy left out because it is invalid, with the error naming its bad fields. */
export interface InvalidPolicy {
  /** `namespace/name` of a NetworkPolicy, `name` of a ClusterNetworkPolicy, or `(unnamed)`. */
  object: string;
  error: NetpolError;
}

/**
 * The policies `assertValid` accepts, typed as valid; each rejected one (an `INVALID_POLICY`
 * error) is appended to `invalid` instead. Other errors are rethrown.
 */
export function partitionPolicies<T>(
  list: readonly unknown[] | undefined,
  assertValid: (p: unknown) => T,
  invalid: InvalidPolicy[],
): T[] {
  const out: T[] = [];
  for (const p of list ?? []) {
    try {
      out.push(assertValid(p));
    } catch (error) {
      if (!NetpolError.isInstance(error) || error.code !== 'INVALID_POLICY') throw error;
      invalid.push({ object: error.object ?? '(unnamed)', error });
    }
  }
  return out;
}

/** `metadata` with the `name` a valid policy always has. */
type NamedMeta = ObjectMeta & { name: string };

/**
 * A NetworkPolicy the validator accepted: `metadata.name` and `spec.podSelector` are present,
 * and every protocol, operator, selector, port and CIDR in it is one the API allows.
 */
export type ValidNetworkPolicy = NetworkPolicy & {
  metadata: NamedMeta;
  spec: NonNullable<NetworkPolicy['spec']> & { podSelector: LabelSelector };
};

/** A ClusterNetworkPolicy the validator accepted (`metadata.name` present, every field allowed). */
export type ValidClusterNetworkPolicy = ClusterNetworkPolicy & { metadata: NamedMeta };

/** The validator's verdict as a type guard: valid exactly when it found no issue. */
function accepted<T>(_policy: unknown, issues: readonly FieldIssue[]): _policy is T {
  return issues.length === 0;
}

/**
 * Throws `INVALID_POLICY` naming every bad field (as `namespace/name`) unless `np` is a valid
 * NetworkPolicy; returns it typed as valid.
 */
export function assertValidNetworkPolicy(np: unknown): ValidNetworkPolicy {
  const issues = validateNetworkPolicy(np);
  if (!accepted<ValidNetworkPolicy>(np, issues)) return invalid('NetworkPolicy', true, np, issues);
  return np;
}

/**
 * Throws `INVALID_POLICY` naming every bad field unless `cnp` is a valid ClusterNetworkPolicy;
 * returns it typed as valid.
 */
export function assertValidClusterNetworkPolicy(cnp: unknown): ValidClusterNetworkPolicy {
  const issues = validateClusterNetworkPolicy(cnp);
  if (!accepted<ValidClusterNetworkPolicy>(cnp, issues))
    return invalid('ClusterNetworkPolicy', false, cnp, issues);
  return cnp;
}

/**
 * Throws `INVALID_POLICY` naming every bad field unless `policy` is valid (a NetworkPolicy or
 * ClusterNetworkPolicy, chosen by `kind`/shape as {@link validatePolicy} does); returns it typed.
 */
export function assertValidPolicy<T extends NetworkPolicy | ClusterNetworkPolicy>(
  policy: T | unknown,
): T {
  const cnp = isClusterNetworkPolicy(policy);
  const issues = validatePolicy(policy);
  if (!accepted<T>(policy, issues))
    return cnp
      ? invalid('ClusterNetworkPolicy', false, policy, issues)
      : invalid('NetworkPolicy', true, policy, issues);
  return policy;
}
