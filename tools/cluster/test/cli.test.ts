import { readManifestText } from '@podnet/cluster-state';
import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  ClusterError,
  type ClusterObjects,
  DEFAULT_RUN_ROOT,
  type DeletePort,
  deleteObjects,
  deleteOrder,
  getTable,
  manifestObjects,
  nextSteps,
  parseCommandLine,
  planCluster,
  removeObject,
  renderCluster,
  renderGet,
  renderTable,
} from '../src/index.js';
import { appliedObjects } from './objects.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 2, network: 'podnet' });

/** The INVALID_ARGUMENT message of a command line that does not parse. */
function refusal(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (e) {
    expect(ClusterError.isInstance(e) && e.code).toBe('INVALID_ARGUMENT');
    return (e as Error).message;
  }
  throw new Error(`${argv.join(' ')} parsed`);
}

describe('parseCommandLine', () => {
  it('reads apply and delete with -f or the path alone', () => {
    expect(parseCommandLine(['apply', '-f', 'm/']).command).toEqual({ cmd: 'apply', path: 'm/' });
    expect(parseCommandLine(['apply', 'm.yaml']).command).toEqual({
      cmd: 'apply',
      path: 'm.yaml',
    });
    expect(parseCommandLine(['delete', '-f', 'a.yaml', '--name', 'dev'])).toEqual({
      command: { cmd: 'delete', path: 'a.yaml' },
      name: 'dev',
      runRoot: DEFAULT_RUN_ROOT,
    });
    expect(parseCommandLine(['delete', '--file=x.json']).command).toEqual({
      cmd: 'delete',
      path: 'x.json',
    });
    expect(refusal(['apply'])).toBe('apply: want -f FILE|DIR');
    expect(refusal(['delete', '-f', 'a', 'b'])).toMatch(/give the manifests once/);
    expect(refusal(['apply', 'a', 'b'])).toBe('apply: one FILE|DIR, got a b');
  });

  it('reads get with its resources, their kubectl spellings and -o', () => {
    expect(parseCommandLine(['get', 'pods']).command).toEqual({ cmd: 'get', resource: 'pods' });
    expect(parseCommandLine(['get', 'svc', '-o', 'json']).command).toEqual({
      cmd: 'get',
      resource: 'services',
      output: 'json',
    });
    expect(parseCommandLine(['get', 'netpol', '-oyaml']).command).toEqual({
      cmd: 'get',
      resource: 'policies',
      output: 'yaml',
    });
    expect(parseCommandLine(['get', 'no']).command).toEqual({ cmd: 'get', resource: 'nodes' });
    expect(refusal(['get'])).toBe('want a resource (supported: pods, services, policies, nodes)');
    expect(refusal(['get', 'deployments'])).toBe(
      'unknown resource "deployments" (supported: pods, services, policies, nodes)',
    );
    expect(refusal(['get', 'pods', '-o', 'wide'])).toBe(
      '-o: unknown format "wide" (supported: json, yaml)',
    );
  });

  it('lists the commands for an unknown or missing one; help wins', () => {
    expect(refusal(['frobnicate'])).toBe(
      `unknown command "frobnicate" (commands: ${COMMANDS.join(', ')})`,
    );
    expect(refusal([])).toMatch(/^want a command \(commands: up, apply, delete, get,/);
    expect(parseCommandLine(['--help']).command).toEqual({ cmd: 'help' });
    expect(parseCommandLine(['get', '-h']).command).toEqual({ cmd: 'help' });
    expect(refusal(['get', 'pods', '--bogus'])).toMatch(/Unknown option '--bogus'/);
  });

  it('reads the other commands and checks their operands', () => {
    expect(parseCommandLine(['up', '--nodes', '2', '--network', 'reference']).command).toEqual({
      cmd: 'up',
      nodes: 2,
      network: 'reference',
    });
    expect(refusal(['up', '--nodes', 'x'])).toMatch(/--nodes/);
    expect(refusal(['up', '--network', 'flannel'])).toBe(
      '--network: want podnet or reference, got flannel',
    );
    expect(parseCommandLine(['probe', 'a', 'web:80/http']).command).toEqual({
      cmd: 'probe',
      from: 'a',
      target: { to: 'web', port: 80, proto: 'http' },
    });
    expect(parseCommandLine(['delete-policy', 'ns/p']).command).toEqual({
      cmd: 'delete-policy',
      namespace: 'ns',
      policy: 'p',
    });
    expect(parseCommandLine(['delete-policy', 'cnp']).command).toEqual({
      cmd: 'delete-policy',
      policy: 'cnp',
    });
    expect(refusal(['delete-policy', 'a/b/c'])).toMatch(/NAMESPACE\/NAME or NAME/);
    expect(parseCommandLine(['exec', 'p', '--', 'dig', '-x', '1.2.3.4']).command).toEqual({
      cmd: 'exec',
      endpoint: 'p',
      argv: ['dig', '-x', '1.2.3.4'],
    });
    expect(refusal(['exec', 'p'])).toBe('exec: want POD -- CMD...');
    expect(parseCommandLine(['delete-pod', 'p', '--timeout', '5']).command).toEqual({
      cmd: 'delete-pod',
      pod: 'p',
      timeoutSeconds: 5,
    });
    expect(refusal(['status', 'x'])).toBe('status: unexpected x (want no operands)');
  });
});

const VALUES = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } },
    spec: { nodeName: 'node1', containers: [{ name: 'c', ports: [{ containerPort: 8080 }] }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client' },
    spec: { nodeName: 'node2', containers: [{ name: 'c' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      type: 'NodePort',
      selector: { app: 'web' },
      ports: [{ port: 80, targetPort: 8080 }],
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'deny', namespace: 'shop' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  },
  {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name: 'admin' },
    spec: {
      tier: 'Admin',
      priority: 10,
      subject: { namespaces: {} },
      ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
    },
  },
];

const objects = appliedObjects(plan, VALUES, { 'shop/web-1': '10.244.1.2' });
const snapshot = renderCluster(plan, objects);

describe('podnet get', () => {
  it('renders kubectl-like tables: columns padded to the widest cell, three spaces apart', () => {
    expect(
      renderTable(
        ['A', 'LONG HEADER', 'C'],
        [
          ['xx', 'y', 'last'],
          ['x', 'yyyyyyyyyyyyy', ''],
        ],
      ),
    ).toBe(
      ['A    LONG HEADER     C', 'xx   y               last', 'x    yyyyyyyyyyyyy'].join('\n'),
    );
  });

  it('lists pods with status, IP, node and ports', () => {
    expect(renderGet('pods', snapshot)).toBe(
      [
        'NAMESPACE   NAME     STATUS    IP           NODE    PORTS',
        'default     client   Pending   <none>       node2   <none>',
        'shop        web-1    Running   10.244.1.2   node1   8080/TCP',
        '',
      ].join('\n'),
    );
  });

  it('lists services with type, cluster IP, external IP, ports and endpoints', () => {
    const { rows } = getTable('services', snapshot);
    const svc = objects.services[0]!;
    expect(rows).toEqual([
      [
        'shop',
        'web',
        'NodePort',
        svc.spec!.clusterIP!,
        '<none>',
        `80:${svc.spec!.ports![0]!.nodePort}/TCP`,
        '10.244.1.2:8080',
      ],
    ]);
    expect(renderGet('services', snapshot).split('\n')[0]).toMatch(
      /^NAMESPACE {3}NAME {3}TYPE {7}CLUSTER-IP {3}EXTERNAL-IP {3}PORT\(S\) {8}ENDPOINTS$/,
    );
  });

  it('lists both kinds of policies with tier and priority, and nodes with their agents', () => {
    expect(getTable('policies', snapshot).rows).toEqual([
      ['-', 'admin', 'ClusterNetworkPolicy', 'Admin', '10'],
      ['shop', 'deny', 'NetworkPolicy', '-', '-'],
    ]);
    expect(renderGet('nodes', snapshot, { agents: { node1: 'running (pid 7)' } })).toBe(
      [
        'NAME    IP            POD-CIDR        ZONE     AGENT',
        `node1   ${plan.nodes[0]!.ip}   ${plan.nodes[0]!.podCidr}   zone-a   running (pid 7)`,
        `node2   ${plan.nodes[1]!.ip}   ${plan.nodes[1]!.podCidr}   zone-a   -`,
        '',
      ].join('\n'),
    );
  });

  it('says so when there is nothing', () => {
    expect(renderGet('pods', renderCluster(plan, appliedObjects(plan, [])))).toBe(
      'No resources found.\n',
    );
  });

  it('prints the objects the agents read as a List that the reader reads back (json, yaml)', () => {
    for (const output of ['json', 'yaml'] as const) {
      for (const resource of ['pods', 'services', 'policies', 'nodes'] as const) {
        const read = readManifestText(renderGet(resource, snapshot, { output }), {
          file: `get.${output}`,
        });
        expect(read.problems).toEqual([]);
        const want = {
          pods: snapshot.pods,
          services: snapshot.services,
          policies: [...snapshot.clusterNetworkPolicies, ...snapshot.networkPolicies],
          nodes: snapshot.nodes,
        }[resource];
        expect(read.objects.map((o) => o.object)).toEqual(want);
      }
    }
  });
});

describe('podnet delete -f', () => {
  it('removes objects; a Service frees its addresses; a Namespace takes what is in it', () => {
    const svc = objects.services[0]!;
    const noSvc = removeObject(objects, 'Service', 'shop', 'web')!;
    expect(noSvc.services).toEqual([]);
    const again = appliedObjects(plan, [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'other' },
        spec: {
          type: 'NodePort',
          clusterIP: svc.spec!.clusterIP,
          ports: [{ port: 1, nodePort: svc.spec!.ports![0]!.nodePort }],
        },
      },
    ]);
    expect(again.services[0]!.spec!.clusterIP).toBe(svc.spec!.clusterIP);
    expect(removeObject(objects, 'Service', 'default', 'web')).toBeUndefined();
    expect(
      removeObject(objects, 'ClusterNetworkPolicy', '', 'admin')!.clusterNetworkPolicies,
    ).toEqual([]);
    expect(removeObject(objects, 'NetworkPolicy', 'shop', 'nope')).toBeUndefined();
    const noShop = removeObject(objects, 'Namespace', '', 'shop')! as ClusterObjects;
    expect(noShop.namespaces).toEqual([]);
    expect(noShop.services).toEqual([]);
    expect(noShop.networkPolicies).toEqual([]);
    expect(noShop.pods.map((p) => p.metadata!.name)).toEqual(['client']);
    expect(removeObject(objects, 'Namespace', '', 'ghost')).toBeUndefined();
  });

  it('deletes policies, Services, Pods, then Namespaces; a failure is reported and the rest go on', async () => {
    const accepted = manifestObjects(VALUES);
    expect(deleteOrder(accepted).map((o) => o.kind)).toEqual([
      'ClusterNetworkPolicy',
      'NetworkPolicy',
      'Service',
      'Pod',
      'Pod',
      'Namespace',
    ]);
    const calls: string[] = [];
    const port: DeletePort = {
      deletePod: async (ns, name) => {
        calls.push(`pod ${ns}/${name}`);
        if (name === 'client') throw new ClusterError('NOT_FOUND', 'no pod default/client');
      },
      deleteObject: async (kind, ns, name) => {
        calls.push(`${kind} ${ns}/${name}`);
      },
      podsIn: async (ns) => (ns === 'shop' ? ['late'] : []),
    };
    const reported: string[] = [];
    const outcomes = await deleteObjects(accepted, port, (o) =>
      reported.push(`${o.kind} ${o.ref}${o.error ? ` failed: ${(o.error as Error).message}` : ''}`),
    );
    expect(reported).toEqual([
      'ClusterNetworkPolicy admin',
      'NetworkPolicy shop/deny',
      'Service shop/web',
      'Pod shop/web-1',
      'Pod default/client failed: no pod default/client',
      'Namespace shop',
    ]);
    expect(outcomes.filter((o) => o.error).length).toBe(1);
    expect(calls.slice(-2)).toEqual(['pod shop/late', 'Namespace default/shop']);
  });
});

describe('npm run demo -- --keep', () => {
  it('prints podnet commands that work as written (no --name for the default cluster)', () => {
    const steps = nextSteps('default').split('\n');
    expect(steps[0]).toBe('The cluster "default" is still up. Try (from the repo root, as root):');
    const commands = steps.slice(1).map((l) => l.split('#')[0]!.trim());
    expect(commands).toContain('npx podnet get pods');
    expect(commands.at(-1)).toBe('npx podnet down');
    for (const c of commands) {
      const argv = c.split(' ').slice(2);
      expect(() => parseCommandLine(argv), c).not.toThrow();
    }
    expect(nextSteps('x')).toMatch(/^ {2}npx podnet down --name x /m);
  });
});
