#!/usr/bin/env node
import { runShim } from '../shim.js';

const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => {
  runShim({ env: process.env, stdin: Buffer.concat(chunks).toString('utf8') }).then((r) => {
    process.stdout.write(r.stdout, () => process.exit(r.exitCode));
  });
});
