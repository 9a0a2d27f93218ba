export { ClusterError, type ClusterErrorCode, type ClusterErrorOptions } from './errors.js';
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
  ACCEPTED_KINDS,
  SERVICE_TYPES,
  acceptManifests,
  manifestError,
  manifestObjects,
  type AcceptedKind,
  type AcceptedObject,
} from './accept-manifests.js';
export { readManifestPath } from './read-manifests.js';
export {
  emptyClusterObjects,
  findPod,
  podPorts,
  type ClusterObjects,
  type ObjectProblem,
  type PodPort,
} from './cluster-objects.js';
export { inCidr } from './ipv4.js';
export {
  addressing,
  canonicalIp,
  clusterCidrsOf,
  dnsIpsOf,
  externalIpsOf,
  type FamilyAddressing,
  familiesOfMode,
  familyOfCidr,
  familyOfIp,
  formatIpv6,
  IP_FAMILY_MODES,
  type IpFamily,
  type IpFamilyMode,
  inCidr6,
  ipsByFamily,
  nodeIpsOf,
  ofFamily,
  parseIpv6,
  planFamilies,
  podCidrsOf,
  podIpsOf,
  serviceCidrsOf,
} from './ip-family.js';
export {
  IP_FAMILY_POLICIES,
  type IpFamilyPolicy,
  type ServiceFamilies,
  serviceFamilies,
} from './service-families.js';
export { allocateClusterIp, allocateNodePort, allocateServices } from './service-allocator.js';
export { schedulePods } from './scheduler.js';
export {
  allocateLoadBalancerIp,
  completeServices,
  externalAddresses,
  externalIpv4,
  formatPool,
  inPool,
  ingressIps,
  loadBalancerPool,
  type AddressPool,
} from './load-balancer.js';
export {
  EXTERNAL_PORT,
  EXTERNAL_ROUTE_PROTO,
  externalCidr,
  externalRouteLines,
  parseObservedRouter,
  planExternalRoutes,
  reconcileExternalRoutes,
  type ExternalRoute,
  type ObservedRouter,
} from './external-routes.js';
export {
  checkIngressConfig,
  ingressControllerManifests,
  renderHaproxyConfig,
  type IngressConfig,
  type IngressRoute,
} from './ingress.js';
export { containerProcesses, serverPorts, type ContainerProcess } from './pod-processes.js';
export { planEndpointSlice, planEndpointSlices, selects } from './endpoint-slices.js';
export { allocateHealthCheckNodePorts, wantsHealthCheckNodePort } from './health-check-ports.js';
export {
  CLOSE_TRAFFIC_DISTRIBUTIONS,
  ZONE_LABEL,
  nodeZone,
  withTopology,
  zonesOf,
} from './topology.js';
export { planApply, type ApplyPlan } from './plan-apply.js';
export {
  NAMESPACE_NAME_LABEL,
  manifestFileName,
  manifestText,
  renderCluster,
  renderManifests,
  renderNode,
  type ManifestFile,
} from './render.js';
export { STATE_VERSION, parseState, type ClusterState, type PodSandbox } from './state.js';
export { firstConfList, nodeCniRuntime, resultIpv4 } from './cni-exec.js';
export {
  AGENT_HTTP_PORT,
  Cluster,
  DEFAULT_RUN_ROOT,
  PROXY_HEALTHZ_PORT,
  podnetBinaries,
  type ProbeProtocol,
  type ProbeResult,
  type ProbeTarget,
  type ProgressFn,
} from './cluster.js';
export { main } from './cli.js';
export { nextSteps, runDemo, type DemoCheck } from './demo.js';
export {
  COMMANDS,
  GET_RESOURCES,
  OUTPUT_FORMATS,
  parseCommandLine,
  parseResource,
  parseTarget,
  type Command,
  type CommandLine,
  type GetResource,
  type OutputFormat,
  type Target,
} from './cli-args.js';
export {
  getObjects,
  getTable,
  renderGet,
  renderTable,
  serviceExternalIp,
  servicePorts,
  type AgentStatus,
} from './get-tables.js';
export {
  deleteObjects,
  deleteOrder,
  objectRef,
  removeObject,
  type DeleteOutcome,
  type DeletePort,
  type RemovableKind,
} from './delete-objects.js';
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
  type PolicyVerdict,
} from './explain.js';
export {
  compareLive,
  formatLive,
  type KernelHop,
  type KernelObservation,
  type LiveExplainOptions,
  type LiveExplanation,
  type LiveFlow,
  liveExplain,
  observeKernel,
  PODNET_TABLES,
  TRACE_PORTS,
  type TracedNamespace,
  traceTableScript,
} from './live-explain.js';
export {
  describeDecision,
  groupTraces,
  type PacketTrace,
  parseNftTrace,
  parsePacketHeaders,
  type TraceDecision,
  type TracedPacket,
  type TraceEvent,
} from './nft-trace.js';
export { NodePodman, renderContainersConf, type PodmanOptions } from './podman.js';
export { POD_SERVER_JS, PROBE_JS } from './scripts.js';
