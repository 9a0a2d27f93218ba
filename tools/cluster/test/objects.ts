import { objectKey, type Pod } from '@podnet/cluster-state';
import {
  type ClusterObjects,
  type ClusterPlan,
  emptyClusterObjects,
  manifestObjects,
  planApply,
} from '../src/index.js';

/** A pod as the runtime leaves it once CNI ADD gave it `ip`. */
export function running(pod: Pod, ip: string): Pod {
  return { ...pod, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } };
}

/**
 * The cluster's objects after `podnet apply` of `values` to an empty cluster (read, accepted,
 * allocated, scheduled), with the pods named in `ips` running at those addresses.
 */
export function appliedObjects(
  plan: ClusterPlan,
  values: readonly unknown[],
  ips: Record<string, string> = {},
): ClusterObjects {
  const next = planApply(plan, emptyClusterObjects(), manifestObjects(values));
  return {
    ...next.objects,
    pods: next.newPods.map((p) => {
      const ip = ips[objectKey('Pod', p)];
      return ip ? running(p, ip) : p;
    }),
  };
}
