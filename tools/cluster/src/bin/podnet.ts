#!/usr/bin/env node
import { main } from '../cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`podnet: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
