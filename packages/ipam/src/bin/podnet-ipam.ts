#!/usr/bin/env node
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { loadNative } from '../native.js';

// The exec'd entry: runs the bundled plugin (podnet-ipam-main.cjs) from V8's code cache, which
// the package's build writes next to it (podnet-ipam-main.cjs.cache, see
// scripts/build-code-cache.mjs), so a start skips parsing and compiling the plugin. The cache is
// used only when its header names the build id that ends the bundle; a missing, stale or
// rejected cache (another Node version) only costs the compile. PODNET_IPAM_CODE_CACHE_REPORT=1
// prints whether a start used it.
const main = `${__dirname}/podnet-ipam-main.cjs`;
const cacheFile = `${main}.cache`;
const TAG = '\n//# podnet-ipam-build ';
const source = readFileSync(main, 'utf8');
const at = source.lastIndexOf(TAG);
const build = at < 0 ? '' : `${source.slice(at + TAG.length).trim()}\n`;
let cachedData: Uint8Array | undefined;
if (build) {
  // through the native helper when it is built: Node's first file read in a process costs more
  // than the read itself
  let cache: Uint8Array | number | undefined = loadNative()?.readFile(cacheFile);
  if (cache === undefined) {
    try {
      cache = readFileSync(cacheFile);
    } catch {
      // no cache: compile
    }
  }
  if (typeof cache === 'object') {
    let same = cache.length > build.length;
    for (let i = 0; same && i < build.length; i++) same = cache[i] === build.charCodeAt(i);
    if (same) cachedData = cache.subarray(build.length);
  }
}
const script = new Script(
  `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
  { filename: main, cachedData },
);
if (process.env.PODNET_IPAM_CODE_CACHE_REPORT === '1') {
  // diagnostics: whether this start ran from the code cache
  const state = !cachedData ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used';
  process.stderr.write(`podnet-ipam: code cache ${state}\n`);
}
if (build && process.env.PODNET_IPAM_WRITE_CODE_CACHE === '1') {
  // the build's training run: after a real invocation, the cache holds every function it ran
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}`;
    try {
      writeFileSync(tmp, Buffer.concat([Buffer.from(build, 'latin1'), script.createCachedData()]));
      renameSync(tmp, cacheFile);
    } catch (error) {
      // the invocation itself succeeded; only the cache is not written
      process.stderr.write(`podnet-ipam: code cache not written: ${(error as Error).message}\n`);
    }
  });
}
(script.runInThisContext() as (...args: unknown[]) => void).call(
  module.exports,
  module.exports,
  require,
  module,
  main,
  __dirname,
);
