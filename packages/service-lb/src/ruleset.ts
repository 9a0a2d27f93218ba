import type { IpFamily } from './types.js';

/** A base-chain hook: `type <type> hook <hook> priority <priority>`. */
export interface NftHook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
}

/** One chain: its rules as `nft` statements (without `add rule ...`), and a hook for base chains. */
export interface NftChain {
  name: string;
  hook?: NftHook;
  rules: string[];
}

/** A named set, or a map when `map` (the value type, e.g. `verdict`) is present. */
export interface NftSet {
  name: string;
  /** Key type, e.g. `ipv4_addr . inet_proto . inet_service`. */
  type: string;
  /**
   * Declares the set by expressions instead of `type`: the text after `typeof`, with ` : value`
   * for a map (needed for a `numgen` key part, which has no named type).
   */
  typeof?: string;
  map?: string;
  flags?: string[];
  /** Default element timeout in seconds (dynamic sets). */
  timeout?: number;
}

/** One element of a set (`value` absent) or map. */
export interface NftElement {
  set: string;
  key: string;
  value?: string;
}

/** One table (or, for a per-Service fragment, the part of a table one Service owns). */
export interface NftTable {
  family: IpFamily;
  name: string;
  sets: NftSet[];
  chains: NftChain[];
  elements: NftElement[];
}

/** A complete desired state: podnet's tables, one per family. Plain JSON. */
export interface Ruleset {
  tables: NftTable[];
}

/** One operation of a transaction. Element operations are one per element. */
export type NftOp =
  | { op: 'add' | 'delete'; kind: 'table'; family: IpFamily; table: string }
  | { op: 'add'; kind: 'chain'; family: IpFamily; table: string; chain: string; hook?: NftHook }
  | { op: 'flush' | 'delete'; kind: 'chain'; family: IpFamily; table: string; chain: string }
  | { op: 'add'; kind: 'rule'; family: IpFamily; table: string; chain: string; rule: string }
  | { op: 'add'; kind: 'set'; family: IpFamily; table: string; set: NftSet }
  | { op: 'delete'; kind: 'set'; family: IpFamily; table: string; set: NftSet }
  | {
      op: 'add' | 'delete';
      kind: 'element';
      family: IpFamily;
      table: string;
      set: string;
      key: string;
      value?: string;
    };

/** A transaction: operations applied atomically by one `nft -f -`. `full` replaces the tables. */
export interface Transaction {
  full: boolean;
  ops: NftOp[];
}

/** Operations grouped into the phases that keep references valid inside one transaction. */
export interface PhasedOps {
  /** New sets and chains (empty), so later rules and elements can reference them. */
  create: NftOp[];
  /** Rules of new chains; flush + rules of changed chains. */
  rules: NftOp[];
  /** Element deletions, then additions. */
  elementDeletes: NftOp[];
  elementAdds: NftOp[];
  /** Chains that went away: flushed, then deleted. */
  chainFlushes: NftOp[];
  chainDeletes: NftOp[];
  /** Sets that went away. */
  setDeletes: NftOp[];
}

/** Empty phases. */
export function emptyPhases(): PhasedOps {
  return {
    create: [],
    rules: [],
    elementDeletes: [],
    elementAdds: [],
    chainFlushes: [],
    chainDeletes: [],
    setDeletes: [],
  };
}

/** Concatenates phases in the order that is valid for `nft -f`. */
export function phasesToOps(p: PhasedOps): NftOp[] {
  return [
    ...p.create,
    ...p.rules,
    ...p.elementDeletes,
    ...p.elementAdds,
    ...p.chainFlushes,
    ...p.chainDeletes,
    ...p.setDeletes,
  ];
}

function sameSet(a: NftSet, b: NftSet): boolean {
  return (
    a.type === b.type &&
    a.typeof === b.typeof &&
    a.map === b.map &&
    a.timeout === b.timeout &&
    (a.flags ?? []).join(',') === (b.flags ?? []).join(',')
  );
}

function sameChain(a: NftChain, b: NftChain): boolean {
  if (a.rules.length !== b.rules.length) return false;
  if (JSON.stringify(a.hook) !== JSON.stringify(b.hook)) return false;
  for (let i = 0; i < a.rules.length; i++) if (a.rules[i] !== b.rules[i]) return false;
  return true;
}

const elementId = (e: NftElement) => `${e.set}\u0000${e.key}`;

/**
 * Adds to `into` the operations that turn table (part) `prev` into `next`; either may be absent.
 * Both must name the same family and table. Pure.
 */
export function diffTableInto(
  into: PhasedOps,
  prev: NftTable | undefined,
  next: NftTable | undefined,
): void {
  const ref = next ?? prev;
  if (!ref) return;
  const { family, name: table } = ref;
  const prevSets = new Map((prev?.sets ?? []).map((s) => [s.name, s]));
  const nextSets = new Map((next?.sets ?? []).map((s) => [s.name, s]));
  for (const [name, set] of nextSets) {
    const old = prevSets.get(name);
    if (old && sameSet(old, set)) continue;
    if (old) throw new Error(`set definition changed for ${name}; needs a full sync`);
    into.create.push({ op: 'add', kind: 'set', family, table, set });
  }
  for (const [name, set] of prevSets) {
    if (!nextSets.has(name))
      into.setDeletes.push({ op: 'delete', kind: 'set', family, table, set });
  }

  const prevChains = new Map((prev?.chains ?? []).map((c) => [c.name, c]));
  for (const chain of next?.chains ?? []) {
    const old = prevChains.get(chain.name);
    if (old && sameChain(old, chain)) continue;
    if (!old) {
      into.create.push({
        op: 'add',
        kind: 'chain',
        family,
        table,
        chain: chain.name,
        hook: chain.hook,
      });
    } else {
      if (JSON.stringify(old.hook) !== JSON.stringify(chain.hook)) {
        throw new Error(`hook changed for chain ${chain.name}; needs a full sync`);
      }
      into.rules.push({ op: 'flush', kind: 'chain', family, table, chain: chain.name });
    }
    for (const rule of chain.rules) {
      into.rules.push({ op: 'add', kind: 'rule', family, table, chain: chain.name, rule });
    }
  }
  const nextChainNames = new Set((next?.chains ?? []).map((c) => c.name));
  for (const chain of prev?.chains ?? []) {
    if (nextChainNames.has(chain.name)) continue;
    into.chainFlushes.push({ op: 'flush', kind: 'chain', family, table, chain: chain.name });
    into.chainDeletes.push({ op: 'delete', kind: 'chain', family, table, chain: chain.name });
  }

  const prevElements = new Map((prev?.elements ?? []).map((e) => [elementId(e), e]));
  const nextElements = new Map((next?.elements ?? []).map((e) => [elementId(e), e]));
  const goneSets = new Set([...prevSets.keys()].filter((n) => !nextSets.has(n)));
  for (const [id, e] of prevElements) {
    const n = nextElements.get(id);
    if (n && n.value === e.value) continue;
    if (goneSets.has(e.set)) continue;
    into.elementDeletes.push({
      op: 'delete',
      kind: 'element',
      family,
      table,
      set: e.set,
      key: e.key,
      value: e.value,
    });
  }
  for (const [id, e] of nextElements) {
    const o = prevElements.get(id);
    if (o && o.value === e.value) continue;
    into.elementAdds.push({
      op: 'add',
      kind: 'element',
      family,
      table,
      set: e.set,
      key: e.key,
      value: e.value,
    });
  }
}

const tableId = (t: NftTable) => `${t.family} ${t.name}`;

/**
 * The minimal transaction that turns `prev` into `next`: element additions and deletions, chains
 * of changed Services only, stale chains flushed then deleted after their references are gone.
 * Without `prev` (or when a set/hook definition changed) the result is a full replacement. Pure.
 */
export function diffRulesets(prev: Ruleset | undefined, next: Ruleset): Transaction {
  if (!prev) return fullTransaction(next);
  const phases = emptyPhases();
  const prevTables = new Map(prev.tables.map((t) => [tableId(t), t]));
  const nextIds = new Set(next.tables.map(tableId));
  if ([...prevTables.keys()].some((id) => !nextIds.has(id))) return fullTransaction(next);
  const created: NftOp[] = [];
  try {
    for (const t of next.tables) {
      const p = prevTables.get(tableId(t));
      if (!p) created.push({ op: 'add', kind: 'table', family: t.family, table: t.name });
      diffTableInto(phases, p, t);
    }
  } catch {
    return fullTransaction(next);
  }
  return { full: false, ops: [...created, ...phasesToOps(phases)] };
}

/** A transaction that (re)creates `ruleset`'s tables from scratch, atomically. */
export function fullTransaction(ruleset: Ruleset): Transaction {
  const phases = emptyPhases();
  const tables: NftOp[] = [];
  for (const t of ruleset.tables) {
    tables.push({ op: 'add', kind: 'table', family: t.family, table: t.name });
    tables.push({ op: 'delete', kind: 'table', family: t.family, table: t.name });
    tables.push({ op: 'add', kind: 'table', family: t.family, table: t.name });
    diffTableInto(phases, undefined, t);
  }
  const bySet = (a: NftOp, b: NftOp) =>
    a.kind === 'element' && b.kind === 'element' ? (a.set < b.set ? -1 : a.set > b.set ? 1 : 0) : 0;
  phases.elementAdds.sort((a, b) =>
    a.family === b.family ? bySet(a, b) : a.family < b.family ? -1 : 1,
  );
  return { full: true, ops: [...tables, ...phasesToOps(phases)] };
}

function renderSetBody(s: NftSet): string {
  const parts = [
    s.typeof !== undefined
      ? `typeof ${s.typeof} ;`
      : `type ${s.type}${s.map ? ` : ${s.map}` : ''} ;`,
  ];
  if (s.flags && s.flags.length > 0) parts.push(`flags ${s.flags.join(',')} ;`);
  if (s.timeout !== undefined) parts.push(`timeout ${s.timeout}s ;`);
  return `{ ${parts.join(' ')} }`;
}

function renderHook(h: NftHook): string {
  return `{ type ${h.type} hook ${h.hook} priority ${h.priority} ; policy accept ; }`;
}

const ELEMENTS_PER_LINE = 500;

/**
 * Renders a transaction as `nft -f` text. Consecutive element operations on one set share a
 * line (up to 500 elements). Pure.
 */
export function renderTransaction(tx: Transaction): string {
  const lines: string[] = [];
  let batch: { head: string; items: string[] } | undefined;
  const flush = () => {
    if (batch) lines.push(`${batch.head} { ${batch.items.join(', ')} }`);
    batch = undefined;
  };
  for (const op of tx.ops) {
    const where = `${op.family} ${op.table}`;
    if (op.kind === 'element') {
      const head = `${op.op} element ${where} ${op.set}`;
      const item = op.value !== undefined && op.op === 'add' ? `${op.key} : ${op.value}` : op.key;
      if (batch && batch.head === head && batch.items.length < ELEMENTS_PER_LINE) {
        batch.items.push(item);
      } else {
        flush();
        batch = { head, items: [item] };
      }
      continue;
    }
    flush();
    switch (op.kind) {
      case 'table':
        lines.push(`${op.op} table ${where}`);
        break;
      case 'chain':
        if (op.op === 'add') {
          lines.push(`add chain ${where} ${op.chain}${op.hook ? ` ${renderHook(op.hook)}` : ''}`);
        } else {
          lines.push(`${op.op} chain ${where} ${op.chain}`);
        }
        break;
      case 'rule':
        lines.push(`add rule ${where} ${op.chain} ${op.rule}`);
        break;
      case 'set': {
        const kw = op.set.map ? 'map' : 'set';
        lines.push(
          op.op === 'add'
            ? `add ${kw} ${where} ${op.set.name} ${renderSetBody(op.set)}`
            : `delete ${kw} ${where} ${op.set.name}`,
        );
        break;
      }
    }
  }
  flush();
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Renders a whole ruleset as one `nft -f` script that atomically replaces podnet's tables. Pure. */
export function renderRuleset(ruleset: Ruleset): string {
  return renderFullRuleset(ruleset).script;
}

/**
 * `renderTransaction(fullTransaction(ruleset))`, written straight from the ruleset: the same
 * text, and the number of operations that transaction has, without an operation object per
 * element and rule (at 10,000 Services × 10 endpoints that is 100,000s of short-lived objects
 * at the moment the heap is largest). Pure.
 */
export function renderFullRuleset(ruleset: Ruleset): { script: string; operations: number } {
  const lines: string[] = [];
  const creates: string[] = [];
  const rules: string[] = [];
  let operations = 0;
  /** Elements per family, then per set (first seen first), deduplicated by key (last wins). */
  const elements = new Map<
    IpFamily,
    Map<string, Array<{ table: string; byKey: Map<string, NftElement> }>>
  >();
  for (const t of ruleset.tables) {
    const where = `${t.family} ${t.name}`;
    lines.push(`add table ${where}`, `delete table ${where}`, `add table ${where}`);
    operations += 3;
    const sets = new Map<string, NftSet>();
    for (const set of t.sets) sets.set(set.name, set);
    for (const set of sets.values()) {
      creates.push(`add ${set.map ? 'map' : 'set'} ${where} ${set.name} ${renderSetBody(set)}`);
      operations++;
    }
    for (const chain of t.chains) {
      creates.push(
        `add chain ${where} ${chain.name}${chain.hook ? ` ${renderHook(chain.hook)}` : ''}`,
      );
      operations++;
      for (const rule of chain.rules) rules.push(`add rule ${where} ${chain.name} ${rule}`);
      operations += chain.rules.length;
    }
    let bySet = elements.get(t.family);
    if (!bySet) elements.set(t.family, (bySet = new Map()));
    const mine = new Map<string, Map<string, NftElement>>();
    for (const e of t.elements) {
      let byKey = mine.get(e.set);
      if (!byKey) {
        mine.set(e.set, (byKey = new Map()));
        let parts = bySet.get(e.set);
        if (!parts) bySet.set(e.set, (parts = []));
        parts.push({ table: t.name, byKey });
      }
      byKey.set(e.key, e);
    }
  }
  for (const l of creates) lines.push(l);
  for (const l of rules) lines.push(l);
  for (const family of [...elements.keys()].sort()) {
    const bySet = elements.get(family)!;
    for (const set of [...bySet.keys()].sort()) {
      let head = '';
      let items: string[] = [];
      const flush = () => {
        if (items.length > 0) lines.push(`${head} { ${items.join(', ')} }`);
        items = [];
      };
      for (const { table, byKey } of bySet.get(set)!) {
        const h = `add element ${family} ${table} ${set}`;
        if (h !== head) {
          flush();
          head = h;
        }
        for (const e of byKey.values()) {
          if (items.length === ELEMENTS_PER_LINE) flush();
          items.push(e.value !== undefined ? `${e.key} : ${e.value}` : e.key);
          operations++;
        }
      }
      flush();
    }
  }
  return { script: lines.length === 0 ? '' : `${lines.join('\n')}\n`, operations };
}

/** Removes podnet's tables (`nft -f` text); `add` first makes it succeed when they are absent. */
export function renderTeardown(tables: ReadonlyArray<{ family: IpFamily; name: string }>): string {
  return tables
    .map((t) => `add table ${t.family} ${t.name}\ndelete table ${t.family} ${t.name}\n`)
    .join('');
}
