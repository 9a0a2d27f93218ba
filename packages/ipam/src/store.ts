/** One allocated address and its owner, as a store records it. */
export interface Allocation {
  /** Canonical address (no prefix), e.g. `10.22.0.5`. */
  ip: string;
  containerId: string;
  /** Interface name; empty for entries written by very old host-local versions (ID only). */
  ifName: string;
}

/**
 * The operations available while a store is locked. Everything here runs inside
 * {@link Store.withLock}, so a read-modify-write cannot interleave with another process.
 */
export interface StoreTransaction {
  /** Every allocation in the store. */
  list(): Allocation[];
  /**
   * The allocations of (containerId, ifName), plus records of `containerId` without an ifname
   * (written by very old host-local versions).
   */
  find(containerId: string, ifName: string): Allocation[];
  /** True when `ip` is allocated. */
  has(ip: string): boolean;
  /**
   * Records `ip` for (containerId, ifName) unless it is taken; returns false when taken. Also
   * records `ip` as the last reserved address of range set `rangeSetIndex`.
   */
  reserve(ip: string, containerId: string, ifName: string, rangeSetIndex: number): boolean;
  /** The last address reserved from range set `rangeSetIndex`, if recorded. */
  lastReserved(rangeSetIndex: number): string | undefined;
  /** Removes the record of `ip` (no error when absent). */
  release(ip: string): void;
}

/** The persistence port of the {@link Allocator}: a locked transaction over allocations. */
export interface Store {
  /** Runs `fn` holding the store's exclusive lock (across processes for a file store). */
  withLock<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T>;
}

/** A promise-chain mutex serialising async critical sections within one process. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier caller has finished. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** An in-memory {@link Store}: for tests, benchmarks and single-process users. */
export class MemoryStore implements Store {
  readonly #byIp = new Map<string, Allocation>();
  readonly #last = new Map<number, string>();
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #mutex = new Mutex();
  readonly #tx: StoreTransaction;

  constructor(initial: Iterable<Allocation> = []) {
    const key = (id: string, ifName: string) => `${id}\n${ifName}`;
    const index = (a: Allocation, add: boolean) => {
      const k = key(a.containerId, a.ifName);
      const set = this.#byOwner.get(k) ?? new Set<string>();
      if (add) set.add(a.ip);
      else set.delete(a.ip);
      if (set.size > 0) this.#byOwner.set(k, set);
      else this.#byOwner.delete(k);
    };
    const set = (a: Allocation) => {
      this.#byIp.set(a.ip, a);
      index(a, true);
    };
    for (const a of initial) set({ ...a });
    this.#tx = {
      list: () => [...this.#byIp.values()].map((a) => ({ ...a })),
      find: (containerId, ifName) =>
        [
          ...(this.#byOwner.get(key(containerId, ifName)) ?? []),
          ...(this.#byOwner.get(key(containerId, '')) ?? []),
        ].map((ip) => ({ ...this.#byIp.get(ip)! })),
      has: (ip) => this.#byIp.has(ip),
      reserve: (ip, containerId, ifName, rangeSetIndex) => {
        if (this.#byIp.has(ip)) return false;
        set({ ip, containerId, ifName });
        this.#last.set(rangeSetIndex, ip);
        return true;
      },
      lastReserved: (i) => this.#last.get(i),
      release: (ip) => {
        const a = this.#byIp.get(ip);
        if (!a) return;
        this.#byIp.delete(ip);
        index(a, false);
      },
    };
  }

  withLock<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T> {
    return this.#mutex.run(() => fn(this.#tx));
  }
}
