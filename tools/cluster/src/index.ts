export { ClusterError, type ClusterErrorCode } from './errors.js';
export {
  assertClusterName,
  planCluster,
  planReferenceMasquerade,
  planReferenceRoutes,
  planUnderlayBatches,
  referenceConflist,
  type ClusterOptions,
  type ClusterPlan,
  type NetworkMode,
  type NodePlan,
  type UnderlayBatches,
} from './plan.js';
export {
  allocateClusterIp,
  allocateNodePort,
  inCidr,
  parseUserObjects,
  planEndpointSlice,
  renderManifests,
  schedule,
  selects,
  type ControlPlaneState,
  type PodPort,
  type PodRecord,
  type ServicePort,
  type ServiceRecord,
  type UserObjects,
} from './model.js';
export { firstConfList, nodeCniRuntime, resultIpv4 } from './cni-exec.js';
export {
  Cluster,
  DEFAULT_RUN_ROOT,
  podnetBinaries,
  readUserObjects,
  type ClusterState,
  type ProbeProtocol,
  type ProbeResult,
  type ProbeTarget,
  type ProgressFn,
} from './cluster.js';
export { main, parseTarget } from './cli.js';
export {
  explainFlow,
  followServiceRules,
  planNodeOverlay,
  type DnatDecision,
  type DnatPacket,
  type ExplainContext,
  type ExplainFlow,
  type ExplainStep,
  type Explanation,
} from './explain.js';
export { NodePodman, renderContainersConf, type PodmanOptions } from './podman.js';
export { POD_SERVER_JS, PROBE_JS } from './scripts.js';
