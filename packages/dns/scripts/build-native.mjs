// Builds the optional native UDP fast path (dist/dns-udp.node) with the system C compiler.
// Without a compiler or Node headers it prints why and exits 0: the server then answers UDP
// through node:dgram, which is correct, only slower.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'dns-udp.node');
const headerDirs = [
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
];
const include = headerDirs.find(
  (d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')),
);
if (process.platform !== 'linux' || !include) {
  console.log(
    '@podnet/dns: native UDP fast path not built (needs Linux, node_api.h and uv.h); using node:dgram',
  );
  process.exit(0);
}
try {
  mkdirSync(dirname(out), { recursive: true });
  execFileSync(
    process.env.CC ?? 'cc',
    ['-shared', '-fPIC', '-O2', '-Wall', '-I', include, '-o', out, join(root, 'native', 'udp.c')],
    { stdio: 'inherit' },
  );
  console.log(`@podnet/dns: built ${out}`);
} catch (error) {
  console.log(`@podnet/dns: native UDP fast path not built (${error.message}); using node:dgram`);
}
