/**
 * What a pod feels, side by side in one run (root; network namespaces made and removed here):
 *   1. an external name looked up by glibc (`getaddrinfo` for A and AAAA through Node's
 *      `dns.lookup`) from a pod with the node agent's resolv.conf (three search domains,
 *      ndots:5): queries the server answered per lookup (its /metrics) and latency per lookup,
 *      podnet-dns with `--autopath` vs without;
 *   2. the first connection after a lookup under a ClusterNetworkPolicy that allows the name
 *      (`--fqdn-egress`: the answer's address is written to the policy set before the pod gets
 *      the answer) vs the same policy allowing the address range instead: lookup latency,
 *      connect latency, and how many first SYNs passed.
 * The pod is a namespace behind a veth to the "node" namespace, where podnet-dns, a fake upstream
 * and the policy table live; the "external" addresses are on the node's loopback.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compilePolicies, renderRuleset } from '@podnet/netpol';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const LOOKUPS = 300;
const CONNECTS = 100;
const POD_IP = '10.244.9.2';
const NODE_IP = '10.244.9.1';
const EXT_IP = '198.51.100.10';

/** One configuration's numbers. */
export interface PodLookupResult {
  lookups: number;
  queriesPerLookup: number;
  p50Ms: number;
  p99Ms: number;
}

/** The first connection after a lookup. */
export interface FirstConnectResult {
  attempts: number;
  /** Connections whose first SYN was answered (connect under 900 ms, before TCP's first retry). */
  firstSynPassed: number;
  lookupP50Ms: number;
  connectP50Ms: number;
  connectP99Ms: number;
}

/** Results of {@link autopathBench}. */
export interface AutopathBenchResult {
  lookup: { autopath: PodLookupResult; plain: PodLookupResult; queryRatio: number };
  firstConnect: { fqdn: FirstConnectResult; cidr: FirstConnectResult };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

/** The in-pod client: lookups (and optionally a connect after each), timings as JSON. */
const CLIENT = `
const dns = require('node:dns');
const net = require('node:net');
const [mode, count, port] = process.argv.slice(1);
(async () => {
  const out = [];
  for (let i = 0; i < Number(count); i++) {
    const name = mode === 'connect' ? 'api.example.com' : 'host-' + i + '.example.com';
    const t0 = performance.now();
    const addrs = await dns.promises.lookup(name, { all: true });
    const t1 = performance.now();
    if (mode !== 'connect') { out.push([t1 - t0]); continue; }
    const ok = await new Promise((r) => {
      const s = net.connect({ host: addrs.find((a) => a.family === 4).address, port: Number(port) });
      const timer = setTimeout(() => { s.destroy(); r(false); }, 900);
      s.once('connect', () => { clearTimeout(timer); s.destroy(); r(true); });
      s.once('error', () => { clearTimeout(timer); r(false); });
    });
    out.push([t1 - t0, performance.now() - t1, ok]);
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

async function sh(argv: string[], input?: string): Promise<string> {
  if (input === undefined) return (await run(argv[0] as string, argv.slice(1))).stdout;
  return new Promise((res, rej) => {
    const c = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${argv.join(' ')}: ${err}`))));
    c.stdin.end(input);
  });
}

async function waitLine(child: ChildProcess, re: RegExp, what: string): Promise<string> {
  let buf = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${what} did not start: ${buf}`)), 60_000);
    child.stdout?.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(m[1] ?? m[0]);
      }
    });
    child.once('exit', (code) => rej(new Error(`${what} exited ${code}: ${buf}`)));
  });
}

async function metric(ns: string, port: number, name: string): Promise<number> {
  const text = await sh([
    'ip',
    'netns',
    'exec',
    ns,
    'curl',
    '-s',
    `http://${NODE_IP}:${port}/metrics`,
  ]);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm')))
    sum += Number(m[1]);
  return sum;
}

/** Runs both parts; needs root, iproute2 and nft. */
export async function autopathBench(): Promise<AutopathBenchResult> {
  const tag = `pnb${process.pid % 100000}`;
  const nodeNs = `${tag}node`;
  const podNs = `${tag}pod`;
  const work = mkdtempSync(join(tmpdir(), 'podnet-autopath-bench-'));
  const children: ChildProcess[] = [];
  const inNode = (argv: string[]) => ['ip', 'netns', 'exec', nodeNs, ...argv];
  const inNsenter = (argv: string[]) => [`--net=/run/netns/${nodeNs}`, '--', ...argv];
  try {
    await sh(['ip', 'netns', 'add', nodeNs]);
    await sh(['ip', 'netns', 'add', podNs]);
    await sh(['ip', '-n', nodeNs, 'link', 'set', 'lo', 'up']);
    await sh(['ip', '-n', podNs, 'link', 'set', 'lo', 'up']);
    await sh([
      'ip',
      '-n',
      nodeNs,
      'link',
      'add',
      'veth-pod',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      podNs,
    ]);
    await sh(['ip', '-n', nodeNs, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'veth-pod']);
    await sh(['ip', '-n', nodeNs, 'addr', 'add', `${EXT_IP}/32`, 'dev', 'lo']);
    await sh(['ip', '-n', nodeNs, 'link', 'set', 'veth-pod', 'up']);
    await sh(['ip', '-n', podNs, 'addr', 'add', `${POD_IP}/24`, 'dev', 'eth0']);
    await sh(['ip', '-n', podNs, 'link', 'set', 'eth0', 'up']);
    await sh(['ip', '-n', podNs, 'route', 'add', 'default', 'via', NODE_IP]);
    mkdirSync(`/etc/netns/${podNs}`, { recursive: true });
    writeFileSync(
      `/etc/netns/${podNs}/resolv.conf`,
      `nameserver ${NODE_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
    // the external service, and an upstream that answers every *.example.com with it
    const ext = spawn(
      'nsenter',
      inNsenter([
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.end()).listen(8080, '${EXT_IP}', () => console.log('up'))`,
      ]),
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(ext);
    await waitLine(ext, /up/, 'the external service');
    const names: Record<string, string> = { 'api.example.com': EXT_IP };
    for (let i = 0; i < LOOKUPS; i++) names[`host-${i}.example.com`] = EXT_IP;
    const upstream = spawn(
      'nsenter',
      inNsenter([
        process.execPath,
        '--conditions=source',
        '--import',
        'tsx',
        resolve(here, '../../../examples/node-agent/test/netns/fake-external-dns.ts'),
        '127.0.0.53',
        JSON.stringify(names),
        '1',
      ]),
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(upstream);
    const upstreamPort = Number(await waitLine(upstream, /"port":(\d+)/, 'the fake upstream'));
    const manifests = join(work, 'manifests');
    mkdirSync(manifests);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: 'default' },
      spec: { nodeName: 'bench', containers: [{ name: 'c', image: 'x' }] },
      status: { podIP: POD_IP, podIPs: [{ ip: POD_IP }] },
    };
    const policy = (fqdn: boolean) => ({
      apiVersion: 'policy.networking.k8s.io/v1alpha2',
      kind: 'ClusterNetworkPolicy',
      metadata: { name: 'egress' },
      spec: {
        tier: 'Admin',
        priority: 10,
        subject: { namespaces: {} },
        egress: [
          { action: 'Accept', to: [{ networks: [`${NODE_IP}/32`] }] },
          {
            action: 'Accept',
            to: [fqdn ? { domainNames: ['api.example.com'] } : { networks: [`${EXT_IP}/32`] }],
          },
          { action: 'Deny', to: [{ networks: ['0.0.0.0/0'] }] },
        ],
      },
    });
    writeFileSync(join(manifests, 'pod.json'), JSON.stringify(pod));
    writeFileSync(
      join(manifests, 'ns.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }),
    );
    const dnsBin = resolve(here, '../dist/bin/podnet-dns.js');
    const startDns = async (flags: string[]): Promise<{ child: ChildProcess; http: number }> => {
      const child = spawn(
        'nsenter',
        inNsenter([
          process.execPath,
          dnsBin,
          '--manifests',
          manifests,
          '--address',
          NODE_IP,
          '--port',
          '53',
          '--http-port',
          '0',
          '--upstream',
          `127.0.0.53:${upstreamPort}`,
          '--cache-size',
          '0',
          ...flags,
        ]),
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      const http = Number(await waitLine(child, /"httpPort":(\d+)/, 'podnet-dns'));
      return { child, http };
    };
    const stop = async (child: ChildProcess) => {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    };
    const client = async (mode: string, count: number): Promise<(number | boolean)[][]> =>
      JSON.parse(
        await sh([
          'ip',
          'netns',
          'exec',
          podNs,
          process.execPath,
          '-e',
          CLIENT,
          mode,
          String(count),
          '8080',
        ]),
      ) as (number | boolean)[][];
    // the node's forwarding path for pod → node-local addresses is input: nothing to route

    // 1. lookups, autopath on and off
    const lookup: Record<string, PodLookupResult> = {};
    for (const [key, flags] of [
      ['autopath', ['--autopath']],
      ['plain', []],
    ] as const) {
      const { child, http } = await startDns([...flags]);
      await client('lookup', 20); // warm: JIT, the upstream's first answers
      const before = await metric(nodeNs, http, 'podnet_dns_requests_total');
      const times = (await client('lookup', LOOKUPS)).map((r) => r[0] as number);
      const queries = (await metric(nodeNs, http, 'podnet_dns_requests_total')) - before;
      lookup[key] = {
        lookups: LOOKUPS,
        queriesPerLookup: queries / LOOKUPS,
        p50Ms: quantile(times, 0.5),
        p99Ms: quantile(times, 0.99),
      };
      await stop(child);
    }

    // 2. the first connection after a lookup: FQDN policy vs a CIDR policy
    const firstConnect: Record<string, FirstConnectResult> = {};
    for (const [key, fqdn] of [
      ['fqdn', true],
      ['cidr', false],
    ] as const) {
      writeFileSync(join(manifests, 'policy.json'), JSON.stringify(policy(fqdn)));
      const rs = compilePolicies(
        {
          namespaces: [{ metadata: { name: 'default' } }],
          pods: [pod],
          clusterNetworkPolicies: [policy(fqdn)],
        } as never,
        { nodeName: 'bench', log: false },
      );
      await sh(inNode(['nft', '-f', '-']), renderRuleset(rs));
      const { child } = await startDns(
        fqdn
          ? ['--fqdn-egress', '--node-name', 'bench', '--fqdn-floor', process.env.FLOOR ?? '1']
          : [],
      );
      await client('connect', 5);
      const rows = await client('connect', CONNECTS);
      firstConnect[key] = {
        attempts: rows.length,
        firstSynPassed: rows.filter((r) => r[2] === true).length,
        lookupP50Ms: quantile(
          rows.map((r) => r[0] as number),
          0.5,
        ),
        connectP50Ms: quantile(
          rows.map((r) => r[1] as number),
          0.5,
        ),
        connectP99Ms: quantile(
          rows.map((r) => r[1] as number),
          0.99,
        ),
      };
      await stop(child);
      await sh(inNode(['nft', 'delete', 'table', 'inet', 'podnet_netpol']));
    }
    const a = lookup.autopath as PodLookupResult;
    const p = lookup.plain as PodLookupResult;
    return {
      lookup: { autopath: a, plain: p, queryRatio: a.queriesPerLookup / p.queriesPerLookup },
      firstConnect: {
        fqdn: firstConnect.fqdn as FirstConnectResult,
        cidr: firstConnect.cidr as FirstConnectResult,
      },
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [podNs, nodeNs]) await sh(['ip', 'netns', 'del', ns]).catch(() => '');
    rmSync(`/etc/netns/${podNs}`, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** Prints the results as the other parts of the DNS bench do. */
export function printAutopath(r: AutopathBenchResult): void {
  const f = (n: number) => n.toFixed(2);
  console.log(
    '\nexternal-name lookup from a pod (glibc getaddrinfo, A + AAAA, ndots:5, 3 search domains)',
  );
  console.log('config            queries/lookup  p50 ms  p99 ms');
  for (const [k, v] of [
    ['autopath', r.lookup.autopath],
    ['no autopath', r.lookup.plain],
  ] as const)
    console.log(
      `${k.padEnd(18)}${f(v.queriesPerLookup).padStart(14)}  ${f(v.p50Ms).padStart(6)}  ${f(v.p99Ms).padStart(6)}`,
    );
  console.log(`queries with autopath / without: ${f(r.lookup.queryRatio)}`);
  console.log(
    '\nfirst connection after a lookup (node-local DNS, policy table in the node namespace)',
  );
  console.log(
    'policy                        first SYN passed  lookup p50 ms  connect p50 ms  connect p99 ms',
  );
  for (const [k, v] of [
    ['domainNames (FQDN sets)', r.firstConnect.fqdn],
    ['networks (the address)', r.firstConnect.cidr],
  ] as const)
    console.log(
      `${k.padEnd(30)}${`${v.firstSynPassed}/${v.attempts}`.padStart(16)}  ${f(v.lookupP50Ms).padStart(13)}  ${f(v.connectP50Ms).padStart(14)}  ${f(v.connectP99Ms).padStart(14)}`,
    );
}

// `node --conditions=source --import tsx bench/autopath.ts` runs this part alone
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await autopathBench();
  printAutopath(r);
  const out = resolve(here, '../../../bench-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'dns-autopath.json'), `${JSON.stringify(r, null, 2)}\n`);
}
