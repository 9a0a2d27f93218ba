import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript plugin entry (with this package's sources inlined) into one executable
 * CommonJS file `<dir>/<name>` (no extension, as plugins are named), as a plugin would be
 * shipped; returns the directory.
 */
export async function bundlePlugin(
  entry: string,
  name: string,
  dir = mkdtempSync(join(tmpdir(), 'cni-spec-bin-')),
): Promise<string> {
  const outfile = join(dir, name);
  await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    conditions: ['source'],
    logLevel: 'silent',
  });
  const code = readFileSync(outfile, 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(outfile, `#!/usr/bin/env node\n${code}`);
  chmodSync(outfile, 0o755);
  return dir;
}

/** Runs an executable with `input` on stdin; resolves with stdout and the exit code (never rejects on exit). */
export function runWithInput(
  file: string,
  args: readonly string[],
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, code: code ?? 1 }));
    child.stdin.end(input);
  });
}
