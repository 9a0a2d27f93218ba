export { OverlayError, type OverlayErrorCode, type OverlayErrorDetails } from './errors.js';
export { vtepMacFor } from './mac.js';
export {
  ANNOTATION_KEYS,
  decodeNodeAnnotations,
  encodeNodeAnnotations,
  peersFromNodes,
  type NodeLike,
  type NodeOverlayInfo,
} from './annotations.js';
export {
  defaultDeviceName,
  desiredDevice,
  desiredPeers,
  deviceIncompatibility,
  newPeerClaims,
  observedAfter,
  observedDevice,
  planOverlay,
  planOverlayRemoval,
  planResolved,
  releasePeerClaims,
  type PeerClaims,
  resolveLocal,
  type ResolvedLocal,
  underlayFamilyOf,
  vxlanOverhead,
} from './planner.js';
export { renderOperation, renderPlan, toolOf, type OverlayBatch } from './render.js';
export { NetSet, parseNet, type Net } from './addr.js';
export { parseObserved, type RawOverlayReads } from './observe.js';
export {
  OverlayReconciler,
  applyOverlayPlan,
  type OverlaySessions,
  ensureOverlay,
  readOverlayState,
  removeOverlay,
  type ReadOverlayOptions,
} from './apply.js';
export {
  DEFAULT_ROUTE_PROTOCOL,
  DEFAULT_VNI,
  DEFAULT_VXLAN_PORT,
  type DesiredDevice,
  type DesiredPeer,
  type DirectRoutingMode,
  type FdbEntry,
  type LocalNode,
  type NeighbourEntry,
  type ObservedDevice,
  type ObservedOverlay,
  type ObservedUplink,
  type OverlayEvent,
  type OverlayOperation,
  type OverlayPlan,
  type PeerNode,
  type RouteEntry,
} from './types.js';
