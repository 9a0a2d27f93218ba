#!/usr/bin/env node
import { runCli } from '../cli.js';

runCli(process.argv.slice(2)).then((out) => {
  if (out.stderr) process.stderr.write(out.stderr);
  process.stdout.write(out.stdout, () => process.exit(out.exitCode));
});
