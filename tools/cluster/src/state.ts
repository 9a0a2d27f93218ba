/** What `state.json` holds about a running cluster, and how it is read back. Pure. */
import type { ClusterObjects } from './cluster-objects.js';
import { ClusterError } from './errors.js';
import type { ClusterPlan } from './plan.js';

/**
 * The format of `state.json`. 2: the user's objects as `@podnet/cluster-state` objects plus pod
 * sandboxes. (1, unnumbered: podnet's own pod and service records.)
 */
export const STATE_VERSION = 2;

/**
 * What only the runtime knows of a pod: its sandbox (as CRI's sandbox status). The Pod object's
 * `spec.nodeName` and `status.podIP(s)` are published from it.
 */
export interface PodSandbox {
  namespace: string;
  name: string;
  node: string;
  /** The pod's network namespace (`/run/netns/<netns>`). */
  netns: string;
  /** The CNI container ID of its attachment. */
  containerId: string;
  /** Its address of the cluster's primary family, from the CNI result. */
  ip?: string;
  /** Every address, one per family, primary first (dual-stack clusters only). */
  ips?: string[];
  /** The pid of its built-in server. */
  serverPid?: number;
  /** The programs its containers run (`command`), by container: killed with the pod. */
  processes?: Array<{ container: string; pid: number }>;
}

/** Everything persisted about a running cluster. */
export interface ClusterState {
  version: typeof STATE_VERSION;
  plan: ClusterPlan;
  runDir: string;
  agents: Record<string, number>;
  externalServerPid?: number;
  /** The applied objects, with what the controllers filled in. */
  objects: ClusterObjects;
  sandboxes: PodSandbox[];
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** How to remove a cluster whose state this podnet cannot read, from what can be made out of it. */
function removeByHand(old: Record<string, unknown>, file: string): string {
  const plan = isObj(old.plan) ? old.plan : {};
  const prefix = typeof plan.prefix === 'string' ? plan.prefix : '<prefix>';
  const runDir = typeof old.runDir === 'string' ? old.runDir : file.replace(/\/state\.json$/, '');
  const agents = isObj(old.agents) ? Object.values(old.agents).filter(Number.isInteger) : [];
  return [
    agents.length > 0 ? `kill ${agents.join(' ')}` : '',
    `ip netns list | grep -o '^${prefix}[^ ]*' | xargs -rn1 ip netns del`,
    `rm -rf /etc/netns/${prefix}* ${runDir}`,
  ]
    .filter(Boolean)
    .join('; ');
}

/**
 * Reads the text of `state.json` of the cluster `name`. Text that is not a state is
 * `STATE_CORRUPT`; a state of another format (an older podnet's) is `STATE_VERSION`, saying how
 * to remove that cluster by hand (clusters are short-lived: states are not converted).
 */
export function parseState(text: string, file: string, name: string): ClusterState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ClusterError('STATE_CORRUPT', `${file}: cannot read: not JSON`, { cause });
  }
  if (!isObj(value)) throw new ClusterError('STATE_CORRUPT', `${file}: cannot read: not a state`);
  if (value.version !== STATE_VERSION) {
    const which =
      value.version === undefined
        ? 'an older podnet (unnumbered state format)'
        : `a podnet of state format ${JSON.stringify(value.version)}`;
    throw new ClusterError(
      'STATE_VERSION',
      `${file}: cluster ${name} was made by ${which}; this podnet reads state format ${STATE_VERSION} only and cannot manage it. Remove it by hand: ${removeByHand(value, file)}`,
    );
  }
  if (!hasStateFields(value))
    throw new ClusterError('STATE_CORRUPT', `${file}: cannot read: fields missing`);
  return value;
}

/** True when a state of the current version has every field this podnet reads. */
function hasStateFields(v: Record<string, unknown>): v is Record<string, unknown> & ClusterState {
  const o = v.objects;
  return (
    isObj(v.plan) &&
    typeof v.runDir === 'string' &&
    isObj(v.agents) &&
    Array.isArray(v.sandboxes) &&
    isObj(o) &&
    ['namespaces', 'pods', 'services', 'networkPolicies', 'clusterNetworkPolicies'].every((k) =>
      Array.isArray(o[k]),
    )
  );
}
