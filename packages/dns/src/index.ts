export { DnsError } from './errors.js';
export type { DnsErrorCode, DnsErrorDetails } from './errors.js';
export type {
  ClusterDnsState,
  DnsQuestion,
  DnsRecord,
  K8sEndpoint,
  K8sEndpointPort,
  K8sEndpointSlice,
  K8sNamespace,
  K8sObjectMeta,
  K8sPod,
  K8sService,
  K8sServicePort,
  PodsMode,
  Rcode,
  RecordType,
  Resolution,
  SoaData,
  SrvData,
  ZoneOptions,
} from './types.js';
export {
  SPEC_VERSION,
  authorityOf,
  compileZone,
  dashedIp,
  newlySkipped,
  normalizeName,
  resolve,
  reverseName,
  soaRecord,
} from './zone.js';
export type { DnsZone, SkippedObject, ZoneNode } from './zone.js';
export { LiveZone } from './live-zone.js';
export type {
  DnsObjectChanges,
  DnsObjectKind,
  DnsObjectKinds,
  DnsObjectSource,
  ZonePatch,
} from './live-zone.js';
export {
  CLASS_IN,
  RCODES,
  TYPE_CODES,
  WireWriter,
  decodeMessage,
  encodeMessage,
  encodeQuery,
  readName,
  typeCode,
  typeName,
} from './wire.js';
export type { DnsMessage, EdnsInfo, EncodeOptions } from './wire.js';
export {
  ENTRY_HEADER,
  MAX_UDP_PAYLOAD,
  PreparedZone,
  buildResponse,
  parseQuery,
  prepareAnswer,
  udpLimit,
} from './prepared.js';
export type { ParsedQuery, PreparedAnswer, QueryParse } from './prepared.js';
export { ResponseCache, partsOf, renderResponse, scanResponse } from './cache.js';
export type { CacheOptions, CachedResponse, ResponseParts, ScannedResponse } from './cache.js';
export { parseResolvConf, parseUpstream } from './resolv-conf.js';
export type { Upstream } from './resolv-conf.js';
export { Forwarder } from './forwarder.js';
export type { ForwarderOptions } from './forwarder.js';
export { DNS_DURATION_BUCKETS, DnsMetrics } from './metrics.js';
export type { DnsMetricsCounts } from './metrics.js';
export type { UdpWorkerStats } from './udp-worker-protocol.js';
export { DnsServer } from './server.js';
export {
  DnsClientIndex,
  autopathCandidates,
  plainIp,
  podSearchList,
  sockaddrIp,
} from './autopath.js';
export type { DnsClient } from './autopath.js';
export { answerAddresses } from './answer-hook.js';
export type { AnswerAddresses, DnsAnswerClient, DnsAnswerHook } from './answer-hook.js';
export { nativeUdpAvailable } from './native-udp.js';
export type { NativeUdpStats, UdpPath } from './native-udp.js';
export type { DnsListenOptions, DnsServerAddress, DnsServerOptions } from './server.js';
export { DEFAULT_TCP_LIMITS, tcpLimits } from './tcp-limits.js';
export type { DnsTcpLimits, DnsTcpOptions } from './tcp-limits.js';
export type { DnsTcpClosed, DnsTcpConnectionInfo, DnsTcpStats } from './tcp-server.js';
export { DNS_NODE_ENV, DNS_NODE_FLAGS } from './memory.js';
export { parseSmaps, releasableMappings, releaseStartupPages } from './working-set.js';
export type { Mapping, ReleasedPages, ReleaseStartupPagesOptions } from './working-set.js';
