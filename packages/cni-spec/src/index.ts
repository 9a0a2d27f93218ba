export {
  CNI_ERROR_CODES,
  CniError,
  type CniErrorCode,
  type CniErrorJson,
  type CniErrorOptions,
} from './errors.js';
export type {
  AnyCniResult,
  CniCommand,
  CniInterface,
  CniIpConfig,
  CniResult,
  CniRoute,
  DnsConfig,
  GcAttachment,
  IpamConfig,
  LegacyCniResult,
  LegacyIpConfig,
  LegacyRoute,
  NetConf,
  NetConfList,
  PluginConf,
  PortMapping,
  VersionInfo,
} from './types.js';
export {
  CURRENT_VERSION,
  SUPPORTED_VERSIONS,
  compareVersions,
  highestCommonVersion,
  isVersion,
  versionAtLeast,
} from './version.js';
export { cidrFamily, ipFamily, ipv4Value, isIPv4, isIPv6 } from './addr.js';
export {
  MAX_NETWORK_NAME_LENGTH,
  NETWORK_NAME,
  parseNetConf,
  parseNetConfList,
  parseResult,
  parseResultAsCurrent,
} from './parse.js';
export { convertResult } from './convert.js';
export { formatCniArgs, isTruthyArg, parseCniArgs, type ParseCniArgsOptions } from './args.js';
export {
  MAX_CONTAINER_ID_LENGTH,
  handleInvocation,
  isValidContainerId,
  isValidIfName,
  type CniEnv,
  type GcContext,
  type Invocation,
  type InvocationOutput,
  type PluginContext,
  type PluginHandlers,
  type PluginOptions,
} from './skeleton.js';
export { runPlugin } from './run-plugin.js';
export { assertNetns, netnsProblem } from './netns.js';
export {
  addWithIpam,
  delegateIpam,
  delWithIpam,
  netnsMissing,
  type DelegateOptions,
} from './ipam.js';
export {
  findPlugin,
  netnsExec,
  pluginOutput,
  processExec,
  runPluginProcess,
  type PluginExec,
  type PluginRunRequest,
  type PluginRunResult,
} from './exec.js';
export {
  buildPluginConf,
  negotiateVersion,
  toGcAttachments,
  type GcAttachmentInput,
  type RuntimeConf,
} from './runtime-conf.js';
export { CniRuntime, type CniRuntimeOptions } from './runtime.js';
export { CLI_USAGE, runCli, type CliOutput } from './cli.js';
export { ResultCache, cachedList, type CachedAttachment } from './cache.js';
export {
  confFiles,
  loadConfList,
  loadConfLists,
  readConfListFile,
  type LoadConfListsOptions,
} from './conf-files.js';
