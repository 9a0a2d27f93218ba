import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host } from '@podnet/host';
import { type TestNet, waitFor } from '@podnet/host/testing';
import type { ReachTable } from '../../src/testing/index.js';

const AGENT = join(dirname(fileURLToPath(import.meta.url)), 'pod-agent.mjs');

/** A pod in the test topology: its namespace, address and agent channel. */
export interface TestPod {
  key: string;
  ns: string;
  ip: string;
  agent: AgentClient;
}

/** JSON-lines client to a pod agent over its unix socket. */
export class AgentClient {
  private sock?: Socket;
  private buf = '';
  private next = 1;
  private readonly waiting = new Map<number, (v: unknown) => void>();

  constructor(readonly path: string) {}

  async connect(): Promise<void> {
    const sock = (await waitFor(
      () =>
        new Promise<Socket | false>((resolve) => {
          const s = createConnection(this.path);
          s.once('connect', () => resolve(s));
          s.once('error', () => resolve(false));
        }),
      { timeoutMs: 20_000, what: `agent ${this.path}` },
    )) as Socket;
    this.sock = sock;
    sock.on('data', (d) => {
      this.buf += d.toString();
      let nl = this.buf.indexOf('\n');
      while (nl >= 0) {
        const msg = JSON.parse(this.buf.slice(0, nl)) as { id: number; result: unknown };
        this.buf = this.buf.slice(nl + 1);
        nl = this.buf.indexOf('\n');
        this.waiting.get(msg.id)?.(msg.result);
        this.waiting.delete(msg.id);
      }
    });
  }

  call<T>(req: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.sock?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  close(): void {
    this.sock?.destroy();
  }
}

/** A node namespace with routed pods behind veth pairs (ptp style: /32 per pod, forwarding on). */
export class PodTopology {
  readonly pods = new Map<string, TestPod>();
  node = '';
  private dir = '';
  private index = 0;

  constructor(
    readonly net: TestNet,
    readonly gateway = '10.88.0.1',
  ) {}

  /** The node's Host (where the policy table lives). */
  nodeHost(): Host {
    return this.net.host(this.node);
  }

  async init(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'pnt-netpol-'));
    this.node = await this.net.ns('node');
    await this.net.exec(this.node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  }

  /** Adds a pod namespace `key` (e.g. `x/a`) at `ip`, routed through the node, with its agent. */
  async addPod(key: string, ip: string): Promise<TestPod> {
    const i = this.index++;
    const ns = await this.net.ns(`p${i}`);
    await this.net.veth(
      { ns: this.node, name: `pv${i}`, addrs: [`${this.gateway}/32`] },
      { ns, name: 'eth0', addrs: [`${ip}/32`] },
    );
    await this.net.host(ns).ipBatch([
      ['route', 'add', this.gateway, 'dev', 'eth0', 'scope', 'link'],
      ['route', 'add', 'default', 'via', this.gateway, 'dev', 'eth0'],
    ]);
    await new Host({ netns: { name: this.node } }).ipBatch([
      ['route', 'add', `${ip}/32`, 'dev', `pv${i}`],
    ]);
    const sock = join(this.dir, `p${i}.sock`);
    this.net.spawn(ns, [process.execPath, AGENT, sock, '80,81']);
    const agent = new AgentClient(sock);
    await agent.connect();
    const pod = { key, ns, ip, agent };
    this.pods.set(key, pod);
    return pod;
  }

  pod(key: string): TestPod {
    const p = this.pods.get(key);
    if (!p) throw new Error(`no pod ${key}`);
    return p;
  }

  /**
   * Probes one flow with a real connection (TCP connect, or a UDP echo resent until the timeout;
   * `once` sends a single datagram, for tests that count log records).
   */
  probe(
    from: string,
    to: string,
    proto: 'TCP' | 'UDP',
    port: number,
    timeoutMs = 3000,
    once = false,
  ): Promise<boolean> {
    return this.pod(from).agent.call<boolean>({
      op: proto.toLowerCase(),
      ip: this.pod(to).ip,
      port,
      timeoutMs,
      once,
    });
  }

  /** Probes every ordered pair (loopback cells copied from `fill`) in parallel. */
  async probeTable(
    pods: readonly string[],
    proto: 'TCP' | 'UDP',
    port: number,
  ): Promise<ReachTable> {
    const cells: ReachTable['cells'] = {};
    const jobs: Promise<void>[] = [];
    for (const from of pods) {
      cells[from] = {};
      for (const to of pods) {
        if (from === to) {
          (cells[from] as Record<string, boolean>)[to] = true;
          continue;
        }
        jobs.push(
          this.probe(from, to, proto, port).then((ok) => {
            (cells[from] as Record<string, boolean>)[to] = ok;
          }),
        );
      }
    }
    await Promise.all(jobs);
    return { cells };
  }

  /**
   * Forgets the node's connection tracking entries, so flows allowed under an earlier policy set
   * (UDP probes from a reused source port) do not pass as "established" under the next one.
   */
  async flushConntrack(): Promise<void> {
    await this.net.exec(this.node, ['conntrack', '-F'], { allowFail: true });
  }

  close(): void {
    for (const p of this.pods.values()) p.agent.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Cells where two tables differ (loopback ignored), as `from->to`. */
export function tableDiff(a: ReachTable, b: ReachTable): string[] {
  const out: string[] = [];
  for (const from of Object.keys(a.cells)) {
    for (const to of Object.keys(a.cells[from] ?? {})) {
      if (from === to) continue;
      if (a.cells[from]?.[to] !== b.cells[from]?.[to]) out.push(`${from}->${to}`);
    }
  }
  return out;
}
