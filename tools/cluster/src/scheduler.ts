/** The scheduler: a node for each new pod, written into its `spec.nodeName`. Pure. */
import type { Pod } from '@podnet/cluster-state';
import { nodeNameOf, type ObjectProblem } from './cluster-objects.js';
import type { ClusterPlan } from './plan.js';

/**
 * Schedules `pods` next to the `scheduled` ones: a pod that names its node (`spec.nodeName`)
 * goes there when the cluster has that node (a problem otherwise); every other pod goes to the
 * node with the fewest pods (the first on ties), counting the pods placed before it. Each result
 * has `spec.nodeName` and `status: { phase: Pending }` (a given status is dropped: it is the
 * cluster's). One pod per given pod, in order, and every problem (index into `pods`).
 */
export function schedulePods(
  plan: ClusterPlan,
  scheduled: readonly Pod[],
  pods: readonly Pod[],
): { pods: Pod[]; problems: ObjectProblem[] } {
  const names = plan.nodes.map((n) => n.name);
  const load = new Map(names.map((n) => [n, 0]));
  const count = (node: string) => {
    if (load.has(node)) load.set(node, load.get(node)! + 1);
  };
  for (const p of scheduled) count(nodeNameOf(p));
  for (const p of pods) count(nodeNameOf(p));
  const problems: ObjectProblem[] = [];
  const placed = pods.map((pod, index) => {
    let node = nodeNameOf(pod);
    if (node && !load.has(node)) {
      problems.push({
        index,
        path: 'spec.nodeName',
        message: `${JSON.stringify(node)} is not a node of this cluster (nodes: ${names.join(', ')})`,
      });
    } else if (!node) {
      node = [...names].sort((a, b) => load.get(a)! - load.get(b)!)[0]!;
      count(node);
    }
    const { status: _status, ...rest } = pod;
    return {
      ...rest,
      spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeName: node },
      status: { phase: 'Pending' },
    };
  });
  return { pods: placed, problems };
}
