import type { Pod, Service } from '@podnet/cluster-state';
import { Host } from '@podnet/host';
import { RecordingRunner } from '@podnet/host/testing';
import { describe, expect, it } from 'vitest';
import {
  ClusterError,
  allocateLoadBalancerIp,
  completeServices,
  emptyClusterObjects,
  externalRouteLines,
  getTable,
  loadBalancerPool,
  manifestObjects,
  parseObservedRouter,
  planApply,
  reconcileExternalRoutes,
  planCluster,
  planExternalRoutes,
  renderCluster,
} from '../src/index.js';

const plan = planCluster({ name: 't', prefix: 'pnc-t-', nodes: 3, network: 'podnet' });
const pool = loadBalancerPool(plan);
const small = { first: '203.0.113.200', last: '203.0.113.202' };

const svc = (name: string, spec: Service['spec'], status?: Service['status']): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
  ...(status ? { status } : {}),
});

const lb = (name: string, extra: Service['spec'] = {}): Service =>
  svc(name, { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80 }], ...extra });

const pod = (name: string, node: string, app: string, ip: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app } },
  spec: { nodeName: node, containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] },
  status: { phase: 'Running', podIP: ip },
});

/** Applies manifests (as plain values) to `current`, as `podnet apply` plans it. */
const apply = (values: unknown[], current = emptyClusterObjects()) =>
  planApply(plan, current, manifestObjects(values)).objects;

const ingressOf = (s: Service | undefined) => s?.status?.loadBalancer?.ingress;

describe('allocateLoadBalancerIp', () => {
  const taken = new Map([
    ['203.0.113.200', 'Service a/x'],
    ['203.0.113.201', 'Service a/y'],
  ]);
  const cases: Array<{
    what: string;
    taken: Map<string, string>;
    options?: { requested?: string; kept?: string };
    want?: string;
    error?: RegExp;
  }> = [
    { what: 'the lowest free address', taken: new Map(), want: '203.0.113.200' },
    { what: 'skips held addresses', taken, want: '203.0.113.202' },
    {
      what: 'a requested free address',
      taken,
      options: { requested: '203.0.113.202' },
      want: '203.0.113.202',
    },
    {
      what: 'a requested address the same Service holds',
      taken: new Map([['203.0.113.200', 'Service a/me']]),
      options: { requested: '203.0.113.200' },
      want: '203.0.113.200',
    },
    {
      what: 'a requested address another Service holds',
      taken,
      options: { requested: '203.0.113.201' },
      error: /^203\.0\.113\.201 is held by Service a\/y$/,
    },
    {
      what: 'a requested address outside the pool',
      taken,
      options: { requested: '203.0.113.50' },
      error: /^203\.0\.113\.50 is not in the load balancer pool 203\.0\.113\.200-203\.0\.113\.202$/,
    },
    {
      what: 'the kept address while it is free (stability)',
      taken: new Map(),
      options: { kept: '203.0.113.202' },
      want: '203.0.113.202',
    },
    {
      what: 'a new address when the kept one is held by another',
      taken,
      options: { kept: '203.0.113.201' },
      want: '203.0.113.202',
    },
    {
      what: 'an exhausted pool',
      taken: new Map([...taken, ['203.0.113.202', 'Service a/z']]),
      error:
        /^the load balancer pool 203\.0\.113\.200-203\.0\.113\.202 is exhausted \(3 addresses, all held\)$/,
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const run = () => allocateLoadBalancerIp(small, c.taken, 'Service a/me', c.options);
      if (c.error) {
        expect(run).toThrow(c.error);
        try {
          run();
        } catch (e) {
          expect(ClusterError.isInstance(e) && e.code).toBe('INVALID_ARGUMENT');
        }
      } else expect(run()).toBe(c.want);
    });
  }

  it('takes the pool from the external segment (its IPv4 one; none when IPv6-only)', () => {
    expect(pool).toEqual({ first: '203.0.113.200', last: '203.0.113.250' });
    const dual = planCluster({
      name: 't',
      prefix: 'p-',
      nodes: 2,
      network: 'podnet',
      ipFamily: 'dual',
    });
    expect(loadBalancerPool(dual)).toEqual(pool);
    const v6 = planCluster({
      name: 't',
      prefix: 'p-',
      nodes: 2,
      network: 'podnet',
      ipFamily: 'ipv6',
    });
    expect(loadBalancerPool(v6)).toBeUndefined();
    const apply6 = (spec: Service['spec']) =>
      planApply(v6, emptyClusterObjects(), manifestObjects([svc('x', spec)]));
    expect(() => apply6({ type: 'LoadBalancer', ports: [{ port: 80 }] })).toThrow(
      /spec\.type: the external segment of an IPv6-only cluster has no IPv4 address/,
    );
    expect(() => apply6({ ports: [{ port: 80 }], externalIPs: ['203.0.113.100'] })).toThrow(
      /spec\.externalIPs\[0\]: the external segment of an IPv6-only cluster/,
    );
  });
});

describe('LoadBalancer and ExternalName Services through podnet apply', () => {
  it('gives a LoadBalancer a ClusterIP, NodePorts and a pool address with ipMode VIP', () => {
    const [s] = apply([lb('web')]).services;
    expect(s!.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(s!.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
    expect(ingressOf(s)).toEqual([{ ip: '203.0.113.200', ipMode: 'VIP' }]);
  });

  it('keeps addresses across re-apply, honours spec.loadBalancerIP, releases on delete', () => {
    const one = apply([lb('a'), lb('b')]);
    expect(one.services.map((s) => ingressOf(s)?.[0]?.ip)).toEqual([
      '203.0.113.200',
      '203.0.113.201',
    ]);
    // applied again (the user's manifest has no status): the same addresses and NodePorts
    const again = apply([lb('b'), lb('a')], one);
    const ipOf = (objs: typeof one, name: string) =>
      ingressOf(objs.services.find((s) => s.metadata?.name === name))?.[0]?.ip;
    expect(ipOf(again, 'a')).toBe('203.0.113.200');
    expect(ipOf(again, 'b')).toBe('203.0.113.201');
    expect(again.services.map((s) => s.spec?.ports?.[0]?.nodePort).sort()).toEqual(
      one.services.map((s) => s.spec?.ports?.[0]?.nodePort).sort(),
    );
    // a requested address
    const req = apply([lb('c', { loadBalancerIP: '203.0.113.240' })], again);
    expect(ipOf(req, 'c')).toBe('203.0.113.240');
    // released: a's address goes to the next new Service
    const without = { ...req, services: req.services.filter((s) => s.metadata?.name !== 'a') };
    expect(ipOf(apply([lb('d')], without), 'd')).toBe('203.0.113.200');
  });

  it('refuses a requested address that is taken or outside the pool, naming the field', () => {
    const one = apply([lb('a')]);
    expect(() => apply([lb('b', { loadBalancerIP: '203.0.113.200' })], one)).toThrow(
      /spec\.loadBalancerIP: 203\.0\.113\.200 is held by Service default\/a/,
    );
    expect(() => apply([lb('b', { loadBalancerIP: '198.51.100.7' })])).toThrow(
      /spec\.loadBalancerIP: 198\.51\.100\.7 is not in the load balancer pool 203\.0\.113\.200-203\.0\.113\.250/,
    );
  });

  it('says when the pool is exhausted', () => {
    const many = Array.from({ length: 51 }, (_, i) => lb(`s${i}`));
    const full = apply(many);
    expect(() => apply([lb('one-more')], full)).toThrow(
      /status\.loadBalancer: the load balancer pool 203\.0\.113\.200-203\.0\.113\.250 is exhausted/,
    );
  });

  it('drops the status when a LoadBalancer becomes a ClusterIP Service', () => {
    const one = apply([lb('a')]);
    const two = apply([svc('a', { selector: { app: 'a' }, ports: [{ port: 80 }] })], one);
    expect(two.services[0]!.status).toBeUndefined();
    expect(two.services[0]!.spec?.ports?.[0]?.nodePort).toBeUndefined();
  });

  it('gives an ExternalName Service no ClusterIP', () => {
    const [s] = apply([svc('ext', { type: 'ExternalName', externalName: 'example.org' })]).services;
    expect(s!.spec).toEqual({ type: 'ExternalName', externalName: 'example.org', ports: [] });
  });

  it('refuses bad fields of the new types with the field named', () => {
    const cases: Array<[Service['spec'], RegExp]> = [
      [{ type: 'ExternalName' }, /spec\.externalName/],
      [
        { type: 'ExternalName', externalName: 'a.example', clusterIP: '10.96.0.50' },
        /spec\.clusterIP: an ExternalName Service has no ClusterIP/,
      ],
      [
        { type: 'ClusterIP', ports: [{ port: 80 }], loadBalancerIP: '203.0.113.201' },
        /spec\.loadBalancerIP: only a LoadBalancer Service has one \(type is ClusterIP\)/,
      ],
      [
        { type: 'LoadBalancer', ports: [{ port: 80 }], loadBalancerSourceRanges: ['10.0.0.0'] },
        /spec\.loadBalancerSourceRanges\[0\]: want a CIDR/,
      ],
      [
        { type: 'NodePort', ports: [{ port: 80 }], externalIPs: ['fd00::1'] },
        /spec\.externalIPs\[0\]: fd00::1: the external segment is IPv4/,
      ],
      [
        { type: 'LoadBalancer', clusterIP: 'None', ports: [{ port: 80 }] },
        /spec\.clusterIP: a LoadBalancer Service cannot be headless/,
      ],
      [
        { ports: [{ port: 80 }], externalIPs: ['203.0.113.10'] },
        /spec\.externalIPs\[0\]: 203\.0\.113\.10 is the address of the external host/,
      ],
    ];
    for (const [spec, re] of cases) expect(() => apply([svc('x', spec)])).toThrow(re);
  });

  it('refuses an externalIP that is another Service load-balancer address', () => {
    const one = apply([lb('a')]);
    expect(() =>
      apply([svc('b', { ports: [{ port: 80 }], externalIPs: ['203.0.113.200'] })], one),
    ).toThrow(/spec\.externalIPs\[0\]: 203\.0\.113\.200 is the address of Service default\/a/);
  });

  it('keeps LoadBalancer NodePorts clear of healthCheckNodePorts and other NodePorts', () => {
    const current = [
      svc('np', { type: 'NodePort', ports: [{ port: 80, nodePort: 30000 }] }),
      svc('hc', { type: 'LoadBalancer', healthCheckNodePort: 30001, ports: [] }),
    ];
    const { services, problems } = completeServices(plan, current, [lb('new')]);
    expect(problems).toEqual([]);
    expect(services[0]!.spec?.ports?.[0]?.nodePort).toBe(30002);
  });

  it('shows TYPE, CLUSTER-IP and EXTERNAL-IP as kubectl does', () => {
    const objects = apply([
      lb('web'),
      svc('ext', { type: 'ExternalName', externalName: 'example.org' }),
      svc('pub', { ports: [{ port: 80 }], externalIPs: ['203.0.113.77'] }),
    ]);
    const rows = getTable('services', renderCluster(plan, objects)).rows.map((r) => r.slice(1, 5));
    expect(rows).toEqual([
      ['ext', 'ExternalName', '<none>', 'example.org'],
      ['pub', 'ClusterIP', expect.stringMatching(/^10\.96\./), '203.0.113.77'],
      ['web', 'LoadBalancer', expect.stringMatching(/^10\.96\./), '203.0.113.200'],
    ]);
  });
});

describe('external routes', () => {
  const objects = {
    ...apply([
      lb('web'),
      lb('loc', { externalTrafficPolicy: 'Local' }),
      svc('pub', {
        selector: { app: 'web' },
        ports: [{ port: 80 }],
        externalIPs: ['198.51.100.9'],
      }),
    ]),
    pods: [pod('w1', 'node1', 'web', '10.244.1.2'), pod('l1', 'node3', 'loc', '10.244.3.2')],
  };
  const all = ['node1', 'node2', 'node3'];
  const ipOf = (routes: ReturnType<typeof planExternalRoutes>, ip: string) =>
    routes.find((r) => r.ip === ip);

  it('routes a Local Service only to a node with a ready local endpoint, else withdraws it', () => {
    const routes = planExternalRoutes(plan, objects, all);
    const loc = routes.find((r) => r.service === 'default/loc')!;
    expect(loc.node).toBe('node3');
    expect(loc.via).toBe(plan.nodes[2]!.ip);
    // node3's endpoint gone: the address is withdrawn
    const moved = planExternalRoutes(plan, { ...objects, pods: objects.pods.slice(0, 1) }, all);
    expect(moved.find((r) => r.service === 'default/loc')).toBeUndefined();
    // the endpoint moves to node2: so does the route
    const to2 = planExternalRoutes(
      plan,
      { ...objects, pods: [objects.pods[0]!, pod('l2', 'node2', 'loc', '10.244.2.5')] },
      all,
      new Map([[loc.ip, plan.nodes[2]!.ip]]),
    );
    expect(to2.find((r) => r.service === 'default/loc')!.node).toBe('node2');
  });

  it('routes Cluster Services and externalIPs to a ready node, keeping the current one', () => {
    const web = planExternalRoutes(plan, objects, all).find((r) => r.service === 'default/web')!;
    const kept = planExternalRoutes(plan, objects, all, new Map([[web.ip, plan.nodes[1]!.ip]]));
    expect(ipOf(kept, web.ip)!.node).toBe('node2');
    // node2 not ready any more: somewhere else
    const moved = planExternalRoutes(
      plan,
      objects,
      ['node1', 'node3'],
      new Map([[web.ip, plan.nodes[1]!.ip]]),
    );
    expect(['node1', 'node3']).toContain(ipOf(moved, web.ip)!.node);
    expect(ipOf(moved, '198.51.100.9')!.service).toBe('default/pub');
    expect(planExternalRoutes(plan, objects, [])).toEqual([]);
  });

  it('plans only the difference: proxy ARP for addresses on the external segment', () => {
    const routes = planExternalRoutes(plan, objects, all);
    const lines = externalRouteLines(plan, routes, { routes: new Map(), proxies: [] });
    const web = routes.find((r) => r.service === 'default/web')!;
    expect(lines).toContainEqual([
      'route',
      'replace',
      `${web.ip}/32`,
      'via',
      web.via,
      'proto',
      '77',
    ]);
    expect(lines).toContainEqual(['neigh', 'replace', 'proxy', web.ip, 'dev', 'sw-ext']);
    // an address outside the external segment is routed, not proxied
    expect(lines).toContainEqual(expect.arrayContaining(['198.51.100.9/32']));
    expect(lines).not.toContainEqual(expect.arrayContaining(['proxy', '198.51.100.9']));
    // observed = desired: nothing to do; stale entries are removed
    const observed = parseObservedRouter(
      [
        ...routes.map((r) => ({ dst: r.ip, gateway: r.via })),
        { dst: '203.0.113.249', gateway: plan.nodes[0]!.ip },
      ],
      [
        ...routes.filter((r) => r.ip.startsWith('203.')).map((r) => ({ dst: r.ip })),
        { dst: '203.0.113.249' },
      ],
    );
    expect(externalRouteLines(plan, routes, observed)).toEqual([
      ['neigh', 'del', 'proxy', '203.0.113.249', 'dev', 'sw-ext'],
      ['route', 'del', '203.0.113.249/32', 'proto', '77'],
    ]);
  });

  it('reconciles through one batch, planning again when another process raced it', async () => {
    const runner = new RecordingRunner();
    let batches = 0;
    runner.respond((r) => {
      if (r.argv.includes('-batch'))
        return ++batches === 1 ? { code: 2, stderr: 'RTNETLINK answers: No such process' } : {};
      if (r.argv.includes('route'))
        return { stdout: '[{"dst":"203.0.113.249","gateway":"172.30.0.11"}]' };
      if (r.argv.includes('neigh')) return { stdout: '[]' };
      return undefined;
    });
    const router = new Host({ runner, netns: { name: 'sw' } });
    const r = await reconcileExternalRoutes(router, plan, objects, all);
    expect(batches).toBe(2);
    expect(r.lines[0]).toEqual(['route', 'del', '203.0.113.249/32', 'proto', '77']);
    expect(r.routes.map((x) => x.service).sort()).toEqual([
      'default/loc',
      'default/pub',
      'default/web',
    ]);
    // one process per batch: 2 reads + 1 batch per attempt
    expect(runner.requests).toHaveLength(6);
    // a router that keeps failing is an error after three attempts
    runner.respond((q) => (q.argv.includes('-batch') ? { code: 2, stderr: 'boom' } : undefined));
    await expect(reconcileExternalRoutes(router, plan, objects, all)).rejects.toThrow(/boom/);
  });
});
