/**
 * An ingress controller for the namespace cluster, as Kubernetes users run one: Debian's haproxy
 * in a pod (a container with a `command`), behind a LoadBalancer Service, routing HTTP requests by
 * Host header and path prefix to Services by their cluster DNS names. Its configuration is a file
 * this module renders from a small list of routes (what a ConfigMap would carry; Ingress objects
 * are not part of the cluster's object model). Pure.
 */
import type { Service } from '@podnet/cluster-state';
import { keyOf, nameOf, namespaceOf } from './cluster-objects.js';
import { ClusterError } from './errors.js';

/** One rule: requests for `host` (and `path`, a prefix matched per path element) go to a Service. */
export interface IngressRoute {
  host: string;
  /** A path prefix (`/api` matches `/api` and `/api/x`, not `/apix`); default `/`. */
  path?: string;
  /** `namespace/name`, or `name` in `default`. */
  service: string;
  /** The Service's port. */
  port: number;
}

/** What the controller is configured with. */
export interface IngressConfig {
  routes: readonly IngressRoute[];
  /** The port haproxy listens on in its pod (default 80). */
  listenPort?: number;
}

const HOST = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/** `namespace/name` of a route's Service reference. */
function serviceKey(ref: string): string {
  return ref.includes('/') ? ref : `default/${ref}`;
}

/**
 * Checks routes against the cluster's Services: a DNS host name, a path starting with `/`, a
 * Service that exists and has the port. Throws `INVALID_ARGUMENT` naming every bad field
 * (`routes[1].service`, ...).
 */
export function checkIngressConfig(config: IngressConfig, services: readonly Service[]): void {
  const problems: string[] = [];
  if (config.routes.length === 0) problems.push('routes: want at least one route');
  const lp = config.listenPort ?? 80;
  if (!Number.isInteger(lp) || lp < 1 || lp > 65535)
    problems.push(`listenPort: want 1-65535, got ${lp}`);
  config.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (typeof r.host !== 'string' || !HOST.test(r.host))
      problems.push(`${at}.host: want a lower-case DNS name, got ${JSON.stringify(r.host)}`);
    if (r.path !== undefined && (typeof r.path !== 'string' || !PATH.test(r.path)))
      problems.push(`${at}.path: want a path starting with /, got ${JSON.stringify(r.path)}`);
    const key = serviceKey(String(r.service));
    const svc = services.find((s) => keyOf(s) === key);
    if (!svc) problems.push(`${at}.service: no Service ${key}`);
    else if (!(svc.spec?.ports ?? []).some((p) => p.port === r.port))
      problems.push(
        `${at}.port: Service ${key} has no port ${r.port} (ports: ${(svc.spec?.ports ?? []).map((p) => p.port).join(', ') || 'none'})`,
      );
  });
  if (problems.length > 0)
    throw new ClusterError(
      'INVALID_ARGUMENT',
      `ingress configuration:\n  ${problems.join('\n  ')}`,
    );
}

/**
 * The haproxy configuration of the routes (checked with {@link checkIngressConfig}): one
 * frontend on `listenPort`; per route an ACL on the Host header (port stripped) and, unless the
 * path is `/`, on the path prefix; longer prefixes first, as Ingress matching prefers the longest;
 * each backend one server, the Service's cluster DNS name resolved through the pod's resolv.conf
 * (so a Service re-created with another ClusterIP is followed); anything else gets 404. Access
 * logs go to stdout (the container's log).
 */
export function renderHaproxyConfig(
  config: IngressConfig,
  services: readonly Service[],
  clusterDomain = 'cluster.local',
): string {
  checkIngressConfig(config, services);
  const routes = config.routes
    .map((r, index) => ({ ...r, index, path: r.path ?? '/' }))
    .sort((a, b) => b.path.length - a.path.length || a.index - b.index);
  const lines = [
    '# written by podnet (tools/cluster ingress.ts): the ingress controller of the namespace cluster',
    'global',
    '  log stdout format raw local0',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '',
    'resolvers cluster',
    '  parse-resolv-conf',
    '  hold valid 5s',
    '',
    'frontend ingress',
    `  bind :${config.listenPort ?? 80}`,
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
  ];
  for (const r of routes) {
    const n = r.index;
    lines.push(`  acl host_${n} var(txn.host) -m str ${r.host}`);
    if (r.path !== '/') {
      const p = r.path.replace(/\/+$/, '');
      lines.push(`  acl path_${n} path -m str ${p}`, `  acl path_${n} path -m beg ${p}/`);
    }
    lines.push(`  use_backend route_${n} if host_${n}${r.path !== '/' ? ` path_${n}` : ''}`);
  }
  lines.push('  default_backend no_route', '');
  for (const r of [...routes].sort((a, b) => a.index - b.index)) {
    const key = serviceKey(r.service);
    const svc = services.find((s) => keyOf(s) === key)!;
    const fqdn = `${nameOf(svc)}.${namespaceOf(svc)}.svc.${clusterDomain}`;
    lines.push(
      `backend route_${r.index}`,
      `  # ${r.host}${r.path} -> Service ${key} port ${r.port}`,
      `  server ${nameOf(svc)} ${fqdn}:${r.port} resolvers cluster init-addr none resolve-prefer ipv4`,
      '',
    );
  }
  lines.push(
    'backend no_route',
    '  http-request return status 404 content-type text/plain string "no route for this host and path"',
    '',
  );
  return lines.join('\n');
}

/**
 * The ingress controller's objects as plain manifest values for `podnet apply`: a Pod whose
 * container runs `haproxy -db -f CONFIG_FILE` (labelled `app: NAME`) and a LoadBalancer Service
 * for it on port 80.
 */
export function ingressControllerManifests(options: {
  configFile: string;
  name?: string;
  namespace?: string;
  node?: string;
  listenPort?: number;
  loadBalancerIP?: string;
}): unknown[] {
  const name = options.name ?? 'ingress';
  const namespace = options.namespace ?? 'default';
  const port = options.listenPort ?? 80;
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { app: name } },
      spec: {
        ...(options.node ? { nodeName: options.node } : {}),
        containers: [
          {
            name: 'haproxy',
            image: 'haproxy',
            command: ['haproxy', '-db', '-f', options.configFile],
            ports: [{ name: 'http', containerPort: port }],
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: {
        type: 'LoadBalancer',
        selector: { app: name },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
        ...(options.loadBalancerIP ? { loadBalancerIP: options.loadBalancerIP } : {}),
      },
    },
  ];
}
