export {
  NodeAgent,
  ZONE_LABEL,
  type AgentComponent,
  type NodeAgentOptions,
} from './agent.js';
export { resolvePodCidrs, type PodCidrResolution } from './pod-cidrs.js';
export {
  ApplyScheduler,
  type ApplyOutcome,
  type ApplySchedulerOptions,
  type ApplySchedulerStats,
} from './apply-scheduler.js';
export { AgentError, type AgentErrorCode } from './errors.js';
export {
  expandConfigEnv,
  parseAgentConfig,
  type AgentConfig,
  type AgentSourceConfig,
} from './config.js';
export { AttachmentStore, type AttachmentRecord } from './attachments.js';
export {
  CniService,
  attachmentResult,
  parsePortMappings,
  type CniServiceDeps,
  type PodNetwork,
} from './cni-service.js';
export { CONFLIST_FILE, writeConflist } from './conflist.js';
export { renderMetrics, serveHttp, type HealthSource, type MetricFamily } from './http.js';
export {
  ServiceHealthServers,
  serveProxyHealth,
  type ServiceHealthServersOptions,
} from './health-servers.js';
export {
  HEALTH_HEADERS,
  ProxyHealth,
  TO_BE_DELETED_TAINT,
  nodeEligible,
  type HealthAnswer,
} from './proxy-health.js';
export {
  countLocalReadyEndpoints,
  needsHealthCheck,
  planServiceHealth,
  serviceHealthAnswer,
  serviceKeysOf,
  type ServiceHealthPort,
} from './service-health.js';
export { createLogger, type LogLevel, type Logger } from './log.js';
export {
  AGENT_NFT_TABLE,
  GATEWAY_DEVICE,
  HOST_VETH_MAC,
  dnsSearch,
  hostVethName,
  planNodeBase,
  planPodLinks,
  planPodVeth,
  podMac,
  renderAgentNft,
  renderConflist,
  type AgentNftSpec,
  type HostPortMapping,
  type NodeBaseSpec,
  type PodAddress,
  type PodLinkPlan,
  type PodLinkSpec,
} from './plan.js';
export {
  SHIM_PROTOCOL_VERSION,
  decodeShimRequest,
  serveCni,
  type CniServerOptions,
  type ShimRequest,
} from './server.js';
