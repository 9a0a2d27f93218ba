import { describe, expect, it } from 'vitest';
import {
  assertValidPolicy,
  NetpolError,
  validateClusterNetworkPolicy,
  validateNetworkPolicy,
  validatePolicy,
} from '../src/index.js';

const np = (spec: unknown) => ({ metadata: { name: 'p', namespace: 'x' }, spec });
const cnp = (spec: Record<string, unknown>) => ({
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'c' },
  spec: { tier: 'Admin', priority: 1, subject: { namespaces: {} }, ...spec },
});
const paths = (issues: { path: string }[]) => issues.map((i) => i.path);

describe('validateNetworkPolicy', () => {
  it('accepts valid policies', () => {
    expect(
      validateNetworkPolicy(
        np({
          podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            {
              from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
              ports: [{ port: 80, endPort: 90 }],
            },
            {
              from: [{ namespaceSelector: {}, podSelector: { matchLabels: { a: 'b' } } }],
              ports: [{ port: 'http', protocol: 'SCTP' }],
            },
          ],
          egress: [{}],
        }),
      ),
    ).toEqual([]);
  });

  it('names an except outside the cidr', () => {
    const issues = validateNetworkPolicy(
      np({
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }],
      }),
    );
    expect(issues).toEqual([
      {
        path: 'spec.ingress[0].from[0].ipBlock.except[0]',
        message: 'must be a strict subset of cidr 10.0.0.0/16',
      },
    ]);
  });

  it('rejects an except equal to the cidr or of another family', () => {
    expect(
      paths(
        validateNetworkPolicy(
          np({
            podSelector: {},
            egress: [
              { to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.0.0/16', 'fd00::/64'] } }] },
            ],
          }),
        ),
      ),
    ).toEqual(['spec.egress[0].to[0].ipBlock.except[0]', 'spec.egress[0].to[0].ipBlock.except[1]']);
  });

  it('names endPort without a numeric port, and endPort below port', () => {
    const issues = validateNetworkPolicy(
      np({
        podSelector: {},
        ingress: [
          { ports: [{ port: 'http', endPort: 90 }, { port: 90, endPort: 80 }, { endPort: 80 }] },
        ],
      }),
    );
    expect(issues).toEqual([
      {
        path: 'spec.ingress[0].ports[0].endPort',
        message: 'may only be set when port is a number',
      },
      {
        path: 'spec.ingress[0].ports[1].endPort',
        message: 'must be greater than or equal to port (90)',
      },
      {
        path: 'spec.ingress[0].ports[2].endPort',
        message: 'may only be set when port is a number',
      },
    ]);
  });

  it('names a peer mixing ipBlock with selectors, and an empty peer', () => {
    const issues = validateNetworkPolicy(
      np({
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }, {}] }],
      }),
    );
    expect(paths(issues)).toEqual(['spec.ingress[0].from[0]', 'spec.ingress[0].from[1]']);
    expect(issues[0]?.message).toMatch(/ipBlock may not be combined/);
  });

  it('names bad selectors', () => {
    const issues = validateNetworkPolicy(
      np({
        podSelector: {
          matchLabels: { 'bad key!': 'v', ok: 'bad value!' },
          matchExpressions: [
            { key: 'a', operator: 'In', values: [] },
            { key: 'b', operator: 'Exists', values: ['x'] },
            { key: 'c', operator: 'Maybe' },
          ],
        },
      }),
    );
    expect(paths(issues)).toEqual([
      'spec.podSelector.matchLabels.bad key!',
      'spec.podSelector.matchLabels.ok',
      'spec.podSelector.matchExpressions[0].values',
      'spec.podSelector.matchExpressions[1].values',
      'spec.podSelector.matchExpressions[2].operator',
    ]);
  });

  it('names a missing podSelector, bad protocol/port/cidr/policyTypes and unknown fields', () => {
    const issues = validateNetworkPolicy(
      np({
        policyTypes: ['Ingress', 'Sideways'],
        ingress: [
          {
            from: [{ ipBlock: { cidr: '10.0.0.0/33' } }, { podselector: {} }],
            ports: [{ protocol: 'ICMP', port: 70000 }, { port: 'Not_A_Name' }],
          },
        ],
      }),
    );
    expect(paths(issues)).toEqual([
      'spec.podSelector',
      'spec.policyTypes[1]',
      'spec.ingress[0].from[0].ipBlock.cidr',
      'spec.ingress[0].from[1].podselector',
      'spec.ingress[0].from[1]',
      'spec.ingress[0].ports[0].protocol',
      'spec.ingress[0].ports[0].port',
      'spec.ingress[0].ports[1].port',
    ]);
  });

  it('assertValidPolicy throws INVALID_POLICY carrying every issue', () => {
    let err: unknown;
    try {
      assertValidPolicy(np({ podSelector: {}, ingress: [{ ports: [{ port: 'x', endPort: 3 }] }] }));
    } catch (e) {
      err = e;
    }
    expect(NetpolError.isInstance(err)).toBe(true);
    const e = err as NetpolError;
    expect(e.code).toBe('INVALID_POLICY');
    expect(e.object).toBe('x/p');
    expect(e.message).toContain('spec.ingress[0].ports[0].endPort');
  });
});

describe('validateClusterNetworkPolicy', () => {
  it('accepts a valid policy', () => {
    expect(
      validateClusterNetworkPolicy(
        cnp({
          egress: [
            { name: 'dns', action: 'Accept', to: [{ domainNames: ['*.example.com'] }] },
            {
              action: 'Deny',
              to: [{ networks: ['0.0.0.0/0'] }],
              protocols: [{ tcp: { destinationPort: { range: { start: 1, end: 1024 } } } }],
            },
            {
              action: 'Pass',
              to: [{ pods: { namespaceSelector: {}, podSelector: {} } }],
              protocols: [{ destinationNamedPort: 'http' }],
            },
          ],
          ingress: [{ action: 'Accept', from: [{ namespaces: {} }] }],
        }),
      ),
    ).toEqual([]);
  });

  it('names tier, priority and subject errors', () => {
    const issues = validatePolicy({
      metadata: { name: 'c' },
      spec: { tier: 'Top', priority: 1001, subject: { namespaces: {}, pods: { podSelector: {} } } },
    });
    expect(paths(issues)).toEqual(['spec.tier', 'spec.priority', 'spec.subject']);
  });

  it('names rule errors: action, peers, domainNames in Deny, ranges, named ports with networks, ingress networks', () => {
    const issues = validateClusterNetworkPolicy(
      cnp({
        ingress: [
          { action: 'Allow', from: [{ networks: ['10.0.0.0/8'] }] },
          { action: 'Deny', from: [] },
        ],
        egress: [
          { action: 'Deny', to: [{ domainNames: ['example.com'] }] },
          {
            action: 'Accept',
            to: [{ networks: ['10.0.0.0/8'] }],
            protocols: [
              { destinationNamedPort: 'http' },
              { tcp: { destinationPort: { range: { start: 9, end: 9 } } } },
            ],
          },
          {
            action: 'Accept',
            to: [{ namespaces: {}, pods: { podSelector: {} } }],
            protocols: [{ tcp: {}, udp: {} }],
          },
        ],
      }),
    );
    expect(paths(issues)).toEqual([
      'spec.ingress[0].action',
      'spec.ingress[0].from[0].networks',
      'spec.ingress[0].from[0]',
      'spec.ingress[1].from',
      'spec.egress[0].to[0].domainNames',
      'spec.egress[1].protocols[0].destinationNamedPort',
      'spec.egress[1].protocols[1].tcp.destinationPort.range',
      'spec.egress[2].to[0]',
      'spec.egress[2].protocols[0]',
    ]);
  });
});
