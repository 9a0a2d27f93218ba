import { Allocator } from '../allocator.js';
import { parseRangeSets } from '../range.js';
import { MemoryStore } from '../store.js';

export { MemoryStore } from '../store.js';
export { MemoryNodeSubnetStore } from '../node-subnets.js';

/**
 * An {@link Allocator} over a fresh {@link MemoryStore} for host-local style `ranges`, e.g.
 * `createTestAllocator([[{ subnet: '10.0.0.0/29' }]])`. Returns the allocator and its store.
 */
export function createTestAllocator(ranges: unknown): { allocator: Allocator; store: MemoryStore } {
  const store = new MemoryStore();
  return { allocator: new Allocator({ rangeSets: parseRangeSets(ranges) }, store), store };
}
