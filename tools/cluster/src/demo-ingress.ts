/**
 * The demo's ingress step: two Services (`store`, `api`), haproxy in a pod as the ingress
 * controller behind a LoadBalancer Service, and requests from the external host routed to the
 * two Services by Host header.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestObjects } from './accept-manifests.js';
import { writeAtomic } from './atomic-file.js';
import type { Cluster, ProgressFn } from './cluster.js';
import { ingressControllerManifests, renderHaproxyConfig } from './ingress.js';

/** The hosts the demo's ingress routes, and the Service (and its pod) each goes to. */
export const DEMO_INGRESS_HOSTS: ReadonlyArray<{ host: string; app: string }> = [
  { host: 'store.example', app: 'store' },
  { host: 'api.example', app: 'api' },
];

/** Where a cluster's ingress configuration file lives (what a ConfigMap would hold). */
export function ingressConfigFile(cluster: Cluster): string {
  return join(cluster.state.runDir, 'ingress', 'haproxy.cfg');
}

function backend(namespace: string, app: string, node: string): unknown[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: app, namespace, labels: { app } },
      spec: {
        nodeName: node,
        containers: [{ name: 'main', ports: [{ name: 'http', containerPort: 8080 }] }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: app, namespace },
      spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
  ];
}

/** One request from the external host: the status and first word of the body, or the error. */
async function externalGet(
  cluster: Cluster,
  url: string,
  host: string,
): Promise<{ ok: boolean; status?: string; body?: string; error?: string }> {
  const r = await cluster.exec('external', [
    'curl',
    '-sS',
    '--max-time',
    '3',
    '-H',
    `Host: ${host}`,
    '-w',
    '\n%{http_code}',
    url,
  ]);
  if (r.code !== 0) return { ok: false, error: r.stderr.trim() || `curl exited ${r.code}` };
  const lines = r.stdout.trim().split('\n');
  return { ok: true, status: lines.at(-1), body: lines.slice(0, -1).join(' ').trim() };
}

/**
 * Runs the ingress step in `namespace`: applies the two backends, writes the haproxy
 * configuration, applies the controller's pod and LoadBalancer Service, then sends a request
 * per host from the external host to the load-balancer address (retried for up to 20 s while the
 * address and haproxy's DNS lookups settle). Returns, per host, the pod that answered.
 */
export async function demoIngress(
  cluster: Cluster,
  namespace: string,
  out: (line: string) => void,
  progress: ProgressFn,
): Promise<Array<{ host: string; want: string; got?: string; detail: string }>> {
  await cluster.apply(
    manifestObjects(
      DEMO_INGRESS_HOSTS.flatMap((h, i) => backend(namespace, h.app, `node${i + 1}`)),
      'demo',
    ),
    progress,
  );
  const configFile = ingressConfigFile(cluster);
  await mkdir(join(configFile, '..'), { recursive: true });
  await writeAtomic(
    configFile,
    renderHaproxyConfig(
      {
        routes: DEMO_INGRESS_HOSTS.map((h) => ({
          host: h.host,
          service: `${namespace}/${h.app}`,
          port: 80,
        })),
      },
      cluster.state.objects.services,
      cluster.plan.clusterDomain,
    ),
  );
  await cluster.apply(
    manifestObjects(ingressControllerManifests({ configFile, namespace, node: 'node2' }), 'demo'),
    progress,
  );
  const svc = cluster.state.objects.services.find(
    (s) => s.metadata?.namespace === namespace && s.metadata?.name === 'ingress',
  );
  const ip = svc?.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
  out(`  haproxy in pod ${namespace}/ingress, configured by ${configFile}`);
  out(`  Service ${namespace}/ingress: LoadBalancer, EXTERNAL-IP ${ip}`);
  const results = [];
  for (const h of DEMO_INGRESS_HOSTS) {
    const deadline = Date.now() + 20_000;
    let r = await externalGet(cluster, `http://${ip}/`, h.host);
    while (!(r.ok && r.status === '200') && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 500));
      r = await externalGet(cluster, `http://${ip}/`, h.host);
    }
    const got = r.ok && r.status === '200' ? r.body?.split(' ')[0] : undefined;
    const detail = r.ok ? `HTTP ${r.status} "${r.body}"` : `failed (${r.error})`;
    out(`  external → http://${ip}/ Host: ${h.host.padEnd(14)} ${detail}`);
    results.push({ host: h.host, want: h.app, ...(got ? { got } : {}), detail });
  }
  return results;
}
