import fc from 'fast-check';

const junk = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant('None'),
);

/** Kubernetes-shaped Services and EndpointSlices; each field is junk with probability `noise` %. */
export function arbitraries(noise: number) {
  const maybe = <T>(valid: fc.Arbitrary<T>) =>
    fc.oneof(
      { weight: 100 - noise, arbitrary: valid as fc.Arbitrary<unknown> },
      { weight: noise, arbitrary: junk },
    );
  const ip = maybe(fc.oneof(fc.ipV4(), fc.ipV6()));
  const port = fc.record({
    name: maybe(fc.constantFrom('http', 'dns', '')),
    protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP')),
    port: maybe(fc.integer({ min: 1, max: 65535 })),
    nodePort: maybe(fc.integer({ min: 30000, max: 32767 })),
  });
  const service = fc.record({
    metadata: fc.record({
      name: maybe(fc.constantFrom('a', 'b')),
      namespace: fc.constantFrom('default', 'x'),
    }),
    spec: maybe(
      fc.record({
        type: maybe(fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName')),
        clusterIPs: maybe(fc.array(ip, { minLength: 1, maxLength: 2 })),
        ports: maybe(fc.array(port, { maxLength: 3 })),
        externalIPs: maybe(fc.array(ip, { maxLength: 2 })),
        sessionAffinity: maybe(fc.constantFrom('None', 'ClientIP')),
        externalTrafficPolicy: maybe(fc.constantFrom('Cluster', 'Local')),
        internalTrafficPolicy: maybe(fc.constantFrom('Cluster', 'Local')),
        trafficDistribution: maybe(fc.constantFrom('PreferClose', 'PreferSameNode')),
        loadBalancerSourceRanges: maybe(
          fc.array(maybe(fc.constantFrom('10.0.0.0/8', 'fd00::/8', '192.168.1.7/24')), {
            maxLength: 2,
          }),
        ),
      }),
    ),
    status: maybe(
      fc.record({
        loadBalancer: fc.record({ ingress: fc.array(fc.record({ ip }), { maxLength: 2 }) }),
      }),
    ),
  });
  const slice = fc.record({
    metadata: fc.record({
      name: fc.constantFrom('s1', 's2'),
      namespace: fc.constantFrom('default', 'x'),
      labels: fc.record({ 'kubernetes.io/service-name': fc.constantFrom('a', 'b') }),
    }),
    addressType: maybe(fc.constantFrom('IPv4', 'IPv6', 'FQDN')),
    ports: maybe(fc.array(port, { maxLength: 3 })),
    endpoints: maybe(
      fc.array(
        fc.record({
          addresses: maybe(fc.array(ip, { minLength: 1, maxLength: 2 })),
          conditions: maybe(
            fc.record({ ready: fc.boolean(), serving: fc.boolean(), terminating: fc.boolean() }),
          ),
          nodeName: maybe(fc.constantFrom('node-a', 'node-b')),
          hints: fc.option(
            fc.record({
              forZones: fc.array(fc.record({ name: fc.constantFrom('zone-a', 'zone-b') })),
            }),
          ),
        }),
        { maxLength: 3 },
      ),
    ),
  });
  return { service, slice };
}
