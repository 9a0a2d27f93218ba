import { type Host, HostError } from '@podnet/host';
import { assertCidr, assertIfName, assertInt, assertIp, assertMac } from '@podnet/host';
import { OverlayError } from './errors.js';
import { parseObserved } from './observe.js';
import { defaultDeviceName, observedAfter, planOverlay } from './planner.js';
import { renderPlan } from './render.js';
import {
  DEFAULT_ROUTE_PROTOCOL,
  DEFAULT_VNI,
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

/**
 * Applies a plan's operations in order, one `ip -batch -` / `bridge -batch -` process per run of
 * same-tool operations (at most ip, bridge, ip). Every value is validated before any process
 * starts. A plan with no operations starts no process. Throws `APPLY_FAILED` (with the failing
 * batch line in `cause`).
 */
export async function applyOverlayPlan(
  host: Host,
  plan: Pick<OverlayPlan, 'operations'>,
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
      if (batch.tool === 'ip') await host.ipBatch(batch.lines);
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
 * A long-running reconciler for one node: the first {@link OverlayReconciler.sync} reads the kernel
 * (adopting what is there), later ones plan against the state it last applied, so a one-peer change
 * costs only that peer's operations. A failed apply or {@link OverlayReconciler.invalidate} makes the
 * next sync read the kernel again.
 */
export class OverlayReconciler {
  private state: ObservedOverlay | undefined;

  constructor(
    readonly host: Host,
    readonly local: LocalNode,
  ) {}

  /** Forget the cached kernel state; the next sync reads it again. */
  invalidate(): void {
    this.state = undefined;
  }

  /** Brings the kernel to the overlay for `peers`; returns the plan it applied. */
  async sync(peers: readonly PeerNode[], opts: { reread?: boolean } = {}): Promise<OverlayPlan> {
    if (!this.state || opts.reread) this.state = await readOverlayState(this.host, this.local);
    const plan = planOverlay(this.local, peers, this.state);
    try {
      await applyOverlayPlan(this.host, plan);
    } catch (error) {
      this.state = undefined;
      throw error;
    }
    this.state = observedAfter(plan, this.state.uplink);
    return plan;
  }
}
