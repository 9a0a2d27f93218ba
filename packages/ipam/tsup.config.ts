import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts', 'src/testing/index.ts', 'src/plugin.ts'],
    format: 'esm',
    target: 'node20',
    dts: true,
    clean: true,
    tsconfig: 'tsconfig.build.json',
  },
  {
    // The exec'd plugin is one self-contained file so it starts fast, run by a small loader from
    // V8's code cache (scripts/build-code-cache.mjs). CommonJS starts faster than an ES module
    // entry (no ESM loader).
    entry: {
      'bin/podnet-ipam': 'src/bin/podnet-ipam.ts',
      'bin/podnet-ipam-main': 'src/bin/podnet-ipam-main.ts',
    },
    format: 'cjs',
    target: 'node20',
    noExternal: [/.*/],
    esbuildOptions: (o) => {
      o.conditions = ['source'];
      // less text to read and hash at start; names are kept for readable stack traces
      o.minifyWhitespace = true;
      o.minifySyntax = true;
    },
    tsconfig: 'tsconfig.build.json',
  },
]);
