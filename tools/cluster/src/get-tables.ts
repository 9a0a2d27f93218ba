/**
 * `podnet get`: the cluster's objects as kubectl-like tables, or as the cluster-state objects the
 * agents read (`-o json|yaml`, a `v1` `List`). Pure: fed with {@link renderCluster}'s snapshot.
 */
import {
  type ClusterObject,
  type ClusterSnapshot,
  formatManifest,
  type Service,
} from '@podnet/cluster-state';
import type { GetResource, OutputFormat } from './cli-args.js';
import { nameOf, namespaceOf, podPorts } from './cluster-objects.js';
import { planEndpointSlice } from './endpoint-slices.js';
import { ZONE_LABEL } from './topology.js';

/** What a node's row says about its agent (`running (pid N)`, `not running`, `-`). */
export type AgentStatus = Record<string, string>;

/** Shown for an empty cell, as kubectl does. */
const NONE = '<none>';

/**
 * A table as kubectl prints one: upper-case headers, each column padded to its widest cell and
 * separated by three spaces, no trailing blanks.
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** A Service's ports as kubectl shows them: `80/TCP`, `80:30080/TCP`, joined by commas. */
export function servicePorts(svc: Service): string {
  const ports = (svc.spec?.ports ?? []).map(
    (p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`,
  );
  return ports.length > 0 ? ports.join(',') : NONE;
}

/**
 * A Service's external address as kubectl shows it: an ExternalName's name; else its
 * load-balancer addresses (`<pending>` while a LoadBalancer has none) and externalIPs, joined by
 * commas; `<none>` when it has neither.
 */
export function serviceExternalIp(svc: Service): string {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return spec.externalName ?? NONE;
  const lb = (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => i.ip ?? i.hostname ?? []);
  const all = [...lb, ...(spec.externalIPs ?? [])];
  if (spec.type === 'LoadBalancer' && lb.length === 0) all.unshift('<pending>');
  return all.length > 0 ? all.join(',') : NONE;
}

/** A Service's endpoints (`ip:port`, at most 3 then `+ N more...`), from its EndpointSlice. */
function serviceEndpoints(svc: Service, snapshot: ClusterSnapshot): string {
  if (!svc.spec?.selector) return NONE;
  const slice = planEndpointSlice(svc, snapshot.pods);
  const port = slice.ports?.[0]?.port;
  const all = slice.endpoints.flatMap((e) =>
    e.addresses.map((a) => (port !== undefined && port !== null ? `${a}:${port}` : a)),
  );
  if (all.length === 0) return NONE;
  return all.length > 3
    ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...`
    : all.join(',');
}

/** The headers and rows of `podnet get RESOURCE`. */
export function getTable(
  resource: GetResource,
  snapshot: ClusterSnapshot,
  agents: AgentStatus = {},
): { headers: string[]; rows: string[][] } {
  switch (resource) {
    case 'pods':
      return {
        headers: ['NAMESPACE', 'NAME', 'STATUS', 'IP', 'NODE', 'PORTS'],
        rows: snapshot.pods.map((p) => [
          namespaceOf(p),
          nameOf(p),
          p.status?.phase ?? 'Pending',
          p.status?.podIP || NONE,
          p.spec?.nodeName || NONE,
          podPorts(p)
            .map(
              (x) => `${x.containerPort}/${x.protocol}${x.hostPort ? ` (host ${x.hostPort})` : ''}`,
            )
            .join(',') || NONE,
        ]),
      };
    case 'services':
      return {
        headers: ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'ENDPOINTS'],
        rows: snapshot.services.map((s) => [
          namespaceOf(s),
          nameOf(s),
          s.spec?.type ?? 'ClusterIP',
          s.spec?.clusterIP || NONE,
          serviceExternalIp(s),
          servicePorts(s),
          serviceEndpoints(s, snapshot),
        ]),
      };
    case 'policies':
      return {
        headers: ['NAMESPACE', 'NAME', 'KIND', 'TIER', 'PRIORITY'],
        rows: [
          ...snapshot.clusterNetworkPolicies.map((c) => [
            '-',
            nameOf(c),
            'ClusterNetworkPolicy',
            c.spec.tier,
            String(c.spec.priority),
          ]),
          ...snapshot.networkPolicies.map((np) => [
            namespaceOf(np),
            nameOf(np),
            'NetworkPolicy',
            '-',
            '-',
          ]),
        ],
      };
    case 'nodes':
      return {
        headers: ['NAME', 'IP', 'POD-CIDR', 'ZONE', 'AGENT'],
        rows: snapshot.nodes.map((n) => [
          nameOf(n),
          n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? NONE,
          (n.spec?.podCIDRs ?? []).join(',') || NONE,
          n.metadata?.labels?.[ZONE_LABEL] ?? NONE,
          agents[nameOf(n)] ?? '-',
        ]),
      };
  }
}

/** The cluster-state objects of a resource, as the agents read them from the manifests directory. */
export function getObjects(
  resource: GetResource,
  snapshot: ClusterSnapshot,
): readonly ClusterObject[] {
  switch (resource) {
    case 'pods':
      return snapshot.pods;
    case 'services':
      return snapshot.services;
    case 'policies':
      return [...snapshot.clusterNetworkPolicies, ...snapshot.networkPolicies];
    case 'nodes':
      return snapshot.nodes;
  }
}

/**
 * What `podnet get RESOURCE [-o json|yaml]` prints: the table (`No resources found.` when it is
 * empty, as kubectl says), or a `v1` `List` of the objects in JSON or YAML that cluster-state's
 * reader reads back.
 */
export function renderGet(
  resource: GetResource,
  snapshot: ClusterSnapshot,
  options: { output?: OutputFormat; agents?: AgentStatus } = {},
): string {
  if (options.output) {
    const list = { apiVersion: 'v1', kind: 'List', items: getObjects(resource, snapshot) };
    return options.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : formatManifest(list);
  }
  const { headers, rows } = getTable(resource, snapshot, options.agents);
  return rows.length === 0 ? 'No resources found.\n' : `${renderTable(headers, rows)}\n`;
}
