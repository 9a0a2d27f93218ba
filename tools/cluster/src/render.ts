/**
 * The manifests directory the agents read: the cluster's objects as `@podnet/cluster-state`
 * objects (Nodes from the plan, Namespaces, the user's objects with what the controllers filled
 * in, EndpointSlices from the endpoint slice controller), one YAML file each. Pure.
 */
import {
  API_VERSIONS,
  type ClusterObject,
  type ClusterSnapshot,
  isClusterScoped,
  type Namespace,
  type Node,
  OBJECT_KINDS,
  type ObjectKind,
  objectKey,
  SNAPSHOT_FIELDS,
  formatManifest,
} from '@podnet/cluster-state';
import { type ClusterObjects, nameOf, namespaceOf } from './cluster-objects.js';
import { planEndpointSlices } from './endpoint-slices.js';
import { nodeIpsOf, podCidrsOf } from './ip-family.js';
import type { ClusterPlan, NodePlan } from './plan.js';
import { nodeZone, ZONE_LABEL, zonesOf } from './topology.js';

/** The label every Namespace carries with its own name (as the API server sets it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * The Node object of a node of the plan: its pod CIDRs and InternalIPs (one per family, the
 * primary first, as kubelet and the node IPAM controller write them), hostname and zone
 * ({@link nodeZone}).
 */
export function renderNode(n: NodePlan): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: { 'kubernetes.io/hostname': n.name, [ZONE_LABEL]: nodeZone(n) },
    },
    spec: { podCIDR: n.podCidr, podCIDRs: podCidrsOf(n) },
    status: {
      addresses: [
        ...nodeIpsOf(n).map((address) => ({ type: 'InternalIP', address })),
        { type: 'Hostname', address: n.name },
      ],
    },
  };
}

/** `{ ...obj, apiVersion, kind }` with the kind's apiVersion. */
function typed<T extends object>(kind: ObjectKind, obj: T): T {
  return { ...obj, apiVersion: API_VERSIONS[kind], kind };
}

function sorted<T extends { metadata?: { name?: string; namespace?: string } }>(
  kind: ObjectKind,
  list: readonly T[],
): T[] {
  const key = (o: T) => objectKey(kind, o);
  return list
    .map((o) => typed(kind, o))
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Every object of the cluster, as the agents are to read them: Nodes, the Namespaces `default`,
 * `kube-system`, the applied ones and every namespace an object is in (each labelled with its
 * name), Pods, Services, their EndpointSlices, NetworkPolicies and ClusterNetworkPolicies; each
 * list sorted by namespace/name.
 */
export function renderCluster(plan: ClusterPlan, objects: ClusterObjects): ClusterSnapshot {
  const names = new Set([
    'default',
    'kube-system',
    ...objects.namespaces.map(nameOf),
    ...[...objects.pods, ...objects.services, ...objects.networkPolicies].map(namespaceOf),
  ]);
  const namespaces = [...names].map((name): Namespace => {
    const given = objects.namespaces.find((n) => nameOf(n) === name);
    const meta = given?.metadata ?? {};
    return {
      ...given,
      metadata: { ...meta, name, labels: { ...meta.labels, [NAMESPACE_NAME_LABEL]: name } },
    };
  });
  return {
    nodes: sorted('Node', plan.nodes.map(renderNode)),
    namespaces: sorted('Namespace', namespaces),
    pods: sorted('Pod', objects.pods),
    services: sorted('Service', objects.services),
    endpointSlices: sorted(
      'EndpointSlice',
      planEndpointSlices(objects.services, objects.pods, zonesOf(plan)),
    ),
    networkPolicies: sorted('NetworkPolicy', objects.networkPolicies),
    clusterNetworkPolicies: sorted('ClusterNetworkPolicy', objects.clusterNetworkPolicies),
  };
}

/**
 * The file an object is written to: `<kind>-<name>.yaml` for cluster-scoped kinds,
 * `<kind>-<namespace>.<name>.yaml` for namespaced ones (a namespace has no dot, so no two objects
 * share a file).
 */
export function manifestFileName(kind: ObjectKind, obj: ClusterObject): string {
  const k = kind.toLowerCase();
  return isClusterScoped(kind)
    ? `${k}-${nameOf(obj)}.yaml`
    : `${k}-${namespaceOf(obj)}.${nameOf(obj)}.yaml`;
}

/** One manifest file of the cluster: its name, kind and object. */
export interface ManifestFile {
  file: string;
  kind: ObjectKind;
  object: ClusterObject;
}

/** Every manifest file of the cluster ({@link renderCluster}), in the order of `OBJECT_KINDS`. */
export function renderManifests(plan: ClusterPlan, objects: ClusterObjects): ManifestFile[] {
  const snapshot = renderCluster(plan, objects);
  return OBJECT_KINDS.flatMap((kind) =>
    (snapshot[SNAPSHOT_FIELDS[kind]] as readonly ClusterObject[]).map((object) => ({
      file: manifestFileName(kind, object),
      kind,
      object,
    })),
  );
}

/** The text of a manifest file: the object as YAML. */
export function manifestText(object: ClusterObject): string {
  return formatManifest(object);
}
