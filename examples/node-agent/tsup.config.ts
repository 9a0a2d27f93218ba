import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/bin/podnet-agent.ts'],
  format: 'esm',
  target: 'node20',
  dts: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
});
