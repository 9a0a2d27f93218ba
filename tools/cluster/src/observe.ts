/**
 * `podnet observe`: every node agent's flow records (`GET /flows` on the agent's HTTP port, read
 * inside the node's network namespace), merged in time order as `hubble observe` merges its
 * nodes, printed as a table or as JSON lines. Planning (query, merge, table) is pure; the edge
 * spawns one reader per node.
 */
import { spawn } from 'node:child_process';
import { AGENT_HTTP_PORT } from './cluster.js';
import { ClusterError } from './errors.js';

/** The verdicts a flow record carries. */
export const OBSERVE_VERDICTS = ['drop', 'allow', 'would-drop'] as const;
/** One of {@link OBSERVE_VERDICTS}. */
export type ObserveVerdict = (typeof OBSERVE_VERDICTS)[number];

/** What `podnet observe` asks for. */
export interface ObserveOptions {
  /** `NAMESPACE/NAME`: either end is this pod. */
  pod?: string;
  namespace?: string;
  verdict?: ObserveVerdict;
  /** Keep reading new records. */
  follow?: boolean;
  /** A duration back from now (`30s`, `5m`, `1h`). */
  since?: string;
  output?: 'table' | 'json';
}

/** One end of a flow, as the agent resolved it. */
export interface ObservedEndpoint {
  kind: 'pod' | 'service' | 'node' | 'external';
  ip: string;
  namespace?: string;
  name?: string;
  port?: number;
}

/** A line of an agent's flow stream (the agent's `FlowRecord` or `FlowLoss`). */
export type ObservedEvent =
  | {
      type: 'flow';
      seq: number;
      time: string;
      node: string;
      verdict: ObserveVerdict;
      direction: 'ingress' | 'egress';
      protocol: string;
      source: ObservedEndpoint;
      destination: ObservedEndpoint;
      tier: string;
      policies: string[];
      morePolicies?: number;
      rule?: { index: number; name?: string };
      summary: string;
    }
  | {
      type: 'lost';
      seq: number;
      time: string;
      node: string;
      count: number;
      reason: string;
      message: string;
    };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Checks the options (throws `INVALID_ARGUMENT` naming the flag). */
export function checkObserveOptions(o: ObserveOptions): ObserveOptions {
  const bad = (m: string) => new ClusterError('INVALID_ARGUMENT', m);
  if (o.pod !== undefined && !/^[a-z0-9][-a-z0-9]*\/[a-z0-9][-.a-z0-9]*$/.test(o.pod))
    throw bad(`--pod: want NAMESPACE/NAME, got ${JSON.stringify(o.pod)}`);
  if (o.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(o.namespace))
    throw bad(`--namespace: want a namespace name, got ${JSON.stringify(o.namespace)}`);
  if (o.verdict !== undefined && !(OBSERVE_VERDICTS as readonly string[]).includes(o.verdict))
    throw bad(`--verdict: want ${OBSERVE_VERDICTS.join(', ')}, got ${JSON.stringify(o.verdict)}`);
  if (o.since !== undefined && !DURATION.test(o.since))
    throw bad(`--since: want a duration such as 30s, 5m or 1h, got ${JSON.stringify(o.since)}`);
  return o;
}

/** The agents' `/flows` query for `o` (`since` made absolute at `now`, the same for every node). */
export function flowQuery(o: ObserveOptions, now = Date.now()): string {
  const q = new URLSearchParams();
  if (o.pod) q.set('pod', o.pod);
  if (o.namespace) q.set('namespace', o.namespace);
  if (o.verdict) q.set('verdict', o.verdict);
  if (o.since) {
    const m = DURATION.exec(o.since) as RegExpExecArray;
    q.set('since', String(Math.floor(now - Number(m[1]) * (UNIT_MS[m[2] as string] as number))));
  }
  if (o.follow) q.set('follow', '1');
  const s = q.toString();
  return `/flows${s ? `?${s}` : ''}`;
}

const order = (a: ObservedEvent, b: ObservedEvent) =>
  a.time < b.time
    ? -1
    : a.time > b.time
      ? 1
      : a.node < b.node
        ? -1
        : a.node > b.node
          ? 1
          : a.seq - b.seq;

/**
 * Merges the nodes' streams in time order. Each stream is in order on its own; records of
 * different nodes arrive with delays, so a following reader holds each record `windowMs` before
 * printing it ({@link FlowMerger.take}), and anything that then arrives older still prints
 * (late, but never dropped). Pure.
 */
export class FlowMerger {
  private pending: { e: ObservedEvent; at: number }[] = [];

  constructor(private readonly windowMs = 250) {}

  /** Adds an event received at `at` (ms). */
  push(e: ObservedEvent, at: number): void {
    this.pending.push({ e, at });
  }

  /** The events held at least the window by `now` (all of them with `now` Infinity), in time order. */
  take(now = Number.POSITIVE_INFINITY): ObservedEvent[] {
    const ready = this.pending.filter((p) => now - p.at >= this.windowMs);
    if (ready.length === 0) return [];
    this.pending = this.pending.filter((p) => now - p.at < this.windowMs);
    return ready.map((p) => p.e).sort(order);
  }
}

function endpointText(e: ObservedEndpoint): string {
  const port = e.port === undefined ? '' : `:${e.port}`;
  switch (e.kind) {
    case 'pod':
      return `${e.namespace}/${e.name}${port}`;
    case 'service':
      return `svc:${e.namespace}/${e.name}${port}`;
    case 'node':
      return `node:${e.name}${port}`;
    default:
      return e.ip.includes(':') && port ? `[${e.ip}]${port}` : `${e.ip}${port}`;
  }
}

/** The table's columns. */
export const FLOW_TABLE_HEADER = [
  'TIME',
  'NODE',
  'VERDICT',
  'DIR',
  'SOURCE',
  'DESTINATION',
  'PROTO',
  'POLICY',
] as const;
const WIDTHS = [12, 8, 10, 7, 22, 22, 5];

/** One table line (a loss says how many records were lost, where and why). */
export function formatFlowLine(e: ObservedEvent): string {
  const time = e.time.slice(11, 23);
  if (e.type === 'lost')
    return `${time.padEnd(12)} ${e.node.padEnd(8)} LOST       ${e.count > 0 ? `${e.count} records` : 'records'} (${e.reason}): ${e.message}`;
  const policy = `${e.tier === 'NetworkPolicy' ? '' : `${e.tier}:`}${e.policies.join(',')}${e.morePolicies ? `,+${e.morePolicies}` : ''}${
    e.rule === undefined ? '' : `[${e.rule.name ?? e.rule.index}]`
  }`;
  const cells = [
    time,
    e.node,
    e.verdict.toUpperCase(),
    e.direction,
    endpointText(e.source),
    endpointText(e.destination),
    e.protocol,
    policy,
  ];
  return cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i] as number) : c)).join(' ');
}

/** The header line of the table. */
export function formatFlowHeader(): string {
  return FLOW_TABLE_HEADER.map((c, i) =>
    i < WIDTHS.length ? c.padEnd(WIDTHS[i] as number) : c,
  ).join(' ');
}

/** Where one node's stream is read: the node, its namespace and the agent's URL. */
export interface FlowSource {
  node: string;
  netns: string;
  url: string;
}

/**
 * One source per node of a podnet-network cluster: its agent's `/flows` with `query`. A
 * reference-network cluster has no agents (an `INVALID_ARGUMENT` saying so).
 */
export function flowSources(
  plan: { network: string; nodes: readonly { name: string; netns: string; ip: string }[] },
  query: string,
  port = AGENT_HTTP_PORT,
): FlowSource[] {
  if (plan.network !== 'podnet')
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `observe: this cluster runs the ${plan.network} network, which has no node agents to read flows from`,
    );
  return plan.nodes.map((n) => ({
    node: n.name,
    netns: n.netns,
    url: `http://${n.ip.includes(':') ? `[${n.ip}]` : n.ip}:${port}${query}`,
  }));
}

/** The reader process for one source: Node's http client inside the node's namespace. */
export function flowReaderArgv(s: FlowSource): string[] {
  const script =
    "const u=process.argv[1];require('http').get(u,r=>{if(r.statusCode!==200){let b='';r.on('data',d=>b+=d);r.on('end',()=>{process.stderr.write(b);process.exit(2)});return}r.pipe(process.stdout)}).on('error',e=>{process.stderr.write(e.message+'\\n');process.exit(1)})";
  return ['nsenter', `--net=/run/netns/${s.netns}`, '--', process.execPath, '-e', script, s.url];
}

/** Hooks of {@link readFlows}. */
export interface ReadFlowsHooks {
  onEvent(e: ObservedEvent): void;
  onError(node: string, message: string): void;
  /** Aborts the readers (a following read ends only this way). */
  signal?: AbortSignal;
}

/**
 * Reads every source's stream (one process each) and hands each parsed line to `onEvent` as it
 * arrives; resolves when all streams ended (or were aborted). A node whose agent does not answer
 * is reported through `onError` and the others go on.
 */
export function readFlows(sources: readonly FlowSource[], hooks: ReadFlowsHooks): Promise<void> {
  return Promise.all(
    sources.map(
      (s) =>
        new Promise<void>((resolve) => {
          const argv = flowReaderArgv(s);
          const child = spawn(argv[0] as string, argv.slice(1), {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          const abort = () => child.kill('SIGTERM');
          hooks.signal?.addEventListener('abort', abort, { once: true });
          let buf = '';
          let err = '';
          child.stdout.setEncoding('utf8');
          child.stdout.on('data', (d: string) => {
            buf += d;
            const lines = buf.split('\n');
            buf = lines.pop() ?? '';
            for (const l of lines) {
              if (l.trim() === '') continue;
              try {
                hooks.onEvent(JSON.parse(l) as ObservedEvent);
              } catch {
                hooks.onError(s.node, `unreadable line from the agent: ${l.slice(0, 120)}`);
              }
            }
          });
          child.stderr.on('data', (d: Buffer) => {
            err += d.toString();
          });
          child.on('error', (e) => {
            hooks.onError(s.node, e.message);
            resolve();
          });
          child.on('close', (code) => {
            hooks.signal?.removeEventListener('abort', abort);
            if (code !== 0 && !hooks.signal?.aborted)
              hooks.onError(s.node, `agent at ${s.url}: ${err.trim() || `reader exited ${code}`}`);
            resolve();
          });
        }),
    ),
  ).then(() => undefined);
}

/**
 * Runs `podnet observe` over `sources`: prints merged records (table or JSON lines) through
 * `write`, problems through `warn`. Returns the exit code: 0, or 1 when no node answered.
 */
export async function runObserve(
  sources: readonly FlowSource[],
  o: ObserveOptions,
  write: (text: string) => void,
  warn: (text: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  const merger = new FlowMerger(o.follow ? 250 : 0);
  const json = o.output === 'json';
  let failed = 0;
  let headerDone = false;
  const print = (events: ObservedEvent[]) => {
    for (const e of events) {
      if (json) write(`${JSON.stringify(e)}\n`);
      else {
        if (!headerDone) {
          write(`${formatFlowHeader()}\n`);
          headerDone = true;
        }
        write(`${formatFlowLine(e)}\n`);
      }
    }
  };
  const timer = o.follow ? setInterval(() => print(merger.take(Date.now())), 100) : undefined;
  try {
    await readFlows(sources, {
      onEvent: (e) => merger.push(e, Date.now()),
      onError: (node, message) => {
        failed++;
        warn(`podnet observe: ${node}: ${message}\n`);
      },
      ...(signal ? { signal } : {}),
    });
  } finally {
    if (timer) clearInterval(timer);
  }
  print(merger.take());
  return failed === sources.length && sources.length > 0 ? 1 : 0;
}
