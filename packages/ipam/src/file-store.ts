import {
  closeSync,
  constants,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { NETWORK_NAME, ipv4Value } from '@podnet/cni-spec';
import { canonicalIp } from './addr.js';
import { DEFAULT_DATA_DIR } from './config.js';
import { IpamError } from './errors.js';
import { type FlockOptions, flockExclusive } from './flock.js';
import { loadNative } from './native.js';
import { type Allocation, Mutex, type Store, type StoreTransaction } from './store.js';

const LAST_PREFIX = 'last_reserved_ip.';
const TMP_PREFIX = '.podnet-tmp-';
const LINE_BREAK = '\r\n';
/** Linux's EEXIST, as the native helper reports it. */
const EEXIST = 17;
let tmpCounter = 0;
// made on first use: a process's first Buffer allocation costs more than a plugin start can spare
let readBuffer: Buffer | undefined;
const canonicalNames = new Map<string, string | null>();

function ipOfName(name: string): string | undefined {
  // a dotted quad without leading zeros is its own canonical form (the common case, parsed cheaply)
  if (ipv4Value(name) >= 0) return name;
  let ip = canonicalNames.get(name);
  if (ip === undefined) {
    if (canonicalNames.size > 65_536) canonicalNames.clear();
    ip = canonicalIp(name) ?? null;
    canonicalNames.set(name, ip);
  }
  return ip ?? undefined;
}

// an address file is a few dozen bytes: one open/read/close into a shared buffer instead of
// readFileSync's stat and second read, per file of the network
function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    readBuffer ??= Buffer.allocUnsafe(4096);
    const n = readSync(fd, readBuffer, 0, readBuffer.length, 0);
    if (n < readBuffer.length) return readBuffer.toString('utf8', 0, n);
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

// [name, a, b, ...] for every entry of a store directory (see IpamNative.readRecords), from the
// native helper in one call when it is built; without it, or when it fails, readdir gives the
// names (or the error, with its code) and the caller reads and parses every record
function readRecords(dir: string): (string | null)[] {
  const records = loadNative()?.readRecords(dir);
  if (typeof records === 'object') return records;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (cause) {
    throw storeError(`cannot read ${dir}`, cause);
  }
  const out: (string | null)[] = [];
  for (const name of names) out.push(name, null, null);
  return out;
}

/** Options for a {@link FileStore}. */
export interface FileStoreOptions extends FlockOptions {
  /** The network's directory, e.g. `/var/lib/cni/networks/mynet`. */
  dir: string;
}

function storeError(message: string, cause: unknown): IpamError {
  return new IpamError('STORE_FAILED', message, { cause });
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/**
 * A {@link Store} in host-local's on-disk layout, so a directory written by host-local is read
 * correctly and the reverse: one file per address named by the address and holding
 * `<containerID>\r\n<ifname>`, `last_reserved_ip.<range set index>`, and a `lock` file that is
 * `flock`ed around every transaction (shared with host-local, see {@link flockExclusive}).
 * Address files are created atomically (written aside, then hard-linked into place), so a
 * process killed mid-write never leaves a truncated record.
 */
export class FileStore implements Store {
  readonly dir: string;
  readonly #options: FlockOptions;
  readonly #mutex = new Mutex();

  constructor(options: FileStoreOptions) {
    this.dir = options.dir;
    this.#options = { timeoutMs: options.timeoutMs, flockPath: options.flockPath };
  }

  /** The store of network `name` under `dataDir` (host-local's default `/var/lib/cni/networks`). */
  static forNetwork(
    name: string,
    dataDir: string = DEFAULT_DATA_DIR,
    options: FlockOptions = {},
  ): FileStore {
    if (!NETWORK_NAME.test(name)) {
      throw new IpamError('INVALID_CONFIG', `name: invalid network name ${JSON.stringify(name)}`, {
        field: 'name',
        value: name,
      });
    }
    return new FileStore({
      ...options,
      // concatenated, not joined: node:path's first call in a process costs ~0.1 ms
      dir: dataDir === '' || dataDir.endsWith('/') ? dataDir + name : `${dataDir}/${name}`,
    });
  }

  withLock<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T> {
    return this.#mutex.run(async () => {
      const lock = `${this.dir}/lock`;
      let unlock: () => void;
      try {
        unlock = await flockExclusive(lock, this.#options);
      } catch (error) {
        // the directory is made on first use only: an existing one costs no mkdir
        if (!isCode((error as { cause?: unknown }).cause, 'ENOENT')) throw error;
        try {
          mkdirSync(this.dir, { recursive: true, mode: 0o755 });
        } catch (cause) {
          throw storeError(`cannot create ${this.dir}`, cause);
        }
        unlock = await flockExclusive(lock, this.#options);
      }
      try {
        return await fn(new FileTransaction(this.dir));
      } finally {
        unlock();
      }
    });
  }
}

class FileTransaction implements StoreTransaction {
  readonly #dir: string;
  #entries: Map<string, Allocation> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #load(): Map<string, Allocation> {
    if (this.#entries) return this.#entries;
    const entries = new Map<string, Allocation>();
    const records = readRecords(this.#dir);
    for (let i = 0; i < records.length; i += 3) {
      const name = records[i]!;
      const ifNameParsed = records[i + 2];
      if (typeof ifNameParsed === 'string') {
        // parsed by the helper: a canonical dotted quad holding a plain record
        entries.set(name, { ip: name, containerId: records[i + 1]!, ifName: ifNameParsed });
        continue;
      }
      if (name.startsWith(TMP_PREFIX)) {
        this.#unlink(name);
        continue;
      }
      const ip = ipOfName(name);
      if (ip === undefined) continue;
      // this.#dir is already a path: concatenating skips join's normalising, per file
      const text = records[i + 1] ?? readSmall(`${this.#dir}/${name}`);
      if (text === undefined) continue;
      const trimmed = text.trim();
      const cut = trimmed.indexOf(LINE_BREAK);
      const containerId = cut < 0 ? trimmed : trimmed.slice(0, cut).trim();
      const ifName = cut < 0 ? '' : trimmed.slice(cut + LINE_BREAK.length).trim();
      entries.set(ip, { ip, containerId, ifName });
    }
    this.#entries = entries;
    return entries;
  }

  #unlink(name: string): void {
    try {
      unlinkSync(join(this.#dir, name));
    } catch (cause) {
      if (!isCode(cause, 'ENOENT'))
        throw storeError(`cannot remove ${join(this.#dir, name)}`, cause);
    }
  }

  #writeAside(content: string): string {
    const tmp = join(this.#dir, `${TMP_PREFIX}${process.pid}-${Date.now()}-${tmpCounter++}`);
    try {
      writeFileSync(tmp, content, { mode: 0o644 });
    } catch (cause) {
      throw storeError(`cannot write ${tmp}`, cause);
    }
    return tmp;
  }

  list(): Allocation[] {
    return [...this.#load().values()].map((a) => ({ ...a }));
  }

  find(containerId: string, ifName: string): Allocation[] {
    const out: Allocation[] = [];
    for (const a of this.#load().values()) {
      if (a.containerId === containerId && (a.ifName === ifName || a.ifName === ''))
        out.push({ ...a });
    }
    return out;
  }

  has(ip: string): boolean {
    return this.#load().has(ip);
  }

  reserve(ip: string, containerId: string, ifName: string, rangeSetIndex: number): boolean {
    const entries = this.#load();
    if (entries.has(ip)) return false;
    const id = containerId.trim();
    const record = id + LINE_BREAK + ifName;
    // the native helper does what #createRecord does in one call; on any other failure the
    // JavaScript path runs and reports it
    const native = loadNative();
    const created = native ? native.createRecord(this.#dir, ip, record) : -1;
    if (created === EEXIST) return false;
    if (created !== 0 && !this.#createRecord(ip, record)) return false;
    entries.set(ip, { ip, containerId: id, ifName });
    // overwritten in place without O_TRUNC or rename, either of which makes ext4 flush (its
    // auto_da_alloc); a torn write only costs round-robin its starting point
    const last = `${this.#dir}/${LAST_PREFIX}${rangeSetIndex}`;
    if (native?.overwrite(last, ip) === 0) return true;
    try {
      const fd = openSync(last, constants.O_WRONLY | constants.O_CREAT, 0o644);
      try {
        const bytes = writeSync(fd, ip, 0);
        ftruncateSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
    } catch (cause) {
      throw storeError(`cannot write ${LAST_PREFIX}${rangeSetIndex}`, cause);
    }
    return true;
  }

  // written aside and hard-linked into place: false when the address file already exists
  #createRecord(ip: string, record: string): boolean {
    const tmp = this.#writeAside(record);
    try {
      linkSync(tmp, join(this.#dir, ip));
    } catch (cause) {
      if (isCode(cause, 'EEXIST')) return false;
      throw storeError(`cannot create ${join(this.#dir, ip)}`, cause);
    } finally {
      this.#unlink(tmp.slice(this.#dir.length + 1));
    }
    return true;
  }

  lastReserved(rangeSetIndex: number): string | undefined {
    try {
      return canonicalIp(
        readFileSync(`${this.#dir}/${LAST_PREFIX}${rangeSetIndex}`, 'utf8').trim(),
      );
    } catch {
      return undefined;
    }
  }

  release(ip: string): void {
    this.#unlink(ip);
    this.#entries?.delete(ip);
  }
}
