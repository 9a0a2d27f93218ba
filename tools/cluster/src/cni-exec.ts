import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterError } from './errors.js';

/**
 * The libcni side of a container runtime, reduced to what the namespace cluster needs: read the
 * first conflist of a conf dir, run its plugin chain with the CNI environment (ADD in order with
 * `prevResult`, DEL in reverse with the cached result), and cache the final ADD result per
 * (network, container, ifname) on disk as libcni does.
 */
export interface CniAttachment {
  containerId: string;
  netns: string;
  ifName: string;
  /** `K=V` pairs for CNI_ARGS (sent as `IgnoreUnknown=1;K=V;...`). */
  args: Record<string, string>;
  /** Runtime-config values; only those a plugin declares in `capabilities` reach it. */
  capabilityArgs?: Record<string, unknown>;
}

/** The parts of a CNI result the cluster reads. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** A conflist as read from disk. */
export interface CniConflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
  file: string;
}

/** Loads the first `*.conflist` of `dir` in lexical order (as containerd does). */
export async function loadFirstConflist(dir: string): Promise<CniConflist | undefined> {
  if (!existsSync(dir)) return undefined;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.conflist')).sort();
  const first = files[0];
  if (!first) return undefined;
  const file = join(dir, first);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new ClusterError('CNI_FAILED', `${file}: not valid JSON`, { cause });
  }
  const c = raw as Partial<CniConflist>;
  if (typeof c.name !== 'string' || !Array.isArray(c.plugins) || c.plugins.length === 0) {
    throw new ClusterError('CNI_FAILED', `${file}: a conflist needs name and plugins[]`);
  }
  return { cniVersion: c.cniVersion ?? '0.1.0', name: c.name, plugins: c.plugins, file };
}

/** Runs CNI plugin chains like libcni. */
export class CniExec {
  constructor(
    readonly options: {
      /** Directories searched for plugin binaries (CNI_PATH). */
      binDirs: string[];
      /** Result cache directory (libcni: /var/lib/cni). */
      cacheDir: string;
      /** Run plugins inside this network namespace (the node's), as a runtime on that node would. */
      netnsPath?: string;
      timeoutMs?: number;
    },
  ) {}

  private cacheFile(net: string, a: { containerId: string; ifName: string }): string {
    return join(this.options.cacheDir, 'results', `${net}-${a.containerId}-${a.ifName}`);
  }

  /** ADD through the whole chain; caches and returns the final result. */
  async add(conf: CniConflist, a: CniAttachment): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (const plugin of conf.plugins) {
      prev = await this.invoke('ADD', conf, plugin, a, prev);
    }
    const file = this.cacheFile(conf.name, a);
    await mkdir(join(this.options.cacheDir, 'results'), { recursive: true });
    const entry = {
      kind: 'cniCacheV1',
      containerId: a.containerId,
      ifName: a.ifName,
      networkName: conf.name,
      cniArgs: Object.entries(a.args),
      capabilityArgs: a.capabilityArgs ?? {},
      config: conf,
      result: prev,
    };
    await writeFile(`${file}.tmp`, JSON.stringify(entry));
    await rename(`${file}.tmp`, file);
    return prev ?? {};
  }

  /** The cached ADD result of an attachment, if any. */
  async cached(
    net: string,
    a: { containerId: string; ifName: string },
  ): Promise<CniResult | undefined> {
    try {
      return JSON.parse(await readFile(this.cacheFile(net, a), 'utf8')).result as CniResult;
    } catch {
      return undefined;
    }
  }

  /** DEL through the chain in reverse with the cached result; removes the cache entry. */
  async del(conf: CniConflist, a: CniAttachment): Promise<void> {
    const prev = await this.cached(conf.name, a);
    const errors: unknown[] = [];
    for (const plugin of [...conf.plugins].reverse()) {
      try {
        await this.invoke('DEL', conf, plugin, a, prev);
      } catch (e) {
        errors.push(e);
      }
    }
    await rm(this.cacheFile(conf.name, a), { force: true });
    if (errors.length > 0) {
      throw new ClusterError(
        'CNI_FAILED',
        `DEL ${a.containerId}: ${errors.map(String).join('; ')}`,
        {
          cause: errors[0],
        },
      );
    }
  }

  private findPlugin(type: string): string {
    for (const d of this.options.binDirs) {
      const p = join(d, type);
      if (existsSync(p)) return p;
    }
    throw new ClusterError(
      'CNI_FAILED',
      `plugin ${type} not found in ${this.options.binDirs.join(':')}`,
    );
  }

  private async invoke(
    command: 'ADD' | 'DEL',
    conf: CniConflist,
    plugin: Record<string, unknown>,
    a: CniAttachment,
    prev: CniResult | undefined,
  ): Promise<CniResult | undefined> {
    const type = plugin.type;
    if (typeof type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(type)) {
      throw new ClusterError(
        'CNI_FAILED',
        `${conf.file}: plugin type ${JSON.stringify(type)} is not valid`,
      );
    }
    const stdin: Record<string, unknown> = {
      ...plugin,
      name: conf.name,
      cniVersion: conf.cniVersion,
    };
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const runtimeConfig: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a.capabilityArgs ?? {})) if (caps[k]) runtimeConfig[k] = v;
    if (Object.keys(runtimeConfig).length > 0) stdin.runtimeConfig = runtimeConfig;
    if (prev) stdin.prevResult = prev;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: ['IgnoreUnknown=1', ...Object.entries(a.args).map(([k, v]) => `${k}=${v}`)].join(
        ';',
      ),
      CNI_PATH: this.options.binDirs.join(':'),
    };
    const file = this.findPlugin(type);
    const argv = this.options.netnsPath
      ? ['nsenter', `--net=${this.options.netnsPath}`, '--', file]
      : [file];
    const out = await runPlugin(argv, env, JSON.stringify(stdin), this.options.timeoutMs ?? 60_000);
    if (out.code !== 0) {
      let msg = out.stderr.trim() || out.stdout.trim();
      try {
        const e = JSON.parse(out.stdout) as { code?: number; msg?: string; details?: string };
        msg = `code ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ''}`;
      } catch {}
      throw new ClusterError(
        'CNI_FAILED',
        `${type} ${command} for ${a.containerId} failed: ${msg}`,
      );
    }
    if (command === 'DEL') return undefined;
    try {
      return JSON.parse(out.stdout) as CniResult;
    } catch (cause) {
      throw new ClusterError('CNI_FAILED', `${type} ADD printed no JSON result: ${out.stdout}`, {
        cause,
      });
    }
  }
}

function runPlugin(
  argv: string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.on('error', (cause) => {
      clearTimeout(timer);
      reject(
        new ClusterError('CNI_FAILED', `cannot start ${argv.join(' ')}: ${cause.message}`, {
          cause,
        }),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(stdin);
  });
}
