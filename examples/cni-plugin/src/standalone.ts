import {
  assertNetns,
  CNI_ERROR_CODES,
  CniError,
  type CniResult,
  type GcContext,
  handleInvocation,
  type PluginContext,
  type PluginOptions,
} from '@podnet/cni-spec';
import { assertIfName, assertNetnsPath, Host, HostError } from '@podnet/host';
import { Allocator, cniCodeFor, FileStore, IpamError, parseIpamConfig } from '@podnet/ipam';
import { writeFileSync } from 'node:fs';
import type { ShimInvocation } from './shim.js';
import type { ShimResponse } from './protocol.js';

/** Settings of standalone mode (`"mode": "standalone"` in the plugin configuration). */
export interface StandaloneConfig {
  /** The bridge pods attach to (default `pnbr0`); it gets each range's gateway. */
  readonly bridge: string;
  readonly mtu: number;
  /** Masquerade traffic from the pod subnets to anywhere else (default true). */
  readonly ipMasq: boolean;
}

/** Reads the standalone settings from a plugin configuration; throws CNI code 7 naming the field. */
export function parseStandaloneConfig(conf: Record<string, unknown>): StandaloneConfig {
  const bridge = conf.bridge ?? 'pnbr0';
  try {
    assertIfName(bridge);
  } catch {
    throw new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, 'bridge: want an interface name', {
      path: '$.bridge',
    });
  }
  const mtu = conf.mtu ?? 1500;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new CniError(
      CNI_ERROR_CODES.INVALID_NETWORK_CONFIG,
      'mtu: want an integer from 576 to 65535',
      { path: '$.mtu' },
    );
  }
  if (conf.ipMasq !== undefined && typeof conf.ipMasq !== 'boolean') {
    throw new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, 'ipMasq: want a boolean', {
      path: '$.ipMasq',
    });
  }
  return { bridge: bridge as string, mtu, ipMasq: conf.ipMasq !== false };
}

function vethName(containerId: string, ifName: string): string {
  let h = 0x811c9dc5;
  for (const c of `${containerId}/${ifName}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return `pns${h.toString(16).padStart(8, '0')}`;
}

function missing(e: unknown): boolean {
  return HostError.isInstance(e) && /Cannot find device|does not exist/i.test(e.stderr ?? '');
}

function allocatorFor(ctx: PluginContext): Allocator {
  try {
    const ipam = parseIpamConfig(ctx.config.ipam ?? {});
    return new Allocator(ipam, FileStore.forNetwork(ctx.config.name, ipam.dataDir));
  } catch (e) {
    if (IpamError.isInstance(e)) throw new CniError(cniCodeFor(e), e.message, { cause: e });
    throw e;
  }
}

/**
 * Standalone mode: the classic bridge pattern in-process (no agent): a Linux bridge holding the
 * gateway, a veth per pod, addresses from `@podnet/ipam`'s file store (host-local layout under
 * `ipam.dataDir`), and masquerade in an nftables table of its own.
 */
export async function runStandalone(inv: ShimInvocation): Promise<ShimResponse> {
  const host = new Host();
  const handlers = {
    async add(ctx: PluginContext): Promise<CniResult> {
      const sc = parseStandaloneConfig(ctx.config);
      const allocator = allocatorFor(ctx);
      let addrs: Awaited<ReturnType<Allocator['allocate']>>;
      try {
        addrs = await allocator.allocate(ctx.containerId, ctx.ifName);
      } catch (e) {
        throw IpamError.isInstance(e) ? new CniError(cniCodeFor(e), e.message, { cause: e }) : e;
      }
      const hostIf = vethName(ctx.containerId, ctx.ifName);
      try {
        await ensureBridge(host, sc.bridge);
        await host.ipBatch([
          ...addrs.flatMap((a) =>
            a.gateway
              ? [['addr', 'replace', `${a.gateway}/${a.address.split('/')[1]}`, 'dev', sc.bridge]]
              : [],
          ),
          ['link', 'set', sc.bridge, 'up'],
          // the pod's end is made inside the pod namespace (as the reference bridge plugin
          // does): never under the pod's name in the node namespace, where that name may be
          // taken (a node's own eth0) or made by a concurrent ADD at the same moment
          [
            'link',
            'add',
            hostIf,
            'mtu',
            String(sc.mtu),
            'type',
            'veth',
            'peer',
            'name',
            ctx.ifName,
            'mtu',
            String(sc.mtu),
            'netns',
            ctx.netns,
          ],
          ['link', 'set', hostIf, 'master', sc.bridge, 'up'],
        ]);
        const v4gw = addrs.find((a) => !a.ip.includes(':'))?.gateway;
        await host
          .inNetns({ path: ctx.netns })
          .ipBatch([
            ...addrs.map((a) => ['addr', 'add', a.address, 'dev', ctx.ifName]),
            ['link', 'set', ctx.ifName, 'up'],
            ...(v4gw ? [['route', 'add', 'default', 'via', v4gw, 'dev', ctx.ifName]] : []),
          ]);
        if (sc.ipMasq) await ensureMasquerade(host, allocator);
        const mac = (
          await host
            .inNetns({ path: ctx.netns })
            .ipJson<{ address: string }[]>(['link', 'show', 'dev', ctx.ifName])
        )[0]?.address;
        return {
          cniVersion: '1.1.0',
          interfaces: [
            { name: sc.bridge },
            { name: hostIf },
            { name: ctx.ifName, ...(mac ? { mac } : {}), sandbox: ctx.netns },
          ],
          ips: addrs.map((a) => ({
            address: a.address,
            ...(a.gateway ? { gateway: a.gateway } : {}),
            interface: 2,
          })),
          routes: v4gw ? [{ dst: '0.0.0.0/0', gw: v4gw }] : [],
          ...(ctx.config.dns ? { dns: ctx.config.dns } : {}),
        };
      } catch (e) {
        await host.ip(['link', 'del', hostIf]).catch(() => {});
        await allocator.release(ctx.containerId, ctx.ifName);
        if (CniError.isInstance(e)) throw e;
        throw new CniError(CNI_ERROR_CODES.INTERNAL, 'podnet standalone: wiring the pod failed', {
          details: (e as Error).message,
        });
      }
    },
    async del(ctx: PluginContext): Promise<void> {
      const allocator = allocatorFor(ctx);
      try {
        await host.ip(['link', 'del', vethName(ctx.containerId, ctx.ifName)]);
      } catch (e) {
        if (!missing(e)) throw e;
      }
      await allocator.release(ctx.containerId, ctx.ifName);
    },
    async check(ctx: PluginContext): Promise<void> {
      const held = await allocatorFor(ctx).get(ctx.containerId, ctx.ifName);
      if (held.length === 0)
        throw new CniError(
          CNI_ERROR_CODES.UNKNOWN_CONTAINER,
          `no address held by ${ctx.containerId}/${ctx.ifName}`,
        );
      const addrs = await host
        .inNetns({ path: ctx.netns })
        .ipJson<{ addr_info?: { local: string }[] }[]>(['addr', 'show', 'dev', ctx.ifName])
        .catch(() => []);
      const have = new Set((addrs[0]?.addr_info ?? []).map((a) => a.local));
      const lacking = held.filter((h) => !have.has(h.ip));
      if (lacking.length > 0)
        throw new CniError(
          CNI_ERROR_CODES.INTERNAL,
          `${ctx.ifName} lacks ${lacking.map((l) => l.ip).join(',')}`,
        );
    },
    async gc(ctx: GcContext): Promise<void> {
      const allocator = allocatorFor(ctx);
      const { released } = await allocator.gc(
        ctx.validAttachments.map((a) => ({ containerId: a.containerID, ifName: a.ifname })),
      );
      for (const r of released) {
        await host.ip(['link', 'del', vethName(r.containerId, r.ifName)]).catch(() => {});
      }
    },
  };
  return handleInvocation({ env: inv.env, stdin: inv.stdin }, handlers, STANDALONE_CHECKS);
}

/**
 * What the skeleton checks before a handler runs (code 4 naming the variable): an interface name
 * `ip` takes, and a `CNI_NETNS` that is a network namespace at a path `ip` takes.
 */
const STANDALONE_CHECKS: PluginOptions = {
  checkIfName: assertIfName,
  checkNetns: (path) => {
    assertNetnsPath(path);
    assertNetns(path);
  },
};

/**
 * Creates the bridge unless it exists. Idempotent under concurrency: when ADDs race to create it,
 * "File exists" from the kernel means another one won, which is as good; addresses and state are
 * set by the caller in either case.
 */
async function ensureBridge(host: Host, bridge: string): Promise<void> {
  try {
    await host.ip(['link', 'add', bridge, 'type', 'bridge']);
  } catch (e) {
    if (!(HostError.isInstance(e) && /File exists/i.test(e.stderr ?? ''))) throw e;
  }
}

async function ensureMasquerade(host: Host, allocator: Allocator): Promise<void> {
  const subnets = allocator.rangeSets.flatMap((s) => s.map((r) => r.subnet));
  const v4 = subnets.filter((s) => !s.includes(':'));
  if (v4.length === 0) return;
  try {
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  } catch {}
  const set = v4.join(', ');
  await host.nftApply(
    [
      'table ip podnet-standalone {}',
      'delete table ip podnet-standalone',
      'table ip podnet-standalone {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      `    ip saddr { ${set} } ip daddr != { ${set} } masquerade`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
}
