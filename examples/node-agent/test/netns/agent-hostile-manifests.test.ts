import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestNet, type TestNet, waitFor } from '@podnet/host/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOneNode, type TestNode } from './node-kit.js';

const service = (name: string, ip: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', port: 80 }] },
  });

/** A "billion laughs": 9^6 strings from a few hundred bytes of aliases. */
const BOMB = [
  'apiVersion: v1',
  'kind: ConfigMap',
  'metadata: {name: lol}',
  'data:',
  '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  '  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  '  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  '  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  '  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  '  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
].join('\n');

// Any file, however hostile, costs one logged "manifest skipped" line naming it, never the agent.
describe('hostile files in the manifests directory of a live node', () => {
  let net: TestNet;
  let node: TestNode;

  beforeAll(async () => {
    net = createTestNet();
    ({ node } = await startOneNode(net, '192.168.73', { podCidrs: ['10.244.73.0/24'] }));
    writeFileSync(join(node.manifestsDir, 'web.yaml'), service('web', '10.96.73.10'));
  });
  afterAll(async () => {
    node?.cleanup();
    await net.cleanup();
  });

  const dig = async (name: string) =>
    (
      await net.exec(node.ns, ['dig', '@169.254.20.10', '+short', '+time=1', '+tries=3', name], {
        allowFail: true,
      })
    ).stdout.trim();
  const resolves = (name: string, ip: string) =>
    waitFor(async () => (await dig(`${name}.default.svc.cluster.local`)) === ip, {
      timeoutMs: 20_000,
      what: `${name} to resolve to ${ip}`,
    }).catch(async (e) => {
      const d = await net.exec(
        node.ns,
        ['dig', '@169.254.20.10', `${name}.default.svc.cluster.local`],
        { allowFail: true },
      );
      const t = await net.exec(node.ns, ['nft', 'list', 'table', 'ip', 'podnet-svc'], {
        allowFail: true,
      });
      throw new Error(
        `${(e as Error).message}\ndig:${d.stdout}${d.stderr}\nnft:${t.stdout.slice(0, 1500)}\nagent log:\n${node.logs.slice(-3000)}`,
      );
    });
  const skipped = (file: string) =>
    node.logs
      .split('\n')
      .filter((l) => l.includes('"manifest skipped"') && l.includes(`"file":"${file}"`));

  it('an alias bomb is skipped with one line, and the agent keeps serving and updating', async () => {
    await resolves('web', '10.96.73.10');
    writeFileSync(join(node.manifestsDir, 'bomb.yaml'), BOMB);
    writeFileSync(join(node.manifestsDir, 'after.yaml'), service('after', '10.96.73.11'));
    await resolves('after', '10.96.73.11');
    await waitFor(() => skipped('bomb.yaml').length === 1, { what: 'the skipped line' });
    expect(skipped('bomb.yaml')[0]).toMatch(/alias/i);
    expect(node.agent?.exitCode).toBeNull();
  });

  it('and the agent starts again while the bomb is still there', async () => {
    await node.kill('SIGKILL');
    node.logs = '';
    await node.start();
    await resolves('after', '10.96.73.11');
    // the restarted agent read the directory, bomb included, and said so once
    await waitFor(() => skipped('bomb.yaml').length > 0, { what: 'the skipped line again' });
    expect(skipped('bomb.yaml')).toHaveLength(1);
    expect(node.agent?.exitCode).toBeNull();
  });

  it('a 3 MB file of ConfigMaps is parsed off the event loop: no DNS query fails meanwhile', async () => {
    const cm = (i: number) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-${i}}\ndata:\n  k: "${'v'.repeat(200)}"\n`;
    const docs = Array.from({ length: 11_000 }, (_, i) => cm(i)).join('---\n');
    expect(docs.length).toBeGreaterThan(2_500_000);
    writeFileSync(
      join(node.manifestsDir, 'configmaps.yaml'),
      `${docs}---\n${service('cms', '10.96.73.15')}`,
    );
    const answers: string[] = [];
    const started = Date.now();
    let resolved = false;
    while (!resolved && Date.now() - started < 30_000) {
      const r = await net.exec(
        node.ns,
        ['dig', '@169.254.20.10', '+short', '+time=1', '+tries=1', 'web.default.svc.cluster.local'],
        { allowFail: true },
      );
      answers.push(r.stdout.trim());
      resolved = (await dig('cms.default.svc.cluster.local')) === '10.96.73.15';
    }
    expect(resolved).toBe(true);
    expect(answers.filter((a) => a !== '10.96.73.10')).toEqual([]);
  });

  it('a 20 MB file is refused by size, unread, while DNS keeps answering', async () => {
    const big = `# ${'x'.repeat(20 * 1024 * 1024)}\n${service('big', '10.96.73.12')}`;
    writeFileSync(join(node.manifestsDir, 'big.yaml'), big);
    writeFileSync(join(node.manifestsDir, 'later.yaml'), service('later', '10.96.73.13'));
    await resolves('later', '10.96.73.13');
    await waitFor(() => skipped('big.yaml').length === 1, { what: 'the size refusal' });
    expect(skipped('big.yaml')[0]).toMatch(/larger than the limit/);
    expect(await dig('big.default.svc.cluster.local')).toBe('');
    // unchanged files are not read again, however often the directory is rescanned
    writeFileSync(join(node.manifestsDir, 'again.yaml'), service('again', '10.96.73.14'));
    await resolves('again', '10.96.73.14');
    expect(skipped('big.yaml')).toHaveLength(1);
  });
});
