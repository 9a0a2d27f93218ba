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
    // The exec'd plugin is one self-contained file so it starts fast.
    // CommonJS starts faster than an ES module entry (no ESM loader).
    entry: { 'bin/podnet-ipam': 'src/bin/podnet-ipam.ts' },
    format: 'cjs',
    target: 'node20',
    noExternal: [/.*/],
    esbuildOptions: (o) => {
      o.conditions = ['source'];
    },
    tsconfig: 'tsconfig.build.json',
  },
]);
