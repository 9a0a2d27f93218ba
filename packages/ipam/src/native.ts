import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The optional native helper `dist/ipam-native.node` (built from `native/ipam-native.c`). */
export interface IpamNative {
  /** A non-blocking exclusive flock(2) on `fd`: 0 when taken, else the errno (11 when held). */
  tryLockExclusive(fd: number): number;
  /**
   * Every entry of `dir` but `.` and `..` as `[name, text | null, ...]`: the text of an
   * address-like name holding a readable file under 4 KiB, else null. An errno number when the
   * directory cannot be opened or read.
   */
  readRecords(dir: string): (string | null)[] | number;
}

let native: IpamNative | null | undefined;

/**
 * The native helper, or null when it is not built here or `PODNET_IPAM_NATIVE=off`; every
 * caller has a JavaScript path that does the same thing.
 */
export function loadNative(): IpamNative | null {
  if (process.env.PODNET_IPAM_NATIVE === 'off') return null;
  if (native !== undefined) return native;
  native = null;
  // the CommonJS plugin bundle (dist/bin/) has __filename and tries its place first; the ES
  // module build (dist/) and the sources (src/) have import.meta.url
  const cjs = typeof __filename === 'string';
  const here = dirname(cjs ? __filename : fileURLToPath(import.meta.url));
  const places = cjs
    ? ['../ipam-native.node', './ipam-native.node', '../dist/ipam-native.node']
    : ['./ipam-native.node', '../ipam-native.node', '../dist/ipam-native.node'];
  for (const rel of places) {
    try {
      const mod = { exports: {} as IpamNative };
      process.dlopen(mod, join(here, rel));
      if (
        typeof mod.exports.tryLockExclusive === 'function' &&
        typeof mod.exports.readRecords === 'function'
      ) {
        native = mod.exports;
        break;
      }
    } catch {
      // not built here: try the next place, then the JavaScript paths
    }
  }
  return native;
}
