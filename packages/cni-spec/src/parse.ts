import { cidrFamily, ipFamily } from './addr.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import type {
  AnyCniResult,
  CniResult,
  DnsConfig,
  GcAttachment,
  IpamConfig,
  NetConf,
  NetConfList,
  PluginConf,
} from './types.js';
import { compareVersions, isVersion, SUPPORTED_VERSIONS } from './version.js';
import { convertResult } from './convert.js';

type Obj = Record<string, unknown>;

/**
 * Network names: alphanumeric plus `-`, `_` and `.` (libcni's rule), at most
 * {@link MAX_NETWORK_NAME_LENGTH} characters: usable as a directory name.
 */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;

/**
 * The longest network name: 255 characters, the kernel's limit for one file name (the spec: a
 * name "must not contain characters disallowed in file paths"; IPAM stores use it as a directory).
 */
export const MAX_NETWORK_NAME_LENGTH = 255;

function checkName(c: Checker, v: unknown): void {
  const name = c.str(v, '$.name');
  if (name.length > MAX_NETWORK_NAME_LENGTH) {
    c.fail(
      '$.name',
      `must be at most ${MAX_NETWORK_NAME_LENGTH} characters (it names directories), got ${name.length}`,
    );
  }
  if (!NETWORK_NAME.test(name)) c.fail('$.name', 'must be alphanumeric with optional - _ .');
}

const LEGACY = new Set(['0.3.0', '0.3.1', '0.4.0']);

class Checker {
  constructor(
    private readonly code: number,
    private readonly what: string,
  ) {}

  fail(path: string, why: string): never {
    throw new CniError(this.code, `${this.what}: ${path}: ${why}`, { path });
  }

  obj(v: unknown, path: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.fail(path, 'must be an object');
    return v as Obj;
  }

  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'must be an array');
    return v;
  }

  str(v: unknown, path: string, nonEmpty = true): string {
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    if (nonEmpty && v === '') this.fail(path, 'must not be empty');
    return v;
  }

  optStr(o: Obj, key: string, path: string): void {
    if (o[key] !== undefined) this.str(o[key], `${path}.${key}`, false);
  }

  strArr(v: unknown, path: string, each?: (s: string, p: string) => void): string[] {
    return this.arr(v, path).map((s, i) => {
      const out = this.str(s, `${path}[${i}]`);
      each?.(out, `${path}[${i}]`);
      return out;
    });
  }

  bool(v: unknown, path: string, allowString = false): boolean {
    if (typeof v === 'boolean') return v;
    if (allowString && (v === 'true' || v === 'false')) return v === 'true';
    this.fail(path, 'must be a boolean');
  }

  int(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `must be an integer from ${min} to ${max}`);
    }
    return v;
  }

  ip(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (!ipFamily(s)) this.fail(path, `${JSON.stringify(s)} is not an IP address`);
    return s;
  }

  cidr(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (!cidrFamily(s)) this.fail(path, `${JSON.stringify(s)} is not an address/prefix (CIDR)`);
    return s;
  }

  version(v: unknown, path: string): string {
    if (!isVersion(v)) this.fail(path, 'must be a version string like "1.0.0"');
    return v;
  }

  dns(v: unknown, path: string): DnsConfig {
    const o = this.obj(v, path);
    if (o.nameservers !== undefined) this.strArr(o.nameservers, `${path}.nameservers`);
    this.optStr(o, 'domain', path);
    if (o.search !== undefined) this.strArr(o.search, `${path}.search`);
    if (o.options !== undefined) this.strArr(o.options, `${path}.options`);
    return o as DnsConfig;
  }
}

function decode(input: unknown, what: string): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input);
  } catch (cause) {
    throw new CniError(CNI_ERROR_CODES.DECODE_FAILURE, `${what}: invalid JSON`, {
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    });
  }
}

function checkPluginKeys(c: Checker, o: Obj, path: string): void {
  const type = c.str(o.type, `${path}.type`);
  if (type.includes('/') || type === '.' || type === '..') {
    c.fail(`${path}.type`, 'must be a plugin binary name, not a path');
  }
  if (o.ipMasq !== undefined) c.bool(o.ipMasq, `${path}.ipMasq`);
  if (o.ipam !== undefined) {
    const ipam = c.obj(o.ipam, `${path}.ipam`) as IpamConfig;
    const t = c.str(ipam.type, `${path}.ipam.type`);
    if (t.includes('/')) c.fail(`${path}.ipam.type`, 'must be a plugin binary name, not a path');
  }
  if (o.dns !== undefined) c.dns(o.dns, `${path}.dns`);
  if (o.capabilities !== undefined) {
    const caps = c.obj(o.capabilities, `${path}.capabilities`);
    for (const [k, v] of Object.entries(caps)) c.bool(v, `${path}.capabilities.${k}`);
  }
  if (o.runtimeConfig !== undefined) c.obj(o.runtimeConfig, `${path}.runtimeConfig`);
  if (o.args !== undefined) c.obj(o.args, `${path}.args`);
}

function checkAttachments(c: Checker, v: unknown, path: string): GcAttachment[] {
  return c.arr(v, path).map((a, i) => {
    const o = c.obj(a, `${path}[${i}]`);
    return {
      containerID: c.str(o.containerID, `${path}[${i}].containerID`),
      ifname: c.str(o.ifname, `${path}[${i}].ifname`),
    };
  });
}

/**
 * Parses and validates one plugin configuration (what a plugin reads on stdin). A missing
 * `cniVersion` means `0.1.0`; `prevResult` is validated in its own version and converted to the
 * 1.1.0 shape. Throws {@link CniError} code 6 for bad JSON and 7 (with the JSON path) for a bad
 * value.
 */
export function parseNetConf(input: unknown): NetConf {
  const c: Checker = new Checker(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, 'invalid network config');
  const o = { ...c.obj(decode(input, 'network config'), '$') };
  o.cniVersion = o.cniVersion === undefined ? '0.1.0' : c.version(o.cniVersion, '$.cniVersion');
  checkName(c, o.name);
  checkPluginKeys(c, o, '$');
  if (o.prevResult !== undefined) {
    const raw = c.obj(o.prevResult, '$.prevResult');
    const version = raw.cniVersion ?? o.cniVersion;
    o.prevResult = convertResult(parseResultAt(raw, String(version), '$.prevResult', c), '1.1.0');
  }
  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    if (o[key] !== undefined) o[key] = checkAttachments(c, o[key], `$["${key}"]`);
  }
  return o as NetConf;
}

/**
 * Parses and validates a network configuration list (a `.conflist`). Throws {@link CniError}
 * code 6 for bad JSON and 7 (with the JSON path) for a bad value.
 */
export function parseNetConfList(input: unknown): NetConfList {
  const c: Checker = new Checker(
    CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
    'invalid network config list',
  );
  const o = { ...c.obj(decode(input, 'network config list'), '$') };
  checkName(c, o.name);
  if (o.cniVersions !== undefined) {
    o.cniVersions = c
      .arr(o.cniVersions, '$.cniVersions')
      .map((v, i) => c.version(v, `$.cniVersions[${i}]`));
  }
  if (o.cniVersion === undefined) {
    const vs = o.cniVersions as string[] | undefined;
    if (!vs || vs.length === 0) c.fail('$.cniVersion', 'is required (or a non-empty cniVersions)');
    o.cniVersion = [...vs].sort(compareVersions).at(-1);
  } else {
    c.version(o.cniVersion, '$.cniVersion');
  }
  if (o.disableCheck !== undefined) o.disableCheck = c.bool(o.disableCheck, '$.disableCheck', true);
  if (o.disableGC !== undefined) o.disableGC = c.bool(o.disableGC, '$.disableGC', true);
  const plugins = c.arr(o.plugins, '$.plugins');
  if (plugins.length === 0) c.fail('$.plugins', 'must list at least one plugin');
  o.plugins = plugins.map((p, i) => {
    const po = c.obj(p, `$.plugins[${i}]`);
    checkPluginKeys(c, po, `$.plugins[${i}]`);
    return po as PluginConf;
  });
  return o as unknown as NetConfList;
}

function parseResultAt(o: Obj, version: string, root: string, c: Checker): AnyCniResult {
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new CniError(
      CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
      `unsupported result version ${JSON.stringify(version)}`,
      { details: `supported: ${SUPPORTED_VERSIONS.join(', ')}`, path: `${root}.cniVersion` },
    );
  }
  const legacy = LEGACY.has(version);
  const modern11 = version === '1.1.0';
  const out: Obj = { ...o, cniVersion: version };
  let ifCount: number | undefined;
  if (o.interfaces !== undefined) {
    const list = c.arr(o.interfaces, `${root}.interfaces`);
    ifCount = list.length;
    out.interfaces = list.map((x, i) => {
      const p = `${root}.interfaces[${i}]`;
      const itf = c.obj(x, p);
      c.str(itf.name, `${p}.name`);
      for (const k of ['mac', 'sandbox', 'socketPath', 'pciID']) c.optStr(itf, k, p);
      if (itf.mtu !== undefined) c.int(itf.mtu, `${p}.mtu`, 0, 2 ** 31 - 1);
      return { ...itf };
    });
  }
  if (o.ips !== undefined) {
    out.ips = c.arr(o.ips, `${root}.ips`).map((x, i) => {
      const p = `${root}.ips[${i}]`;
      const ip = { ...c.obj(x, p) };
      const fam = cidrFamily(c.cidr(ip.address, `${p}.address`));
      if (ip.gateway !== undefined) {
        if (ipFamily(c.ip(ip.gateway, `${p}.gateway`)) !== fam)
          c.fail(`${p}.gateway`, 'family differs from address');
      }
      if (ip.interface !== undefined) {
        c.int(ip.interface, `${p}.interface`, 0, 2 ** 31 - 1);
        if (ifCount !== undefined && (ip.interface as number) >= ifCount) {
          c.fail(`${p}.interface`, `index ${ip.interface} is outside interfaces (${ifCount})`);
        }
      }
      if (legacy) {
        if (ip.version === undefined) ip.version = String(fam);
        else if (ip.version !== String(fam))
          c.fail(`${p}.version`, `must be "${fam}" for this address`);
      } else {
        delete ip.version;
      }
      return ip;
    });
  }
  if (o.routes !== undefined) {
    out.routes = c.arr(o.routes, `${root}.routes`).map((x, i) => {
      const p = `${root}.routes[${i}]`;
      const r = c.obj(x, p);
      c.cidr(r.dst, `${p}.dst`);
      if (r.gw !== undefined) c.ip(r.gw, `${p}.gw`);
      if (modern11) {
        for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope']) {
          if (r[k] !== undefined) c.int(r[k], `${p}.${k}`, 0, 2 ** 32 - 1);
        }
      }
      return { ...r };
    });
  }
  if (o.dns !== undefined) c.dns(o.dns, `${root}.dns`);
  return out as unknown as AnyCniResult;
}

/**
 * Parses and validates a result of version 0.3.0-1.1.0 (from `cniVersion`, or `defaultVersion`
 * when it has none), keeping its version's shape; 0.3.x/0.4.0 `ips[].version` is filled in when
 * missing. Throws {@link CniError} code 6 (bad JSON or value, with the JSON path) or 1 (a version
 * this package cannot read).
 */
export function parseResult(input: unknown, defaultVersion?: string): AnyCniResult {
  const c: Checker = new Checker(CNI_ERROR_CODES.DECODE_FAILURE, 'invalid result');
  const o = c.obj(decode(input, 'result'), '$');
  const version = o.cniVersion ?? defaultVersion;
  if (version === undefined) c.fail('$.cniVersion', 'is required');
  return parseResultAt(o, c.str(version, '$.cniVersion'), '$', c);
}

/** {@link parseResult} then {@link convertResult} to the 1.1.0 shape. */
export function parseResultAsCurrent(input: unknown, defaultVersion?: string): CniResult {
  return convertResult(parseResult(input, defaultVersion), '1.1.0') as CniResult;
}
