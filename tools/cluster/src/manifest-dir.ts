/** Writes the manifests directory the agents read (the one adapter of the output). */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from './atomic-file.js';
import { type ManifestFile, manifestText } from './render.js';

/**
 * Makes `dir` hold exactly `files` (see `renderManifests`): each written atomically as YAML
 * (a file whose text did not change is left alone, so the agents' watchers see only real
 * changes), and every other `*.yaml` file removed.
 */
export async function writeManifestDir(dir: string, files: readonly ManifestFile[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const { file, object } of files) {
    const text = manifestText(object);
    const p = join(dir, file);
    if (existsSync(p) && readFileSync(p, 'utf8') === text) continue;
    await writeAtomic(p, text);
  }
  const names = new Set(files.map((f) => f.file));
  for (const f of await readdir(dir))
    if (f.endsWith('.yaml') && !names.has(f)) await rm(join(dir, f), { force: true });
}
