/**
 * Test helpers over compiled rulesets: a fake kernel that replays the `nft` scripts a syncer sent
 * (with nft's errors for what the kernel would refuse), and a canonical form that compares two
 * rulesets regardless of the generated object names.
 */
import { createHash } from 'node:crypto';
import type { NftChainSpec, Ruleset } from '../src/index.js';

interface FakeTable {
  sets: Map<string, { type: string; interval: boolean; elements: Set<string> }>;
  maps: Map<string, { type: string; elements: Map<string, string> }>;
  chains: Map<string, NftChainSpec>;
}

const REF = /(@|jump |goto )([A-Za-z0-9_]+)/g;
const refs = (text: string) => [...text.matchAll(REF)].map((m) => m[2] as string);

/**
 * One `inet` table as the kernel would hold it after the scripts replayed so far. Each script is
 * a transaction: it applies whole or throws and leaves the table as it was. Refuses what nft
 * refuses: deleting a missing element, chain, set or map; deleting a chain that still has rules
 * or a chain or set something still references; a rule naming a missing set or chain; a map
 * element added over an existing key with another value.
 */
export class FakeNftTable {
  private table: FakeTable | undefined;

  constructor(readonly name: string) {}

  /** Applies one `nft -f` script atomically. */
  apply(script: string): void {
    const t = this.table ? clone(this.table) : undefined;
    let cur = t;
    const fail = (line: string, why: string): never => {
      throw new Error(`nft would refuse "${line}": ${why}`);
    };
    const need = (line: string): FakeTable => cur ?? fail(line, 'no such table');
    for (const line of script.split('\n')) {
      if (line === '') continue;
      const T = `inet ${this.name}`;
      let m: RegExpMatchArray | null;
      if (line === `add table ${T}`)
        cur ??= { sets: new Map(), maps: new Map(), chains: new Map() };
      else if (line === `delete table ${T}`) {
        need(line);
        cur = undefined;
      } else if (
        (m = line.match(/^add set inet \S+ (\S+) \{ type (.+?);( flags interval;)? \}$/))
      ) {
        const [, name, type, interval] = m;
        const tb = need(line);
        const old = tb.sets.get(name);
        if (old && old.type !== type) fail(line, 'exists with another type');
        if (!old)
          tb.sets.set(name, { type, interval: interval !== undefined, elements: new Set() });
      } else if ((m = line.match(/^add map inet \S+ (\S+) \{ type (.+?); \}$/))) {
        const [, name, type] = m;
        const tb = need(line);
        const old = tb.maps.get(name);
        if (old && old.type !== type) fail(line, 'exists with another type');
        if (!old) tb.maps.set(name, { type, elements: new Map() });
      } else if (
        (m = line.match(
          /^add chain inet \S+ (\S+)(?: \{ type filter hook (\w+) priority (-?\d+); policy accept; \})?$/,
        ))
      ) {
        const [, name, hook, prio] = m;
        const tb = need(line);
        if (!tb.chains.has(name)) {
          const spec: NftChainSpec = { name, rules: [] };
          if (hook)
            spec.hook = { hook: hook === 'input' ? 'input' : 'forward', priority: Number(prio) };
          tb.chains.set(name, spec);
        }
      } else if ((m = line.match(/^add rule inet \S+ (\S+) (.+)$/))) {
        const [, chain, rule] = m;
        const tb = need(line);
        const c = tb.chains.get(chain) ?? fail(line, 'no such chain');
        for (const r of refs(rule)) {
          if (!tb.sets.has(r) && !tb.maps.has(r) && !tb.chains.has(r))
            fail(line, `no such object ${r}`);
        }
        c.rules.push(rule);
      } else if ((m = line.match(/^flush (chain|set|map) inet \S+ (\S+)$/))) {
        const [, kind, name] = m;
        const tb = need(line);
        if (kind === 'chain') (tb.chains.get(name) ?? fail(line, 'no such chain')).rules = [];
        else if (kind === 'set') (tb.sets.get(name) ?? fail(line, 'no such set')).elements.clear();
        else (tb.maps.get(name) ?? fail(line, 'no such map')).elements.clear();
      } else if ((m = line.match(/^(add|delete) element inet \S+ (\S+) \{ (.+) \}$/))) {
        const [, op, name, body] = m;
        const tb = need(line);
        const set = tb.sets.get(name);
        const map = tb.maps.get(name);
        if (!set && !map) fail(line, 'no such set or map');
        for (const el of body.split(', ')) {
          if (set) {
            if (op === 'add') set.elements.add(el);
            else if (!set.elements.delete(el)) fail(line, `no such element ${el}`);
          } else if (map) {
            const i = el.indexOf(' : ');
            const key = i < 0 ? el : el.slice(0, i);
            if (op === 'add') {
              const value = el.slice(i + 3);
              for (const r of refs(value)) if (!tb.chains.has(r)) fail(line, `no such chain ${r}`);
              const old = map.elements.get(key);
              if (old !== undefined && old !== value) fail(line, `element ${key} exists`);
              map.elements.set(key, value);
            } else if (!map.elements.delete(key)) fail(line, `no such element ${key}`);
          }
        }
      } else if ((m = line.match(/^delete (chain|set|map) inet \S+ (\S+)$/))) {
        const [, kind, name] = m;
        const tb = need(line);
        const users = [...tb.chains.values()].filter((c) =>
          c.rules.some((r) => refs(r).includes(name)),
        );
        const mapUsers = [...tb.maps.values()].filter((mp) =>
          [...mp.elements.values()].some((v) => refs(v).includes(name)),
        );
        if (users.length > 0 || mapUsers.length > 0) fail(line, 'still in use');
        if (kind === 'chain') {
          const c = tb.chains.get(name) ?? fail(line, 'no such chain');
          if (c.rules.length > 0) fail(line, 'chain not empty');
          tb.chains.delete(name);
        } else if (kind === 'set') {
          if (!tb.sets.delete(name)) fail(line, 'no such set');
        } else if (!tb.maps.delete(name)) fail(line, 'no such map');
      } else {
        fail(line, 'not understood by the fake');
      }
    }
    this.table = cur;
  }

  /** The table as a {@link Ruleset} (`undefined` when there is none). */
  dump(): Ruleset | undefined {
    const t = this.table;
    if (!t) return undefined;
    return {
      family: 'inet',
      table: this.name,
      sets: [...t.sets].map(([name, s]) => ({
        name,
        type: s.type,
        interval: s.interval,
        elements: [...s.elements],
      })),
      maps: [...t.maps].map(([name, m]) => ({ name, type: m.type, elements: [...m.elements] })),
      chains: [...t.chains.values()].map((c) => ({ ...c, rules: [...c.rules] })),
    };
  }
}

function clone(t: FakeTable): FakeTable {
  return {
    sets: new Map(
      [...t.sets].map(([k, s]) => [k, { ...s, elements: new Set(s.elements) }] as const),
    ),
    maps: new Map(
      [...t.maps].map(([k, m]) => [k, { ...m, elements: new Map(m.elements) }] as const),
    ),
    chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, rules: [...c.rules] }] as const)),
  };
}

const byName = <T extends { name: string }>(a: T, b: T) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** A ruleset with every list sorted (element order in sets and maps carries no meaning). */
export function sortedRuleset(rs: Ruleset): Ruleset {
  return {
    ...rs,
    sets: rs.sets.map((s) => ({ ...s, elements: [...s.elements].sort() })).sort(byName),
    maps: rs.maps
      .map((m) => ({
        ...m,
        elements: [...m.elements].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      }))
      .sort(byName),
    chains: [...rs.chains].sort(byName),
  };
}

/** Objects every ruleset has under fixed names (the base chains and the dispatch maps). */
const FIXED = new Set(['ingress', 'egress', 'egress_local', 'in_4', 'in_6', 'eg_4', 'eg_6']);

/**
 * A ruleset with every generated name (`s3_4`, `p7_in`, `in12`, ...) replaced by a hash of what
 * the object holds, references resolved recursively: two compilers that reached the same state
 * by different paths (and so numbered their objects differently) give equal canonical forms
 * exactly when every object, and everything it refers to, is the same. Sorted, as
 * human-readable lines per object.
 */
export function canonicalRuleset(rs: Ruleset): {
  sets: string[];
  maps: string[];
  chains: string[];
} {
  const sets = new Map(rs.sets.map((s) => [s.name, s]));
  const maps = new Map(rs.maps.map((m) => [m.name, m]));
  const chains = new Map(rs.chains.map((c) => [c.name, c]));
  const ids = new Map<string, string>();
  const rewrite = (text: string): string =>
    text.replace(REF, (_all, prefix: string, name: string) => `${prefix}${idOf(name)}`);
  const content = (name: string): string => {
    const s = sets.get(name);
    if (s)
      return `set ${s.type}${s.interval ? ' interval' : ''} {${[...s.elements].sort().join(', ')}}`;
    const m = maps.get(name);
    if (m)
      return `map ${m.type} {${m.elements
        .map(([k, v]) => `${k} : ${rewrite(v)}`)
        .sort()
        .join(', ')}}`;
    const c = chains.get(name);
    if (c)
      return `chain${c.hook ? ` ${c.hook.hook}/${c.hook.priority}` : ''} [${c.rules.map(rewrite).join(' ; ')}]`;
    return `missing ${name}`;
  };
  function idOf(name: string): string {
    if (FIXED.has(name)) return name;
    let id = ids.get(name);
    if (id === undefined) {
      ids.set(name, `<cycle ${name}>`);
      id = `#${createHash('sha256').update(content(name)).digest('hex').slice(0, 12)}`;
      ids.set(name, id);
    }
    return id;
  }
  const lines = (names: Iterable<string>) =>
    [...names].map((n) => `${idOf(n)} = ${content(n)}`).sort();
  return { sets: lines(sets.keys()), maps: lines(maps.keys()), chains: lines(chains.keys()) };
}
