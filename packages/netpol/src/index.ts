export {
  NetpolError,
  type FieldIssue,
  type NetpolErrorCode,
  type NetpolErrorDetails,
} from './errors.js';
export type {
  ClusterNetworkPolicy,
  ClusterState,
  CnpAction,
  CnpEgressRule,
  CnpIngressRule,
  CnpPeer,
  CnpPort,
  CnpProtocol,
  ContainerPort,
  Direction,
  IPBlock,
  LabelSelector,
  LabelSelectorRequirement,
  Labels,
  Namespace,
  NamespacedPod,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Node,
  ObjectMeta,
  Pod,
  Protocol,
} from './types.js';
export { describeSelector, matchesSelector, selectorKey } from './selectors.js';
export { cidrContains, cidrMinus, cidrWithin } from './cidr.js';
export {
  indexState,
  namespaceLabels,
  podInfo,
  NAMESPACE_NAME_LABEL,
  type ClusterIndex,
  type PodInfo,
} from './state.js';
export {
  PolicyEvaluator,
  evaluate,
  formatPolicyRef,
  formatRuleRef,
  policyTypesOf,
  sortClusterPolicies,
  type AuditEvaluation,
  type DecidedBy,
  type DirectionVerdict,
  type Evaluation,
  type Flow,
  type FlowProtocol,
  type PolicyRef,
  type RuleRef,
} from './evaluate.js';
export {
  assertValidClusterNetworkPolicy,
  assertValidNetworkPolicy,
  assertValidPolicy,
  isClusterNetworkPolicy,
  validateClusterNetworkPolicy,
  validateNetworkPolicy,
  validatePolicy,
  type InvalidPolicy,
  type ValidClusterNetworkPolicy,
  type ValidNetworkPolicy,
} from './validate.js';
export {
  NetpolCompiler,
  compilePolicies,
  renderRuleset,
  type CompileOptions,
  type NftChainSpec,
  type NftMapSpec,
  type NftSetSpec,
  type Ruleset,
  type VerdictLogMode,
} from './compile.js';
export {
  LOG_PREFIX_MAX,
  decodeLogPrefix,
  encodeLogPrefix,
  type LogPrefixInfo,
  type LogVerdict,
} from './log-prefix.js';
export {
  LOG_LIMITED_COUNTER,
  LOG_RATE_LIMIT,
  limitedLogRules,
  logLimitedCounterArgs,
  logLimitedCounterResetArgs,
  logRateLimitDecls,
  logRateLimitSpec,
  parseLogLimitedCounter,
  type LogRateLimit,
  type LogRateLimitSpec,
} from './log-limit.js';
export {
  ENFORCEMENT_ANNOTATION,
  ENFORCEMENT_MODES,
  LOG_ALLOWED_ANNOTATION,
  annotationIssues,
  isAudited,
  logsAllowed,
  type EnforcementMode,
} from './audit.js';
export {
  LINKTYPE_NFLOG,
  NflogPcapDecoder,
  formatVerdictLog,
  parseNflogPacket,
  parseNflogPcap,
  parseVerdictLog,
  summarizeIpPacket,
  type VerdictLogRecord,
} from './verdict-log.js';
export {
  nflogSocketDrops,
  parseNetlinkDrops,
  readVerdictLogs,
  type VerdictLogReader,
  type VerdictLogReaderOptions,
} from './nflog-reader.js';
export {
  PolicySyncer,
  type PolicyChanges,
  type PolicySyncerOptions,
  type SyncResult,
} from './syncer.js';
export {
  fqdnPatterns,
  fqdnSetNames,
  fqdnTargets,
  matchDomainName,
  fqdnPlanAffected,
  planFqdn,
  renderFqdnElements,
  type FqdnPlan,
  type FqdnPlanOptions,
  type FqdnRule,
  type FqdnSets,
} from './fqdn.js';
export { FqdnEgressWriter, type FqdnWriterOptions } from './fqdn-writer.js';
