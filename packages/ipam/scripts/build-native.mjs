// Builds the optional native helper (dist/ipam-native.node: flock(2) and the file operations of
// a store and of the exec'd plugin) with the system C compiler. Without a compiler or Node
// headers it prints why and exits 0: the package then takes every lock through a util-linux
// `flock` child process and makes its file operations through node:fs, which is correct, only
// slower.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ipam-native.node');
const headerDirs = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const include = headerDirs.find((d) => existsSync(join(d, 'node_api.h')));
if (process.platform !== 'linux' || !include) {
  console.log(
    '@podnet/ipam: native helper not built (needs Linux and node_api.h); locks go through a flock child, files through node:fs',
  );
  process.exit(0);
}
try {
  mkdirSync(dirname(out), { recursive: true });
  execFileSync(
    process.env.CC ?? 'cc',
    [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-I',
      include,
      '-o',
      out,
      join(root, 'native', 'ipam-native.c'),
    ],
    { stdio: 'inherit' },
  );
  console.log(`@podnet/ipam: built ${out}`);
} catch (error) {
  console.log(
    `@podnet/ipam: native helper not built (${error.message}); locks go through a flock child, files through node:fs`,
  );
}
