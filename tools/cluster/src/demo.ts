import { manifestObjects } from './accept-manifests.js';
import { Cluster, type ProgressFn } from './cluster.js';
import { demoIngress } from './demo-ingress.js';

/** One line of the demo's verdict. */
export interface DemoCheck {
  what: string;
  ok: boolean;
  detail: string;
}

const NS = 'shop';

function pod(name: string, node: string, app: string, ports: number[] = []) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app } },
    spec: {
      nodeName: node,
      containers: [{ name: 'main', ports: ports.map((containerPort) => ({ containerPort })) }],
    },
  };
}

const OBJECTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { team: 'shop' } } },
  pod('frontend', 'node1', 'frontend'),
  pod('intruder', 'node3', 'intruder'),
  pod('backend-1', 'node1', 'backend', [8080]),
  pod('backend-2', 'node2', 'backend', [8080]),
  pod('backend-3', 'node3', 'backend', [8080]),
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'backend', namespace: NS },
    spec: {
      type: 'NodePort',
      selector: { app: 'backend' },
      ports: [{ name: 'http', port: 80, targetPort: 8080 }],
    },
  },
];

const POLICY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'backend-from-frontend', namespace: NS },
  spec: {
    podSelector: { matchLabels: { app: 'backend' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { app: 'frontend' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ],
  },
};

const CLIENTS = ['frontend', 'intruder'];
const BACKENDS = ['backend-1', 'backend-2', 'backend-3'];

async function matrix(cluster: Cluster): Promise<boolean[][]> {
  return Promise.all(
    CLIENTS.map(async (c) =>
      (
        await cluster.probeMany(
          `${NS}/${c}`,
          BACKENDS.map((b) => ({ to: `${NS}/${b}`, port: 8080 })),
          1500,
        )
      ).map((r) => r.ok),
    ),
  );
}

function renderMatrix(m: boolean[][]): string {
  const head = `${''.padEnd(10)}${BACKENDS.map((b) => b.padEnd(11)).join('')}`;
  return [
    head,
    ...CLIENTS.map(
      (c, i) =>
        `${c.padEnd(10)}${m[i]!.map((ok) => (ok ? 'open' : 'blocked').padEnd(11)).join('')}`,
    ),
  ].join('\n');
}

/** Polls the matrix until it equals `want` (policies and endpoints take a moment to apply). */
async function matrixUntil(
  cluster: Cluster,
  want: boolean[][],
  timeoutMs: number,
): Promise<boolean[][]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await matrix(cluster);
    if (JSON.stringify(m) === JSON.stringify(want) || Date.now() > deadline) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The demo: 3 nodes, 5 pods in namespace `shop`, a NodePort Service, a NetworkPolicy and an
 * external host. Prints what it sees and returns the checks (all must hold for exit 0).
 */
export async function runDemo(
  options: {
    out?: (line: string) => void;
    progress?: ProgressFn;
    /** The cluster's name: `demo`, or `default` with `keep` (so the podnet commands need no --name). */
    name?: string;
    /** Leave the cluster up and print the commands to try next (it is removed by `podnet down`). */
    keep?: boolean;
  } = {},
): Promise<DemoCheck[]> {
  const out = options.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const progress = options.progress ?? ((m: string) => out(`  … ${m}`));
  const checks: DemoCheck[] = [];
  const check = (what: string, ok: boolean, detail: string) => {
    checks.push({ what, ok, detail });
    out(`${ok ? '✔' : '✘'} ${what}: ${detail}`);
  };
  const keep = options.keep ?? false;
  const name = options.name ?? (keep ? 'default' : 'demo');
  out(`podnet demo: a 3-node cluster of network namespaces (cluster "${name}")`);
  // A kept demo's cluster may be the user's own: it is never removed here (up refuses it instead).
  const stale = keep ? undefined : await Cluster.load(name).catch(() => undefined);
  if (stale) {
    progress(`removing the leftovers of an earlier demo run`);
    await stale.down();
  }
  const cluster = await Cluster.up({ name, nodes: 3, network: 'podnet', progress });
  try {
    await cluster.apply(manifestObjects(OBJECTS, 'demo'), progress);
    out('');
    out(cluster.status());

    out('\n1. Connectivity to the backends on 8080/TCP before any NetworkPolicy');
    const all = CLIENTS.map(() => BACKENDS.map(() => true));
    const before = await matrixUntil(cluster, all, 15_000);
    out(renderMatrix(before));
    check(
      'everything open without a policy',
      JSON.stringify(before) === JSON.stringify(all),
      'every client reaches every backend',
    );

    const svcName = `backend.${NS}.svc.${cluster.plan.clusterDomain}`;
    out(`\n2. Cluster DNS: ${svcName} from frontend`);
    const svc = cluster.state.objects.services[0]!;
    const clusterIP = svc.spec?.clusterIP ?? '';
    const dig = await cluster.exec(`${NS}/frontend`, [
      'dig',
      '+noall',
      '+answer',
      '+time=2',
      '+tries=2',
      svcName,
    ]);
    out(dig.stdout.trim() || dig.stderr.trim() || '(no answer)');
    check(
      'DNS answers the ClusterIP',
      new RegExp(`\\sA\\s+${clusterIP.replace(/\./g, '\\.')}$`, 'm').test(dig.stdout),
      `${svcName} → ${clusterIP}`,
    );

    out(`\n3. 30 requests from frontend to http://backend:80 (ClusterIP ${clusterIP})`);
    const counts: Record<string, number> = {};
    const spread = await cluster.probeMany(
      `${NS}/frontend`,
      Array.from({ length: 30 }, () => ({ to: 'backend', port: 80, proto: 'http' as const })),
      3000,
    );
    for (const r of spread) {
      const who = r.ok ? (r.reply?.split(' ')[0] ?? '?') : `failed (${r.error})`;
      counts[who] = (counts[who] ?? 0) + 1;
    }
    for (const [who, n] of Object.entries(counts).sort())
      out(`  ${who.padEnd(24)} ${'#'.repeat(n)} ${n}`);
    check(
      'the Service spreads over all 3 endpoints',
      BACKENDS.every((b) => (counts[b] ?? 0) > 0) && Object.keys(counts).length === 3,
      JSON.stringify(counts),
    );

    const nodePort = svc.spec?.ports?.[0]?.nodePort ?? 0;
    out(`\n4. NodePort ${nodePort} from the external host (${cluster.plan.externalIp})`);
    const np = await cluster.probe('external', 'node2', nodePort, 'http', 3000);
    out(
      `  external → ${cluster.node('node2').ip}:${nodePort}: ${np.ok ? `answered "${np.reply}"` : `failed (${np.error})`}`,
    );
    check(
      'NodePort reaches a backend from outside',
      np.ok && BACKENDS.includes(np.reply?.split(' ')[0] ?? ''),
      np.reply ?? String(np.error),
    );

    out('\n5. Egress from frontend to the external host (masquerade)');
    const eg = await cluster.probe(`${NS}/frontend`, 'external', 8080, 'tcp', 3000);
    out(`  external saw: "${eg.reply ?? eg.error}"`);
    const nodeIp = cluster.node('node1').ip;
    check(
      'egress leaves masqueraded behind the node IP',
      eg.ok && eg.reply === `external ${nodeIp}`,
      `source ${eg.reply?.split(' ')[1]} (node1 is ${nodeIp})`,
    );

    out('\n6. NetworkPolicy: backends accept 8080/TCP only from app=frontend');
    await cluster.apply(manifestObjects([POLICY], 'demo'), progress);
    const want = CLIENTS.map((c) => BACKENDS.map(() => c === 'frontend'));
    const after = await matrixUntil(cluster, want, 20_000);
    out(renderMatrix(after));
    check(
      'the policy admits frontend and blocks intruder',
      JSON.stringify(after) === JSON.stringify(want),
      'frontend open, intruder blocked',
    );

    out('\n7. Ingress: haproxy behind a LoadBalancer routes by Host header to two Services');
    const routed = await demoIngress(cluster, NS, out, progress);
    check(
      'the ingress controller routes each host to its Service, from the external host',
      routed.every((r) => r.got === r.want),
      routed.map((r) => `${r.host} → ${r.got ?? r.detail}`).join(', '),
    );
  } finally {
    if (!keep) {
      progress('cleaning up');
      const errors = await cluster.down();
      for (const e of errors) out(`warning: ${e}`);
    }
  }
  const failed = checks.filter((c) => !c.ok);
  out(
    failed.length === 0
      ? `\nall ${checks.length} checks passed`
      : `\n${failed.length} of ${checks.length} checks failed`,
  );
  if (keep) out(`\n${nextSteps(name)}`);
  return checks;
}

/** What a kept demo prints: the cluster is up, and the commands to try on it. */
export function nextSteps(name: string): string {
  const n = name === 'default' ? '' : ` --name ${name}`;
  const cmd = (args: string, why: string) => `  ${`npx podnet ${args}${n}`.padEnd(53)} # ${why}`;
  return [
    `The cluster "${name}" is still up. Try (from the repo root, as root):`,
    cmd('get pods', 'pods with their node and IP'),
    cmd('get services', 'NodePort, LoadBalancer (EXTERNAL-IP) and their endpoints'),
    cmd('get policies', 'the NetworkPolicy'),
    cmd(`probe ${NS}/frontend backend:80/http`, 'connected through the ClusterIP'),
    cmd(`probe ${NS}/intruder ${NS}/backend-1:8080`, 'blocked by the policy (exit 1)'),
    cmd(`explain ${NS}/frontend backend:80`, 'DNS, DNAT, route and policy verdict'),
    cmd(`explain ${NS}/intruder ${NS}/backend-2:8080`, 'which policy denies it'),
    // options before `--`: what follows it is the command's own argv
    `  npx podnet exec${n} external -- curl -s -H "Host: api.example" 203.0.113.200   # the ingress, from the external host`,
    cmd('down', 'removes the cluster'),
  ].join('\n');
}
