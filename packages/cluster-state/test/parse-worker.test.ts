import { afterEach, describe, expect, it } from 'vitest';
import { ParseWorker } from '../src/sources/parse-worker.js';

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
