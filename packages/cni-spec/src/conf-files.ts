import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { parseNetConfList } from './parse.js';
import type { NetConfList } from './types.js';

/** Options for {@link loadConfLists}. */
export interface LoadConfListsOptions {
  /** Called for each file that cannot be read or parsed (it is skipped). */
  onInvalid?: (file: string, error: CniError) => void;
}

const EXTENSIONS = ['.conf', '.conflist', '.json'];

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The configuration files of `dir` (`.conf`, `.conflist`, `.json`) in byte order, as libcni lists them. */
export function confFiles(dir: string, extensions: readonly string[] = EXTENSIONS): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CniError(CNI_ERROR_CODES.IO_FAILURE, `cannot read configuration directory ${dir}`, {
      details: (e as Error).message,
      cause: e,
    });
  }
  return names
    .filter((n) => extensions.some((ext) => n.endsWith(ext)))
    .sort(byteOrder)
    .map((n) => join(dir, n));
}

/**
 * Reads one configuration file as a list: a `.conflist` as is, a single `.conf`/`.json`
 * configuration wrapped into a one-plugin list (as libcni does). Errors name the file.
 */
export function readConfListFile(file: string): NetConfList {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CniError(CNI_ERROR_CODES.IO_FAILURE, `cannot read ${file}`, {
      details: (e as Error).message,
      cause: e,
    });
  }
  try {
    if (file.endsWith('.conflist')) return parseNetConfList(text);
    const single = JSON.parse(text) as Record<string, unknown>;
    if (typeof single !== 'object' || single === null || Array.isArray(single))
      return parseNetConfList(single);
    if ('plugins' in single) return parseNetConfList(single);
    const { name, cniVersion, ...plugin } = single;
    return parseNetConfList({ name, cniVersion: cniVersion ?? '0.1.0', plugins: [plugin] });
  } catch (e) {
    const err = CniError.isInstance(e)
      ? e
      : new CniError(CNI_ERROR_CODES.DECODE_FAILURE, 'invalid JSON', {
          details: (e as Error).message,
        });
    throw new CniError(err.code, `${file}: ${err.msg}`, {
      details: err.details,
      path: err.path,
      cause: e,
    });
  }
}

/** Every valid network configuration list in `dir`, in libcni's file order (invalid files skipped). */
export function loadConfLists(dir: string, options: LoadConfListsOptions = {}): NetConfList[] {
  const out: NetConfList[] = [];
  for (const file of confFiles(dir)) {
    try {
      out.push(readConfListFile(file));
    } catch (e) {
      options.onInvalid?.(file, CniError.from(e));
    }
  }
  return out;
}

/**
 * The list named `name` in `dir`, looked up as libcni does: `.conflist` files first (in byte
 * order), then single `.conf`/`.json` configurations. Throws code 7 when there is none.
 */
export function loadConfList(dir: string, name: string): NetConfList {
  for (const exts of [['.conflist'], ['.conf', '.json']]) {
    for (const file of confFiles(dir, exts)) {
      let list: NetConfList;
      try {
        list = readConfListFile(file);
      } catch {
        continue;
      }
      if (list.name === name) return list;
    }
  }
  throw new CniError(
    CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
    `no network configuration named "${name}" in ${dir}`,
  );
}
