#!/usr/bin/env node
// The runtime execs this for every CNI call, so it starts lean: the build bundles it into one
// CommonJS file (no ES module loader, no chunk imports), stdin is read and stdout written with
// plain synchronous fd calls, and the standalone mode is loaded only when a config asks for it.
import { readFileSync, writeSync } from 'node:fs';
import { runShim } from '../shim.js';

function readStdin(): Promise<string> {
  try {
    return Promise.resolve(readFileSync(0, 'utf8'));
  } catch {
    // a non-blocking stdin (EAGAIN) or an fd that cannot be read synchronously: stream it
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      process.stdin.on('data', (c: Buffer) => chunks.push(c));
      process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  }
}

function writeOut(text: string, exitCode: number): void {
  const bytes = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(1, bytes, off);
  } catch {
    process.stdout.write(bytes.subarray(off), () => process.exit(exitCode));
    return;
  }
  process.exit(exitCode);
}

void readStdin()
  .then((stdin) => runShim({ env: process.env, stdin, fifo: true }))
  .then((r) => writeOut(r.stdout, r.exitCode));
