/**
 * `podnet delete -f FILE|DIR`: removes each object the manifests name, reporting each one; an
 * object that cannot be deleted (say it does not exist) is reported and the rest go on. The
 * removal from the cluster's objects is pure ({@link removeObject}); the order and the reporting
 * are here too, the I/O behind a small port ({@link DeletePort}) that `Cluster` provides.
 */
import type { AcceptedKind, AcceptedObject } from './accept-manifests.js';
import { type ClusterObjects, nameOf, namespaceOf } from './cluster-objects.js';
import { ClusterError } from './errors.js';

/** The kinds {@link removeObject} removes (a Pod goes through CNI DEL: `Cluster.deletePod`). */
export type RemovableKind = Exclude<AcceptedKind, 'Pod'>;

/**
 * The cluster's objects without one object; `undefined` when there is no such object. A
 * Namespace takes its Services and NetworkPolicies with it (its pods must be deleted first,
 * through CNI DEL); a Service's ClusterIP and NodePorts are free again once it is gone (the
 * allocator takes them from the Services there are).
 */
export function removeObject(
  objects: ClusterObjects,
  kind: RemovableKind,
  namespace: string,
  name: string,
): ClusterObjects | undefined {
  const same = (o: { metadata?: { name?: string; namespace?: string } }) =>
    namespaceOf(o) === namespace && nameOf(o) === name;
  switch (kind) {
    case 'Service': {
      const services = objects.services.filter((s) => !same(s));
      return services.length === objects.services.length ? undefined : { ...objects, services };
    }
    case 'NetworkPolicy': {
      const networkPolicies = objects.networkPolicies.filter((p) => !same(p));
      return networkPolicies.length === objects.networkPolicies.length
        ? undefined
        : { ...objects, networkPolicies };
    }
    case 'ClusterNetworkPolicy': {
      const clusterNetworkPolicies = objects.clusterNetworkPolicies.filter(
        (p) => nameOf(p) !== name,
      );
      return clusterNetworkPolicies.length === objects.clusterNetworkPolicies.length
        ? undefined
        : { ...objects, clusterNetworkPolicies };
    }
    case 'Namespace': {
      const inNs = (o: { metadata?: { namespace?: string } }) => namespaceOf(o) === name;
      const exists =
        objects.namespaces.some((n) => nameOf(n) === name) ||
        [...objects.pods, ...objects.services, ...objects.networkPolicies].some(inNs);
      if (!exists) return undefined;
      return {
        ...objects,
        namespaces: objects.namespaces.filter((n) => nameOf(n) !== name),
        pods: objects.pods.filter((p) => !inNs(p)),
        services: objects.services.filter((s) => !inNs(s)),
        networkPolicies: objects.networkPolicies.filter((p) => !inNs(p)),
      };
    }
  }
}

/** The error of {@link removeObject} finding nothing. */
export function notFound(kind: AcceptedKind, namespace: string, name: string): ClusterError {
  return new ClusterError('NOT_FOUND', `no ${kind} ${objectRef(kind, namespace, name)}`);
}

/** `namespace/name`, or `name` for the cluster-scoped kinds. */
export function objectRef(kind: AcceptedKind, namespace: string, name: string): string {
  return kind === 'Namespace' || kind === 'ClusterNetworkPolicy' ? name : `${namespace}/${name}`;
}

const ORDER: Record<AcceptedKind, number> = {
  ClusterNetworkPolicy: 0,
  NetworkPolicy: 1,
  Service: 2,
  Pod: 3,
  Namespace: 4,
};

/**
 * The order objects are deleted in: policies, then Services, then Pods, Namespaces last (what
 * is in a namespace goes before it); the manifests' order within a kind.
 */
export function deleteOrder(objects: readonly AcceptedObject[]): AcceptedObject[] {
  return objects
    .map((o, i) => ({ o, i }))
    .sort((a, b) => ORDER[a.o.kind] - ORDER[b.o.kind] || a.i - b.i)
    .map((x) => x.o);
}

/** What {@link deleteObjects} needs of a cluster. */
export interface DeletePort {
  /** Tears a pod down (CNI DEL with retries) and forgets it. */
  deletePod(namespace: string, name: string): Promise<void>;
  /** Removes an object under the state lock ({@link removeObject}); NOT_FOUND when absent. */
  deleteObject(kind: RemovableKind, namespace: string, name: string): Promise<void>;
  /** The names of the pods a namespace has now. */
  podsIn(namespace: string): Promise<string[]>;
}

/** The outcome of deleting one object. */
export interface DeleteOutcome {
  kind: AcceptedKind;
  ref: string;
  error?: unknown;
}

/**
 * Deletes every object in {@link deleteOrder}, one at a time; each outcome goes to `report` as
 * it is known. A Namespace's pods are deleted (through the port) before it. Never throws for an
 * object: the outcomes say which failed.
 */
export async function deleteObjects(
  objects: readonly AcceptedObject[],
  port: DeletePort,
  report: (outcome: DeleteOutcome) => void = () => {},
): Promise<DeleteOutcome[]> {
  const out: DeleteOutcome[] = [];
  for (const o of deleteOrder(objects)) {
    const namespace = namespaceOf(o.object);
    const name = nameOf(o.object);
    const outcome: DeleteOutcome = { kind: o.kind, ref: objectRef(o.kind, namespace, name) };
    try {
      if (o.kind === 'Pod') await port.deletePod(namespace, name);
      else {
        if (o.kind === 'Namespace')
          for (const pod of await port.podsIn(name)) await port.deletePod(name, pod);
        await port.deleteObject(o.kind, namespace, name);
      }
    } catch (error) {
      outcome.error = error;
    }
    out.push(outcome);
    report(outcome);
  }
  return out;
}
