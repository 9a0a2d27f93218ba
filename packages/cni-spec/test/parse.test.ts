import { describe, expect, it } from 'vitest';
import {
  CNI_ERROR_CODES,
  CniError,
  MAX_NETWORK_NAME_LENGTH,
  parseNetConf,
  parseNetConfList,
  parseResult,
} from '../src/index.js';

function errorOf(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    if (CniError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected a CniError');
}

const base = { cniVersion: '1.0.0', name: 'net1', type: 'bridge' };

describe('parseNetConf', () => {
  it('accepts every well-known key and keeps plugin-specific ones', () => {
    const conf = parseNetConf(
      JSON.stringify({
        ...base,
        bridge: 'cni0',
        ipMasq: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }]] },
        dns: {
          nameservers: ['10.1.0.1'],
          domain: 'cluster.local',
          search: ['a'],
          options: ['ndots:5'],
        },
        capabilities: { portMappings: true },
        runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }] },
        args: { cni: { ips: ['10.1.0.5'] } },
        prevResult: {
          cniVersion: '0.4.0',
          interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }],
          ips: [{ version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
        },
      }),
    );
    expect(conf.bridge).toBe('cni0');
    expect(conf.ipam?.type).toBe('host-local');
    expect(conf.prevResult).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }],
    });
  });

  it('takes a name of up to 255 characters (a file name) and says the limit beyond', () => {
    expect(parseNetConf({ ...base, name: 'n'.repeat(MAX_NETWORK_NAME_LENGTH) }).name).toHaveLength(
      255,
    );
    const err = errorOf(() => parseNetConf({ ...base, name: 'n'.repeat(5000) }));
    expect(err.msg).toContain('at most 255 characters');
    expect(
      errorOf(() => parseNetConfList({ ...base, plugins: [{ type: 'a' }], name: 'n'.repeat(256) }))
        .path,
    ).toBe('$.name');
  });

  it('treats a missing cniVersion as 0.1.0', () => {
    expect(parseNetConf({ name: 'n', type: 't' }).cniVersion).toBe('0.1.0');
  });

  it.each([
    ['not json', '{', CNI_ERROR_CODES.DECODE_FAILURE, undefined],
    ['array', '[]', 7, '$'],
    ['no name', { cniVersion: '1.0.0', type: 'x' }, 7, '$.name'],
    ['bad name', { ...base, name: 'a/b' }, 7, '$.name'],
    ['name longer than a file name', { ...base, name: 'n'.repeat(5000) }, 7, '$.name'],
    ['name of 256 characters', { ...base, name: 'n'.repeat(256) }, 7, '$.name'],
    ['no type', { cniVersion: '1.0.0', name: 'n' }, 7, '$.type'],
    ['type is a path', { ...base, type: '../bin/sh' }, 7, '$.type'],
    ['bad version', { ...base, cniVersion: 'one' }, 7, '$.cniVersion'],
    ['ipMasq string', { ...base, ipMasq: 'yes' }, 7, '$.ipMasq'],
    ['ipam without type', { ...base, ipam: {} }, 7, '$.ipam.type'],
    [
      'dns nameservers not list',
      { ...base, dns: { nameservers: '1.1.1.1' } },
      7,
      '$.dns.nameservers',
    ],
    [
      'capability not bool',
      { ...base, capabilities: { portMappings: 1 } },
      7,
      '$.capabilities.portMappings',
    ],
    ['runtimeConfig array', { ...base, runtimeConfig: [] }, 7, '$.runtimeConfig'],
    ['args string', { ...base, args: 'x' }, 7, '$.args'],
    [
      'prevResult bad ip',
      { ...base, prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.0.0.300/24' }] } },
      7,
      '$.prevResult.ips[0].address',
    ],
    [
      'prevResult bad gw',
      { ...base, prevResult: { ips: [{ address: '10.0.0.3/24', gateway: 'fd00::1' }] } },
      7,
      '$.prevResult.ips[0].gateway',
    ],
    [
      'attachments',
      { ...base, 'cni.dev/valid-attachments': [{ containerID: 'a' }] },
      7,
      '$["cni.dev/valid-attachments"][0].ifname',
    ],
  ])('%s → code %i at %s', (_name, input, code, path) => {
    const err = errorOf(() => parseNetConf(input));
    expect(err.code).toBe(code);
    expect(err.path).toBe(path);
    if (path) expect(err.msg).toContain(path);
  });
});

describe('parseNetConfList', () => {
  const list = {
    cniVersion: '1.0.0',
    name: 'net',
    plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }],
  };

  it('parses a list; string booleans for disableCheck/disableGC are accepted', () => {
    const l = parseNetConfList({ ...list, disableCheck: 'true', disableGC: false });
    expect(l.disableCheck).toBe(true);
    expect(l.disableGC).toBe(false);
    expect(l.plugins).toHaveLength(2);
  });

  it('takes cniVersion from the highest cniVersions when missing', () => {
    const { cniVersion: _v, ...rest } = list;
    expect(parseNetConfList({ ...rest, cniVersions: ['1.1.0', '0.4.0'] }).cniVersion).toBe('1.1.0');
  });

  it.each([
    ['no plugins', { ...list, plugins: [] }, '$.plugins'],
    ['plugins not array', { ...list, plugins: {} }, '$.plugins'],
    [
      'plugin without type',
      { ...list, plugins: [{ type: 'a' }, { ipam: {} }] },
      '$.plugins[1].type',
    ],
    ['bad cniVersions', { ...list, cniVersions: ['1.0'] }, '$.cniVersions[0]'],
    ['no version at all', { name: 'n', plugins: [{ type: 'a' }] }, '$.cniVersion'],
    ['disableCheck number', { ...list, disableCheck: 1 }, '$.disableCheck'],
    [
      'bad ipam type',
      { ...list, plugins: [{ type: 'a', ipam: { type: 5 } }] },
      '$.plugins[0].ipam.type',
    ],
  ])('%s → code 7 at %s', (_n, input, path) => {
    const err = errorOf(() => parseNetConfList(input));
    expect(err.code).toBe(7);
    expect(err.path).toBe(path);
  });
});

describe('parseResult', () => {
  it('fills ips[].version for 0.3.x/0.4.0 and drops it for 1.x', () => {
    const legacy = parseResult({ cniVersion: '0.3.1', ips: [{ address: 'fd00::5/64' }] });
    expect(legacy.ips?.[0]).toEqual({ address: 'fd00::5/64', version: '6' });
    const modern = parseResult({
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.5/24', version: '4' }],
    });
    expect(modern.ips?.[0]).toEqual({ address: '10.0.0.5/24' });
  });

  it.each([
    [
      'version mismatch',
      { cniVersion: '0.4.0', ips: [{ version: '6', address: '10.0.0.1/24' }] },
      6,
      '$.ips[0].version',
    ],
    [
      'interface out of range',
      {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'a' }],
        ips: [{ address: '10.0.0.1/24', interface: 1 }],
      },
      6,
      '$.ips[0].interface',
    ],
    ['route dst', { cniVersion: '1.0.0', routes: [{ dst: '10.0.0.0' }] }, 6, '$.routes[0].dst'],
    [
      'route table',
      { cniVersion: '1.1.0', routes: [{ dst: '0.0.0.0/0', table: -1 }] },
      6,
      '$.routes[0].table',
    ],
    [
      'interface name',
      { cniVersion: '1.1.0', interfaces: [{ mac: 'x' }] },
      6,
      '$.interfaces[0].name',
    ],
    ['unknown version', { cniVersion: '0.2.0' }, 1, '$.cniVersion'],
  ])('%s → code %i at %s', (_n, input, code, path) => {
    const err = errorOf(() => parseResult(input));
    expect(err.code).toBe(code);
    expect(err.path).toBe(path);
  });
});

describe('CniError', () => {
  it('renders the spec error JSON and survives copies via isInstance', () => {
    const e = new CniError(CNI_ERROR_CODES.INVALID_NETWORK_CONFIG, 'bad', { details: 'more' });
    expect(e.toJSON('1.0.0')).toEqual({
      cniVersion: '1.0.0',
      code: 7,
      msg: 'bad',
      details: 'more',
    });
    expect(JSON.parse(JSON.stringify(new CniError(4, 'env')))).toEqual({
      cniVersion: '1.1.0',
      code: 4,
      msg: 'env',
    });
    expect(CniError.isInstance(e)).toBe(true);
    expect(CniError.isInstance(new Error('x'))).toBe(false);
    expect(CniError.from(new Error('boom')).code).toBe(999);
    expect(CniError.fromJSON({ code: 11, msg: 'later' })?.code).toBe(11);
    expect(CniError.fromJSON({ msg: 'no code' })).toBeUndefined();
  });

  it('names every spec code', () => {
    expect(Object.values(CNI_ERROR_CODES).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 999,
    ]);
  });
});

describe('parsers never crash', () => {
  it('property: any JSON value gives a typed value or a CniError with code 1, 6 or 7', async () => {
    const fc = (await import('fast-check')).default;
    const near = fc.record(
      {
        cniVersion: fc.oneof(fc.constantFrom('0.3.1', '1.0.0', '1.1.0', '0.2.0'), fc.string()),
        name: fc.oneof(fc.constant('n'), fc.string()),
        type: fc.oneof(fc.constant('t'), fc.anything()),
        plugins: fc.oneof(
          fc.array(fc.record({ type: fc.oneof(fc.constant('t'), fc.anything()) })),
          fc.anything(),
        ),
        ips: fc.array(
          fc.record({
            address: fc.oneof(fc.constant('10.0.0.1/8'), fc.string()),
            interface: fc.anything(),
          }),
        ),
        routes: fc.anything(),
        prevResult: fc.anything(),
        dns: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), near, fc.string()), (input) => {
        for (const parse of [parseNetConf, parseNetConfList, parseResult]) {
          try {
            parse(input as never);
          } catch (e) {
            expect(CniError.isInstance(e)).toBe(true);
            expect([1, 6, 7]).toContain((e as CniError).code);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
