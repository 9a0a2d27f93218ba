import type { NodeFacts, ServiceState } from '../src/index.js';
import { type FixtureEndpoint, makeEndpointSlice, makeService } from '../src/testing/index.js';

export const NODE: NodeFacts = {
  name: 'node-a',
  zone: 'zone-a',
  clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/48'],
  serviceCIDRs: ['10.96.0.0/16', 'fd00:96::/112'],
};

const web = (extra: object = {}) => ({
  clusterIP: '10.96.0.10',
  ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  ...extra,
});
const threeEps: FixtureEndpoint[] = [
  { ip: '10.244.0.5', nodeName: 'node-a' },
  { ip: '10.244.1.5', nodeName: 'node-b' },
  { ip: '10.244.2.5', nodeName: 'node-c' },
];
const httpSlice = (eps = threeEps) =>
  makeEndpointSlice('default', 'web', eps, [{ name: 'http', port: 8080 }]);

/** One input per feature; each is compiled to a golden ruleset and checked with `nft -c`. */
export const FEATURE_CASES: Record<string, ServiceState> = {
  'clusterip-multiport': {
    services: [
      makeService('default', 'multi', {
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP' },
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'sig', port: 3868, protocol: 'SCTP' },
        ],
      }),
    ],
    endpointSlices: [
      makeEndpointSlice(
        'default',
        'multi',
        [{ ip: '10.244.0.7' }, { ip: '10.244.1.7' }],
        [
          { name: 'http', port: 8080 },
          { name: 'dns', port: 5353, protocol: 'UDP' },
          { name: 'sig', port: 3868, protocol: 'SCTP' },
        ],
      ),
    ],
  },
  nodeport: {
    services: [
      makeService(
        'default',
        'web',
        web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
      ),
    ],
    endpointSlices: [httpSlice()],
  },
  'external-ips': {
    services: [makeService('default', 'web', web({ externalIPs: ['198.51.100.7'] }))],
    endpointSlices: [httpSlice()],
  },
  'loadbalancer-source-ranges': {
    services: [
      makeService(
        'default',
        'web',
        web({
          type: 'LoadBalancer',
          ports: [{ name: 'http', port: 80, nodePort: 30080 }],
          loadBalancerSourceRanges: ['192.168.50.0/24', ' 203.0.113.128/25 '],
        }),
        { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } },
      ),
    ],
    endpointSlices: [httpSlice()],
  },
  'session-affinity': {
    services: [
      makeService(
        'default',
        'web',
        web({
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
        }),
      ),
    ],
    endpointSlices: [httpSlice()],
  },
  'internal-traffic-local': {
    services: [
      makeService('default', 'web', web({ internalTrafficPolicy: 'Local' })),
      makeService('default', 'remote-only', {
        clusterIP: '10.96.0.11',
        internalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80 }],
      }),
    ],
    endpointSlices: [
      httpSlice(),
      makeEndpointSlice(
        'default',
        'remote-only',
        [{ ip: '10.244.1.9', nodeName: 'node-b' }],
        [{ name: 'http', port: 8080 }],
      ),
    ],
  },
  'external-traffic-local': {
    services: [
      makeService(
        'default',
        'web',
        web({
          type: 'NodePort',
          externalTrafficPolicy: 'Local',
          ports: [{ name: 'http', port: 80, nodePort: 30080 }],
        }),
      ),
      makeService('default', 'remote-only', {
        type: 'NodePort',
        clusterIP: '10.96.0.11',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, nodePort: 30081 }],
      }),
    ],
    endpointSlices: [
      httpSlice(),
      makeEndpointSlice(
        'default',
        'remote-only',
        [{ ip: '10.244.1.9', nodeName: 'node-b' }],
        [{ name: 'http', port: 8080 }],
      ),
    ],
  },
  'endpoint-conditions': {
    services: [
      makeService('default', 'web', web()),
      makeService('default', 'draining', {
        clusterIP: '10.96.0.12',
        ports: [{ name: 'http', port: 80 }],
      }),
    ],
    endpointSlices: [
      httpSlice([
        { ip: '10.244.0.5', nodeName: 'node-a' },
        { ip: '10.244.1.5', nodeName: 'node-b', ready: false },
        { ip: '10.244.2.5', nodeName: 'node-c', ready: false, serving: true, terminating: true },
      ]),
      makeEndpointSlice(
        'default',
        'draining',
        [
          { ip: '10.244.0.8', ready: false, serving: true, terminating: true },
          { ip: '10.244.1.8', ready: false, serving: false, terminating: true },
        ],
        [{ name: 'http', port: 8080 }],
      ),
    ],
  },
  'no-endpoints': {
    services: [
      makeService(
        'default',
        'web',
        web({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
      ),
    ],
    endpointSlices: [],
  },
  headless: {
    services: [
      makeService('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
    ],
    endpointSlices: [
      makeEndpointSlice('default', 'db', [{ ip: '10.244.0.9' }], [{ name: 'pg', port: 5432 }]),
    ],
  },
  'dual-stack': {
    services: [
      makeService(
        'default',
        'web',
        web({ clusterIPs: ['10.96.0.10', 'fd00:96::10'], ipFamilies: ['IPv4', 'IPv6'] }),
      ),
    ],
    endpointSlices: [
      httpSlice(),
      makeEndpointSlice(
        'default',
        'web',
        [
          { ip: 'fd00:244::5', nodeName: 'node-a' },
          { ip: 'fd00:244:1::5', nodeName: 'node-b' },
        ],
        [{ name: 'http', port: 8080 }],
      ),
    ],
  },
  'prefer-close': {
    services: [makeService('default', 'web', web({ trafficDistribution: 'PreferClose' }))],
    endpointSlices: [
      httpSlice([
        { ip: '10.244.0.5', nodeName: 'node-a', zone: 'zone-a', forZones: ['zone-a'] },
        { ip: '10.244.1.5', nodeName: 'node-b', zone: 'zone-a', forZones: ['zone-a'] },
        { ip: '10.244.2.5', nodeName: 'node-c', zone: 'zone-b', forZones: ['zone-b'] },
      ]),
    ],
  },
};
