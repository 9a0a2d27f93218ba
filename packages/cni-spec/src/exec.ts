import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_ERROR_CODES, CniError } from './errors.js';

/** One plugin process to run. */
export interface PluginRunRequest {
  /** Absolute path of the plugin binary. */
  pluginPath: string;
  env: Record<string, string | undefined>;
  stdin: string;
  timeoutMs: number;
  /** Run the plugin inside this network namespace (a path), through `nsenter --net=PATH`. */
  netns?: string;
}

/** What the plugin process left. */
export interface PluginRunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** The port through which plugins are found and run (swap in a fake from `/testing`). */
export interface PluginExec {
  /** The path of plugin `type` in the first of `dirs` that has it; throws code 5 when none. */
  find(type: string, dirs: readonly string[]): string;
  run(request: PluginRunRequest): Promise<PluginRunResult>;
}

/** Finds plugin `type` as an executable file in the first directory of `dirs` that holds one. */
export function findPlugin(type: string, dirs: readonly string[]): string {
  if (!type || type.includes('/') || type === '.' || type === '..') {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      `invalid plugin type ${JSON.stringify(type)}`,
    );
  }
  for (const dir of dirs) {
    const p = join(dir, type);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  throw new CniError(CNI_ERROR_CODES.IO_FAILURE, `failed to find plugin "${type}" in path`, {
    details: `searched ${JSON.stringify([...dirs])}`,
  });
}

/** Runs a plugin as a child process; kills it with SIGKILL after `timeoutMs` (code 11). */
export function runPluginProcess(request: PluginRunRequest): Promise<PluginRunResult> {
  return new Promise((resolve, reject) => {
    const [file, args] = request.netns
      ? ['nsenter', [`--net=${request.netns}`, '--', request.pluginPath]]
      : [request.pluginPath, []];
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: request.env as NodeJS.ProcessEnv,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, request.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(
        new CniError(CNI_ERROR_CODES.IO_FAILURE, `cannot run plugin ${request.pluginPath}`, {
          details: cause.message,
          cause,
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(
          new CniError(CNI_ERROR_CODES.TRY_AGAIN_LATER, `plugin ${request.pluginPath} timed out`, {
            details: `killed after ${request.timeoutMs} ms${stderr ? `; stderr: ${stderr.trim()}` : ''}`,
          }),
        );
        return;
      }
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr,
        code: code ?? (signal ? 128 : 1),
      });
    });
    child.stdin.end(request.stdin);
  });
}

/** The default {@link PluginExec}: executables on disk, run as child processes. */
export const processExec: PluginExec = { find: findPlugin, run: runPluginProcess };

const NETNS_PATH = /^\/[A-Za-z0-9_./-]{1,254}$/;

/**
 * A {@link PluginExec} that runs every plugin inside the network namespace at `netnsPath` (e.g.
 * a namespace playing a node), so host-side links, routes and NAT rules land there.
 */
export function netnsExec(netnsPath: string): PluginExec {
  if (!NETNS_PATH.test(netnsPath) || netnsPath.split('/').includes('..')) {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_ENVIRONMENT,
      `invalid network namespace path ${JSON.stringify(netnsPath)}`,
    );
  }
  return { find: findPlugin, run: (request) => runPluginProcess({ ...request, netns: netnsPath }) };
}

/**
 * Turns a finished plugin run into its stdout (exit 0) or throws the plugin's {@link CniError}
 * (its error JSON, or code 999 with stderr when it printed none).
 */
export function pluginOutput(type: string, command: string, r: PluginRunResult): string {
  if (r.code === 0) return r.stdout;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {}
  const err = CniError.fromJSON(parsed);
  if (err) {
    throw new CniError(err.code, `plugin ${type} failed (${command}): ${err.msg}`, {
      details: err.details,
      cniVersion: err.cniVersion,
    });
  }
  throw new CniError(
    CNI_ERROR_CODES.INTERNAL,
    `plugin ${type} failed (${command}) with exit code ${r.code}`,
    {
      details: (r.stderr || r.stdout).trim().slice(0, 2000) || undefined,
    },
  );
}
