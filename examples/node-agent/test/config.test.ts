import { describe, expect, it } from 'vitest';
import { AgentError, parseAgentConfig } from '../src/index.js';
import { withDns } from './config-fixture.js';

// trailing dot: the test of normalisation reads it
const good = withDns({ clusterDomain: 'cluster.local.' });

function errorOf(v: unknown): AgentError {
  try {
    parseAgentConfig(v);
  } catch (e) {
    if (AgentError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('parseAgentConfig', () => {
  it('accepts a full configuration and normalises the zone', () => {
    const c = parseAgentConfig({
      ...good,
      mtu: 1450,
      podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    });
    expect(c.dns.clusterDomain).toBe('cluster.local');
    expect(c.mtu).toBe(1450);
    expect(c.podCidrs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(parseAgentConfig({ ...good, source: { kind: 'kubernetes' } }).source).toEqual({
      kind: 'kubernetes',
    });
  });

  it.each([
    [{ ...good, nodeName: 'Node_1' }, 'config.nodeName'],
    [{ ...good, stateDir: 'relative' }, 'config.stateDir'],
    [{ ...good, source: { kind: 'etcd' } }, 'config.source.kind'],
    [{ ...good, source: { kind: 'manifests' } }, 'config.source.dir'],
    [{ ...good, source: { kind: 'kubernetes', dir: '/x' } }, 'config.source.dir'],
    [{ ...good, clusterCidrs: [] }, 'config.clusterCidrs'],
    [{ ...good, clusterCidrs: ['10.244.0.0/33'] }, 'config.clusterCidrs[0]'],
    [{ ...good, serviceCidrs: ['nope'] }, 'config.serviceCidrs[0]'],
    [{ ...good, uplink: 'a/b' }, 'config.uplink'],
    [{ ...good, nodeIps: ['1.2.3'] }, 'config.nodeIps[0]'],
    [{ ...good, mtu: 100 }, 'config.mtu'],
    [{ ...good, podCidrs: ['x'] }, 'config.podCidrs[0]'],
    [{ ...good, dns: { ip: 'x', clusterDomain: 'cluster.local' } }, 'config.dns.ip'],
    [{ ...good, dns: { ip: '10.0.0.10', clusterDomain: 'Bad Zone' } }, 'config.dns.clusterDomain'],
    [{ ...good, http: { address: '127.0.0.1', port: 70000 } }, 'config.http.port'],
    [{ ...good, http: { address: '127.0.0.1', port: 1, tls: true } }, 'config.http.tls'],
    [{ ...good, extra: 1 }, 'config.extra'],
    [{ ...good, healthz: { address: '0.0.0.0' } }, 'config.healthz.port'],
    [{ ...good, healthz: { address: 'any', port: 10256 } }, 'config.healthz.address'],
    [{ ...good, healthz: { address: '0.0.0.0', port: -1 } }, 'config.healthz.port'],
    [
      { ...good, healthz: { address: '0.0.0.0', port: 10256, timeoutMs: 5 } },
      'config.healthz.timeoutMs',
    ],
    [{ ...good, healthz: { address: '0.0.0.0', port: 10256, path: '/' } }, 'config.healthz.path'],
    [{ ...good, healthz: 10256 }, 'config.healthz'],
    [{ ...good, socketPath: `/${'x'.repeat(120)}` }, 'config.socketPath'],
  ])('rejects %# naming the field', (input, path) => {
    const e = errorOf(input);
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.path).toBe(path);
    expect(e.message).toContain(path);
  });

  it("takes kube-proxy's health server address, port and timeout (absent: not served)", () => {
    expect(parseAgentConfig(good).healthz).toBeUndefined();
    expect(
      parseAgentConfig({ ...good, healthz: { address: '0.0.0.0', port: 10256 } }).healthz,
    ).toEqual({
      address: '0.0.0.0',
      port: 10256,
    });
    expect(
      parseAgentConfig({ ...good, healthz: { address: '::', port: 0, timeoutMs: 2000 } }).healthz,
    ).toEqual({ address: '::', port: 0, timeoutMs: 2000 });
  });

  it('rejects a non-object', () => {
    expect(errorOf([]).code).toBe('INVALID_CONFIG');
    expect(errorOf(null).code).toBe('INVALID_CONFIG');
  });
});
