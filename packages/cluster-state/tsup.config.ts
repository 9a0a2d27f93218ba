import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/sources/index.ts',
    'src/kubernetes/index.ts',
    'src/testing/index.ts',
  ],
  format: 'esm',
  target: 'node20',
  dts: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
});
