import type { V1EndpointSlice, V1Namespace, V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type ClusterDnsState, compileZone, resolve } from '../src/index.js';

describe('ClusterDnsState takes @kubernetes/client-node objects as they are', () => {
  it('compiles typed API objects without casts', () => {
    const namespaces: V1Namespace[] = [{ metadata: { name: 'team' } }];
    const services: V1Service[] = [
      {
        metadata: { name: 'api', namespace: 'team' },
        spec: {
          clusterIP: '10.96.1.1',
          clusterIPs: ['10.96.1.1'],
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
        },
      },
    ];
    const endpointSlices: V1EndpointSlice[] = [
      {
        addressType: 'IPv4',
        metadata: {
          name: 'api-1',
          namespace: 'team',
          labels: { 'kubernetes.io/service-name': 'api' },
        },
        endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true } }],
      },
    ];
    const pods: V1Pod[] = [
      {
        metadata: { name: 'p', namespace: 'team' },
        status: {
          podIP: '10.244.1.5',
          podIPs: [{ ip: '10.244.1.5' }],
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      },
    ];
    const state: ClusterDnsState = { namespaces, services, endpointSlices, pods };
    expect(
      resolve(compileZone(state), { name: 'api.team.svc.cluster.local', type: 'A' }),
    ).toMatchObject({ rcode: 'NOERROR' });
  });
});
