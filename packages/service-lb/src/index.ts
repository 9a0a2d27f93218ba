export { ServiceLbError, type ServiceLbErrorCode, type ServiceLbErrorDetails } from './errors.js';
export type {
  CompileOptions,
  Endpoint,
  EndpointPort,
  EndpointSlice,
  IpFamily,
  NodeFacts,
  ObjectMeta,
  Service,
  ServicePort,
  ServiceState,
} from './types.js';
export {
  compileServices,
  LB_MAX_ENDPOINTS,
  lbTarget,
  type ChosenEndpoint,
  type ServiceFragment,
  type UdpServicePort,
} from './compile.js';
export {
  diffRulesets,
  fullTransaction,
  renderFullRuleset,
  renderRuleset,
  renderTeardown,
  renderTransaction,
  type NftChain,
  type NftElement,
  type NftHook,
  type NftOp,
  type NftSet,
  type NftTable,
  type Ruleset,
  type Transaction,
} from './ruleset.js';
export {
  conntrackArgv,
  parseConntrackDeleted,
  planConntrackCleanup,
  type ConntrackDeletion,
} from './conntrack.js';
export { renderMetrics, type HistogramSnapshot, type ServiceLbMetrics } from './metrics.js';
export { LAST_CHANGE_TRIGGER_TIME, SERVICE_NAME_LABEL } from './normalize.js';
export {
  ServiceSyncer,
  type InvalidObject,
  type ServiceChanges,
  type ServiceSyncerOptions,
  type SyncResult,
} from './syncer.js';
