import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleInvocation } from '@podnet/cni-spec';
import { afterAll, describe, expect, it } from 'vitest';
import { createIpamPlugin, requestedIps } from '../src/plugin.js';

const root = mkdtempSync(join(tmpdir(), 'podnet-ipam-plugin-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const plugin = createIpamPlugin();
let n = 0;

function conf(ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.1.0',
    name: `net${n++}`,
    type: 'bridge',
    ipam: {
      type: 'podnet-ipam',
      dataDir: root,
      ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd01::/64' }]],
      ...ipam,
    },
    ...extra,
  };
}

async function run(command: string, config: object, env: Record<string, string> = {}) {
  const out = await handleInvocation(
    {
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: 'ctr1',
        CNI_NETNS: '/var/run/netns/x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/opt/cni/bin',
        ...env,
      },
      stdin: JSON.stringify(config),
    },
    plugin,
  );
  return { ...out, json: out.stdout ? JSON.parse(out.stdout) : undefined };
}

describe('podnet-ipam plugin', () => {
  it('ADD returns one address per range set, routes and dns; DEL releases; both idempotent', async () => {
    writeFileSync(
      join(root, 'resolv.conf'),
      'nameserver 10.96.0.10\nsearch a.svc b.svc\noptions ndots:5\n',
    );
    const c = conf({ routes: [{ dst: '0.0.0.0/0' }], resolvConf: join(root, 'resolv.conf') });
    const add = await run('ADD', c);
    expect(add.exitCode).toBe(0);
    expect(add.json).toEqual({
      cniVersion: '1.1.0',
      ips: [
        { address: '10.1.0.2/24', gateway: '10.1.0.1' },
        { address: 'fd01::2/64', gateway: 'fd01::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.96.0.10'], search: ['a.svc', 'b.svc'], options: ['ndots:5'] },
    });
    expect((await run('CHECK', c)).exitCode).toBe(0);
    expect((await run('ADD', c)).json.code).toBe(112);
    expect((await run('DEL', c)).exitCode).toBe(0);
    expect((await run('DEL', c, { CNI_NETNS: '' })).exitCode).toBe(0);
    expect((await run('CHECK', c)).json.code).toBe(3);
    expect(readdirSync(join(root, c.name)).sort()).toEqual([
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0'])(
    'prints the result in the configured version %s',
    async (v) => {
      const add = await run('ADD', { ...conf({}), cniVersion: v });
      expect(add.json.cniVersion).toBe(v);
      expect(add.json.ips[0].address).toBe('10.1.0.2/24');
      if (v.startsWith('0.')) expect(add.json.ips[0].version).toBe('4');
    },
  );

  it('takes requested IPs from runtimeConfig.ips, args.cni.ips and CNI_ARGS IP', async () => {
    const a = await run(
      'ADD',
      conf({}, { runtimeConfig: { ips: ['10.1.0.77/24', 'fd01::77/64'] } }),
    );
    expect(a.json.ips.map((i: { address: string }) => i.address)).toEqual([
      '10.1.0.77/24',
      'fd01::77/64',
    ]);
    const b = await run('ADD', conf({}, { args: { cni: { ips: ['10.1.0.78'] } } }));
    expect(b.json.ips[0].address).toBe('10.1.0.78/24');
    const c = await run('ADD', conf({}), { CNI_ARGS: 'IgnoreUnknown=1;IP=10.1.0.79' });
    expect(c.json.ips[0].address).toBe('10.1.0.79/24');
    const taken = conf({}, { runtimeConfig: { ips: ['10.1.0.9'] } });
    expect((await run('ADD', taken)).exitCode).toBe(0);
    expect((await run('ADD', taken, { CNI_CONTAINERID: 'ctr2' })).json.code).toBe(111);
    const outside = await run('ADD', conf({}, { runtimeConfig: { ips: ['192.168.1.1'] } }));
    expect(outside.json.code).toBe(111);
    expect(
      requestedIps({
        config: conf({}, { runtimeConfig: { ips: ['10.0.0.1/24', '10.0.0.1'] } }) as never,
        args: {},
      }),
    ).toEqual(['10.0.0.1/24']);
  });

  it.each([
    [{ ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.9.1' }]] }, 'ipam.ranges[0][0].gateway'],
    [{ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/16' }]] }, 'ipam.ranges[1][0]'],
    [
      { ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.9', rangeEnd: '10.0.0.2' }]] },
      'ipam.ranges[0][0].rangeStart',
    ],
    [
      { ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] },
      'ipam.ranges[0][1].subnet',
    ],
    [{ resolvConf: '/nonexistent/resolv.conf' }, 'ipam.resolvConf'],
  ])('a bad configuration fails with code 7 naming the field (%j)', async (ipam, field) => {
    const r = await run('ADD', conf(ipam));
    expect(r.exitCode).toBe(1);
    expect(r.json.code).toBe(7);
    expect(r.json.msg).toContain(field);
  });

  it('fails with code 7 when ipam is missing', async () => {
    const r = await run('ADD', { cniVersion: '1.1.0', name: 'x', type: 'bridge' });
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.json.msg).toContain('ipam');
  });

  it('GC keeps the valid attachments (either key) and STATUS reports a full range', async () => {
    const c = conf({ ranges: [[{ subnet: '10.2.0.0/29', rangeEnd: '10.2.0.3' }]] });
    for (const id of ['a', 'b']) {
      const r = await run('ADD', c, { CNI_CONTAINERID: id });
      expect(r.exitCode, id).toBe(0);
    }
    expect((await run('STATUS', c, { CNI_CONTAINERID: '', CNI_IFNAME: '' })).json.code).toBe(50);
    const gc = await run('GC', {
      ...c,
      'cni.dev/valid-attachments': [{ containerID: 'b', ifname: 'eth0' }],
    });
    expect(gc.exitCode).toBe(0);
    expect(readdirSync(join(root, c.name)).filter((f) => f.startsWith('10.'))).toEqual([
      '10.2.0.3',
    ]);
    expect((await run('STATUS', c)).exitCode).toBe(0);
    expect((await run('GC', { ...c, 'cni.dev/attachments': [] })).exitCode).toBe(0);
    expect(readdirSync(join(root, c.name)).filter((f) => f.startsWith('10.'))).toEqual([]);
  });

  it('VERSION lists 1.1.0', async () => {
    const r = await handleInvocation(
      { env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' },
      plugin,
    );
    expect(JSON.parse(r.stdout).supportedVersions).toContain('1.1.0');
  });
});
