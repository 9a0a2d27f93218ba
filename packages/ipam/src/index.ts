export { IpamError, cniCodeFor, type IpamErrorCode, type IpamErrorDetails } from './errors.js';
export { canonicalIp } from './addr.js';
export {
  describeAddress,
  formatRangeSet,
  isAllocatable,
  parseRange,
  parseRangeSets,
  pickAddress,
  rangeFor,
  rangeSetContains,
  rangeSize,
  type IpamRange,
  type PickedAddress,
  type RangeInput,
  type RangeSet,
} from './range.js';
export { DEFAULT_DATA_DIR, parseIpamConfig, type IpamConfig, type IpamRoute } from './config.js';
export {
  MemoryStore,
  Mutex,
  type Allocation,
  type Store,
  type StoreTransaction,
} from './store.js';
export {
  Allocator,
  type AllocateOptions,
  type AllocatedAddress,
  type Attachment,
  type GcResult,
} from './allocator.js';
export { FileStore, type FileStoreOptions } from './file-store.js';
export { flockExclusive, flockImplementation, type FlockOptions } from './flock.js';
export {
  MemoryNodeSubnetStore,
  NodeSubnetAllocator,
  pickNodeSubnet,
  type NodeSubnetAllocatorOptions,
  type NodeSubnetState,
  type NodeSubnetStore,
} from './node-subnets.js';
export { FileNodeSubnetStore } from './node-subnet-file-store.js';
