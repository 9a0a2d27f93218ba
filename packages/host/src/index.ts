export { HostError, type HostErrorCode, type HostErrorDetails } from './errors.js';
export {
  ExecRunner,
  netnsPath,
  resolveArgv,
  type NetnsTarget,
  type RunRequest,
  type RunResult,
  type Runner,
} from './runner.js';
export { IpSession, type IpSessionOptions } from './ip-session.js';
export { NftSession, type NftSessionOptions } from './nft-session.js';
export {
  type Compaction,
  HeapCompactor,
  type HeapCompactorOptions,
  v8FullGc,
} from './heap-compactor.js';
export {
  Host,
  failingLineNumber,
  renderBatch,
  type BatchLine,
  type HostCallOptions,
  type HostTool,
} from './host.js';
export {
  assertBatchToken,
  assertCidr,
  assertIfName,
  assertInt,
  assertIp,
  assertMac,
  assertNetnsName,
  assertNetnsPath,
  assertNftName,
  isCidr,
  isIfName,
  isIp,
  isMac,
  isNftName,
} from './validate.js';
