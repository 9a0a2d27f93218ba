#!/usr/bin/env node
import { runDemo } from '../demo.js';

if (process.getuid?.() !== 0) {
  process.stderr.write('podnet demo: run as root (it creates network namespaces)\n');
  process.exit(2);
}
runDemo().then(
  (checks) => process.exit(checks.every((c) => c.ok) ? 0 : 1),
  (e: unknown) => {
    process.stderr.write(`podnet demo failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
