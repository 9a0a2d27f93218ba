#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runDemo } from '../demo.js';
import { ClusterError } from '../errors.js';

const USAGE = `usage: npm run demo [-- --keep [--name NAME]]

  --keep         leave the cluster up (named "default") and print the commands to try next;
                 npx podnet down removes it
  --name NAME    the cluster's name (default: "demo", "default" with --keep)`;

let options: { keep: boolean; name?: string };
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      keep: { type: 'boolean', default: false },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  options = { keep: values.keep ?? false, ...(values.name ? { name: values.name } : {}) };
} catch (e) {
  process.stderr.write(`podnet demo: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('podnet demo: run as root (it creates network namespaces)\n');
  process.exit(2);
}
runDemo(options).then(
  (checks) => process.exit(checks.every((c) => c.ok) ? 0 : 1),
  (e: unknown) => {
    process.stderr.write(
      ClusterError.isInstance(e)
        ? `podnet demo failed: ${e.code}: ${e.message}\n`
        : `podnet demo failed: ${(e as Error).stack ?? String(e)}\n`,
    );
    process.exit(1);
  },
);
