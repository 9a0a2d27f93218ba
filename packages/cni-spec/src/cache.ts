import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { isValidContainerId, isValidIfName } from './skeleton.js';
import type { AnyCniResult, NetConfList } from './types.js';

/** One cached attachment (libcni's `cniCacheV1` layout plus the list itself). */
export interface CachedAttachment {
  kind: 'cniCacheV1';
  containerId: string;
  ifName: string;
  networkName: string;
  netns?: string;
  /** The list as run, base64-encoded JSON (as libcni stores `config`). */
  config: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result: AnyCniResult;
}

/** The on-disk result cache: `<dir>/results/<network>-<containerId>-<ifName>`. */
export class ResultCache {
  constructor(readonly dir: string) {}

  /** The file of one attachment (names are validated: no path tricks). */
  file(networkName: string, containerId: string, ifName: string): string {
    if (!isValidContainerId(containerId) || !isValidIfName(ifName) || networkName.includes('/')) {
      throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'invalid attachment key', {
        details: JSON.stringify({ networkName, containerId, ifName }),
      });
    }
    return join(this.dir, 'results', `${networkName}-${containerId}-${ifName}`);
  }

  /** Writes an entry atomically (temp file + rename). */
  write(entry: CachedAttachment): void {
    const file = this.file(entry.networkName, entry.containerId, entry.ifName);
    try {
      mkdirSync(join(this.dir, 'results'), { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
      renameSync(tmp, file);
    } catch (e) {
      throw new CniError(CNI_ERROR_CODES.IO_FAILURE, `cannot write result cache ${file}`, {
        details: (e as Error).message,
        cause: e,
      });
    }
  }

  /** The entry of one attachment, or undefined when none (or unreadable). */
  read(networkName: string, containerId: string, ifName: string): CachedAttachment | undefined {
    try {
      const v = JSON.parse(
        readFileSync(this.file(networkName, containerId, ifName), 'utf8'),
      ) as CachedAttachment;
      return v && typeof v === 'object' && v.result ? v : undefined;
    } catch {
      return undefined;
    }
  }

  /** Removes one attachment's entry (idempotent). */
  remove(networkName: string, containerId: string, ifName: string): void {
    rmSync(this.file(networkName, containerId, ifName), { force: true });
  }

  /** Every readable entry, optionally of one network. */
  list(networkName?: string): CachedAttachment[] {
    let names: string[];
    try {
      names = readdirSync(join(this.dir, 'results'));
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      if (n.includes('.tmp-')) continue;
      try {
        const v = JSON.parse(
          readFileSync(join(this.dir, 'results', n), 'utf8'),
        ) as CachedAttachment;
        if (v?.kind === 'cniCacheV1' && (!networkName || v.networkName === networkName))
          out.push(v);
      } catch {}
    }
    return out;
  }
}

/** Decodes a cached entry's `config` back to the list it ran. */
export function cachedList(entry: CachedAttachment): NetConfList {
  return JSON.parse(Buffer.from(entry.config, 'base64').toString('utf8')) as NetConfList;
}
