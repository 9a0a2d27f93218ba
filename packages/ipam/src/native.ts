import { fileURLToPath } from 'node:url';

/** The optional native helper `dist/ipam-native.node` (built from `native/ipam-native.c`). */
export interface IpamNative {
  /** A descriptor of `path` (created 0600 if missing) to flock, or -errno. */
  openLock(path: string): number;
  /** A non-blocking exclusive flock(2) on `fd`: 0 when taken, else the errno (11 when held). */
  tryLockExclusive(fd: number): number;
  /**
   * Every entry of `dir` but `.` and `..` as `[name, a, b, ...]`: for a canonical dotted-quad name
   * holding an ASCII record under 4 KiB, its container ID and ifname, trimmed; for another
   * address-like name holding a file under 4 KiB, its text and null; else null and null. An errno
   * number when the directory cannot be opened or read.
   */
  readRecords(dir: string): (string | null)[] | number;
  /**
   * Writes `text` to a new `.podnet-tmp-*` file in `dir`, hard-links it to `dir/name` and removes
   * it: 0, or the errno (17, EEXIST, when `name` is taken).
   */
  createRecord(dir: string, name: string, text: string): number;
  /** Makes `path` (created if missing) hold exactly `text`, in place: 0 or the errno. */
  overwrite(path: string, text: string): number;
  /** The whole regular file at `path` (at most 64 MiB), or the errno. */
  readFile(path: string): Uint8Array | number;
  /** Writes all of `text` (UTF-8) to `fd`: 0 or the errno. */
  write(fd: number, text: string): number;
}

// shared by every copy of this module in the process (the exec'd plugin's loader and its bundle
// each have one), so the helper is opened once; the number changes with the helper's functions
const SHARED = Symbol.for('@podnet/ipam/native/2');
type Shared = { [SHARED]?: IpamNative | null };

/**
 * The native helper, or null when it is not built here or `PODNET_IPAM_NATIVE=off`; every
 * caller has a JavaScript path that does the same thing.
 */
export function loadNative(): IpamNative | null {
  if (process.env.PODNET_IPAM_NATIVE === 'off') return null;
  const shared = globalThis as Shared;
  if (shared[SHARED] !== undefined) return shared[SHARED];
  let native: IpamNative | null = null;
  // the CommonJS plugin bundle (dist/bin/) has __filename and tries its place first; the ES
  // module build (dist/) and the sources (src/) have import.meta.url
  const cjs = typeof __filename === 'string';
  const file = cjs ? __filename : fileURLToPath(import.meta.url);
  // string operations rather than node:path, whose first call in a process costs more
  const here = file.slice(0, file.lastIndexOf('/'));
  const places = cjs
    ? ['../ipam-native.node', './ipam-native.node', '../dist/ipam-native.node']
    : ['./ipam-native.node', '../ipam-native.node', '../dist/ipam-native.node'];
  for (const rel of places) {
    try {
      const mod = { exports: {} as IpamNative };
      process.dlopen(mod, `${here}/${rel}`);
      if (typeof mod.exports.openLock === 'function') {
        native = mod.exports;
        break;
      }
    } catch {
      // not built here: try the next place, then the JavaScript paths
    }
  }
  shared[SHARED] = native;
  return native;
}
