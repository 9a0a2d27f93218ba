import { cidrFamily } from './addr.js';
import { CNI_ERROR_CODES, CniError } from './errors.js';
import type {
  AnyCniResult,
  CniInterface,
  CniIpConfig,
  CniResult,
  CniRoute,
  LegacyCniResult,
  LegacyIpConfig,
} from './types.js';

const LEGACY = new Set(['0.3.0', '0.3.1', '0.4.0']);
const MODERN = new Set(['1.0.0', '1.1.0']);

function refuse(from: string, to: string): never {
  throw new CniError(
    CNI_ERROR_CODES.INCOMPATIBLE_VERSION,
    `cannot convert a ${from} result to ${to}`,
    { details: 'conversions exist between 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0' },
  );
}

function pick<T extends object>(o: T, keys: readonly (keyof T)[]): T {
  const out = {} as T;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

const IF_10: (keyof CniInterface)[] = ['name', 'mac', 'sandbox'];
const IF_11: (keyof CniInterface)[] = ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'];
const ROUTE_10: (keyof CniRoute)[] = ['dst', 'gw'];
const ROUTE_11: (keyof CniRoute)[] = ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'];
const IP_1X: (keyof CniIpConfig)[] = ['address', 'gateway', 'interface'];

/**
 * Converts a result between spec versions 0.3.0, 0.3.1, 0.4.0, 1.0.0 and 1.1.0 (pure): to
 * 0.3.x/0.4.0 it adds `ips[].version` and drops fields those versions lack; to 1.x it drops
 * `ips[].version`; to 1.0.0 it drops the 1.1.0-only interface and route fields. Anything else is
 * refused with {@link CniError} code 1.
 */
export function convertResult(result: AnyCniResult, toVersion: '1.0.0' | '1.1.0'): CniResult;
export function convertResult(
  result: AnyCniResult,
  toVersion: '0.3.0' | '0.3.1' | '0.4.0',
): LegacyCniResult;
export function convertResult(result: AnyCniResult, toVersion: string): AnyCniResult;
export function convertResult(result: AnyCniResult, toVersion: string): AnyCniResult {
  const from = result.cniVersion;
  if (!(LEGACY.has(from) || MODERN.has(from))) refuse(from, toVersion);
  if (!(LEGACY.has(toVersion) || MODERN.has(toVersion))) refuse(from, toVersion);
  const legacy = LEGACY.has(toVersion);
  const ifKeys = toVersion === '1.1.0' ? IF_11 : IF_10;
  const routeKeys = toVersion === '1.1.0' ? ROUTE_11 : ROUTE_10;
  const out: AnyCniResult = { cniVersion: toVersion };
  if (result.interfaces)
    out.interfaces = result.interfaces.map((i) => pick(i as CniInterface, ifKeys));
  if (result.ips) {
    out.ips = result.ips.map((ip) => {
      const base = pick(ip as CniIpConfig, IP_1X);
      if (!legacy) return base;
      const fam = cidrFamily(ip.address);
      return { ...base, version: fam === 6 ? '6' : '4' } as LegacyIpConfig;
    }) as LegacyIpConfig[];
  }
  if (result.routes) out.routes = result.routes.map((r) => pick(r as CniRoute, routeKeys));
  if (result.dns) {
    const dns = pick(result.dns, ['nameservers', 'domain', 'search', 'options']);
    out.dns = dns;
  }
  return out;
}
