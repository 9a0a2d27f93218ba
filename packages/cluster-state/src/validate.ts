import { isCidr, isIp } from '@podnet/host/validate';
import type { ObjectKind } from './types.js';

/** One problem in an object: the dotted field path and what is wrong there. */
export interface FieldProblem {
  /** e.g. `spec.ports[0].port` (empty for the object itself). */
  path: string;
  message: string;
}

type Obj = Record<string, unknown>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

/** Collects problems under a path prefix. */
class Check {
  readonly problems: FieldProblem[] = [];

  bad(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** The value as an object when it is one (or absent); a problem otherwise. */
  obj(v: unknown, path: string, required = false): Obj | undefined {
    if (v === undefined || v === null) {
      if (required) this.bad(path, 'required, want a mapping');
      return undefined;
    }
    if (!isObj(v)) {
      this.bad(path, `want a mapping, got ${show(v)}`);
      return undefined;
    }
    return v;
  }

  list(v: unknown, path: string, required = false): unknown[] {
    if (v === undefined || v === null) {
      if (required) this.bad(path, 'required, want a list');
      return [];
    }
    if (!Array.isArray(v)) {
      this.bad(path, `want a list, got ${show(v)}`);
      return [];
    }
    return v;
  }

  str(v: unknown, path: string, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.bad(path, 'required, want a string');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.bad(path, `want a string, got ${show(v)}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): void {
    if (v !== undefined && v !== null && typeof v !== 'boolean')
      this.bad(path, `want true or false, got ${show(v)}`);
  }

  oneOf(v: unknown, path: string, allowed: readonly string[], required = false): void {
    const s = this.str(v, path, required);
    if (s !== undefined && !allowed.includes(s))
      this.bad(path, `want one of ${allowed.join(', ')}, got ${show(s)}`);
  }

  int(v: unknown, path: string, min: number, max: number, required = false): void {
    if (v === undefined || v === null) {
      if (required) this.bad(path, `required, want an integer ${min}-${max}`);
      return;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      this.bad(path, `want an integer ${min}-${max}, got ${show(v)}`);
  }

  port(v: unknown, path: string, required = false): void {
    this.int(v, path, 1, 65535, required);
  }

  ip(v: unknown, path: string, family?: 'IPv4' | 'IPv6'): void {
    if (!isIp(v)) {
      this.bad(path, `want an IP address, got ${show(v)}`);
      return;
    }
    if (family && (family === 'IPv6') !== v.includes(':'))
      this.bad(path, `want an ${family} address, got ${show(v)}`);
  }

  cidr(v: unknown, path: string): void {
    if (!isCidr(v)) this.bad(path, `want a CIDR (address/prefix), got ${show(v)}`);
  }

  pattern(v: unknown, path: string, re: RegExp, max: number, what: string): void {
    const s = this.str(v, path);
    if (s !== undefined && (s.length > max || !re.test(s)))
      this.bad(path, `want ${what}, got ${show(s)}`);
  }

  stringMap(v: unknown, path: string, kind: 'labels' | 'annotations' | 'selector'): void {
    const m = this.obj(v, path);
    if (!m) return;
    for (const [k, val] of Object.entries(m)) {
      const p = `${path}[${show(k)}]`;
      if (typeof val !== 'string') {
        this.bad(p, `want a string, got ${show(val)}`);
        continue;
      }
      if (kind === 'annotations') continue;
      if (!isLabelKey(k)) this.bad(p, `${show(k)} is not a valid label key`);
      else if (val.length > 63 || (val !== '' && !QUALIFIED_NAME.test(val)))
        this.bad(p, `${show(val)} is not a valid label value`);
    }
  }

  selector(v: unknown, path: string, required = false): void {
    const s = this.obj(v, path, required);
    if (!s) return;
    this.stringMap(s.matchLabels, `${path}.matchLabels`, 'selector');
    this.list(s.matchExpressions, `${path}.matchExpressions`).forEach((e, i) => {
      const p = `${path}.matchExpressions[${i}]`;
      const r = this.obj(e, p, true);
      if (!r) return;
      this.str(r.key, `${p}.key`, true);
      this.oneOf(r.operator, `${p}.operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist'], true);
      const values = this.list(r.values, `${p}.values`);
      values.forEach((x, j) => {
        this.str(x, `${p}.values[${j}]`, true);
      });
      if ((r.operator === 'In' || r.operator === 'NotIn') && values.length === 0)
        this.bad(`${p}.values`, `required (non-empty) for operator ${r.operator}`);
      if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && values.length > 0)
        this.bad(`${p}.values`, `must be empty for operator ${r.operator}`);
    });
  }
}

function isLabelKey(k: string): boolean {
  const slash = k.indexOf('/');
  const name = slash < 0 ? k : k.slice(slash + 1);
  if (slash >= 0) {
    const prefix = k.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

const NAME_RULES: Record<ObjectKind, { re: RegExp; max: number; what: string }> = {
  Namespace: { re: DNS_LABEL, max: 63, what: 'a DNS label (a-z, 0-9, "-", at most 63)' },
  Service: {
    re: DNS_1035_LABEL,
    max: 63,
    what: 'a DNS-1035 label (starts with a letter; a-z, 0-9, "-", at most 63)',
  },
  Node: { re: DNS_SUBDOMAIN, max: 253, what: 'a DNS subdomain' },
  Pod: { re: DNS_SUBDOMAIN, max: 253, what: 'a DNS subdomain' },
  EndpointSlice: { re: DNS_SUBDOMAIN, max: 253, what: 'a DNS subdomain' },
  NetworkPolicy: { re: DNS_SUBDOMAIN, max: 253, what: 'a DNS subdomain' },
  ClusterNetworkPolicy: { re: DNS_SUBDOMAIN, max: 253, what: 'a DNS subdomain' },
};

function checkMeta(c: Check, kind: ObjectKind, meta: unknown): void {
  const m = c.obj(meta, 'metadata', true);
  if (!m) return;
  const rule = NAME_RULES[kind];
  if (m.name === undefined || m.name === '') c.bad('metadata.name', 'required');
  else c.pattern(m.name, 'metadata.name', rule.re, rule.max, rule.what);
  if (kind === 'Node' || kind === 'Namespace' || kind === 'ClusterNetworkPolicy') {
    if (m.namespace !== undefined && m.namespace !== '')
      c.bad('metadata.namespace', `a ${kind} is cluster-scoped: remove metadata.namespace`);
  } else if (m.namespace !== undefined) {
    c.pattern(m.namespace, 'metadata.namespace', DNS_LABEL, 63, 'a DNS label');
  }
  c.stringMap(m.labels, 'metadata.labels', 'labels');
  c.stringMap(m.annotations, 'metadata.annotations', 'annotations');
  if ((kind === 'NetworkPolicy' || kind === 'ClusterNetworkPolicy') && isObj(m.annotations)) {
    // podnet's per-policy switches (audit mode, logging of accepted flows): see @podnet/netpol
    const a = m.annotations;
    const p = (k: string) => `metadata.annotations[${show(k)}]`;
    if (typeof a['podnet.io/enforcement'] === 'string')
      c.oneOf(a['podnet.io/enforcement'], p('podnet.io/enforcement'), ['enforce', 'audit']);
    if (typeof a['podnet.io/log-allowed'] === 'string')
      c.oneOf(a['podnet.io/log-allowed'], p('podnet.io/log-allowed'), ['true', 'false']);
  }
  c.str(m.resourceVersion, 'metadata.resourceVersion');
}

function checkNode(c: Check, o: Obj): void {
  const spec = c.obj(o.spec, 'spec');
  if (spec) {
    if (spec.podCIDR !== undefined && spec.podCIDR !== '') c.cidr(spec.podCIDR, 'spec.podCIDR');
    c.list(spec.podCIDRs, 'spec.podCIDRs').forEach((x, i) => {
      c.cidr(x, `spec.podCIDRs[${i}]`);
    });
    c.list(spec.taints, 'spec.taints').forEach((t, i) => {
      const taint = c.obj(t, `spec.taints[${i}]`, true);
      if (!taint) return;
      c.str(taint.key, `spec.taints[${i}].key`, true);
      c.str(taint.value, `spec.taints[${i}].value`);
      c.str(taint.effect, `spec.taints[${i}].effect`, true);
    });
  }
  const status = c.obj(o.status, 'status');
  if (status) {
    c.list(status.addresses, 'status.addresses').forEach((a, i) => {
      const p = `status.addresses[${i}]`;
      const addr = c.obj(a, p, true);
      if (!addr) return;
      const type = c.str(addr.type, `${p}.type`, true);
      const value = c.str(addr.address, `${p}.address`, true);
      if ((type === 'InternalIP' || type === 'ExternalIP') && value !== undefined)
        c.ip(value, `${p}.address`);
    });
  }
}

function checkPod(c: Check, o: Obj): void {
  const spec = c.obj(o.spec, 'spec');
  if (spec) {
    c.list(spec.containers, 'spec.containers').forEach((ct, i) => {
      const p = `spec.containers[${i}]`;
      const k = c.obj(ct, p, true);
      if (!k) return;
      c.str(k.name, `${p}.name`);
      for (const field of ['command', 'args'] as const) {
        c.list(k[field], `${p}.${field}`).forEach((x, j) => {
          c.str(x, `${p}.${field}[${j}]`, true);
        });
      }
      c.list(k.ports, `${p}.ports`).forEach((pt, j) => {
        const pp = `${p}.ports[${j}]`;
        const port = c.obj(pt, pp, true);
        if (!port) return;
        c.port(port.containerPort, `${pp}.containerPort`, true);
        c.port(port.hostPort, `${pp}.hostPort`);
        c.oneOf(port.protocol, `${pp}.protocol`, PROTOCOLS);
        if (port.name !== undefined)
          c.pattern(port.name, `${pp}.name`, IANA_SVC_NAME, 15, 'a port name (IANA_SVC_NAME)');
      });
    });
    c.str(spec.nodeName, 'spec.nodeName');
    c.bool(spec.hostNetwork, 'spec.hostNetwork');
    if (spec.hostname !== undefined)
      c.pattern(spec.hostname, 'spec.hostname', DNS_LABEL, 63, 'a DNS label');
    if (spec.subdomain !== undefined)
      c.pattern(spec.subdomain, 'spec.subdomain', DNS_LABEL, 63, 'a DNS label');
  }
  const status = c.obj(o.status, 'status');
  if (status) {
    c.str(status.phase, 'status.phase');
    if (status.podIP !== undefined && status.podIP !== '') c.ip(status.podIP, 'status.podIP');
    c.list(status.podIPs, 'status.podIPs').forEach((x, i) => {
      const p = c.obj(x, `status.podIPs[${i}]`, true);
      if (p) c.ip(p.ip, `status.podIPs[${i}].ip`);
    });
    if (status.hostIP !== undefined && status.hostIP !== '') c.ip(status.hostIP, 'status.hostIP');
    c.list(status.conditions, 'status.conditions').forEach((x, i) => {
      const p = c.obj(x, `status.conditions[${i}]`, true);
      if (!p) return;
      c.str(p.type, `status.conditions[${i}].type`, true);
      c.str(p.status, `status.conditions[${i}].status`, true);
    });
  }
}

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

function checkService(c: Check, o: Obj): void {
  const spec = c.obj(o.spec, 'spec');
  if (!spec) return;
  c.oneOf(spec.type, 'spec.type', SERVICE_TYPES);
  if (spec.clusterIP !== undefined && spec.clusterIP !== '' && spec.clusterIP !== 'None')
    c.ip(spec.clusterIP, 'spec.clusterIP');
  c.list(spec.clusterIPs, 'spec.clusterIPs').forEach((x, i) => {
    if (x !== 'None') c.ip(x, `spec.clusterIPs[${i}]`);
  });
  c.list(spec.ipFamilies, 'spec.ipFamilies').forEach((x, i) => {
    c.oneOf(x, `spec.ipFamilies[${i}]`, ['IPv4', 'IPv6'], true);
  });
  c.oneOf(spec.ipFamilyPolicy, 'spec.ipFamilyPolicy', [
    'SingleStack',
    'PreferDualStack',
    'RequireDualStack',
  ]);
  c.list(spec.ports, 'spec.ports').forEach((x, i) => {
    const p = `spec.ports[${i}]`;
    const port = c.obj(x, p, true);
    if (!port) return;
    c.port(port.port, `${p}.port`, true);
    c.oneOf(port.protocol, `${p}.protocol`, PROTOCOLS);
    c.port(port.nodePort, `${p}.nodePort`);
    if (port.name !== undefined && port.name !== '')
      c.pattern(port.name, `${p}.name`, DNS_LABEL, 63, 'a DNS label');
    const t = port.targetPort;
    if (typeof t === 'number') c.port(t, `${p}.targetPort`);
    else if (t !== undefined)
      c.pattern(t, `${p}.targetPort`, IANA_SVC_NAME, 15, 'a port number or a port name');
  });
  c.stringMap(spec.selector, 'spec.selector', 'selector');
  if (spec.type === 'ExternalName') {
    const name = c.str(spec.externalName, 'spec.externalName', true);
    if (name !== undefined) {
      const n = name.endsWith('.') ? name.slice(0, -1) : name;
      if (n.length === 0 || n.length > 253 || !DNS_SUBDOMAIN.test(n.toLowerCase()))
        c.bad('spec.externalName', `want a DNS name, got ${show(name)}`);
    }
  }
  c.list(spec.externalIPs, 'spec.externalIPs').forEach((x, i) => {
    c.ip(x, `spec.externalIPs[${i}]`);
  });
  c.oneOf(spec.sessionAffinity, 'spec.sessionAffinity', ['None', 'ClientIP']);
  const affinity = c.obj(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig');
  const clientIP = affinity && c.obj(affinity.clientIP, 'spec.sessionAffinityConfig.clientIP');
  if (clientIP)
    c.int(clientIP.timeoutSeconds, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 1, 86400);
  c.oneOf(spec.externalTrafficPolicy, 'spec.externalTrafficPolicy', ['Cluster', 'Local']);
  c.oneOf(spec.internalTrafficPolicy, 'spec.internalTrafficPolicy', ['Cluster', 'Local']);
  c.port(spec.healthCheckNodePort, 'spec.healthCheckNodePort');
  c.list(spec.loadBalancerSourceRanges, 'spec.loadBalancerSourceRanges').forEach((x, i) => {
    c.cidr(x, `spec.loadBalancerSourceRanges[${i}]`);
  });
  if (spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== '')
    c.ip(spec.loadBalancerIP, 'spec.loadBalancerIP');
  c.bool(spec.publishNotReadyAddresses, 'spec.publishNotReadyAddresses');
  c.bool(spec.allocateLoadBalancerNodePorts, 'spec.allocateLoadBalancerNodePorts');
  c.str(spec.trafficDistribution, 'spec.trafficDistribution');
  const status = c.obj(o.status, 'status');
  const lb = status && c.obj(status.loadBalancer, 'status.loadBalancer');
  if (lb) {
    c.list(lb.ingress, 'status.loadBalancer.ingress').forEach((x, i) => {
      const p = `status.loadBalancer.ingress[${i}]`;
      const ing = c.obj(x, p, true);
      if (ing?.ip !== undefined) c.ip(ing.ip, `${p}.ip`);
    });
  }
}

function checkEndpointSlice(c: Check, o: Obj): void {
  c.oneOf(o.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'], true);
  const family = o.addressType === 'IPv4' || o.addressType === 'IPv6' ? o.addressType : undefined;
  c.list(o.endpoints, 'endpoints').forEach((x, i) => {
    const p = `endpoints[${i}]`;
    const ep = c.obj(x, p, true);
    if (!ep) return;
    const addrs = c.list(ep.addresses, `${p}.addresses`, true);
    addrs.forEach((a, j) => {
      if (o.addressType === 'FQDN') c.str(a, `${p}.addresses[${j}]`, true);
      else c.ip(a, `${p}.addresses[${j}]`, family);
    });
    const cond = c.obj(ep.conditions, `${p}.conditions`);
    if (cond) {
      c.bool(cond.ready, `${p}.conditions.ready`);
      c.bool(cond.serving, `${p}.conditions.serving`);
      c.bool(cond.terminating, `${p}.conditions.terminating`);
    }
    c.str(ep.nodeName, `${p}.nodeName`);
    c.str(ep.zone, `${p}.zone`);
    if (ep.hostname !== undefined)
      c.pattern(ep.hostname, `${p}.hostname`, DNS_LABEL, 63, 'a DNS label');
  });
  c.list(o.ports, 'ports').forEach((x, i) => {
    const p = `ports[${i}]`;
    const port = c.obj(x, p, true);
    if (!port) return;
    c.port(port.port, `${p}.port`);
    c.oneOf(port.protocol, `${p}.protocol`, PROTOCOLS);
    if (port.name !== undefined && port.name !== '')
      c.pattern(port.name, `${p}.name`, DNS_LABEL, 63, 'a DNS label');
  });
}

function checkPolicyPorts(c: Check, v: unknown, path: string): void {
  c.list(v, path).forEach((x, i) => {
    const p = `${path}[${i}]`;
    const port = c.obj(x, p, true);
    if (!port) return;
    c.oneOf(port.protocol, `${p}.protocol`, PROTOCOLS);
    if (typeof port.port === 'number') c.port(port.port, `${p}.port`);
    else if (port.port !== undefined)
      c.pattern(port.port, `${p}.port`, IANA_SVC_NAME, 15, 'a port number or a port name');
    c.port(port.endPort, `${p}.endPort`);
  });
}

function checkNetworkPolicy(c: Check, o: Obj): void {
  const spec = c.obj(o.spec, 'spec', true);
  if (!spec) return;
  c.selector(spec.podSelector, 'spec.podSelector');
  c.list(spec.policyTypes, 'spec.policyTypes').forEach((x, i) => {
    c.oneOf(x, `spec.policyTypes[${i}]`, ['Ingress', 'Egress'], true);
  });
  for (const dir of ['ingress', 'egress'] as const) {
    c.list(spec[dir], `spec.${dir}`).forEach((x, i) => {
      const p = `spec.${dir}[${i}]`;
      const rule = c.obj(x, p, true);
      if (!rule) return;
      const peersField = dir === 'ingress' ? (rule.from !== undefined ? 'from' : '_from') : 'to';
      c.list(rule[peersField], `${p}.${peersField}`).forEach((y, j) => {
        const pp = `${p}.${peersField}[${j}]`;
        const peer = c.obj(y, pp, true);
        if (!peer) return;
        c.selector(peer.podSelector, `${pp}.podSelector`);
        c.selector(peer.namespaceSelector, `${pp}.namespaceSelector`);
        const block = c.obj(peer.ipBlock, `${pp}.ipBlock`);
        if (block) {
          c.cidr(block.cidr, `${pp}.ipBlock.cidr`);
          c.list(block.except, `${pp}.ipBlock.except`).forEach((e, k) => {
            c.cidr(e, `${pp}.ipBlock.except[${k}]`);
          });
        }
      });
      checkPolicyPorts(c, rule.ports, `${p}.ports`);
    });
  }
}

function checkClusterNetworkPolicy(c: Check, o: Obj): void {
  const spec = c.obj(o.spec, 'spec', true);
  if (!spec) return;
  c.oneOf(spec.tier, 'spec.tier', ['Admin', 'Baseline'], true);
  c.int(spec.priority, 'spec.priority', 0, 1000, true);
  const subject = c.obj(spec.subject, 'spec.subject', true);
  if (subject) {
    c.selector(subject.namespaces, 'spec.subject.namespaces');
    const pods = c.obj(subject.pods, 'spec.subject.pods');
    if (pods) {
      c.selector(pods.namespaceSelector, 'spec.subject.pods.namespaceSelector', true);
      c.selector(pods.podSelector, 'spec.subject.pods.podSelector', true);
    }
  }
  for (const dir of ['ingress', 'egress'] as const) {
    c.list(spec[dir], `spec.${dir}`).forEach((x, i) => {
      const p = `spec.${dir}[${i}]`;
      const rule = c.obj(x, p, true);
      if (!rule) return;
      c.oneOf(rule.action, `${p}.action`, ['Accept', 'Deny', 'Pass'], true);
      const field = dir === 'ingress' ? 'from' : 'to';
      c.list(rule[field], `${p}.${field}`, true).forEach((y, j) => {
        c.obj(y, `${p}.${field}[${j}]`, true);
      });
      c.list(rule.protocols, `${p}.protocols`).forEach((y, j) => {
        c.obj(y, `${p}.protocols[${j}]`, true);
      });
    });
  }
}

const CHECKS: Record<ObjectKind, (c: Check, o: Obj) => void> = {
  Node: checkNode,
  Namespace: () => {},
  Pod: checkPod,
  Service: checkService,
  EndpointSlice: checkEndpointSlice,
  NetworkPolicy: checkNetworkPolicy,
  ClusterNetworkPolicy: checkClusterNetworkPolicy,
};

/**
 * Checks an object of `kind` for what podnet reads: metadata (name rules of the kind, labels),
 * addresses, CIDRs, ports, protocols, enumerations and the shapes around them. Pure. Returns
 * every problem with its field path; an empty list means the object is usable. Semantic policy
 * rules beyond the shapes (e.g. a ClusterNetworkPolicy peer with two fields set) are left to
 * `@podnet/netpol`'s validator.
 */
export function validateObject(kind: ObjectKind, value: unknown): FieldProblem[] {
  const c = new Check();
  if (!isObj(value)) {
    c.bad('', `want a ${kind} object (a mapping), got ${show(value)}`);
    return c.problems;
  }
  checkMeta(c, kind, value.metadata);
  CHECKS[kind](c, value);
  return c.problems;
}
