import { type NumericCidr, familyBits, formatCidr, parseCidr } from './addr.js';
import { IpamError } from './errors.js';
import { Mutex } from './store.js';

/** Persisted state of a {@link NodeSubnetAllocator}: node name to its pod CIDRs. */
export interface NodeSubnetState {
  nodes: Record<string, string[]>;
}

/** Persistence port of the {@link NodeSubnetAllocator}: a locked read-modify-write. */
export interface NodeSubnetStore {
  /** Runs `fn` on the current state under an exclusive lock and stores what it returns. */
  update<T>(fn: (state: NodeSubnetState) => { state: NodeSubnetState; result: T }): Promise<T>;
}

/** An in-memory {@link NodeSubnetStore}. */
export class MemoryNodeSubnetStore implements NodeSubnetStore {
  #state: NodeSubnetState = { nodes: {} };
  readonly #mutex = new Mutex();

  update<T>(fn: (state: NodeSubnetState) => { state: NodeSubnetState; result: T }): Promise<T> {
    return this.#mutex.run(() => {
      const { state, result } = fn(structuredClone(this.#state));
      this.#state = structuredClone(state);
      return result;
    });
  }
}

/** Options for a {@link NodeSubnetAllocator}. */
export interface NodeSubnetAllocatorOptions {
  /** Cluster CIDRs, at most one per family (e.g. `["10.244.0.0/16", "fd00:10:244::/56"]`). */
  clusterCidrs: readonly string[];
  /** Prefix length of each node's IPv4 pod CIDR (default 24). */
  nodeMaskV4?: number;
  /** Prefix length of each node's IPv6 pod CIDR (default 64). */
  nodeMaskV6?: number;
  store: NodeSubnetStore;
}

interface Pool {
  cidr: NumericCidr;
  nodeMask: number;
}

function invalid(field: string, message: string, value?: unknown): never {
  throw new IpamError('INVALID_CONFIG', `${field}: ${message}`, { field, value });
}

/**
 * Picks the first free node subnet of size `/nodeMask` inside `cluster`, not overlapping any of
 * `taken`; undefined when the cluster CIDR is exhausted. Pure.
 */
export function pickNodeSubnet(
  cluster: string,
  nodeMask: number,
  taken: readonly string[],
): string | undefined {
  const c = parseCidr(cluster);
  if (!c || nodeMask < c.prefixLength || nodeMask > familyBits(c.family)) return undefined;
  const bits = BigInt(familyBits(c.family));
  const step = 1n << (bits - BigInt(nodeMask));
  const end = c.network + (1n << (bits - BigInt(c.prefixLength)));
  const used = taken
    .map(parseCidr)
    .filter((t): t is NumericCidr => t !== undefined && t.family === c.family)
    .map((t) => ({ from: t.network, to: t.network + (1n << (bits - BigInt(t.prefixLength))) }))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  let candidate = c.network;
  for (const u of used) {
    if (u.to <= candidate) continue;
    if (u.from >= candidate + step) break;
    candidate = ((u.to + step - 1n) / step) * step;
  }
  if (candidate + step > end) return undefined;
  return formatCidr(c.family, candidate, nodeMask);
}

/**
 * Carves per-node pod CIDRs out of cluster CIDRs (like kube-controller-manager's range
 * allocator): one subnet per cluster CIDR per node (dual stack), lowest free first, persisted
 * through a {@link NodeSubnetStore}, released on node removal.
 */
export class NodeSubnetAllocator {
  readonly #pools: Pool[];
  readonly #store: NodeSubnetStore;

  constructor(options: NodeSubnetAllocatorOptions) {
    if (!Array.isArray(options.clusterCidrs) || options.clusterCidrs.length === 0) {
      invalid('clusterCidrs', 'want at least one CIDR', options.clusterCidrs);
    }
    const families = new Set<number>();
    this.#pools = options.clusterCidrs.map((raw, i) => {
      const cidr = parseCidr(raw);
      if (!cidr) invalid(`clusterCidrs[${i}]`, 'want a CIDR such as 10.244.0.0/16', raw);
      if (families.has(cidr.family))
        invalid(`clusterCidrs[${i}]`, `a second IPv${cidr.family} cluster CIDR`, raw);
      families.add(cidr.family);
      const key = cidr.family === 4 ? 'nodeMaskV4' : 'nodeMaskV6';
      const nodeMask = options[key] ?? (cidr.family === 4 ? 24 : 64);
      if (
        !Number.isInteger(nodeMask) ||
        nodeMask < cidr.prefixLength ||
        nodeMask > familyBits(cidr.family)
      ) {
        invalid(
          key,
          `want an integer between ${cidr.prefixLength} and ${familyBits(cidr.family)}`,
          nodeMask,
        );
      }
      return { cidr, nodeMask };
    });
    this.#store = options.store;
  }

  /**
   * Returns the pod CIDRs of `node`, allocating them on first call (idempotent). Throws
   * `EXHAUSTED` naming the cluster CIDR when no subnet is left (and allocates nothing).
   */
  async allocate(node: string): Promise<string[]> {
    if (typeof node !== 'string' || node.length === 0 || node.length > 253) {
      throw new IpamError('INVALID_ARGUMENT', `invalid node name ${JSON.stringify(node)}`, {
        field: 'node',
        value: node,
      });
    }
    return this.#store.update((state) => {
      const have = state.nodes[node];
      if (have && this.#pools.every((p) => have.some((h) => isInside(h, p.cidr)))) {
        return { state, result: [...have] };
      }
      const taken = Object.values(state.nodes).flat();
      const result = this.#pools.map((p) => {
        const existing = have?.find((h) => isInside(h, p.cidr));
        if (existing) return existing;
        const cluster = formatCidr(p.cidr.family, p.cidr.network, p.cidr.prefixLength);
        const picked = pickNodeSubnet(cluster, p.nodeMask, taken);
        if (!picked) {
          throw new IpamError(
            'EXHAUSTED',
            `no /${p.nodeMask} node subnet left in cluster CIDR ${cluster}`,
            { value: cluster },
          );
        }
        return picked;
      });
      return { state: { nodes: { ...state.nodes, [node]: result } }, result };
    });
  }

  /** Frees the pod CIDRs of `node` (idempotent); returns what was freed. */
  release(node: string): Promise<string[]> {
    return this.#store.update((state) => {
      const freed = state.nodes[node] ?? [];
      const nodes = { ...state.nodes };
      delete nodes[node];
      return { state: { nodes }, result: freed };
    });
  }

  /** Every node and its pod CIDRs. */
  list(): Promise<Record<string, string[]>> {
    return this.#store.update((state) => ({ state, result: structuredClone(state.nodes) }));
  }
}

function isInside(cidr: string, pool: NumericCidr): boolean {
  const c = parseCidr(cidr);
  return (
    c !== undefined &&
    c.family === pool.family &&
    c.prefixLength >= pool.prefixLength &&
    (c.network & ~((1n << BigInt(familyBits(c.family) - pool.prefixLength)) - 1n)) === pool.network
  );
}
