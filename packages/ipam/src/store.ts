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
  readonly #mutex = new Mutex();
  readonly #tx: StoreTransaction;

  constructor(initial: Iterable<Allocation> = []) {
    for (const a of initial) this.#byIp.set(a.ip, { ...a });
    this.#tx = {
      list: () => [...this.#byIp.values()].map((a) => ({ ...a })),
      has: (ip) => this.#byIp.has(ip),
      reserve: (ip, containerId, ifName, rangeSetIndex) => {
        if (this.#byIp.has(ip)) return false;
        this.#byIp.set(ip, { ip, containerId, ifName });
        this.#last.set(rangeSetIndex, ip);
        return true;
      },
      lastReserved: (i) => this.#last.get(i),
      release: (ip) => {
        this.#byIp.delete(ip);
      },
    };
  }

  withLock<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T> {
    return this.#mutex.run(() => fn(this.#tx));
  }
}
