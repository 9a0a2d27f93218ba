// Builds the optional native flock helper (dist/flock.node) with the system C compiler.
// Without a compiler or Node headers it prints why and exits 0: the package then takes every
// lock through a util-linux `flock` child process, which is correct, only slower.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'flock.node');
const headerDirs = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const include = headerDirs.find((d) => existsSync(join(d, 'node_api.h')));
if (process.platform !== 'linux' || !include) {
  console.log(
    '@podnet/ipam: native flock helper not built (needs Linux and node_api.h); using the flock child',
  );
  process.exit(0);
}
try {
  mkdirSync(dirname(out), { recursive: true });
  execFileSync(
    process.env.CC ?? 'cc',
    ['-shared', '-fPIC', '-O2', '-Wall', '-I', include, '-o', out, join(root, 'native', 'flock.c')],
    { stdio: 'inherit' },
  );
  console.log(`@podnet/ipam: built ${out}`);
} catch (error) {
  console.log(
    `@podnet/ipam: native flock helper not built (${error.message}); using the flock child`,
  );
}
