/** Reads the manifests of `podnet apply FILE|DIR` from disk (the one adapter of the input). */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DEFAULT_MAX_MANIFEST_BYTES,
  type ManifestRead,
  readManifestText,
  sizeProblem,
} from '@podnet/cluster-state';
import { type AcceptedObject, acceptManifests, manifestError } from './accept-manifests.js';
import { ClusterError } from './errors.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * The manifest files of `path`: the file itself, or every `*.yaml`, `*.yml` and `*.json` of a
 * directory (hidden ones left out, as the agents' manifests source does), sorted by name.
 */
async function manifestFiles(path: string): Promise<string[]> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (cause) {
    throw new ClusterError('NOT_FOUND', `${path}: no such file or directory`, { cause });
  }
  if (!st.isDirectory()) return [path];
  const names = (await readdir(path))
    .filter((n) => MANIFEST_FILE.test(n) && !n.startsWith('.'))
    .sort();
  const files: string[] = [];
  for (const n of names) if ((await stat(join(path, n))).isFile()) files.push(join(path, n));
  if (files.length === 0)
    throw new ClusterError('INVALID_ARGUMENT', `${path} holds no *.yaml, *.yml or *.json file`);
  return files;
}

/**
 * Reads `path` (a manifest file, or a directory of them) with `@podnet/cluster-state`'s
 * `readManifestText` and accepts the objects as `podnet apply` does ({@link acceptManifests}).
 * Any problem in any file is an `INVALID_MANIFEST` error listing every one (file, document,
 * field path); nothing is returned then, so nothing is applied.
 */
export async function readManifestPath(path: string): Promise<AcceptedObject[]> {
  const reads: ManifestRead[] = [];
  for (const file of await manifestFiles(path)) {
    const tooBig = sizeProblem(file, (await stat(file)).size, DEFAULT_MAX_MANIFEST_BYTES);
    if (tooBig) {
      reads.push({ objects: [], problems: [tooBig], ignored: [] });
      continue;
    }
    reads.push(readManifestText(await readFile(file, 'utf8'), { file, unknownKinds: 'ignore' }));
  }
  const { objects, problems } = acceptManifests(reads);
  if (problems.length > 0) throw manifestError(problems);
  return objects;
}
