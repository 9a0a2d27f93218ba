import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterStore, type DeltaBatch } from '../src/index.js';
import { ManifestsSource } from '../src/sources/index.js';

const svc = (name: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`;

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function logger() {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  const push = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, fields });
  return { lines, log: { info: push, warn: push, error: push } };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function started(
  files: Record<string, string>,
  opts: { workerThresholdBytes?: number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'pcs-manifests-'));
  for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
  const store = new ClusterStore();
  const batches: DeltaBatch[] = [];
  store.subscribe((b) => batches.push(b));
  const { lines, log } = logger();
  const source = new ManifestsSource({ dir, log, debounceMs: 10, ...opts });
  await source.start(store);
  cleanups.push(async () => {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const names = () => store.list('Service').map((s) => s.metadata?.name);
  return { dir, store, batches, lines, source, names };
}

describe('ManifestsSource', () => {
  it('converges through create, rename-over and delete, with typed deltas', async () => {
    const t = await started({ 'a.yaml': svc('a') });
    expect(t.source.synced).toBe(true);
    expect(t.names()).toEqual(['a']);
    writeFileSync(join(t.dir, 'b.yaml'), svc('b'));
    await until(() => t.names().includes('b'), 'b created');
    // an editor's save: write aside, rename over the original
    writeFileSync(join(t.dir, '.a.yaml.swp'), svc('a', 8080));
    renameSync(join(t.dir, '.a.yaml.swp'), join(t.dir, 'a.yaml'));
    await until(
      () => t.store.get('Service', 'default/a')?.spec?.ports?.[0]?.port === 8080,
      'a rewritten',
    );
    rmSync(join(t.dir, 'b.yaml'));
    await until(() => !t.names().includes('b'), 'b deleted');
    const seen = t.batches.flatMap((b) => b.deltas.map((d) => `${d.type} ${d.key}`));
    expect(seen).toEqual([
      'added default/a',
      'added default/b',
      'updated default/a',
      'deleted default/b',
    ]);
  });

  it('re-reads only changed files', async () => {
    const t = await started({ 'a.yaml': svc('a'), 'b.yaml': svc('b') });
    const read = t.source.stats.filesRead;
    await t.source.rescan();
    await t.source.rescan();
    expect(t.source.stats.filesRead).toBe(read);
    writeFileSync(join(t.dir, 'b.yaml'), svc('b', 81));
    await t.source.rescan();
    expect(t.source.stats.filesRead).toBe(read + 1);
  });

  it('logs an invalid or hostile file once, naming file and field, and serves the rest', async () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
    ].join('\n');
    const t = await started({
      'a.yaml': svc('a'),
      'bomb.yaml': bomb,
      'bad.yaml': svc('bad', 99999),
    });
    expect(t.names()).toEqual(['a']);
    const skipped = t.lines.filter((l) => l.msg === 'manifest skipped');
    expect(skipped.map((l) => [l.fields?.file, l.fields?.field])).toEqual([
      ['bad.yaml', 'spec.ports[0].port'],
      ['bomb.yaml', ''],
    ]);
    await t.source.rescan();
    writeFileSync(join(t.dir, 'c.yaml'), svc('c'));
    await t.source.rescan();
    expect(t.names()).toEqual(['a', 'c']);
    expect(t.lines.filter((l) => l.msg === 'manifest skipped')).toHaveLength(2);
  });

  it('refuses a file over the size limit without reading it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-manifests-'));
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(2000)}\n${svc('big')}`);
    writeFileSync(join(dir, 'a.yaml'), svc('a'));
    const store = new ClusterStore();
    const { lines, log } = logger();
    const source = new ManifestsSource({ dir, log, maxFileBytes: 1000 });
    await source.start(store);
    cleanups.push(async () => {
      await source.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    expect(store.list('Service').map((s) => s.metadata?.name)).toEqual(['a']);
    expect(source.stats.filesRead).toBe(1);
    expect(String(lines.find((l) => l.msg === 'manifest skipped')?.fields?.error)).toMatch(
      /larger than the limit of 1000 bytes/,
    );
  });

  it('parses big files on a worker thread with the same result', async () => {
    const many = Array.from({ length: 200 }, (_, i) => svc(`s${i}`)).join('---\n');
    const t = await started(
      { 'many.yaml': many, 'bad.yaml': svc('bad', 0) },
      { workerThresholdBytes: 100 },
    );
    expect(t.names()).toHaveLength(200);
    expect(t.lines.filter((l) => l.msg === 'manifest skipped')).toHaveLength(1);
  });

  it('keeps the first of two files defining one object and reports the second', async () => {
    const t = await started({ 'a.yaml': svc('x', 1), 'b.yaml': svc('x', 2) });
    expect(t.store.get('Service', 'default/x')?.spec?.ports?.[0]?.port).toBe(1);
    expect(t.lines.find((l) => l.msg === 'manifest skipped')?.fields?.file).toBe('b.yaml');
  });

  it('names where a duplicate was first defined, and serves it from the second file once the first is gone', async () => {
    const t = await started({
      'a.yaml': `${svc('y', 7)}---\n${svc('x', 1)}`,
      'b.yaml': `${svc('z', 9)}---\n${svc('x', 2)}`,
    });
    expect(t.names()).toEqual(['x', 'y', 'z']);
    const skipped = t.lines.find((l) => l.msg === 'manifest skipped')?.fields;
    expect(skipped).toMatchObject({
      file: 'b.yaml',
      // documents are numbered from 1
      document: 2,
      object: 'Service default/x',
      error: 'Service default/x is also defined in a.yaml document 2; this one is ignored',
    });
    rmSync(join(t.dir, 'a.yaml'));
    await until(
      () => t.store.get('Service', 'default/x')?.spec?.ports?.[0]?.port === 2,
      'x from b',
    );
    expect(t.names()).toEqual(['x', 'z']);
  });
});
