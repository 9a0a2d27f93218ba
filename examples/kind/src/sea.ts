import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

/** What {@link buildSea} produced. */
export interface SeaBuild {
  readonly outFile: string;
  readonly bytes: number;
  readonly bundleBytes: number;
  readonly ms: number;
}

/** The sentinel Node's single-executable loader looks for (Node 20+). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Builds a self-contained executable from a TypeScript/ESM entry: esbuild bundles it into one
 * CommonJS file (what Node 20's single-executable applications run), Node writes the SEA blob
 * with a code cache, and postject injects it into a copy of this node binary. The result needs
 * no Node.js on the machine that runs it.
 */
export async function buildSea(options: { entry: string; outFile: string }): Promise<SeaBuild> {
  const t0 = performance.now();
  const work = mkdtempSync(join(tmpdir(), 'podnet-sea-'));
  try {
    const bundle = join(work, 'main.cjs');
    await build({
      entryPoints: [resolve(options.entry)],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      conditions: ['source'],
      minify: true,
      legalComments: 'none',
      logLevel: 'error',
      define: { 'import.meta.url': '__podnet_import_meta_url' },
      banner: {
        js: "const __podnet_import_meta_url = require('url').pathToFileURL(__filename).href;",
      },
    });
    const blob = join(work, 'sea.blob');
    writeFileSync(
      join(work, 'sea-config.json'),
      JSON.stringify({
        main: bundle,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
      }),
    );
    execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], {
      stdio: 'pipe',
    });
    mkdirSync(dirname(resolve(options.outFile)), { recursive: true });
    const tmpOut = `${resolve(options.outFile)}.tmp`;
    copyFileSync(process.execPath, tmpOut);
    const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
    execFileSync(
      process.execPath,
      [postject, tmpOut, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
      {
        stdio: 'pipe',
      },
    );
    chmodSync(tmpOut, 0o755);
    execFileSync('mv', ['-f', tmpOut, resolve(options.outFile)]);
    return {
      outFile: resolve(options.outFile),
      bytes: statSync(options.outFile).size,
      bundleBytes: statSync(bundle).size,
      ms: performance.now() - t0,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
