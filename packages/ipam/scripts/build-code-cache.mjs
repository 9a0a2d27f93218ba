// Writes V8's code cache for the exec'd plugin (dist/bin/podnet-ipam-main.cjs.cache): the bundle
// is stamped with a build id (a hash of its text), then one real ADD runs through the loader in a
// scratch data directory and the loader writes the cache of every function it compiled. The
// cache only helps the Node binary that wrote it; any failure leaves no cache (the plugin then
// compiles at start, which is correct, only slower). Rerun after a Node upgrade.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const loader = join(root, 'dist', 'bin', 'podnet-ipam.cjs');
const main = join(root, 'dist', 'bin', 'podnet-ipam-main.cjs');
const cacheFile = `${main}.cache`;
const TAG = '\n//# podnet-ipam-build ';

rmSync(cacheFile, { force: true });
let source = readFileSync(main, 'utf8');
const at = source.lastIndexOf(TAG);
if (at >= 0) source = source.slice(0, at);
const id = createHash('sha256').update(source).digest('hex').slice(0, 32);
writeFileSync(main, `${source}${TAG}${id}\n`);

const dataDir = mkdtempSync(join(tmpdir(), 'podnet-ipam-code-cache-'));
try {
  const conf = {
    cniVersion: '1.1.0',
    name: 'train',
    type: 'bridge',
    ipam: {
      type: 'podnet-ipam',
      dataDir,
      ranges: [[{ subnet: '10.250.0.0/24' }], [{ subnet: 'fd00:250::/64' }]],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  };
  const env = { ...process.env, PODNET_IPAM_WRITE_CODE_CACHE: '1' };
  for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS']) delete env[k];
  const run = spawnSync(process.execPath, [loader], {
    input: JSON.stringify(conf),
    env: {
      ...env,
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'podnet-code-cache',
      CNI_NETNS: '/run/netns/podnet-code-cache',
      CNI_IFNAME: 'eth0',
      CNI_PATH: dirname(loader),
    },
    encoding: 'utf8',
  });
  if (run.status !== 0 || !existsSync(cacheFile)) {
    rmSync(cacheFile, { force: true });
    console.log(
      `@podnet/ipam: code cache not written (training ADD exited ${run.status}: ${run.stdout}${run.stderr}); the plugin compiles at start`,
    );
  } else {
    console.log(`@podnet/ipam: wrote ${cacheFile}`);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
