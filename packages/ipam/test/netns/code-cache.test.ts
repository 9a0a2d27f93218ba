import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PODNET_IPAM, cni } from './cni-exec.js';

const dist = dirname(dirname(PODNET_IPAM));
const main = join(dist, 'bin', 'podnet-ipam-main.cjs');
const root = mkdtempSync(join(tmpdir(), 'podnet-ipam-ccache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const TAG = '\n//# podnet-ipam-build ';
const buildId = (source: string) => source.slice(source.lastIndexOf(TAG) + TAG.length).trim();

/** A copy of the built plugin (bin, bundle, cache, flock helper) to damage without harm. */
function install(name: string): string {
  const d = join(root, name);
  mkdirSync(join(d, 'bin'), { recursive: true });
  for (const f of ['podnet-ipam.cjs', 'podnet-ipam-main.cjs', 'podnet-ipam-main.cjs.cache'])
    copyFileSync(join(dist, 'bin', f), join(d, 'bin', f));
  copyFileSync(join(dist, 'ipam-native.node'), join(d, 'ipam-native.node'));
  return join(d, 'bin', 'podnet-ipam.cjs');
}

async function addAndVersion(bin: string, name: string) {
  const dataDir = join(root, `data-${name}`);
  const conf = {
    cniVersion: '1.1.0',
    name: 'cc',
    type: 'bridge',
    ipam: {
      type: 'podnet-ipam',
      dataDir,
      ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]],
    },
  };
  const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/cc', CNI_IFNAME: 'eth0' };
  const add = await cni(bin, 'ADD', conf, env, [process.execPath]);
  const version = await cni(bin, 'VERSION', { cniVersion: '1.1.0' }, {}, [process.execPath]);
  return { add: add.json, version: version.json, stderr: add.stderr + version.stderr };
}

describe("podnet-ipam's V8 code cache (written by the build)", () => {
  it('is stamped with the bundle build id and accepted by this Node', () => {
    const source = readFileSync(main, 'utf8');
    const id = buildId(source);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const cache = readFileSync(`${main}.cache`);
    expect(cache.toString('latin1', 0, id.length + 1)).toBe(`${id}\n`);
    // the loader's own wrapping, in a clean Node (V8 rejects a cache made under other flags)
    const probe = spawnSync(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const vm = require('vm'); const m = ${JSON.stringify(main)};
         const s = fs.readFileSync(m, 'utf8'); const c = fs.readFileSync(m + '.cache');
         const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {' + s + '\\n})',
           { filename: m, cachedData: c.subarray(${id.length + 1}) });
         process.stdout.write(String(script.cachedDataRejected));`,
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    expect(probe.stderr).toBe('');
    expect(probe.stdout).toBe('false');
  });

  it('gives the same ADD and VERSION answers with a valid, corrupt, stale or missing cache', async () => {
    const good = await addAndVersion(install('good'), 'good');
    expect(good.add).toMatchObject({
      ips: [
        { address: '10.77.0.2/24', gateway: '10.77.0.1' },
        { address: 'fd77::2/64', gateway: 'fd77::1' },
      ],
    });
    expect(good.version).toMatchObject({ cniVersion: '1.1.0' });

    const corrupt = install('corrupt');
    const cacheFile = join(dirname(corrupt), 'podnet-ipam-main.cjs.cache');
    const cache = readFileSync(cacheFile);
    const header = cache.indexOf(10) + 1;
    writeFileSync(
      cacheFile,
      Buffer.concat([cache.subarray(0, header), Buffer.alloc(cache.length - header, 0x5a)]),
    );

    const stale = install('stale');
    const staleMain = join(dirname(stale), 'podnet-ipam-main.cjs');
    const source = readFileSync(staleMain, 'utf8');
    writeFileSync(
      staleMain,
      `${source.slice(0, source.lastIndexOf(TAG))}${TAG}${'0'.repeat(32)}\n`,
    );

    const missing = install('missing');
    rmSync(join(dirname(missing), 'podnet-ipam-main.cjs.cache'));
    expect(existsSync(join(dirname(missing), 'podnet-ipam-main.cjs.cache'))).toBe(false);

    const noHelper = install('no-helper');
    rmSync(join(dirname(dirname(noHelper)), 'ipam-native.node'));

    for (const [name, bin] of [
      ['corrupt', corrupt],
      ['stale', stale],
      ['missing', missing],
      ['no native helper', noHelper],
    ] as const) {
      const got = await addAndVersion(bin, name);
      expect(got.add, name).toEqual(good.add);
      expect(got.version, name).toEqual(good.version);
      expect(got.stderr, name).toBe('');
    }
  });

  it('is used by the loader, with and without the native helper', async () => {
    const withHelper = install('used');
    const withoutHelper = install('used-js');
    rmSync(join(dirname(dirname(withoutHelper)), 'ipam-native.node'));
    for (const bin of [withHelper, withoutHelper]) {
      const run = await cni(
        bin,
        'VERSION',
        { cniVersion: '1.1.0' },
        { PODNET_IPAM_CODE_CACHE_REPORT: '1' },
        [process.execPath],
      );
      expect(run.stderr, bin).toBe('podnet-ipam: code cache used\n');
    }
    const missing = install('report-missing');
    rmSync(join(dirname(missing), 'podnet-ipam-main.cjs.cache'));
    const run = await cni(
      missing,
      'VERSION',
      { cniVersion: '1.1.0' },
      { PODNET_IPAM_CODE_CACHE_REPORT: '1' },
      [process.execPath],
    );
    expect(run.stderr).toBe('podnet-ipam: code cache missing\n');
  });

  it('PODNET_IPAM_WRITE_CODE_CACHE=1 rewrites the cache after a real invocation', async () => {
    const bin = install('rewrite');
    const cacheFile = join(dirname(bin), 'podnet-ipam-main.cjs.cache');
    rmSync(cacheFile);
    const id = buildId(readFileSync(join(dirname(bin), 'podnet-ipam-main.cjs'), 'utf8'));
    await cni(bin, 'VERSION', { cniVersion: '1.1.0' }, { PODNET_IPAM_WRITE_CODE_CACHE: '1' }, [
      process.execPath,
    ]);
    const cache = readFileSync(cacheFile);
    expect(cache.toString('latin1', 0, id.length + 1)).toBe(`${id}\n`);
    expect(cache.length).toBeGreaterThan(1000);
  });
});
