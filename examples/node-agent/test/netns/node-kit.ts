import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TestNet, waitFor } from '@podnet/host/testing';
import type { AgentConfig } from '../../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../../..');
const AGENT_SRC = join(REPO, 'examples/node-agent/src/bin/podnet-agent.ts');
const SHIM_DIST = join(REPO, 'examples/cni-plugin/dist/bin/podnet.js');
const SHIM_SRC = join(REPO, 'examples/cni-plugin/src/bin/podnet.ts');

/** Environment without the CA bundle variable (it slows every node start). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** A CNI bin dir holding `podnet` (the shim) as a runtime would install it. */
export function makeCniBinDir(root: string): string {
  const dir = join(root, 'cni-bin');
  mkdirSync(dir, { recursive: true });
  const target = existsSync(SHIM_DIST)
    ? `exec node ${SHIM_DIST}`
    : `cd ${REPO} && exec node --conditions=source --import tsx ${SHIM_SRC}`;
  writeFileSync(join(dir, 'podnet'), `#!/bin/sh\n${target}\n`);
  chmodSync(join(dir, 'podnet'), 0o755);
  return dir;
}

/** One CNI invocation's outcome. */
export interface CniOutcome {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** Execs a plugin as a runtime does (CNI_* env, config on stdin). */
export function execPlugin(
  binDir: string,
  type: string,
  env: Record<string, string>,
  stdin: string,
  timeoutMs = 60_000,
): Promise<CniOutcome> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      join(binDir, type),
      [],
      { env: cleanEnv({ CNI_PATH: binDir, ...env }), timeout: timeoutMs },
      (err, stdout, stderr) => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {}
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolvePromise({ code, stdout, stderr, json });
      },
    );
    child.stdin?.end(stdin);
  });
}

/** A node namespace with an uplink to an "underlay" namespace, and an agent running inside it. */
export class TestNode {
  readonly root: string;
  readonly binDir: string;
  readonly config: AgentConfig;
  agent?: ChildProcess;
  logs = '';
  /** `/etc/netns/<ns>` directories {@link TestNode.runPod} wrote (removed by cleanup). */
  private readonly etcDirs: string[] = [];

  constructor(
    readonly net: TestNet,
    readonly ns: string,
    config: Partial<AgentConfig> & { nodeName: string; nodeIps: string[] },
  ) {
    this.root = mkdtempSync(join(tmpdir(), 'podnet-agent-test-'));
    this.binDir = makeCniBinDir(this.root);
    const manifests = join(this.root, 'manifests');
    mkdirSync(manifests, { recursive: true });
    this.config = {
      stateDir: join(this.root, 'state'),
      socketPath: join(this.root, 'run', 'agent.sock'),
      cniConfDir: join(this.root, 'net.d'),
      source: { kind: 'manifests', dir: manifests },
      clusterCidrs: ['10.244.0.0/16'],
      serviceCidrs: ['10.96.0.0/16'],
      uplink: 'eth0',
      dns: { ip: '169.254.20.10', clusterDomain: 'cluster.local' },
      http: { address: '127.0.0.1', port: 0 },
      ...config,
    };
  }

  get manifestsDir(): string {
    return (this.config.source as { dir: string }).dir;
  }

  /**
   * Starts the agent inside the node namespace and waits until its log has `readyLine` (default:
   * its pod network is ready).
   */
  async start(readyLine = '"pod network ready"'): Promise<void> {
    const file = join(this.root, 'agent.json');
    writeFileSync(file, JSON.stringify(this.config));
    const child = this.net.spawn(
      this.ns,
      ['node', '--conditions=source', '--import', 'tsx', AGENT_SRC, '--config', file],
      {
        env: cleanEnv(),
      },
    );
    this.agent = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.logs += d;
    });
    child.stdout?.resume();
    await waitFor(() => this.logs.includes(readyLine) || child.exitCode !== null, {
      timeoutMs: 60_000,
      what: `agent on ${this.ns} to be ready`,
    });
    if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${this.logs}`);
  }

  /** Kills the agent (SIGKILL by default) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.agent;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }

  /** The network config the runtime passes to the plugin (from the written conflist). */
  pluginConf(cniVersion = '1.1.0', extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
      cniVersion,
      name: 'podnet',
      type: 'podnet',
      socket: this.config.socketPath,
      ...extra,
    });
  }

  cni(
    command: string,
    containerId: string,
    netns: string,
    opts: {
      ifName?: string;
      args?: string;
      cniVersion?: string;
      extra?: Record<string, unknown>;
    } = {},
  ): Promise<CniOutcome> {
    return execPlugin(
      this.binDir,
      'podnet',
      {
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: netns,
        CNI_IFNAME: opts.ifName ?? 'eth0',
        CNI_ARGS:
          opts.args ?? `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${containerId}`,
      },
      this.pluginConf(opts.cniVersion, opts.extra),
    );
  }

  /**
   * A pod `name` in namespace `default` as a runtime and a kubelet make it: a network namespace,
   * CNI ADD, the resolv.conf the runtime writes from the CNI result (read by tools run with
   * `mountEtc`), and the Pod object with its address in the manifests (the DNS server's pod index
   * and verified pod records need it). Returns the pod's namespace and address.
   */
  async runPod(name: string): Promise<{ ns: string; ip: string }> {
    const ns = await this.net.ns(name);
    const add = await this.cni('ADD', name, `/run/netns/${ns}`);
    const result = add.json as {
      ips: { address: string }[];
      dns: { nameservers: string[]; search: string[]; options?: string[] };
    };
    const ip = result.ips[0]!.address.split('/')[0]!;
    this.etcDirs.push(`/etc/netns/${ns}`);
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(
      `/etc/netns/${ns}/resolv.conf`,
      `nameserver ${result.dns.nameservers[0]}\nsearch ${result.dns.search.join(' ')}\noptions ${(result.dns.options ?? ['ndots:5']).join(' ')}\n`,
    );
    writeFileSync(
      join(this.manifestsDir, `${name}.yaml`),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { nodeName: this.config.nodeName, containers: [{ name: 'c', image: 'x' }] },
        status: { podIP: ip, podIPs: [{ ip }] },
      }),
    );
    return { ns, ip };
  }

  cleanup(): void {
    this.agent?.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
    for (const d of this.etcDirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Makes node namespace `short` with `eth0` (addr) linked to namespace `underlay` (`peerAddr`). */
export async function makeNodeNs(
  net: TestNet,
  short: string,
  underlay: string,
  addr: string,
  peerAddr?: string,
): Promise<string> {
  const ns = await net.ns(short);
  await net.veth(
    { ns, name: 'eth0', addrs: [addr] },
    { ns: underlay, name: `u-${short}`.slice(0, 15), addrs: peerAddr ? [peerAddr] : [] },
  );
  return ns;
}

/**
 * The usual one-node setup: an underlay namespace, node `n1` at `<subnet>.2/24` on it (the
 * underlay end is `<subnet>.1`), and a started agent with `config` (pod CIDRs and the like).
 */
export async function startOneNode(
  net: TestNet,
  subnet: string,
  config: Omit<Partial<AgentConfig>, 'nodeName' | 'nodeIps'>,
): Promise<{ node: TestNode; underlay: string }> {
  const underlay = await net.ns('ul');
  const ns = await makeNodeNs(net, 'n1', underlay, `${subnet}.2/24`, `${subnet}.1/24`);
  const node = new TestNode(net, ns, { ...config, nodeName: 'n1', nodeIps: [`${subnet}.2`] });
  await node.start();
  return { node, underlay };
}
