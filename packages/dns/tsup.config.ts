import { defineConfig } from 'tsup';

export default defineConfig({
  entry: [
    'src/index.ts',
    'src/testing/index.ts',
    'src/bin/podnet-dns.ts',
    // the UDP worker thread's entry (udp-workers.ts starts it from dist/)
    'src/udp-worker.ts',
  ],
  format: 'esm',
  target: 'node20',
  dts: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
});
