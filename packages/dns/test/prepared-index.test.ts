import { describe, expect, it } from 'vitest';
import {
  type DnsRecord,
  type DnsZone,
  PreparedZone,
  buildResponse,
  compileZone,
  encodeQuery,
  parseQuery,
} from '../src/index.js';

/*
 * PreparedZone finds names through its wire-name index (main + overlay) and a Map only for names
 * the index cannot hold (escaped dots and backslashes): it must behave as a Map of names would,
 * under any table of adds, changes and deletes, across overlays and compactions.
 */

const base = compileZone({}, {});
const ZONE = base.zone;

/** What the test zone holds at a name: a record's address, or an empty non-terminal. */
type Entry = { kind: 'a'; ip: string } | { kind: 'txt'; text: string } | { kind: 'ent' };

const NAMES = [
  ...Array.from({ length: 40 }, (_, i) => `s${i}.ns.svc.${ZONE}`),
  `we\\.ird.ns.svc.${ZONE}`,
  `caf\u00e9.ns.svc.${ZONE}`,
  `back\\\\slash.ns.svc.${ZONE}`,
  `${'x'.repeat(63)}.ns.svc.${ZONE}`,
  `deep.er.ns.svc.${ZONE}`,
  `er.ns.svc.${ZONE}`,
  `1.0.96.10.in-addr.arpa`,
];

function zoneOf(model: ReadonlyMap<string, Entry>): DnsZone {
  const nodes = new Map(base.nodes);
  for (const [name, e] of model) {
    const records: DnsRecord[] =
      e.kind === 'a'
        ? [{ name, type: 'A', ttl: 5, data: e.ip }]
        : e.kind === 'txt'
          ? [{ name, type: 'TXT', ttl: 5, data: [e.text] }]
          : [];
    nodes.set(name, { records });
  }
  return { ...base, nodes };
}

function query(name: string, type: 'A' | 'TXT'): Uint8Array {
  return encodeQuery({ id: 7, name, type });
}

/** The full-path answer to `name`/`type` as bytes, or null (forwarded). */
function answer(p: PreparedZone, name: string, type: 'A' | 'TXT'): number[] | null {
  const msg = query(name, type);
  const parsed = parseQuery(msg);
  if (parsed.kind !== 'query') throw new Error('bad query');
  const a = p.lookup(parsed.query.key, parsed.query.qtype, parsed.query.questionEnd - 16);
  return a ? [...buildResponse(msg, parsed.query, a, 65535)] : null;
}

/** A small deterministic PRNG (the table must be the same on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function check(p: PreparedZone, model: ReadonlyMap<string, Entry>, step: string): void {
  const fresh = new PreparedZone(zoneOf(model));
  expect(p.names, step).toBe(fresh.names);
  expect(p.names, step).toBe(base.nodes.size + model.size);
  for (const name of [...NAMES, `absent.ns.svc.${ZONE}`, `ns.svc.${ZONE}`, ZONE]) {
    for (const type of ['A', 'TXT'] as const)
      expect(answer(p, name, type), `${step}: ${name} ${type}`).toEqual(answer(fresh, name, type));
  }
}

describe('PreparedZone name index', () => {
  it('answers as a zone prepared afresh after every add, change and delete, across compactions', () => {
    const next = rng(18);
    const model = new Map<string, Entry>();
    for (const name of NAMES.slice(0, 20)) model.set(name, { kind: 'a', ip: '10.0.0.1' });
    model.set(NAMES[40] as string, { kind: 'txt', text: 'odd' });
    const p = new PreparedZone(zoneOf(model));
    check(p, model, 'start');
    for (let step = 0; step < 60; step++) {
      const changed: string[] = [];
      const n = 1 + Math.floor(next() * 6);
      for (let i = 0; i < n; i++) {
        const name = NAMES[Math.floor(next() * NAMES.length)] as string;
        const r = next();
        if (r < 0.3) model.delete(name);
        else if (r < 0.4) model.set(name, { kind: 'ent' });
        else if (r < 0.55) model.set(name, { kind: 'txt', text: `t${step}` });
        else model.set(name, { kind: 'a', ip: `10.0.${step}.${i}` });
        changed.push(name);
      }
      // a name asked to change that does not change, and one that never existed
      changed.push(NAMES[0] as string, `never.ns.svc.${ZONE}`);
      p.patch(zoneOf(model), changed);
      if (step % 25 === 24) p.compact();
      check(p, model, `step ${step}`);
    }
  });

  it('keeps names only the Map fallback holds through a compaction', () => {
    const model = new Map<string, Entry>([
      [NAMES[40] as string, { kind: 'a', ip: '10.1.0.1' }],
      [NAMES[42] as string, { kind: 'txt', text: 'name' }],
      [NAMES[0] as string, { kind: 'a', ip: '10.1.0.2' }],
    ]);
    const p = new PreparedZone(zoneOf(model));
    model.set(NAMES[40] as string, { kind: 'a', ip: '10.1.0.3' });
    model.delete(NAMES[42] as string);
    p.patch(zoneOf(model), [NAMES[40] as string, NAMES[42] as string]);
    check(p, model, 'patched');
    p.compact();
    check(p, model, 'compacted');
    expect(answer(p, NAMES[40] as string, 'A')).not.toBeNull();
  });
});
