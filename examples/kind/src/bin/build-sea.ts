import { fileURLToPath } from 'node:url';
import { buildSea } from '../sea.js';

const entry = fileURLToPath(new URL('../../../cni-plugin/src/bin/podnet.ts', import.meta.url));
const outFile = process.argv[2] ?? fileURLToPath(new URL('../../dist/podnet', import.meta.url));
const result = await buildSea({ entry, outFile });
console.log(
  `built ${result.outFile}: ${(result.bytes / 1e6).toFixed(1)} MB (bundle ${(result.bundleBytes / 1e3).toFixed(0)} kB) in ${Math.round(result.ms)} ms`,
);
