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
  // KubernetesSource gets @kubernetes/client-node's KubeConfig and Watch bundled into its entry,
  // tree-shaken: importing the package loads every generated model, ~0.75 s and ~72 MB of RSS
  // in each process that lists the API (the agent and podnet-dns on every node), against
  // ~0.16 s and ~23 MB bundled. Types still come from the package (an optional peer), and a
  // KubeConfig of the user's own copy is accepted as it is (only its methods are called).
  noExternal: ['@kubernetes/client-node'],
  // the CommonJS modules bundled with it (node-fetch, ws, ...) require Node's built-ins
  banner: {
    js: "import { createRequire as __podnetCreateRequire } from 'node:module';\nconst require = __podnetCreateRequire(import.meta.url);",
  },
});
