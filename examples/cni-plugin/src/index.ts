export {
  CNI_ENV_KEYS,
  SHIM_PROTOCOL_VERSION,
  SUPPORTED_CNI_VERSIONS,
  cniErrorResponse,
  configVersion,
  decodeRequest,
  decodeResponse,
  encodeFrame,
  pickCniEnv,
  type CniErrorJson,
  type ShimRequest,
  type ShimResponse,
} from './protocol.js';
export { DEFAULT_SHIM_TIMEOUT_MS, runShim, type ShimInvocation } from './shim.js';
export { parseStandaloneConfig, runStandalone, type StandaloneConfig } from './standalone.js';
