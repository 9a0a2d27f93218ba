/**
 * What `podnet apply` accepts of what `@podnet/cluster-state`'s reader read: the kinds the
 * cluster can honour, checked beyond their shapes where the cluster or an agent would otherwise
 * fail later. Pure.
 */
import {
  formatProblem,
  type ManifestObject,
  type ManifestProblem,
  type ManifestRead,
  type Pod,
  readDocuments,
  type Service,
} from '@podnet/cluster-state';
import { validateClusterNetworkPolicy, validateNetworkPolicy } from '@podnet/netpol';
import { ClusterError } from './errors.js';

/** The kinds `podnet apply` accepts. */
export const ACCEPTED_KINDS = [
  'Namespace',
  'Pod',
  'Service',
  'NetworkPolicy',
  'ClusterNetworkPolicy',
] as const;

/** One of {@link ACCEPTED_KINDS}. */
export type AcceptedKind = (typeof ACCEPTED_KINDS)[number];

/** An object of an accepted kind, with the file and document it was read from. */
export type AcceptedObject = { [K in AcceptedKind]: ManifestObject<K> }[AcceptedKind];

/** The Service types the cluster programs. */
export const SERVICE_TYPES: readonly string[] = [
  'ClusterIP',
  'NodePort',
  'LoadBalancer',
  'ExternalName',
];

/** The Service types that have NodePorts. */
const NODE_PORT_TYPES: readonly string[] = ['NodePort', 'LoadBalancer'];

/** The problems of the fields of an ExternalName Service (a DNS alias: no address, no proxying). */
function externalNamePaths(spec: NonNullable<Service['spec']>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  // cluster-state's reader has checked that spec.externalName is there and is a DNS name
  if (spec.clusterIP || (spec.clusterIPs ?? []).length > 0)
    out.push(['spec.clusterIP', 'an ExternalName Service has no ClusterIP: leave it out']);
  if ((spec.externalIPs ?? []).length > 0)
    out.push(['spec.externalIPs', 'an ExternalName Service is a DNS alias: no externalIPs']);
  if (spec.ports?.some((p) => p.nodePort !== undefined))
    out.push(['spec.ports', 'an ExternalName Service has no node ports']);
  return out;
}

/** The problems of the external addresses of a Service (externalIPs, LoadBalancer fields). */
function externalPaths(spec: NonNullable<Service['spec']>, type: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  // cluster-state's reader has checked the shapes (addresses, CIDRs); the router is IPv4
  const v6 = (ip: string | undefined) => ip?.includes(':') === true;
  (spec.externalIPs ?? []).forEach((ip, i) => {
    if (v6(ip))
      out.push([
        `spec.externalIPs[${i}]`,
        `${ip}: the external segment is IPv4: want an IPv4 address`,
      ]);
  });
  const lbOnly = (field: string, set: boolean) => {
    if (set && type !== 'LoadBalancer')
      out.push([`spec.${field}`, `only a LoadBalancer Service has one (type is ${type})`]);
  };
  lbOnly('loadBalancerIP', spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== '');
  lbOnly('loadBalancerSourceRanges', (spec.loadBalancerSourceRanges ?? []).length > 0);
  if (v6(spec.loadBalancerIP))
    out.push([
      'spec.loadBalancerIP',
      `${spec.loadBalancerIP}: the load balancer pool is IPv4: want an IPv4 address`,
    ]);
  if (spec.loadBalancerClass !== undefined)
    out.push([
      'spec.loadBalancerClass',
      "the namespace cluster's load balancer controller is the only one: leave it out",
    ]);
  if (spec.allocateLoadBalancerNodePorts === false)
    out.push([
      'spec.allocateLoadBalancerNodePorts',
      'the namespace cluster routes load-balancer addresses to nodes: NodePorts are always allocated',
    ]);
  return out;
}

/** Kinds cluster-state reads that the cluster makes itself, with why they are refused. */
const MANAGED_KINDS: Record<string, string> = {
  Node: 'Nodes are managed by the cluster (one per node of podnet up --nodes): not applied',
  EndpointSlice:
    "EndpointSlices are managed by the cluster's endpoint slice controller (one per Service with a selector): not applied",
};

const isAccepted = (o: ManifestObject): o is AcceptedObject =>
  (ACCEPTED_KINDS as readonly string[]).includes(o.kind);

const SUPPORTED = `supported: ${ACCEPTED_KINDS.join(', ')}`;

/** A problem of the field `path` of an object read from a manifest. */
function problemAt(o: ManifestObject, path: string, message: string): ManifestProblem {
  return {
    file: o.file,
    document: o.document,
    path,
    message,
    object: `${o.kind} ${o.key}`,
  };
}

function servicePaths(svc: Service): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const spec = svc.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) {
    return [
      [
        'spec.type',
        `${JSON.stringify(type)} is not supported by the namespace cluster yet (supported: ${SERVICE_TYPES.join(', ')})`,
      ],
    ];
  }
  if (type === 'ExternalName') return externalNamePaths(spec);
  out.push(...externalPaths(spec, type));
  const headless = spec.clusterIP === 'None' || spec.clusterIPs?.[0] === 'None';
  if (headless && NODE_PORT_TYPES.includes(type))
    out.push(['spec.clusterIP', `a ${type} Service cannot be headless (clusterIP None)`]);
  if (headless && (spec.externalIPs ?? []).length > 0)
    out.push(['spec.externalIPs', 'a headless Service (clusterIP None) has no externalIPs']);
  if (!headless && (spec.ports ?? []).length === 0)
    out.push(['spec.ports', 'required: at least one port (or clusterIP None)']);
  if ((spec.clusterIPs ?? []).length > 2)
    out.push(['spec.clusterIPs', 'at most two addresses (one per IP family)']);
  if (spec.clusterIP && spec.clusterIPs?.[0] && spec.clusterIP !== spec.clusterIPs[0]) {
    out.push([
      'spec.clusterIPs[0]',
      `must equal spec.clusterIP (${spec.clusterIP}), got ${spec.clusterIPs[0]}`,
    ]);
  }
  // ipFamilies, ipFamilyPolicy and the families of clusterIPs depend on the cluster's families:
  // checked where Services get their addresses (service-families.ts)
  (spec.ports ?? []).forEach((p, i) => {
    if (p.protocol === 'SCTP') {
      out.push([
        `spec.ports[${i}].protocol`,
        'SCTP is not supported by the namespace cluster (supported: TCP, UDP)',
      ]);
    }
    if (p.nodePort !== undefined && !NODE_PORT_TYPES.includes(type))
      out.push([`spec.ports[${i}].nodePort`, `a ${type} Service has no node ports`]);
  });
  return out;
}

function podPaths(pod: Pod): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (pod.spec?.hostNetwork) {
    out.push([
      'spec.hostNetwork',
      'the namespace cluster runs every pod in a network namespace of its own: not supported',
    ]);
  }
  const seen = new Map<string, string>();
  (pod.spec?.containers ?? []).forEach((c, i) => {
    // no images here: a container runs its command (a program on this machine) or the built-in server
    if ((c.args ?? []).length > 0 && (c.command ?? []).length === 0)
      out.push([
        `spec.containers[${i}].args`,
        'the namespace cluster has no images, so no entrypoint to pass args to: give command too',
      ]);
    if (c.command?.[0] === '')
      out.push([`spec.containers[${i}].command[0]`, 'want the program to run, got ""']);
    (c.ports ?? []).forEach((p, j) => {
      const path = `spec.containers[${i}].ports[${j}]`;
      if (p.protocol === 'SCTP') {
        out.push([
          `${path}.protocol`,
          "SCTP is not supported by the namespace cluster's pod server (supported: TCP, UDP)",
        ]);
        return;
      }
      const id = `${p.containerPort}/${p.protocol ?? 'TCP'}`;
      const first = seen.get(id);
      if (first) out.push([path, `${id} is declared twice (also ${first})`]);
      else seen.set(id, path);
    });
  });
  return out;
}

/** The problems of one object of a kind cluster-state reads, as `[path, message]` pairs. */
function objectPaths(o: AcceptedObject): Array<[string, string]> {
  switch (o.kind) {
    case 'Service':
      return servicePaths(o.object);
    case 'Pod':
      return podPaths(o.object);
    case 'NetworkPolicy':
      // the agents skip what netpol's validator refuses: refuse it here instead
      return validateNetworkPolicy(o.object).map((i) => [i.path, i.message]);
    case 'ClusterNetworkPolicy':
      return validateClusterNetworkPolicy(o.object).map((i) => [i.path, i.message]);
    default:
      return [];
  }
}

/**
 * Accepts the objects of manifest reads (one per file, in order): every problem the reader
 * found, every document of a kind the cluster does not accept (with the accepted kinds listed;
 * Nodes and EndpointSlices are the cluster's own), objects defined twice across files, Service
 * types and fields the cluster cannot program yet, pods it cannot run, and policies netpol's
 * validator refuses. Objects are returned only when there is no problem at all.
 */
export function acceptManifests(reads: readonly ManifestRead[]): {
  objects: AcceptedObject[];
  problems: ManifestProblem[];
} {
  const objects: AcceptedObject[] = [];
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, ManifestObject>();
  for (const read of reads) {
    const found: ManifestProblem[] = [...read.problems];
    for (const d of read.ignored) {
      found.push({
        file: d.file,
        document: d.document,
        path: 'kind',
        message: `${JSON.stringify(d.kind)} (${d.apiVersion || 'no apiVersion'}) is not a kind podnet apply accepts (${SUPPORTED})`,
        ...(d.name ? { object: `${d.kind} ${d.name}` } : {}),
      });
    }
    for (const o of read.objects) {
      const managed = MANAGED_KINDS[o.kind];
      if (managed || !isAccepted(o)) {
        found.push(problemAt(o, 'kind', managed ?? `not accepted (${SUPPORTED})`));
        continue;
      }
      const id = `${o.kind} ${o.key}`;
      const first = seen.get(id);
      if (first) {
        found.push(
          problemAt(o, 'metadata.name', `also defined in ${first.file} document ${first.document}`),
        );
        continue;
      }
      seen.set(id, o);
      const paths = objectPaths(o);
      for (const [path, message] of paths) found.push(problemAt(o, path, message));
      if (paths.length === 0) objects.push(o);
    }
    problems.push(...found.sort((a, b) => a.document - b.document));
  }
  return problems.length > 0 ? { objects: [], problems } : { objects, problems };
}

/**
 * The error listing every problem, one per line as `formatProblem` prints it (the lines of a
 * multi-line message, such as a YAML parser's excerpt, indented below it); nothing was applied.
 */
export function manifestError(problems: readonly ManifestProblem[]): ClusterError {
  const n = problems.length;
  const lines = problems.map((p) => `  ${formatProblem(p).trimEnd().replace(/\n/g, '\n    ')}`);
  return new ClusterError(
    'INVALID_MANIFEST',
    `${n} problem${n === 1 ? '' : 's'} in the manifests, nothing applied:\n${lines.join('\n')}`,
    { problems },
  );
}

/**
 * The objects of plain values (one document each, as parsed YAML or JSON), read and accepted as
 * `podnet apply` does: `source` names them in problems. Throws `INVALID_MANIFEST` listing every
 * problem.
 */
export function manifestObjects(values: readonly unknown[], source = 'objects'): AcceptedObject[] {
  const read = readDocuments(
    values.map((value, i) => ({ document: i + 1, value })),
    { file: source, unknownKinds: 'ignore' },
  );
  const { objects, problems } = acceptManifests([read]);
  if (problems.length > 0) throw manifestError(problems);
  return objects;
}
