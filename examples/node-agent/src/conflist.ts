import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConflist } from './plan.js';

/** File name of the conflist the agent owns. */
export const CONFLIST_FILE = '10-podnet.conflist';

/**
 * Writes `<dir>/10-podnet.conflist` atomically (temp file + rename), only when its content
 * changes. Returns true when it wrote.
 */
export function writeConflist(dir: string, socketPath: string): boolean {
  const path = join(dir, CONFLIST_FILE);
  const text = renderConflist(socketPath);
  try {
    if (readFileSync(path, 'utf8') === text) return false;
  } catch {}
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${CONFLIST_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
  return true;
}
