import { existsSync } from 'node:fs';
import { formatCniArgs } from './args.js';
import { ResultCache } from './cache.js';
import { convertResult } from './convert.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import { type PluginExec, pluginOutput, processExec } from './exec.js';
import { parseResult } from './parse.js';
import {
  buildPluginConf,
  type GcAttachmentInput,
  negotiateVersion,
  type RuntimeConf,
  toGcAttachments,
} from './runtime-conf.js';
import { isValidContainerId, isValidIfName } from './skeleton.js';
import type { AnyCniResult, CniCommand, NetConfList, VersionInfo } from './types.js';
import { highestCommonVersion, SUPPORTED_VERSIONS, versionAtLeast } from './version.js';

/** Options for {@link CniRuntime}. */
export interface CniRuntimeOptions {
  /** Directories searched for plugin binaries, in order (default `['/opt/cni/bin']`). */
  binDirs?: readonly string[];
  /** Result cache root (default `/var/lib/cni`; results go to `<cacheDir>/results`). */
  cacheDir?: string;
  /** Kill a plugin that runs longer than this (default 60 000 ms). */
  timeoutMs?: number;
  /** Base environment for plugins (default `process.env`); `CNI_*` are set per call. */
  env?: Record<string, string | undefined>;
  /** Versions this runtime negotiates (default all of {@link SUPPORTED_VERSIONS}). */
  supportedVersions?: readonly string[];
  /** How plugins are found and run (default: child processes; see `@podnet/cni-spec/testing`). */
  exec?: PluginExec;
}

function validateRuntimeConf(rt: RuntimeConf, needNetns: boolean): void {
  if (!isValidContainerId(rt.containerId)) {
    throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'invalid containerId', {
      details: JSON.stringify(rt.containerId),
    });
  }
  if (!isValidIfName(rt.ifName)) {
    throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'invalid ifName', {
      details: JSON.stringify(rt.ifName),
    });
  }
  if (needNetns && !rt.netns)
    throw new CniError(CNI_ERROR_CODES.INVALID_ENVIRONMENT, 'netns is required');
}

/**
 * The libcni side: runs network configuration lists through their plugins. ADD runs the chain in
 * order passing each result on as `prevResult` and caches the final result on disk; DEL runs in
 * reverse with the cached result; CHECK in order with it; STATUS and GC (1.1.0) per plugin. GC
 * first DELs cached attachments that are not in the valid list.
 */
export class CniRuntime {
  readonly binDirs: readonly string[];
  readonly cache: ResultCache;
  readonly timeoutMs: number;
  private readonly env: Record<string, string | undefined>;
  private readonly supported: readonly string[];
  private readonly exec: PluginExec;

  constructor(options: CniRuntimeOptions = {}) {
    this.binDirs = options.binDirs ?? ['/opt/cni/bin'];
    this.cache = new ResultCache(options.cacheDir ?? '/var/lib/cni');
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.env = options.env ?? process.env;
    this.supported = options.supportedVersions ?? SUPPORTED_VERSIONS;
    this.exec = options.exec ?? processExec;
  }

  private readers = 0;
  private writer: Promise<void> | undefined;
  private readonly idle: (() => void)[] = [];

  private async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let release = () => {};
    this.writer = new Promise<void>((r) => {
      release = r;
    });
    try {
      while (this.readers > 0) await new Promise<void>((r) => this.idle.push(r));
      return await fn();
    } finally {
      this.writer = undefined;
      release();
    }
  }

  /** Runs ADD through the chain and caches the result; returns it in the negotiated version. */
  addNetworkList(list: NetConfList, rt: RuntimeConf): Promise<AnyCniResult> {
    return this.shared(() => this.add(list, rt));
  }

  /** Runs DEL in reverse order (with the cached result from 0.4.0 on), then drops the cache entry. */
  delNetworkList(list: NetConfList, rt: RuntimeConf): Promise<void> {
    return this.shared(() => this.del(list, rt));
  }

  /** Runs CHECK in order with the cached result (0.4.0+; skipped when `disableCheck`). */
  checkNetworkList(list: NetConfList, rt: RuntimeConf): Promise<void> {
    return this.shared(() => this.check(list, rt));
  }

  /**
   * Garbage-collects: DELs every cached attachment of this network missing from
   * `validAttachments`, then (1.1.0+, unless `disableGC`) runs GC on every plugin with
   * `cni.dev/valid-attachments` (and `cni.dev/attachments`). Keeps going past failures and throws
   * one error listing them all. Never overlaps an ADD/DEL/CHECK of this runtime object: it waits
   * for running ones and holds new ones back until it is done.
   */
  gcNetworkList(
    list: NetConfList,
    validAttachments: readonly GcAttachmentInput[] = [],
  ): Promise<void> {
    return this.exclusive(() => this.gc(list, validAttachments));
  }

  private async add(list: NetConfList, rt: RuntimeConf): Promise<AnyCniResult> {
    validateRuntimeConf(rt, true);
    const version = negotiateVersion(list, this.supported);
    let prev: AnyCniResult | undefined;
    for (let i = 0; i < list.plugins.length; i++) {
      const out = await this.invoke('ADD', list, i, version, rt, prev);
      try {
        prev = parseResult(out, version);
      } catch (cause) {
        throw new CniError(
          CNI_ERROR_CODES.DECODE_FAILURE,
          `plugin ${list.plugins[i]?.type} printed an invalid result`,
          {
            details: CniError.isInstance(cause) ? cause.message : String(cause),
            cause,
          },
        );
      }
    }
    const result = prev ? convertResult(prev, version) : { cniVersion: version };
    this.cache.write({
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      ifName: rt.ifName,
      networkName: list.name,
      netns: rt.netns,
      config: Buffer.from(JSON.stringify(list)).toString('base64'),
      cniArgs: rt.args ? (Array.isArray(rt.args) ? rt.args : Object.entries(rt.args)) : undefined,
      capabilityArgs: rt.capabilityArgs,
      result,
    });
    return result;
  }

  private async del(list: NetConfList, rt: RuntimeConf): Promise<void> {
    validateRuntimeConf(rt, false);
    const version = negotiateVersion(list, this.supported);
    const cached = versionAtLeast(version, '0.4.0') ? this.getCachedResult(list, rt) : undefined;
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      await this.invoke('DEL', list, i, version, rt, cached);
    }
    this.cache.remove(list.name, rt.containerId, rt.ifName);
  }

  private async check(list: NetConfList, rt: RuntimeConf): Promise<void> {
    validateRuntimeConf(rt, true);
    const version = negotiateVersion(list, this.supported);
    if (!versionAtLeast(version, '0.4.0')) {
      throw new CniError(
        CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
        `configuration version ${version} does not support CHECK`,
      );
    }
    if (list.disableCheck) return;
    const cached = this.getCachedResult(list, rt);
    if (!cached) {
      throw new CniError(
        CNI_ERROR_CODES.UNKNOWN_CONTAINER,
        `no cached result for ${list.name}/${rt.containerId}/${rt.ifName}`,
      );
    }
    for (let i = 0; i < list.plugins.length; i++) {
      await this.invoke('CHECK', list, i, version, rt, cached);
    }
  }

  /** Runs STATUS on every plugin (1.1.0+; a no-op for older lists). Throws the first not-ready error. */
  async statusNetworkList(list: NetConfList): Promise<void> {
    const version = negotiateVersion(list, this.supported);
    if (!versionAtLeast(version, '1.1.0')) return;
    for (let i = 0; i < list.plugins.length; i++) {
      await this.invoke('STATUS', list, i, version, undefined);
    }
  }

  private async gc(
    list: NetConfList,
    validAttachments: readonly GcAttachmentInput[],
  ): Promise<void> {
    const version = negotiateVersion(list, this.supported);
    const valid = toGcAttachments(validAttachments);
    const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
    const errors: CniError[] = [];
    for (const entry of this.cache.list(list.name)) {
      if (keep.has(`${entry.containerId}\0${entry.ifName}`)) continue;
      try {
        await this.del(list, {
          containerId: entry.containerId,
          ifName: entry.ifName,
          netns: entry.netns && existsSync(entry.netns) ? entry.netns : '',
          args: entry.cniArgs,
          capabilityArgs: entry.capabilityArgs,
        });
      } catch (e) {
        errors.push(CniError.from(e));
      }
    }
    if (versionAtLeast(version, '1.1.0') && !list.disableGC) {
      for (let i = 0; i < list.plugins.length; i++) {
        try {
          await this.invoke('GC', list, i, version, undefined, undefined, {
            'cni.dev/valid-attachments': valid,
            'cni.dev/attachments': valid,
          });
        } catch (e) {
          errors.push(CniError.from(e));
        }
      }
    }
    if (errors.length > 0) {
      const first = errors[0] as CniError;
      throw new CniError(first.code, `GC of ${list.name} had ${errors.length} error(s)`, {
        details: errors.map((e) => e.message).join('; '),
      });
    }
  }

  /** The cached ADD result of one attachment, or undefined. */
  getCachedResult(
    list: Pick<NetConfList, 'name'>,
    rt: Pick<RuntimeConf, 'containerId' | 'ifName'>,
  ): AnyCniResult | undefined {
    return this.cache.read(list.name, rt.containerId, rt.ifName)?.result;
  }

  /** Asks a plugin binary which versions it supports (VERSION). */
  async pluginVersions(type: string, cniVersion = '1.1.0'): Promise<VersionInfo> {
    const pluginPath = this.exec.find(type, this.binDirs);
    const r = await this.exec.run({
      pluginPath,
      env: { ...this.env, CNI_COMMAND: 'VERSION', CNI_PATH: this.binDirs.join(':') },
      stdin: JSON.stringify({ cniVersion }),
      timeoutMs: this.timeoutMs,
    });
    const out = JSON.parse(pluginOutput(type, 'VERSION', r)) as VersionInfo;
    if (!Array.isArray(out?.supportedVersions)) {
      throw new CniError(
        CNI_ERROR_CODES.DECODE_FAILURE,
        `plugin ${type} printed an invalid VERSION reply`,
      );
    }
    return out;
  }

  /** Checks that every plugin of the list exists and supports the negotiated version (code 1 if not). */
  async validateNetworkList(list: NetConfList): Promise<string> {
    const version = negotiateVersion(list, this.supported);
    for (const p of list.plugins) {
      const info = await this.pluginVersions(p.type, version);
      if (!info.supportedVersions.includes(version)) {
        throw new CniError(
          CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
          `plugin ${p.type} does not support ${version}`,
          {
            details: `it supports ${info.supportedVersions.join(', ')}`,
          },
        );
      }
      if (p.ipam?.type) await this.pluginVersions(p.ipam.type, version);
    }
    return version;
  }

  /**
   * Picks the version a list should run as by asking its plugins (and their IPAM plugins) with
   * VERSION: the highest of `cniVersions` (or `cniVersion`) that this runtime and every plugin
   * support. Returns a copy of the list pinned to it (`cniVersions` dropped), so ADD, CHECK and
   * DEL all run the same version. Throws code 1 when there is none.
   */
  async negotiateWithPlugins(list: NetConfList): Promise<NetConfList> {
    let candidates = (list.cniVersions?.length ? list.cniVersions : [list.cniVersion]).filter((v) =>
      this.supported.includes(v),
    );
    const types = list.plugins.flatMap((p) => (p.ipam?.type ? [p.type, p.ipam.type] : [p.type]));
    for (const type of [...new Set(types)]) {
      const info = await this.pluginVersions(type);
      candidates = candidates.filter((v) => info.supportedVersions.includes(v));
    }
    const version = highestCommonVersion(candidates, this.supported);
    if (!version) {
      throw new CniError(
        CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
        `network ${list.name}: no version every plugin supports`,
        {
          details: `list has ${JSON.stringify(list.cniVersions ?? [list.cniVersion])}`,
        },
      );
    }
    const { cniVersions: _drop, ...rest } = list;
    return { ...rest, cniVersion: version };
  }

  private async invoke(
    command: Exclude<CniCommand, 'VERSION'>,
    list: NetConfList,
    index: number,
    version: string,
    rt: RuntimeConf | undefined,
    prevResult?: AnyCniResult,
    extra?: Record<string, unknown>,
  ): Promise<string> {
    const type = list.plugins[index]?.type ?? '';
    const conf = { ...buildPluginConf(list, index, version, rt, prevResult), ...extra };
    const pluginPath = this.exec.find(type, this.binDirs);
    const env: Record<string, string | undefined> = {
      ...this.env,
      CNI_COMMAND: command,
      CNI_PATH: this.binDirs.join(':'),
      CNI_CONTAINERID: undefined,
      CNI_NETNS: undefined,
      CNI_IFNAME: undefined,
      CNI_ARGS: undefined,
    };
    if (rt) {
      env.CNI_CONTAINERID = rt.containerId;
      env.CNI_NETNS = rt.netns;
      env.CNI_IFNAME = rt.ifName;
      if (rt.args) env.CNI_ARGS = formatCniArgs(rt.args);
    }
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const r = await this.exec.run({
      pluginPath,
      env,
      stdin: JSON.stringify(conf),
      timeoutMs: this.timeoutMs,
    });
    return pluginOutput(type, command, r);
  }
}
