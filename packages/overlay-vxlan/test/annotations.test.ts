import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANNOTATION_KEYS,
  OverlayError,
  decodeNodeAnnotations,
  encodeNodeAnnotations,
  peersFromNodes,
  vtepMacFor,
} from '../src/index.js';

describe('node annotation codec', () => {
  it('encodes what a peer needs and decodes it back', () => {
    const info = {
      backendType: 'vxlan' as const,
      vtepMac: '0A:11:22:33:44:55',
      vni: 1,
      publicIPs: ['192.168.1.5', 'fd00:0::5'],
    };
    const ann = encodeNodeAnnotations(info);
    expect(ann).toEqual({
      'overlay.podnet.io/backend-type': 'vxlan',
      'overlay.podnet.io/vtep-mac': '0a:11:22:33:44:55',
      'overlay.podnet.io/vni': '1',
      'overlay.podnet.io/public-ip': '192.168.1.5',
      'overlay.podnet.io/public-ipv6': 'fd00::5',
    });
    expect(decodeNodeAnnotations({ ...ann, 'unrelated/key': 'x' })).toEqual({
      ...info,
      vtepMac: '0a:11:22:33:44:55',
      publicIPs: ['192.168.1.5', 'fd00::5'],
    });
  });

  it('round-trips any valid value', () => {
    const mac = fc
      .uint8Array({ minLength: 6, maxLength: 6 })
      .map((b) =>
        [b[0]! & 0xfe, ...b.slice(1)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
      )
      .filter((m) => m !== '00:00:00:00:00:00');
    fc.assert(
      fc.property(
        mac,
        fc.integer({ min: 1, max: 16_777_215 }),
        fc.ipV4(),
        fc.option(fc.ipV6(), { nil: undefined }),
        (m, vni, v4, v6) => {
          const ips = v6 && !v6.includes('.') ? [v4, v6] : [v4];
          const decoded = decodeNodeAnnotations(
            encodeNodeAnnotations({ backendType: 'vxlan', vtepMac: m, vni, publicIPs: ips }),
          );
          expect(decoded.vtepMac).toBe(m);
          expect(decoded.vni).toBe(vni);
          expect(decoded.publicIPs).toHaveLength(ips.length);
        },
      ),
    );
  });

  it.each([
    ['backend-type missing', {}, ANNOTATION_KEYS.backendType],
    [
      'backend-type wrong',
      {
        [ANNOTATION_KEYS.backendType]: 'host-gw',
        [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00:01',
        [ANNOTATION_KEYS.publicIP]: '10.0.0.1',
      },
      ANNOTATION_KEYS.backendType,
    ],
    ['MAC missing', { [ANNOTATION_KEYS.backendType]: 'vxlan' }, ANNOTATION_KEYS.vtepMac],
    [
      'MAC malformed',
      {
        [ANNOTATION_KEYS.backendType]: 'vxlan',
        [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00',
        [ANNOTATION_KEYS.publicIP]: '10.0.0.1',
      },
      ANNOTATION_KEYS.vtepMac,
    ],
    [
      'MAC multicast',
      {
        [ANNOTATION_KEYS.backendType]: 'vxlan',
        [ANNOTATION_KEYS.vtepMac]: '01:00:00:00:00:01',
        [ANNOTATION_KEYS.publicIP]: '10.0.0.1',
      },
      ANNOTATION_KEYS.vtepMac,
    ],
    [
      'public IP malformed',
      {
        [ANNOTATION_KEYS.backendType]: 'vxlan',
        [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00:01',
        [ANNOTATION_KEYS.publicIP]: '10.0.0',
      },
      ANNOTATION_KEYS.publicIP,
    ],
    [
      'public IPv6 is IPv4',
      {
        [ANNOTATION_KEYS.backendType]: 'vxlan',
        [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00:01',
        [ANNOTATION_KEYS.publicIPv6]: '10.0.0.1',
      },
      ANNOTATION_KEYS.publicIPv6,
    ],
    [
      'no public IP',
      { [ANNOTATION_KEYS.backendType]: 'vxlan', [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00:01' },
      ANNOTATION_KEYS.publicIP,
    ],
    [
      'VNI not a number',
      {
        [ANNOTATION_KEYS.backendType]: 'vxlan',
        [ANNOTATION_KEYS.vtepMac]: '02:00:00:00:00:01',
        [ANNOTATION_KEYS.publicIP]: '10.0.0.1',
        [ANNOTATION_KEYS.vni]: 'one',
      },
      ANNOTATION_KEYS.vni,
    ],
  ])('rejects %s naming the annotation', (_name, ann, key) => {
    let err: unknown;
    try {
      decodeNodeAnnotations(ann);
    } catch (e) {
      err = e;
    }
    expect(OverlayError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ code: 'INVALID_ANNOTATION', field: `annotations["${key}"]` });
  });

  it('peersFromNodes: a bad node is skipped with an event, the others become peers', () => {
    const good = (name: string, ip: string) => ({
      name,
      podCIDRs: ['10.244.9.0/24'],
      annotations: encodeNodeAnnotations({
        backendType: 'vxlan',
        vtepMac: vtepMacFor(name),
        vni: 1,
        publicIPs: [ip],
      }),
    });
    const { peers, events } = peersFromNodes(
      [
        good('me', '10.0.0.1'),
        good('n2', '10.0.0.2'),
        {
          name: 'n3',
          podCIDRs: ['10.244.3.0/24'],
          annotations: { [ANNOTATION_KEYS.backendType]: 'vxlan' },
        },
        { ...good('n4', '10.0.0.4'), podCIDRs: [] },
        {
          ...good('n5', '10.0.0.5'),
          annotations: { ...good('n5', '10.0.0.5').annotations, [ANNOTATION_KEYS.vni]: '2' },
        },
      ],
      { localNodeName: 'me' },
    );
    expect(peers).toEqual([
      {
        nodeName: 'n2',
        nodeIPs: ['10.0.0.2'],
        podCIDRs: ['10.244.9.0/24'],
        vtepMac: vtepMacFor('n2'),
      },
    ]);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'PeerSkipped',
        nodeName: 'n3',
        message: expect.stringContaining('vtep-mac'),
      }),
      expect.objectContaining({
        type: 'Warning',
        reason: 'PeerSkipped',
        nodeName: 'n5',
        message: expect.stringContaining('VNI 1'),
      }),
    ]);
  });
});

describe('vtepMacFor', () => {
  it('is stable, unicast and locally administered', () => {
    expect(vtepMacFor('node-a')).toBe(vtepMacFor('node-a'));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 253 }), (name) => {
        const mac = vtepMacFor(name);
        expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        const first = Number.parseInt(mac.slice(0, 2), 16);
        expect(first & 1).toBe(0);
        expect(first & 2).toBe(2);
      }),
    );
  });

  it('differs across 10,000 similar node names', () => {
    const macs = new Set(Array.from({ length: 10_000 }, (_, i) => vtepMacFor(`node-${i}`)));
    expect(macs.size).toBe(10_000);
  });
});
