import { type Host, HostError, IpSession } from '@podnet/host';
import { assertCidr, assertIfName, assertInt, assertIp, assertMac } from '@podnet/host';
import { OverlayError } from './errors.js';
import { parseObserved } from './observe.js';
import {
  type PeerClaims,
  type ResolvedLocal,
  defaultDeviceName,
  newPeerClaims,
  observedAfter,
  observedDevice,
  planOverlay,
  planOverlayRemoval,
  planResolved,
  releasePeerClaims,
  resolveLocal,
} from './planner.js';
import { renderPlan } from './render.js';
import {
  DEFAULT_ROUTE_PROTOCOL,
  DEFAULT_VNI,
  type DesiredDevice,
  type DesiredPeer,
  type LocalNode,
  type ObservedOverlay,
  type OverlayOperation,
  type OverlayPlan,
  type PeerNode,
} from './types.js';

/** Which device, uplink and route protocol {@link readOverlayState} looks at (a {@link LocalNode} fits). */
export type ReadOverlayOptions = Pick<LocalNode, 'uplink' | 'vni' | 'deviceName' | 'routeProtocol'>;

/**
 * Reads the overlay's kernel state through `host`: links, addresses, the device's permanent
 * neighbours and FDB entries, and the routes carrying the overlay's `proto`. Five or six processes,
 * run concurrently; read-only.
 */
export async function readOverlayState(
  host: Host,
  opts: ReadOverlayOptions,
): Promise<ObservedOverlay> {
  const uplink = assertIfName(opts.uplink);
  const deviceName = assertIfName(opts.deviceName ?? defaultDeviceName(opts.vni ?? DEFAULT_VNI));
  const proto = String(
    assertInt(opts.routeProtocol ?? DEFAULT_ROUTE_PROTOCOL, 5, 255, 'route protocol'),
  );
  try {
    const route = ['route', 'show', 'table', 'main', 'proto', proto];
    const [links, addrs, routes4, routes6] = await Promise.all([
      host.ipJson(['-details', 'link', 'show']),
      host.ipJson(['addr', 'show']),
      host.ipJson(['-4', ...route]),
      host.ipJson(['-6', ...route]),
    ]);
    const hasDevice =
      Array.isArray(links) && links.some((l: { ifname?: string }) => l.ifname === deviceName);
    const [neighbours, fdb] = hasDevice
      ? await Promise.all([
          host.ipJson(['neigh', 'show', 'dev', deviceName, 'nud', 'permanent']),
          host.bridgeJson(['fdb', 'show', 'dev', deviceName]),
        ])
      : [[], []];
    return parseObserved(
      {
        links,
        addrs,
        neighbours,
        fdb,
        routes: [...(routes4 as unknown[]), ...(routes6 as unknown[])],
      },
      { uplink, deviceName },
    );
  } catch (cause) {
    throw new OverlayError(
      'READ_FAILED',
      `cannot read overlay state: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function validateOperation(op: OverlayOperation): void {
  switch (op.op) {
    case 'device-delete':
      assertIfName(op.name);
      return;
    case 'device-create':
      assertIfName(op.name);
      assertIfName(op.uplink);
      assertMac(op.mac);
      assertIp(op.local);
      assertInt(op.vni, 1, 16_777_215, 'VNI');
      assertInt(op.port, 1, 65_535, 'port');
      assertInt(op.mtu, 68, 65_535, 'MTU');
      return;
    case 'device-set':
      assertIfName(op.name);
      if (op.mac !== undefined) assertMac(op.mac);
      if (op.mtu !== undefined) assertInt(op.mtu, 68, 65_535, 'MTU');
      return;
    case 'address-replace':
    case 'address-delete':
      assertIfName(op.dev);
      assertCidr(op.cidr);
      return;
    case 'neigh-replace':
      assertMac(op.mac);
      assertIfName(op.dev);
      assertIp(op.dst);
      return;
    case 'neigh-delete':
      assertIfName(op.dev);
      assertIp(op.dst);
      return;
    case 'fdb-replace':
    case 'fdb-delete':
      assertMac(op.mac);
      assertIfName(op.dev);
      assertIp(op.dst);
      return;
    case 'route-replace':
    case 'route-delete':
      assertCidr(op.dst);
      assertIp(op.via);
      assertIfName(op.dev);
      assertInt(op.proto, 5, 255, 'route protocol');
      return;
  }
}

/** Long-lived `ip` and `bridge` processes to apply plans through (see `IpSession`). */
export interface OverlaySessions {
  readonly ip: Pick<IpSession, 'batch'>;
  readonly bridge: Pick<IpSession, 'batch'>;
}

/**
 * Applies a plan's operations in order, one `ip -batch -` / `bridge -batch -` process per run of
 * same-tool operations (at most ip, bridge, ip). Every value is validated before any process
 * starts. A plan with no operations starts no process. Throws `APPLY_FAILED` (with the failing
 * batch line in `cause`).
 */
export async function applyOverlayPlan(
  host: Host,
  plan: Pick<OverlayPlan, 'operations'>,
  sessions?: OverlaySessions,
): Promise<number> {
  try {
    for (const op of plan.operations) validateOperation(op);
  } catch (cause) {
    throw new OverlayError(
      'APPLY_FAILED',
      `plan holds an invalid value: ${(cause as Error).message}`,
      { cause },
    );
  }
  const batches = renderPlan(plan);
  for (const batch of batches) {
    try {
      if (sessions) await sessions[batch.tool].batch(batch.lines);
      else if (batch.tool === 'ip') await host.ipBatch(batch.lines);
      else await host.bridgeBatch(batch.lines);
    } catch (cause) {
      const where =
        HostError.isInstance(cause) && cause.line ? ` (${batch.tool} line: ${cause.line})` : '';
      throw new OverlayError(
        'APPLY_FAILED',
        `applying the overlay plan failed${where}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }
  return batches.length;
}

/** Reads, plans and applies in one go; idempotent (a second call applies nothing). Returns the plan. */
export async function ensureOverlay(
  host: Host,
  local: LocalNode,
  peers: readonly PeerNode[],
): Promise<OverlayPlan> {
  const observed = await readOverlayState(host, local);
  const plan = planOverlay(local, peers, observed);
  await applyOverlayPlan(host, plan);
  return plan;
}

/**
 * Removes the overlay from a node: its routes, then its device (with the device's entries).
 * Idempotent: a node without the overlay starts no batch.
 */
export async function removeOverlay(
  host: Host,
  local: Pick<LocalNode, 'uplink' | 'vni' | 'deviceName' | 'routeProtocol'>,
): Promise<void> {
  const observed = await readOverlayState(host, local);
  await applyOverlayPlan(host, planOverlayRemoval(local, observed));
}

function peerKey(p: PeerNode): string {
  if (typeof p !== 'object' || p === null) return String(p);
  const ips = Array.isArray(p.nodeIPs) ? p.nodeIPs.join(',') : String(p.nodeIPs);
  const cidrs = Array.isArray(p.podCIDRs) ? p.podCIDRs.join(',') : String(p.podCIDRs);
  return `${ips}|${cidrs}|${p.vtepMac ?? ''}`;
}

/** How many changed peers a sync handles incrementally before it re-plans every peer. */
const INCREMENTAL_LIMIT = 64;

/**
 * A long-running reconciler for one node. The first {@link OverlayReconciler.sync} reads the kernel
 * and adopts what is there (a compatible device and entries are kept untouched). Later syncs compare
 * the peers with the previous call and plan only the peers that changed, appeared or went away, so a
 * one-peer change costs that peer's operations and planning time whatever the peer count. Peers that
 * collide (same pod CIDR or VTEP MAC): the one accepted earlier keeps its claim. A failed apply, a
 * large change or {@link OverlayReconciler.invalidate} makes the next sync read the kernel again.
 *
 * Between reads the reconciler trusts its own picture of the kernel: call
 * `sync(peers, { reread: true })` periodically to repair changes made behind its back and to pick
 * up a new uplink MTU. The local node is fixed for the reconciler's life; when its node IP, pod
 * CIDRs, VNI or port change, make a new one (its first sync replaces or adjusts the device).
 */
export class OverlayReconciler {
  private readonly resolved: ResolvedLocal;
  private state: ObservedOverlay | undefined;
  private device: DesiredDevice | undefined;
  private claims: PeerClaims | undefined;
  private readonly accepted = new Map<string, DesiredPeer>();
  private readonly keys = new Map<string, string>();
  private readonly skipped = new Set<string>();

  private sessions?: { ip: IpSession; bridge: IpSession };

  /**
   * `options.sessions`: apply through one long-lived `ip` and one `bridge` process (see
   * `IpSession`) instead of a process per batch, which is most of a one-peer change's time; call
   * {@link OverlayReconciler.close} when done. Off by default (the host's runner then sees every
   * batch, as a recording runner in tests wants).
   */
  constructor(
    readonly host: Host,
    readonly local: LocalNode,
    private readonly options: { readonly sessions?: boolean } = {},
  ) {
    this.resolved = resolveLocal(local);
  }

  /** Ends the session processes, if any (a later sync starts new ones). */
  close(): void {
    this.sessions?.ip.close();
    this.sessions?.bridge.close();
    this.sessions = undefined;
  }

  private appliers(): OverlaySessions | undefined {
    if (!this.options.sessions) return undefined;
    this.sessions ??= {
      ip: new IpSession({ netns: this.host.netns }),
      bridge: new IpSession({ netns: this.host.netns, tool: 'bridge' }),
    };
    return this.sessions;
  }

  /** Forget the cached kernel state; the next sync reads it again and re-plans every peer. */
  invalidate(): void {
    this.state = undefined;
    this.claims = undefined;
  }

  /** Brings the kernel to the overlay for `peers`; returns the plan it applied. */
  async sync(peers: readonly PeerNode[], opts: { reread?: boolean } = {}): Promise<OverlayPlan> {
    if (!Array.isArray(peers)) {
      throw new OverlayError('INVALID_PEER', 'peers must be an array', {
        field: 'peers',
        value: peers,
      });
    }
    try {
      if (this.state && this.claims && this.device && !opts.reread) {
        const plan = await this.syncIncremental(peers);
        if (plan) return plan;
      }
      return await this.syncFull(peers, opts.reread === true || !this.state);
    } catch (error) {
      this.invalidate();
      throw error;
    }
  }

  private async syncFull(peers: readonly PeerNode[], reread: boolean): Promise<OverlayPlan> {
    const observed =
      reread || !this.state ? await readOverlayState(this.host, this.local) : this.state;
    const claims = newPeerClaims(this.resolved);
    const plan = planResolved(this.resolved, peers, observed, claims);
    await applyOverlayPlan(this.host, plan, this.appliers());
    this.state = observedAfter(plan, observed.uplink);
    this.device = plan.device;
    this.claims = claims;
    this.accepted.clear();
    this.keys.clear();
    this.skipped.clear();
    for (const p of plan.peers) this.accepted.set(p.nodeName, p);
    this.remember(peers, new Set(peers.map((p) => p?.nodeName)));
    return plan;
  }

  private async syncIncremental(peers: readonly PeerNode[]): Promise<OverlayPlan | undefined> {
    const byName = new Map<string, PeerNode>();
    for (const p of peers) {
      if (typeof p?.nodeName !== 'string' || byName.has(p.nodeName)) return undefined;
      byName.set(p.nodeName, p);
    }
    const touched = new Set<string>(this.skipped);
    for (const [name, p] of byName) if (this.keys.get(name) !== peerKey(p)) touched.add(name);
    for (const name of this.keys.keys()) if (!byName.has(name)) touched.add(name);
    if (touched.size > INCREMENTAL_LIMIT) return undefined;
    const claims = this.claims!;
    const old: DesiredPeer[] = [];
    for (const name of touched) {
      const prev = this.accepted.get(name);
      if (!prev) continue;
      releasePeerClaims(claims, prev);
      old.push(prev);
    }
    const subset = peers.filter((p) => touched.has(p.nodeName));
    const device = this.device!;
    const observed: ObservedOverlay = {
      uplink: this.state!.uplink,
      device: observedDevice(device),
      deviceAddrs: [...device.addrs],
      neighbours: old.flatMap((p) => p.neighbours),
      fdb: old.flatMap((p) => p.fdb),
      routes: old.flatMap((p) => p.routes),
    };
    const sub = planResolved(this.resolved, subset, observed, claims);
    await applyOverlayPlan(this.host, sub, this.appliers());
    for (const name of touched) this.accepted.delete(name);
    for (const p of sub.peers) this.accepted.set(p.nodeName, p);
    this.remember(subset, touched);
    return { ...sub, peers: [...this.accepted.values()] };
  }

  private remember(planned: readonly PeerNode[], names: Set<string | undefined>): void {
    for (const name of names) {
      if (typeof name !== 'string') continue;
      this.keys.delete(name);
      this.skipped.delete(name);
    }
    for (const p of planned) {
      if (typeof p?.nodeName !== 'string') continue;
      this.keys.set(p.nodeName, peerKey(p));
      if (!this.accepted.has(p.nodeName)) this.skipped.add(p.nodeName);
    }
  }
}
