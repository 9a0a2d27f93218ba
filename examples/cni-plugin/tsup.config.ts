import { chmodSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing/index.ts', 'src/standalone.ts', 'src/protocol.ts'],
  format: 'esm',
  target: 'node20',
  dts: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
  // src/protocol.ts is also the `./protocol` subpath: the agent imports the one protocol module.
  // The shim is exec'd per CNI call: one self-contained CommonJS file (no ES module loader, no
  // chunks); the standalone mode stays out of it and is imported from dist/standalone.js.
  async onSuccess() {
    await build({
      entryPoints: ['src/bin/podnet.ts'],
      outfile: 'dist/bin/podnet.js',
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'warning',
      plugins: [
        {
          name: 'standalone-outside',
          setup(b) {
            b.onResolve({ filter: /^\.\/standalone\.js$/ }, () => ({
              path: '../standalone.js',
              external: true,
            }));
          },
        },
      ],
    });
    writeFileSync('dist/bin/package.json', '{ "type": "commonjs" }\n');
    chmodSync('dist/bin/podnet.js', 0o755);
  },
});
