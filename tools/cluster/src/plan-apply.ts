/**
 * What applying objects does to the cluster's objects, as the API server and the controllers
 * would: objects stored by key (a new one replaces the old), Services given addresses
 * ({@link allocateServices}, then load-balancer addresses: {@link completeServices}), new pods scheduled ({@link schedulePods}). Pure.
 */
import type { ManifestProblem, Pod } from '@podnet/cluster-state';
import type { AcceptedObject } from './accept-manifests.js';
import { manifestError } from './accept-manifests.js';
import { type ClusterObjects, keyOf, nameOf, type ObjectProblem } from './cluster-objects.js';
import { allocateHealthCheckNodePorts } from './health-check-ports.js';
import { completeServices } from './load-balancer.js';
import type { ClusterPlan } from './plan.js';
import { schedulePods } from './scheduler.js';
import { allocateServices } from './service-allocator.js';

/** The outcome of {@link planApply}. */
export interface ApplyPlan {
  /** The cluster's objects after the apply, without the new pods. */
  objects: ClusterObjects;
  /** The pods to start, scheduled (`spec.nodeName`) and Pending; the runtime adds each as it starts it. */
  newPods: Pod[];
  /** `namespace/name` of pods applied again: a pod is not changed once it runs. */
  unchangedPods: string[];
}

/** `list` with `items` replacing the objects of the same key (new ones appended). */
function upsert<T>(list: readonly T[], items: readonly T[], key: (o: T) => string): T[] {
  const keys = new Set(items.map(key));
  return [...list.filter((o) => !keys.has(key(o))), ...items];
}

/**
 * Plans applying `incoming` (accepted objects, see `acceptManifests`) to the cluster's `current`
 * objects. Throws `INVALID_MANIFEST` listing every problem (a requested ClusterIP or NodePort
 * that is taken or out of range, a `spec.nodeName` the cluster has not), naming each object's
 * file and document, before anything changes.
 */
export function planApply(
  plan: ClusterPlan,
  current: ClusterObjects,
  incoming: readonly AcceptedObject[],
): ApplyPlan {
  const of = <K extends AcceptedObject['kind']>(kind: K) =>
    incoming.filter((o): o is Extract<AcceptedObject, { kind: K }> => o.kind === kind);
  const problems: ManifestProblem[] = [];
  const report = (sources: readonly AcceptedObject[], found: readonly ObjectProblem[]) => {
    for (const p of found) {
      const o = sources[p.index]!;
      problems.push({
        file: o.file,
        document: o.document,
        path: p.path,
        message: p.message,
        object: `${o.kind} ${o.key}`,
      });
    }
  };

  const svcSources = of('Service');
  const allocated = allocateServices(
    plan,
    current.services,
    svcSources.map((o) => o.object),
  );
  report(svcSources, allocated.problems);
  const completed = completeServices(plan, current.services, allocated.services);
  report(svcSources, completed.problems);
  const checked = allocateHealthCheckNodePorts(plan, current.services, completed.services);
  report(svcSources, checked.problems);

  const existing = new Set(current.pods.map(keyOf));
  const podSources = of('Pod').filter((o) => !existing.has(o.key));
  const scheduled = schedulePods(
    plan,
    current.pods,
    podSources.map((o) => o.object),
  );
  report(podSources, scheduled.problems);
  if (problems.length > 0) throw manifestError(problems);

  return {
    objects: {
      namespaces: upsert(
        current.namespaces,
        of('Namespace').map((o) => o.object),
        nameOf,
      ),
      pods: current.pods,
      services: upsert(current.services, checked.services, keyOf),
      networkPolicies: upsert(
        current.networkPolicies,
        of('NetworkPolicy').map((o) => o.object),
        keyOf,
      ),
      clusterNetworkPolicies: upsert(
        current.clusterNetworkPolicies,
        of('ClusterNetworkPolicy').map((o) => o.object),
        nameOf,
      ),
    },
    newPods: scheduled.pods,
    unchangedPods: of('Pod')
      .filter((o) => existing.has(o.key))
      .map((o) => o.key),
  };
}
