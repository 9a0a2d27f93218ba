#!/usr/bin/env node
// The `podnet` command as npm links it (`npx podnet ...` from the repo root): runs the built CLI
// (dist/bin/podnet.js) when it is there and not older than the sources, else the sources through
// tsx with the `source` condition, so a fresh clone needs `npm ci` only (no build, no network).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const built = join(root, 'dist', 'bin', 'podnet.js');
const source = join(root, 'src', 'bin', 'podnet.ts');

/** The newest modification time of the files under `dir` (0 when there are none). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

// PODNET_FROM_SOURCE=1 runs the sources even when a build is there.
const useBuilt =
  process.env.PODNET_FROM_SOURCE !== '1' &&
  existsSync(built) &&
  (!existsSync(source) || statSync(built).mtimeMs >= newest(join(root, 'src')));
const argv = useBuilt
  ? [built]
  : ['--conditions=source', '--import', import.meta.resolve('tsx'), source];
const child = spawn(process.execPath, [...argv, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
