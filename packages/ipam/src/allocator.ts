import { isValidContainerId, isValidIfName } from '@podnet/cni-spec';
import { canonicalIp } from './addr.js';
import { IpamError } from './errors.js';
import {
  type PickedAddress,
  type RangeSet,
  describeAddress,
  formatRangeSet,
  isAllocatable,
  pickAddress,
  rangeFor,
  rangeSetContains,
} from './range.js';
import type { Allocation, Store, StoreTransaction } from './store.js';

/** One address handed to an attachment: which range set, the CIDR and the gateway. */
export interface AllocatedAddress {
  rangeSetIndex: number;
  /** Address with prefix length, e.g. `10.22.0.5/24`. */
  address: string;
  /** Address alone, e.g. `10.22.0.5`. */
  ip: string;
  gateway?: string;
}

/** Options for {@link Allocator.allocate}. */
export interface AllocateOptions {
  /** Specific addresses to take (plain or CIDR); each must belong to a different range set. */
  requestedIps?: readonly string[];
}

/** An attachment that GC keeps: a container ID and an interface name. */
export interface Attachment {
  containerId: string;
  ifName: string;
}

/** What {@link Allocator.gc} released. */
export interface GcResult {
  released: Allocation[];
}

function checkAttachment(containerId: string, ifName: string): void {
  if (typeof containerId !== 'string' || !isValidContainerId(containerId)) {
    throw new IpamError('INVALID_ARGUMENT', `invalid container ID ${JSON.stringify(containerId)}`, {
      field: 'containerId',
      value: containerId,
    });
  }
  if (typeof ifName !== 'string' || !isValidIfName(ifName)) {
    throw new IpamError('INVALID_ARGUMENT', `invalid interface name ${JSON.stringify(ifName)}`, {
      field: 'ifName',
      value: ifName,
    });
  }
}

/**
 * Hands out one address per range set to (container ID, ifname) attachments, never the same
 * address twice, over any {@link Store}. Every operation runs under the store's lock.
 */
export class Allocator {
  readonly rangeSets: readonly RangeSet[];
  readonly store: Store;

  constructor(config: { readonly rangeSets: readonly RangeSet[] }, store: Store) {
    this.rangeSets = config.rangeSets;
    this.store = store;
  }

  /**
   * Allocates one address from each range set for (containerId, ifName), taking a requested
   * address where one falls in the set. All or nothing: on failure nothing stays reserved.
   * Throws `DUPLICATE_ALLOCATION` when the attachment already holds an address in a set,
   * `UNAVAILABLE` for a requested address that is taken or not allocatable, `EXHAUSTED` when a
   * set is full.
   */
  async allocate(
    containerId: string,
    ifName: string,
    options: AllocateOptions = {},
  ): Promise<AllocatedAddress[]> {
    checkAttachment(containerId, ifName);
    const requested = (options.requestedIps ?? []).map((raw) => {
      const ip = canonicalIp(raw.includes('/') ? raw.slice(0, raw.indexOf('/')) : raw);
      if (!ip) {
        throw new IpamError('INVALID_ARGUMENT', `invalid requested IP ${JSON.stringify(raw)}`, {
          field: 'requestedIps',
          value: raw,
        });
      }
      return ip;
    });
    return this.store.withLock((tx) => this.#allocateLocked(tx, containerId, ifName, requested));
  }

  #allocateLocked(
    tx: StoreTransaction,
    containerId: string,
    ifName: string,
    requested: string[],
  ): AllocatedAddress[] {
    const pending = new Set(requested);
    const existing = tx.find(containerId, ifName);
    const done: AllocatedAddress[] = [];
    try {
      this.rangeSets.forEach((set, index) => {
        const held = existing.find((a) => rangeSetContains(set, a.ip));
        if (held) {
          throw new IpamError(
            'DUPLICATE_ALLOCATION',
            `${held.ip} has been allocated to ${containerId}, duplicate allocation is not allowed`,
            { value: held.ip },
          );
        }
        let picked: PickedAddress | undefined;
        const want = [...pending].find((ip) => rangeFor(set, ip) !== undefined);
        if (want !== undefined) {
          pending.delete(want);
          if (!isAllocatable(set, want)) {
            throw new IpamError(
              'UNAVAILABLE',
              `requested ip ${want} is a reserved address of range set ${formatRangeSet(set)}`,
              { value: want },
            );
          }
          if (!tx.reserve(want, containerId, ifName, index)) {
            throw new IpamError(
              'UNAVAILABLE',
              `requested IP address ${want} is not available in range set ${formatRangeSet(set)}`,
              { value: want },
            );
          }
          picked = describeAddress(rangeFor(set, want)!, want);
        } else {
          // a record can appear between listing and reserving only from a writer that ignores
          // the lock; skip such an address rather than fail
          const lost = new Set<string>();
          const last = tx.lastReserved(index);
          for (;;) {
            picked = pickAddress(set, (ip) => lost.has(ip) || tx.has(ip), last);
            if (!picked || tx.reserve(picked.ip, containerId, ifName, index)) break;
            lost.add(picked.ip);
          }
          if (!picked) {
            throw new IpamError(
              'EXHAUSTED',
              `no IP addresses available in range set: ${formatRangeSet(set)}`,
            );
          }
        }
        const out: AllocatedAddress = {
          rangeSetIndex: index,
          address: picked.address,
          ip: picked.ip,
        };
        if (picked.gateway !== undefined) out.gateway = picked.gateway;
        done.push(out);
      });
      if (pending.size > 0) {
        throw new IpamError(
          'UNAVAILABLE',
          `requested IPs ${[...pending].join(', ')} are not in any range set`,
          {
            value: [...pending],
          },
        );
      }
    } catch (error) {
      for (const a of done) tx.release(a.ip);
      throw error;
    }
    return done;
  }

  /**
   * Releases every address held by (containerId, ifName), including entries written by old
   * host-local versions with the container ID only. Idempotent; returns what was released.
   */
  release(containerId: string, ifName: string): Promise<Allocation[]> {
    return this.store.withLock((tx) => {
      const all = tx.list();
      let mine = all.filter((a) => a.containerId === containerId && a.ifName === ifName);
      if (mine.length === 0)
        mine = all.filter((a) => a.containerId === containerId && a.ifName === '');
      for (const a of mine) tx.release(a.ip);
      return mine;
    });
  }

  /** The addresses held by (containerId, ifName), each with its range set and gateway. */
  get(containerId: string, ifName: string): Promise<AllocatedAddress[]> {
    return this.store.withLock((tx) => {
      const out: AllocatedAddress[] = [];
      for (const a of tx.find(containerId, ifName)) {
        const index = this.rangeSets.findIndex((s) => rangeSetContains(s, a.ip));
        const range =
          index < 0
            ? undefined
            : (rangeFor(this.rangeSets[index]!, a.ip) ?? this.rangeSets[index]![0]!);
        if (!range) continue;
        const d = describeAddress(range, a.ip);
        const item: AllocatedAddress = { rangeSetIndex: index, address: d.address, ip: a.ip };
        if (d.gateway !== undefined) item.gateway = d.gateway;
        out.push(item);
      }
      return out.sort((x, y) => x.rangeSetIndex - y.rangeSetIndex);
    });
  }

  /**
   * Keeps exactly the allocations of `valid` attachments and releases all others (CNI GC).
   */
  gc(valid: readonly Attachment[]): Promise<GcResult> {
    const keep = new Set(valid.map((a) => `${a.containerId}\n${a.ifName}`));
    const keepIds = new Set(valid.map((a) => a.containerId));
    return this.store.withLock((tx) => {
      const released: Allocation[] = [];
      for (const a of tx.list()) {
        const kept =
          a.ifName === '' ? keepIds.has(a.containerId) : keep.has(`${a.containerId}\n${a.ifName}`);
        if (!kept) {
          tx.release(a.ip);
          released.push(a);
        }
      }
      return { released };
    });
  }

  /** Every allocation in the store. */
  list(): Promise<Allocation[]> {
    return this.store.withLock((tx) => tx.list());
  }
}
