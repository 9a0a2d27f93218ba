import { readFileSync } from 'node:fs';
import {
  CniError,
  type CniResult,
  type GcContext,
  type PluginContext,
  type PluginHandlers,
} from '@podnet/cni-spec';
import { canonicalIp } from './addr.js';
import { Allocator } from './allocator.js';
import { type IpamConfig, parseIpamConfig } from './config.js';
import { IpamError, cniCodeFor } from './errors.js';
import { FileStore } from './file-store.js';
import { pickAddress } from './range.js';
import { parseResolvConf } from './resolv-conf.js';
import type { Store } from './store.js';

/** Options for {@link createIpamPlugin}. */
export interface IpamPluginOptions {
  /** The store of a network (default: host-local's layout under `dataDir/<network name>`). */
  storeFor?: (network: string, config: IpamConfig) => Store;
}

function toCniError(error: unknown): unknown {
  if (!IpamError.isInstance(error)) return error;
  return new CniError(cniCodeFor(error), error.message, {
    details: error.field === undefined ? undefined : `field ${error.field}`,
    path: error.field === undefined ? undefined : `$.${error.field}`,
    cause: error,
  });
}

function guard<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (error) {
      throw toCniError(error);
    }
  };
}

function ipList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new IpamError('INVALID_CONFIG', `${field}: want an array of IP addresses`, {
      field,
      value,
    });
  }
  return value as string[];
}

/**
 * The addresses a runtime asks for: `runtimeConfig.ips` (the `ips` capability), `args.cni.ips`
 * and `IP=` in `CNI_ARGS` (comma-separated), de-duplicated.
 */
export function requestedIps(ctx: Pick<PluginContext, 'config' | 'args'>): string[] {
  const out = [
    ...ipList(ctx.config.runtimeConfig?.ips, 'runtimeConfig.ips'),
    ...ipList((ctx.config.args?.cni as { ips?: unknown } | undefined)?.ips, 'args.cni.ips'),
    ...(ctx.args.IP
      ? ctx.args.IP.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : []),
  ];
  const seen = new Set<string>();
  return out.filter((raw) => {
    const key = canonicalIp(raw.split('/')[0]) ?? raw;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The handlers of the `podnet-ipam` CNI IPAM plugin, a drop-in for host-local: ADD allocates
 * one address per range set (honouring requested IPs), DEL releases by container ID and ifname,
 * CHECK verifies the attachment still holds its addresses, GC keeps only the valid
 * attachments, STATUS fails with code 50 when the store is unusable or a range set is full.
 */
export function createIpamPlugin(options: IpamPluginOptions = {}): PluginHandlers {
  const open = (ctx: PluginContext) => {
    const config = parseIpamConfig(ctx.config.ipam);
    const store =
      options.storeFor?.(ctx.config.name, config) ??
      FileStore.forNetwork(ctx.config.name, config.dataDir);
    return { config, allocator: new Allocator(config, store) };
  };
  return {
    add: guard(async (ctx: PluginContext): Promise<CniResult> => {
      const { config, allocator } = open(ctx);
      let dns: CniResult['dns'];
      if (config.resolvConf !== undefined) {
        try {
          dns = parseResolvConf(readFileSync(config.resolvConf, 'utf8'));
        } catch (cause) {
          throw new IpamError(
            'INVALID_CONFIG',
            `ipam.resolvConf: cannot read ${config.resolvConf}`,
            {
              field: 'ipam.resolvConf',
              cause,
            },
          );
        }
      }
      const ips = await allocator.allocate(ctx.containerId, ctx.ifName, {
        requestedIps: requestedIps(ctx),
      });
      const result: CniResult = {
        cniVersion: '1.1.0',
        ips: ips.map((ip) =>
          ip.gateway === undefined
            ? { address: ip.address }
            : { address: ip.address, gateway: ip.gateway },
        ),
      };
      if (config.routes.length > 0) result.routes = config.routes.map((r) => ({ ...r }));
      result.dns = dns ?? {};
      return result;
    }),
    del: guard(async (ctx: PluginContext) => {
      const { allocator } = open(ctx);
      await allocator.release(ctx.containerId, ctx.ifName);
    }),
    check: guard(async (ctx: PluginContext) => {
      const { allocator } = open(ctx);
      const held = await allocator.get(ctx.containerId, ctx.ifName);
      const missing = allocator.rangeSets.filter(
        (_, i) => !held.some((h) => h.rangeSetIndex === i),
      );
      if (missing.length > 0) {
        throw new CniError(3, `failed to find address added by container ${ctx.containerId}`, {
          details: `no address in ${missing.length} of ${allocator.rangeSets.length} range sets`,
        });
      }
    }),
    gc: guard(async (ctx: GcContext) => {
      const { allocator } = open(ctx);
      await allocator.gc(
        ctx.validAttachments.map((a) => ({ containerId: a.containerID, ifName: a.ifname })),
      );
    }),
    status: guard(async (ctx: PluginContext) => {
      const { allocator } = open(ctx);
      let full: number[];
      try {
        full = await allocator.store.withLock((tx) =>
          allocator.rangeSets.flatMap((set, i) =>
            pickAddress(set, (ip) => tx.has(ip), tx.lastReserved(i)) ? [] : [i],
          ),
        );
      } catch (cause) {
        throw new CniError(50, 'address store unavailable', {
          details: (cause as Error).message,
          cause,
        });
      }
      if (full.length > 0) {
        throw new CniError(50, `no IP addresses available in range set ${full.join(', ')}`);
      }
    }),
  };
}
