import { type ChildProcess, spawn } from 'node:child_process';
import { ExecRunner } from '@podnet/host';
import type { Cluster, ProbeResult } from './cluster.js';
import { ClusterError } from './errors.js';
import type { Explanation } from './explain.js';
import {
  describeDecision,
  groupTraces,
  type PacketTrace,
  parseNftTrace,
  type TraceDecision,
} from './nft-trace.js';

/**
 * Source ports live explain gives its probes: above Linux's default ephemeral range
 * (`net.ipv4.ip_local_port_range` 32768-60999) and the NodePort range, so no other connection of
 * the namespaces uses them while a probe is traced.
 */
export const TRACE_PORTS = { first: 61000, last: 65535 } as const;

/** The nftables tables live explain reads (the agent's, service-lb's and netpol's). */
export const PODNET_TABLES = ['podnet-agent', 'podnet-svc', 'podnet_netpol'] as const;

/** A flow to probe and trace: as {@link Cluster.explain} takes it. */
export interface LiveFlow {
  from: string;
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  family?: 4 | 6;
}

/** The raw `nft monitor trace` output of one namespace during a probe run. */
export interface TracedNamespace {
  /** What the namespace is: `node1`, `pod x/a`, `external`. */
  label: string;
  netns: string;
  text: string;
}

/** What one namespace's kernel did with the probe's first packet. */
export interface KernelHop {
  label: string;
  /** The podnet chains the packet met, in order, as `TABLE CHAIN`. */
  chains: string[];
  /** The rules of podnet tables that sent the packet somewhere (every verdict but `continue`). */
  rules: TraceDecision[];
  /** The destination before and after a DNAT in this namespace. */
  dnat?: { from: string; to: string };
  dropped?: TraceDecision;
}

/** What the kernel did with a probe, read from its traces and the probe's own answer. */
export interface KernelObservation {
  sport: number;
  probe: ProbeResult;
  hops: KernelHop[];
  /** The endpoint the kernel DNATed the probe to, and where. */
  dnat?: { ip: string; port: number; label: string };
  /** Where the probe was dropped or rejected. */
  dropped?: { label: string; decision: TraceDecision };
  /** The last podnet_netpol rule that accepted the probe (the rule behind an allow). */
  accepted?: { label: string; decision: TraceDecision };
  /** `deny`: a rule outside service-lb dropped it, or no answer; `reject`: service-lb's rules. */
  verdict: 'allow' | 'deny' | 'reject';
}

/** The model's prediction beside the kernel's observation, and where they disagree. */
export interface LiveExplanation {
  flow: LiveFlow;
  model: Explanation;
  kernel: KernelObservation;
  /** Empty when the kernel did what the model predicts. */
  disagreements: string[];
  /** What a trace monitor reported (lost events make a trace incomplete). */
  warnings?: string[];
}

/**
 * The nftables script that marks the probes for tracing in one namespace: a table of its own
 * whose prerouting and output chains (priority -350, before conntrack and every podnet chain) set
 * `meta nftrace` on packets from the probes' source ports. Why the source port and not a packet
 * mark: a mark is scrubbed when a packet crosses into another namespace (veth) and does not ride
 * the VXLAN tunnel, and podnet-svc uses mark bits of its own (masquerade); the 5-tuple survives
 * every hop up to a masquerade. Pure.
 */
export function traceTableScript(table: string, ports: { first: number; last: number }): string {
  if (!/^podnet_trace_[a-z0-9_]+$/.test(table))
    throw new ClusterError('INVALID_ARGUMENT', `trace table: bad name ${JSON.stringify(table)}`);
  const range = ports.first === ports.last ? `${ports.first}` : `${ports.first}-${ports.last}`;
  // TCP: the connection's first packets only (SYN and its retransmissions), which meet every
  // policy chain; the rest of the connection would only load the monitors
  const rules = [
    `tcp flags & (syn | ack) == syn tcp sport ${range} meta nftrace set 1`,
    `meta l4proto { udp, sctp } th sport ${range} meta nftrace set 1`,
  ];
  const chain = (name: string, hook: string) =>
    `  chain ${name} { type filter hook ${hook} priority -350; policy accept; ${rules.join('; ')}; }`;
  return [
    `table inet ${table} {`,
    chain('pre', 'prerouting'),
    chain('out', 'output'),
    '}',
    '',
  ].join('\n');
}

const isPodnetTable = (t: string) => (PODNET_TABLES as readonly string[]).includes(t);

function hostPort(ip: string | undefined, port: number | undefined): string {
  return ip?.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The first packet from `sport` a namespace traced, if any. */
function firstPacket(traces: readonly PacketTrace[], sport: number): PacketTrace | undefined {
  return traces.find((t) => t.packet.sport === sport);
}

/**
 * Reads what the kernel did with the probe from source port `sport`: per namespace, the first
 * packet's podnet chains and rules, a DNAT (the destination before and after the nat hooks),
 * where it was dropped, and the verdict (the probe's answer when no rule dropped it). Pure.
 */
export function observeKernel(
  namespaces: readonly TracedNamespace[],
  sport: number,
  probe: ProbeResult,
): KernelObservation {
  const hops: KernelHop[] = [];
  let dnat: KernelObservation['dnat'];
  let dropped: KernelObservation['dropped'];
  let accepted: KernelObservation['accepted'];
  for (const ns of namespaces) {
    const t = firstPacket(groupTraces(parseNftTrace(ns.text)), sport);
    if (!t) continue;
    const chains: string[] = [];
    const rules: TraceDecision[] = [];
    for (const e of t.events) {
      if (!isPodnetTable(e.table)) continue;
      const c = `${e.table} ${e.chain}`;
      if (chains.at(-1) !== c) chains.push(c);
      if (e.kind === 'rule' && e.verdict !== 'continue') {
        const d: TraceDecision = {
          family: e.family,
          table: e.table,
          chain: e.chain,
          rule: e.rule!,
          ...(e.handle !== undefined ? { handle: e.handle } : {}),
          verdict: e.verdict!,
        };
        rules.push(d);
        if (e.table === 'podnet_netpol' && e.verdict === 'accept')
          accepted = { label: ns.label, decision: d };
      }
    }
    const hop: KernelHop = { label: ns.label, chains, rules };
    const before = hostPort(t.packet.daddr, t.packet.dport);
    const after = hostPort(t.lastPacket.daddr, t.lastPacket.dport);
    if (before !== after) {
      hop.dnat = { from: before, to: after };
      dnat ??= { ip: t.lastPacket.daddr!, port: t.lastPacket.dport!, label: ns.label };
    }
    if (t.dropped) {
      hop.dropped = t.dropped;
      dropped ??= { label: ns.label, decision: t.dropped };
    }
    hops.push(hop);
  }
  const verdict: KernelObservation['verdict'] = dropped
    ? dropped.decision.table === 'podnet-svc'
      ? 'reject'
      : 'deny'
    : probe.ok
      ? 'allow'
      : 'deny';
  return {
    sport,
    probe,
    hops,
    ...(dnat ? { dnat } : {}),
    ...(dropped ? { dropped } : {}),
    ...(accepted ? { accepted } : {}),
    verdict,
  };
}

/**
 * Every disagreement between the model's prediction and the kernel's observation: the DNAT (the
 * kernel's endpoint must be one the model balances over) and the verdict (taken for the endpoint
 * the kernel chose). Pure.
 */
export function compareLive(model: Explanation, kernel: KernelObservation): string[] {
  const out: string[] = [];
  const modelEps = model.dnat?.action === 'dnat' ? model.dnat.endpoints : undefined;
  const list = (eps: readonly { ip: string; port: number }[]) =>
    eps.map((e) => hostPort(e.ip, e.port)).join(', ');
  const k = kernel.dnat;
  if (modelEps && k && !modelEps.some((e) => e.ip === k.ip && e.port === k.port)) {
    out.push(
      `DNAT: the model balances over ${list(modelEps)}; the kernel chose ${hostPort(k.ip, k.port)} on ${k.label}`,
    );
  } else if (modelEps && !k && !kernel.dropped) {
    out.push(`DNAT: the model DNATs to ${list(modelEps)}; the kernel did not DNAT the probe`);
  } else if (!modelEps && k) {
    out.push(
      `DNAT: the model has no DNAT for this flow; the kernel DNATed it to ${hostPort(k.ip, k.port)} on ${k.label}`,
    );
  }
  if (model.verdict === 'unknown') return out;
  const chosen = k && model.policies?.find((p) => p.ip === k.ip && p.port === k.port);
  const want = chosen ? chosen.verdict : model.verdict;
  if (want === kernel.verdict) return out;
  const why = chosen
    ? ` (${chosen.summary})`
    : model.policies?.length
      ? ` (${model.policies.map((p) => p.summary).join('; ')})`
      : '';
  const said = `the model says ${want}${want === 'allow' ? '' : why}`;
  if (kernel.dropped) {
    const { label, decision } = kernel.dropped;
    out.push(
      `verdict: ${said}; the kernel ${decision.verdict === 'reject' ? 'rejected' : 'dropped'} the probe on ${label} in ${describeDecision(decision)}`,
    );
  } else if (kernel.verdict === 'allow') {
    const by = kernel.accepted
      ? `, accepted on ${kernel.accepted.label} by ${describeDecision(kernel.accepted.decision)}`
      : '';
    out.push(`verdict: ${said}; the kernel let the probe through${by}`);
  } else {
    out.push(
      `verdict: ${said}; the probe got no answer (${kernel.probe.error ?? 'none'}) and no traced rule dropped it`,
    );
  }
  return out;
}

/** The lines `podnet explain --live` prints: the model's steps, the kernel's hops, the verdicts. */
export function formatLive(le: LiveExplanation): string[] {
  const lines: string[] = [];
  const row = (tag: string, text: string) => lines.push(`${tag.padEnd(8)} ${text}`);
  for (const s of le.model.steps) row(s.kind, s.detail);
  row('model', `verdict ${le.model.verdict}`);
  const { kernel } = le;
  const p = kernel.probe;
  row(
    'probe',
    `from source port ${kernel.sport}: ${p.ok ? `connected, "${p.reply}"` : `blocked (${p.error ?? 'no answer'})`}`,
  );
  for (const h of kernel.hops) {
    const parts = [h.chains.length ? h.chains.join(' → ') : 'sent (no podnet table here)'];
    if (h.dnat) parts.push(`DNAT ${h.dnat.from} → ${h.dnat.to}`);
    const accept = h.rules.findLast((r) => r.table === 'podnet_netpol' && r.verdict === 'accept');
    if (h.dropped) parts.push(`${h.dropped.verdict} by ${describeDecision(h.dropped)}`);
    else if (accept) parts.push(`accepted by ${describeDecision(accept)}`);
    row('trace', `${h.label}: ${parts.join('; ')}`);
  }
  if (kernel.hops.length === 0) row('trace', 'no namespace traced the probe');
  row('kernel', `verdict ${kernel.verdict}`);
  for (const w of le.warnings ?? []) row('warning', w);
  if (le.model.verdict === 'unknown' && le.disagreements.length === 0)
    row('note', 'the model did not resolve the target: only the kernel speaks');
  else if (le.disagreements.length === 0) row('agree', 'the kernel did what the model predicts');
  for (const d of le.disagreements) row('DISAGREE', d);
  return lines;
}

/** Options of {@link liveExplain}. */
export interface LiveExplainOptions {
  /** How long each probe waits for an answer (default 1500 ms). */
  timeoutMs?: number;
  /** The first source port (default: random within {@link TRACE_PORTS}). */
  firstPort?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends each flow's probe from a source port of its own with nftables tracing on, in every node
 * namespace and the sources' namespaces (one trace table each, added before and deleted after
 * even when a step fails, and one `nft monitor` each, started before the table and awaited until
 * it reports it), then sets what the kernel did beside {@link Cluster.explain}'s prediction.
 * Flows from one source are probed at once, sources in parallel.
 */
export async function liveExplain(
  cluster: Cluster,
  flows: readonly LiveFlow[],
  options: LiveExplainOptions = {},
): Promise<LiveExplanation[]> {
  if (flows.length === 0) return [];
  const span = TRACE_PORTS.last - TRACE_PORTS.first + 1;
  if (flows.length > span)
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `flows: at most ${span} at once, got ${flows.length}`,
    );
  const first =
    options.firstPort ?? TRACE_PORTS.first + Math.floor(Math.random() * (span - flows.length + 1));
  if (first < TRACE_PORTS.first || first + flows.length - 1 > TRACE_PORTS.last)
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `firstPort: want ${TRACE_PORTS.first}-${TRACE_PORTS.last - flows.length + 1}, got ${first}`,
    );
  const ports = { first, last: first + flows.length - 1 };
  const models: Explanation[] = [];
  for (const f of flows)
    models.push(await cluster.explain(f.from, f.to, f.port, f.protocol, f.family));

  const spaces: { label: string; netns: string }[] = cluster.plan.nodes.map((n) => ({
    label: n.name,
    netns: n.netns,
  }));
  for (const from of new Set(flows.map((f) => f.from))) {
    const netns = cluster.endpointNetns(from);
    if (!spaces.some((s) => s.netns === netns))
      spaces.push({ label: from === 'external' ? 'external' : `pod ${from}`, netns });
  }
  const table = `podnet_trace_${process.pid}_${first}`;
  const runner = new ExecRunner();
  const added: string[] = [];
  const monitors: { child: ChildProcess; text: string; errors: string; closed: Promise<void> }[] =
    [];
  const results = new Map<number, ProbeResult>();
  const nft = (netns: string, args: string[], stdin?: string) =>
    runner.run({
      argv: ['ip', 'netns', 'exec', netns, 'nft', ...args],
      ...(stdin !== undefined ? { stdin } : {}),
    });
  try {
    // Each monitor follows every event (ruleset changes and traces): it is subscribed once it
    // prints the trace table's own `add table` (the parser keeps only the trace lines).
    for (const s of spaces) {
      const child = spawn('ip', ['netns', 'exec', s.netns, 'nft', '-a', 'monitor'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const m = {
        child,
        text: '',
        errors: '',
        closed: new Promise<void>((r) => child.on('close', () => r())),
      };
      child.stdout!.on('data', (d: Buffer) => {
        m.text += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        m.errors += d.toString();
      });
      child.on('error', (e) => {
        m.errors += `${e.message}\n`;
      });
      monitors.push(m);
    }
    for (const s of spaces) {
      const r = await nft(s.netns, ['-f', '-'], traceTableScript(table, ports));
      if (r.code !== 0)
        throw new ClusterError(
          'COMMAND_FAILED',
          `adding trace table ${table} in ${s.netns}: ${r.stderr.trim()}`,
        );
      added.push(s.netns);
    }
    const deadline = Date.now() + 10_000;
    for (const [i, s] of spaces.entries()) {
      const m = monitors[i]!;
      for (let n = 0; !m.text.includes(`inet ${table}`); n++) {
        if (Date.now() > deadline || m.child.exitCode !== null)
          throw new ClusterError(
            'TIMEOUT',
            `nft monitor in ${s.netns} did not start: ${m.errors.trim() || 'no event seen'}`,
          );
        await sleep(50);
        // subscribed after the table was added: one more event, a marker chain
        if (n % 10 === 9) await nft(s.netns, ['-f', '-'], `add chain inet ${table} ready${n}\n`);
      }
    }
    const bySource = new Map<string, number[]>();
    for (const [i, f] of flows.entries())
      bySource.set(f.from, [...(bySource.get(f.from) ?? []), i]);
    await Promise.all(
      [...bySource].map(async ([from, idx]) => {
        const rs = await cluster.probeMany(
          from,
          idx.map((i) => {
            const f = flows[i]!;
            return {
              to: f.to,
              port: f.port,
              proto: f.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const),
              sport: first + i,
              ...(f.family ? { family: f.family } : {}),
            };
          }),
          options.timeoutMs ?? 1500,
        );
        for (const [j, i] of idx.entries()) results.set(i, rs[j]!);
      }),
    );
    await sleep(300); // the last trace lines of a dropped retransmission
  } finally {
    for (const m of monitors) {
      if (m.child.exitCode === null && m.child.pid) m.child.kill('SIGTERM');
      await m.closed;
    }
    for (const netns of added) await nft(netns, ['delete', 'table', 'inet', table]);
  }
  const traced: TracedNamespace[] = spaces.map((s, i) => ({ ...s, text: monitors[i]?.text ?? '' }));
  // what a monitor said on stderr (e.g. events lost to a full netlink buffer) goes with every answer
  const warnings = spaces.flatMap((s, i) =>
    (monitors[i]?.errors ?? '')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => `nft monitor in ${s.label}: ${l.trim()}`),
  );
  return flows.map((flow, i) => {
    const kernel = observeKernel(
      traced,
      first + i,
      results.get(i) ?? { ok: false, error: 'not probed' },
    );
    const model = models[i]!;
    return { flow, model, kernel, disagreements: compareLive(model, kernel), warnings };
  });
}
