import type { OverlayOperation, OverlayPlan } from './types.js';

/** One process worth of work: a tool and its batch lines. */
export interface OverlayBatch {
  tool: 'ip' | 'bridge';
  lines: string[][];
}

/** The tool an operation runs in: FDB entries through `bridge`, everything else through `ip`. */
export function toolOf(op: OverlayOperation): 'ip' | 'bridge' {
  return op.op === 'fdb-replace' || op.op === 'fdb-delete' ? 'bridge' : 'ip';
}

/** Renders one operation to the words of one batch line. Pure. */
export function renderOperation(op: OverlayOperation): string[] {
  switch (op.op) {
    case 'device-delete':
      return ['link', 'del', op.name];
    case 'device-create':
      return [
        'link',
        'add',
        op.name,
        'address',
        op.mac,
        'mtu',
        String(op.mtu),
        'type',
        'vxlan',
        'id',
        String(op.vni),
        'local',
        op.local,
        'dev',
        op.uplink,
        'dstport',
        String(op.port),
        'nolearning',
      ];
    case 'device-set':
      return [
        'link',
        'set',
        op.name,
        ...(op.mtu === undefined ? [] : ['mtu', String(op.mtu)]),
        ...(op.mac === undefined ? [] : ['address', op.mac]),
        ...(op.up ? ['up'] : []),
      ];
    case 'address-replace':
      return [
        'addr',
        'replace',
        op.cidr,
        'dev',
        op.dev,
        ...(op.cidr.includes(':') ? ['nodad'] : []),
      ];
    case 'address-delete':
      return ['addr', 'del', op.cidr, 'dev', op.dev];
    case 'neigh-replace':
      return ['neigh', 'replace', op.dst, 'lladdr', op.mac, 'dev', op.dev, 'nud', 'permanent'];
    case 'neigh-delete':
      return ['neigh', 'del', op.dst, 'dev', op.dev];
    case 'fdb-replace':
      return ['fdb', 'replace', op.mac, 'dev', op.dev, 'dst', op.dst, 'self', 'permanent'];
    case 'fdb-delete':
      return ['fdb', 'del', op.mac, 'dev', op.dev, 'dst', op.dst, 'self'];
    case 'route-replace':
      return [
        'route',
        'replace',
        op.dst,
        'via',
        op.via,
        'dev',
        op.dev,
        ...(op.onlink ? ['onlink'] : []),
        'proto',
        String(op.proto),
      ];
    case 'route-delete':
      return ['route', 'del', op.dst, 'proto', String(op.proto)];
  }
}

/**
 * Groups a plan's operations into batches, one per run of consecutive operations of the same
 * tool, keeping their order. A plan has at most three: ip (device, route removals), bridge (FDB),
 * ip (neighbours, routes). A plan with nothing to do has none.
 */
export function renderPlan(plan: Pick<OverlayPlan, 'operations'>): OverlayBatch[] {
  const batches: OverlayBatch[] = [];
  for (const op of plan.operations) {
    const tool = toolOf(op);
    const last = batches[batches.length - 1];
    if (last && last.tool === tool) last.lines.push(renderOperation(op));
    else batches.push({ tool, lines: [renderOperation(op)] });
  }
  return batches;
}
