import { PolicyEvaluator } from '../evaluate.js';
import type { ClusterState, Namespace, Pod, Protocol } from '../types.js';

/** The anchors' namespaces. */
export const XYZ_NAMESPACES = ['x', 'y', 'z'] as const;
/** The anchors' pod names (in each namespace). */
export const XYZ_POD_NAMES = ['a', 'b', 'c'] as const;
/** The nine pods, as `namespace/name`, in table order. */
export const XYZ_PODS: readonly string[] = XYZ_NAMESPACES.flatMap((ns) =>
  XYZ_POD_NAMES.map((p) => `${ns}/${p}`),
);

/** Options of {@link xyzModel}. */
export interface XyzModelOptions {
  /** First three octets of pod addresses; pod i (0-8) gets `.(10+i)`. Default `10.88.0`. */
  ipPrefix?: string;
  /** The node every pod runs on. Default `node-1`. */
  nodeName?: string;
  /** The node's address (`status.hostIP`). Default `<ipPrefix>.1`. */
  hostIP?: string;
}

/** The named port the model gives `port`/`protocol`, e.g. `serve-80-tcp`. */
export function servePortName(port: number, protocol: Protocol): string {
  return `serve-${port}-${protocol.toLowerCase()}`;
}

/** The address of pod `i` (0-8, in {@link XYZ_PODS} order). */
export function xyzPodIp(i: number, ipPrefix = '10.88.0'): string {
  return `${ipPrefix}.${10 + i}`;
}

/**
 * The anchors' 9-pod model: namespaces x, y, z (label `ns=<name>`) with pods a, b, c (label
 * `pod=<name>`), each serving 80 and 81 on TCP, UDP and SCTP as named ports `serve-<port>-<proto>`.
 */
export function xyzModel(options: XyzModelOptions = {}): ClusterState {
  const ipPrefix = options.ipPrefix ?? '10.88.0';
  const nodeName = options.nodeName ?? 'node-1';
  const hostIP = options.hostIP ?? `${ipPrefix}.1`;
  const namespaces: Namespace[] = XYZ_NAMESPACES.map((ns) => ({
    metadata: { name: ns, labels: { ns } },
  }));
  const pods: Pod[] = XYZ_PODS.map((key, i) => {
    const [ns, name] = key.split('/') as [string, string];
    return {
      metadata: { name, namespace: ns, labels: { pod: name } },
      spec: {
        nodeName,
        containers: [
          {
            name: 'serve',
            ports: [80, 81].flatMap((port) =>
              (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({
                name: servePortName(port, protocol),
                containerPort: port,
                protocol,
              })),
            ),
          },
        ],
      },
      status: { podIP: xyzPodIp(i, ipPrefix), hostIP },
    };
  });
  return { namespaces, pods, networkPolicies: [], clusterNetworkPolicies: [] };
}

/** A reachability table over the nine pods: `cells[from][to]`. */
export interface ReachTable {
  cells: Record<string, Record<string, boolean>>;
}

/** The truth table computed from the API semantics for one port and protocol. */
export function truthTable(
  state: ClusterState,
  port: number,
  protocol: Protocol,
  pods = XYZ_PODS,
): ReachTable {
  const ev = new PolicyEvaluator(state);
  const cells: ReachTable['cells'] = {};
  for (const from of pods) {
    cells[from] = {};
    for (const to of pods) {
      (cells[from] as Record<string, boolean>)[to] =
        ev.evaluate({ src: from, dst: to, protocol, port }).verdict === 'allow';
    }
  }
  return { cells };
}

/** Builds a table from a list of allowed `from->to` pairs (everything else blocked). */
export function tableFromAllowed(
  allowed: (from: string, to: string) => boolean,
  pods = XYZ_PODS,
): ReachTable {
  const cells: ReachTable['cells'] = {};
  for (const from of pods) {
    cells[from] = {};
    for (const to of pods) (cells[from] as Record<string, boolean>)[to] = allowed(from, to);
  }
  return { cells };
}

/**
 * Renders a table the way the upstream suite prints it: rows are sources, columns destinations,
 * `.` allowed, `X` blocked; loopback cells (a pod to itself) print `-` when `ignoreLoopback`.
 */
export function formatReachTable(t: ReachTable, { ignoreLoopback = true } = {}): string {
  const pods = Object.keys(t.cells);
  const lines = [`-\t${pods.join('\t')}`];
  for (const from of pods) {
    const row = pods.map((to) =>
      ignoreLoopback && from === to ? '-' : t.cells[from]?.[to] ? '.' : 'X',
    );
    lines.push(`${from}\t${row.join('\t')}`);
  }
  return lines.join('\n');
}
