import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built plugin, as a runtime execs it. */
export const PODNET_IPAM = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../dist/bin/podnet-ipam.cjs',
);
export const DEBIAN_CNI = '/usr/lib/cni';

/** A CNI_PATH directory holding podnet-ipam and Debian's plugins; `remove()` deletes it. */
export function makeCniPath(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'podnet-ipam-cnipath-'));
  symlinkSync(PODNET_IPAM, join(dir, 'podnet-ipam'));
  for (const p of ['bridge', 'host-local', 'loopback'])
    symlinkSync(join(DEBIAN_CNI, p), join(dir, p));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CniRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** Execs a CNI plugin like a runtime: CNI_* env, config on stdin, JSON from stdout. */
export function execCni(
  bin: string,
  command: string,
  config: unknown,
  env: Record<string, string>,
  argvPrefix: string[] = [],
): { child: ReturnType<typeof spawn>; done: Promise<CniRun> } {
  const argv = [...argvPrefix, bin];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CNI_COMMAND: command,
      CNI_PATH: DEBIAN_CNI,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  child.stdin!.on('error', () => {});
  child.stdin!.end(JSON.stringify(config));
  const done = new Promise<CniRun>((resolve) => {
    child.on('close', (exitCode, signal) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ exitCode, signal, stdout, stderr, json });
    });
  });
  return { child, done };
}

/** {@link execCni} and wait; throws with the output when it fails. */
export async function cni(
  bin: string,
  command: string,
  config: unknown,
  env: Record<string, string>,
  argvPrefix: string[] = [],
): Promise<CniRun> {
  const r = await execCni(bin, command, config, env, argvPrefix).done;
  if (r.exitCode !== 0)
    throw new Error(`${bin} ${command} failed (${r.exitCode}): ${r.stdout} ${r.stderr}`);
  return r;
}
