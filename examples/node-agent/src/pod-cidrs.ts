import { type ClusterStore, nodePodCidrs } from '@podnet/cluster-state';
import type { AgentConfig } from './config.js';

/** This node's pod CIDRs, or why there are none yet (the message says what to configure). */
export type PodCidrResolution =
  | { readonly cidrs: readonly string[] }
  | { readonly waiting: string; readonly synced: boolean };

/**
 * This node's pod CIDRs: the agent config's `podCidrs`, else the Node object's `spec.podCIDRs`.
 * Without either the agent does not pick a subnet itself: an allocation of its own (the first
 * free /24 of a store only it sees) would be the same on every node and unknown to the overlay's
 * peers, which route by the Node's `spec.podCIDRs`. One writer for the whole cluster assigns them
 * (kube-controller-manager's node IPAM, the namespace cluster tool); until it has, the result
 * says what to configure.
 */
export function resolvePodCidrs(
  config: AgentConfig,
  store: ClusterStore | undefined,
  synced = true,
): PodCidrResolution {
  if (config.podCidrs) return { cidrs: [...config.podCidrs] };
  const node = store?.get('Node', config.nodeName);
  const fromNode = nodePodCidrs(node);
  if (fromNode.length > 0) return { cidrs: fromNode };
  if (!store || !synced)
    return { waiting: 'waiting for the cluster source to list the Node', synced: false };
  const what = node
    ? `Node ${config.nodeName} has no spec.podCIDRs`
    : `there is no Node named ${config.nodeName}`;
  return {
    synced: true,
    waiting: `no pod CIDR for this node: ${what}; set the Node's spec.podCIDRs (kube-controller-manager --allocate-node-cidrs with --cluster-cidr does) or podCidrs in the agent config`,
  };
}
