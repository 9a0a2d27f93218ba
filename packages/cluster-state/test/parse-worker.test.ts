import { afterEach, describe, expect, it } from 'vitest';
import { loadYaml, parseText } from '../src/reader.js';
import { ParseWorker, exactJson, shareStrings } from '../src/sources/parse-worker.js';

const text = JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'a' } });
const workers: ParseWorker[] = [];
const make = (idleMs?: number): ParseWorker => {
  const w = new ParseWorker(idleMs === undefined ? {} : { idleMs });
  workers.push(w);
  return w;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

describe('ParseWorker idleMs', () => {
  it('ends the worker after idleMs without a parse and starts a new one for the next text', async () => {
    const w = make(50);
    const first = await w.parse(text, 'json', 100);
    expect(w.running).toBe(true);
    await sleep(300);
    expect(w.running).toBe(false);
    expect(await w.parse(text, 'json', 100)).toEqual(first);
    expect(w.running).toBe(true);
  });

  it('keeps the worker without idleMs', async () => {
    const w = make();
    await w.parse(text, 'json', 100);
    await sleep(300);
    expect(w.running).toBe(true);
  });

  it('a parse within idleMs keeps the same worker going', async () => {
    const w = make(250);
    await w.parse(text, 'json', 100);
    await sleep(150);
    await w.parse(text, 'json', 100);
    await sleep(150);
    expect(w.running).toBe(true);
  });

  it('rejects a bad idleMs naming it', () => {
    expect(() => new ParseWorker({ idleMs: -1 })).toThrow(/idleMs/);
    expect(() => new ParseWorker({ idleMs: Number.NaN })).toThrow(/idleMs/);
  });

  it('close fails the pending parses', async () => {
    const w = make(50);
    const failed = expect(w.parse(text, 'json', 100)).rejects.toThrow(/closed/);
    await w.close();
    await failed;
  });
});

describe('shareStrings', () => {
  it('leaves every value as it was (strings, numbers, booleans, null, nested lists and maps)', () => {
    const value = {
      kind: 'List',
      items: Array.from({ length: 50 }, (_, i) => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `svc-${i}`, namespace: `ns-${i % 3}`, labels: { app: 'web' } },
        spec: {
          clusterIP: i % 2 ? 'None' : `10.0.0.${i}`,
          ports: [{ name: 'web', port: 80, protocol: 'TCP', ready: i % 2 === 0, x: null }],
          tags: ['a', 'web', 'TCP', ''],
        },
      })),
    };
    const docs = [
      { document: 0, value: structuredClone(value) },
      { document: 1, error: 'bad' },
    ];
    expect(shareStrings(docs)).toEqual([
      { document: 0, value },
      { document: 1, error: 'bad' },
    ]);
  });

  it('a worker parse of a big text gives what a parse on this thread gives', async () => {
    const items = Array.from({ length: 2000 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: `ns-${i % 7}` },
      spec: { clusterIP: `10.0.${i >> 8}.${i & 0xff}`, ports: [{ port: 80, protocol: 'TCP' }] },
    }));
    const big = JSON.stringify({ kind: 'List', items });
    const here = parseText(loadYaml(), big, 'json', 100);
    expect(await make().parse(big, 'json', 100)).toEqual(here);
    const yamlText = items.map((o) => JSON.stringify(o)).join('\n---\n');
    expect(await make().parse(yamlText, 'yaml', 100)).toEqual(
      parseText(loadYaml(), yamlText, 'yaml', 100),
    );
  });
});

describe('exactJson', () => {
  it('gives JSON text for values JSON.parse gives back exactly', () => {
    const docs = [
      { document: 1, value: { a: [1, 'x', true, null, { b: -1.5 }], c: '' } },
      { document: 2, error: 'bad' },
    ];
    const text = exactJson(docs);
    expect(text).not.toBeNull();
    expect(JSON.parse(text as string)).toEqual(docs);
  });

  it('refuses values JSON would change: NaN, infinities, -0, undefined, class instances', () => {
    for (const value of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -0,
      [1, undefined],
      { a: undefined },
      new Date(0),
      new Map(),
      { nested: [{ deep: Number.NEGATIVE_INFINITY }] },
    ])
      expect(exactJson([{ document: 1, value }]), String(value)).toBeNull();
  });

  it('a worker parse of YAML with .nan and .inf gives what a parse on this thread gives', async () => {
    const yamlText = `${'a: b\n---\n'.repeat(20)}x: .nan\ny: -.inf\nz: -0\n`;
    const here = parseText(loadYaml(), yamlText, 'yaml', 100);
    expect(await make().parse(yamlText, 'yaml', 100)).toEqual(here);
  });
});
