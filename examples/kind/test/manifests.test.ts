import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kubernetesAccess } from '@podnet/cluster-state';
import { expandConfigEnv, parseAgentConfig } from '@podnet/example-node-agent';
import {
  type ManifestDoc,
  checkKindConfig,
  checkUnknownFields,
  loadManifests,
  validateSchemas,
} from '../src/index.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const docs = loadManifests(here('../manifests/podnet.yaml'));
const daemonSet = () => find('DaemonSet', 'podnet-agent');
const find = (kind: string, name?: string) => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata?.name === name));
  if (!d) throw new Error(`no ${kind} ${name ?? ''} in the manifests`);
  return d as ManifestDoc & Record<string, any>;
};

describe('kind manifests', () => {
  it('hold what a cluster needs', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'DaemonSet',
        'Service',
        'ServiceAccount',
      ].sort(),
    );
  });

  it('validate against the Kubernetes schemas', async () => {
    expect(await validateSchemas(docs)).toEqual([]);
  });

  it('contain no field the schemas do not define', () => {
    expect(checkUnknownFields(docs)).toEqual([]);
  });

  it('the strict check finds typos at any depth, which the schemas alone accept', async () => {
    const typo = structuredClone(docs) as Record<string, any>[];
    const ds = typo.find((d) => d.kind === 'DaemonSet')!;
    ds.spec.template.spec.hostNetwrk = true;
    ds.spec.template.spec.containers[0].livenessProbe.httpGet.paht = '/healthz';
    expect(await validateSchemas(typo as ManifestDoc[])).toEqual([]);
    const problems = checkUnknownFields(typo as ManifestDoc[]);
    expect(problems.map((p) => p.path).sort()).toEqual([
      '/spec/template/spec/containers/0/livenessProbe/httpGet/paht',
      '/spec/template/spec/hostNetwrk',
    ]);
    expect(problems[0]!.doc).toBe('DaemonSet/kube-system/podnet-agent');
  });

  it('the schema check rejects a wrong type', async () => {
    const wrong = structuredClone(docs) as Record<string, any>[];
    wrong.find((d) => d.kind === 'DaemonSet')!.spec.template.spec.hostNetwork = 'yes';
    const problems = await validateSchemas(wrong as ManifestDoc[]);
    expect(problems).toContainEqual(
      expect.objectContaining({ path: '/spec/template/spec/hostNetwork' }),
    );
  });

  it('grant the agent exactly the access its Kubernetes source uses', () => {
    const role = find('ClusterRole', 'podnet-agent');
    const granted = new Set<string>();
    for (const rule of role.rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[]) {
      for (const g of rule.apiGroups)
        for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${g}/${r}:${v}`);
    }
    const needed = new Set<string>();
    for (const a of kubernetesAccess())
      for (const v of a.verbs) needed.add(`${a.group}/${a.resource}:${v}`);
    expect([...granted].sort()).toEqual([...needed].sort());
    const binding = find('ClusterRoleBinding', 'podnet-agent');
    const sa = find('ServiceAccount', 'podnet-agent');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata!.name, namespace: sa.metadata!.namespace },
    ]);
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata!.name });
  });

  it('run the agent as a node-critical host-network DaemonSet with the least privilege', () => {
    const ds = find('DaemonSet', 'podnet-agent');
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    expect(pod.serviceAccountName).toBe('podnet-agent');
    const agent = pod.containers[0];
    expect(agent.securityContext.privileged).toBe(false);
    expect(agent.securityContext.capabilities.add).toEqual(
      expect.arrayContaining(['NET_ADMIN', 'NET_RAW']),
    );
    expect(agent.securityContext.capabilities.drop).toEqual(['ALL']);
    expect(agent.livenessProbe.httpGet.path).toBe('/livez');
    expect(agent.readinessProbe.httpGet.path).toBe('/readyz');
    expect(agent.resources.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    const init = pod.initContainers[0];
    expect(init.command.join(' ')).toContain('/host/opt/cni/bin/podnet');
    const cniBin = pod.volumes.find((v: any) => v.name === 'cni-bin');
    expect(cniBin.hostPath.path).toBe('/opt/cni/bin');
  });

  it('ship an agent config the agent accepts, probed on the port it serves', () => {
    const cm = find('ConfigMap', 'podnet-agent');
    const raw = (cm.data as Record<string, string>)['agent.json']!;
    const env = { NODE_NAME: 'podnet-worker', NODE_IP: '172.18.0.3' };
    const config = parseAgentConfig(expandConfigEnv(JSON.parse(raw), env));
    expect(config.nodeIps).toEqual(['172.18.0.3']);
    expect(config.dns.ip).toBe('172.18.0.3');
    expect(() => expandConfigEnv(JSON.parse(raw), { NODE_NAME: 'n' })).toThrow(
      /config\.nodeIps\[0\].*NODE_IP/,
    );
    const names = new Set(
      daemonSet().spec.template.spec.containers[0].env.map((e: { name: string }) => e.name),
    );
    for (const [, name] of raw.matchAll(/\$\{(\w+)\}/g)) expect(names).toContain(name);
    expect(config.source.kind).toBe('kubernetes');
    expect(config.nodeName).toBe('podnet-worker');
    const ds = find('DaemonSet', 'podnet-agent');
    const agent = ds.spec.template.spec.containers[0];
    expect(agent.livenessProbe.httpGet.port).toBe(config.healthz?.port);
    expect(agent.readinessProbe.httpGet.port).toBe(config.http.port);
    const ports = agent.ports.map((p: { containerPort: number }) => p.containerPort);
    expect(ports).toEqual(expect.arrayContaining([config.http.port, config.healthz?.port]));
    expect(ds.spec.template.spec.containers[0].args).toEqual([
      '--config',
      '/etc/podnet/agent.json',
    ]);
  });

  it('carry the DNS settings with their defaults', () => {
    const raw = (find('ConfigMap', 'podnet-agent').data as Record<string, string>)['agent.json']!;
    const env = { NODE_NAME: 'podnet-worker', NODE_IP: '172.18.0.3' };
    expect(parseAgentConfig(expandConfigEnv(JSON.parse(raw), env)).dns).toEqual({
      ip: '172.18.0.3',
      clusterDomain: 'cluster.local',
      mode: 'embedded',
      stubDomains: {},
      ttl: 5,
      pods: 'insecure',
      cacheSize: 10000,
      workers: 1,
    });
  });

  it('point the cluster DNS Service at the agents on the conventional address', () => {
    const svc = find('Service', 'kube-dns');
    const ds = find('DaemonSet', 'podnet-agent');
    expect(svc.metadata!.namespace).toBe('kube-system');
    expect(ds.metadata!.namespace).toBe(svc.metadata!.namespace);
    expect(svc.spec.clusterIP).toBe('10.96.0.10');
    expect(svc.spec.selector).toEqual(ds.spec.template.metadata.labels);
    expect(svc.spec.ports.map((p: any) => `${p.port}/${p.protocol}`).sort()).toEqual([
      '53/TCP',
      '53/UDP',
    ]);
  });
});

describe('kind config', () => {
  const config = parse(readFileSync(here('../kind-config.yaml'), 'utf8')) as Record<string, any>;

  it('is a valid 3-node cluster with no default CNI and no kube-proxy', () => {
    expect(checkKindConfig(config)).toEqual([]);
    expect(config.networking).toMatchObject({ disableDefaultCNI: true, kubeProxyMode: 'none' });
    expect(config.nodes).toHaveLength(3);
  });

  it('matches the CIDRs the agent is configured with', () => {
    const raw = (find('ConfigMap', 'podnet-agent').data as Record<string, string>)['agent.json']!;
    const agent = JSON.parse(raw.replace(/\$\{\w+\}/g, 'x'));
    expect(agent.clusterCidrs).toEqual([config.networking.podSubnet]);
    expect(agent.serviceCidrs).toEqual([config.networking.serviceSubnet]);
  });

  it('rejects typos', () => {
    const typo = structuredClone(config);
    typo.networking.kubeProxyMod = 'none';
    typo.nodes[1].rol = 'worker';
    expect(checkKindConfig(typo).map((p) => p.path)).toEqual([
      '/networking/kubeProxyMod',
      '/nodes/1/rol',
    ]);
  });
});
