export {
  CNI_ENV_KEYS,
  EARLY_REQUEST_MAX_BYTES,
  MAX_REQUEST_BYTES,
  REPLY_SLOTS,
  SHIM_PROTOCOL_VERSION,
  SUPPORTED_CNI_VERSIONS,
  cniErrorResponse,
  configVersion,
  decodeReply,
  decodeRequest,
  decodeResponse,
  earlyRequestPath,
  encodeReply,
  encodeRequest,
  encodeResponse,
  pickCniEnv,
  replyDir,
  replyLockPath,
  replySlotPath,
  requestTooLarge,
  type CniErrorJson,
  type ShimRequest,
  type ShimResponse,
} from './protocol.js';
export { type FifoOutcome, fifoRoundTrip } from './fifo-transport.js';
export {
  DEFAULT_SHIM_TIMEOUT_MS,
  MAX_SHIM_TIMEOUT_MS,
  runShim,
  type ShimInvocation,
} from './shim.js';
export { parseStandaloneConfig, runStandalone, type StandaloneConfig } from './standalone.js';
