import type {
  V1EndpointSlice,
  V1Namespace,
  V1NetworkPolicy,
  V1Node,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Namespace, NetworkPolicy, Node, Pod, Service } from '../src/index.js';

// Compile-time checks (the typecheck step fails if they break): every object client-node's typed
// API hands a user is accepted where podnet takes its model, with no conversion or cast.
function accepts<T>(_value: T): true {
  return true;
}

describe('the object model takes client-node objects as they are', () => {
  it('assigns each client-node model to its podnet twin', () => {
    const fromClient = {
      node: {} as V1Node,
      namespace: {} as V1Namespace,
      pod: {} as V1Pod,
      service: {} as V1Service,
      slice: { addressType: 'IPv4', endpoints: [] } as V1EndpointSlice,
      policy: {} as V1NetworkPolicy,
    };
    expect(accepts<Node>(fromClient.node)).toBe(true);
    expect(accepts<Namespace>(fromClient.namespace)).toBe(true);
    expect(accepts<Pod>(fromClient.pod)).toBe(true);
    expect(accepts<Service>(fromClient.service)).toBe(true);
    expect(accepts<EndpointSlice>(fromClient.slice)).toBe(true);
    expect(accepts<NetworkPolicy>(fromClient.policy)).toBe(true);
  });
});
