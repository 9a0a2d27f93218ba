import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  type ClusterKind,
  type ClusterSnapshot,
  type ClusterSource,
  emptySnapshot,
  sortObjects,
} from '../cluster-state.js';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';

const KIND_FIELDS: Record<string, { apiVersions: string[]; field: ClusterKind }> = {
  Node: { apiVersions: ['v1'], field: 'nodes' },
  Namespace: { apiVersions: ['v1'], field: 'namespaces' },
  Pod: { apiVersions: ['v1'], field: 'pods' },
  Service: { apiVersions: ['v1'], field: 'services' },
  EndpointSlice: { apiVersions: ['discovery.k8s.io/v1'], field: 'endpointSlices' },
  NetworkPolicy: { apiVersions: ['networking.k8s.io/v1'], field: 'networkPolicies' },
};

/** Kinds a manifests directory may contain besides the ones the agent uses (they are ignored). */
const IGNORED_KINDS = new Set(['ConfigMap', 'Secret', 'ServiceAccount', 'Deployment', 'List']);

/** One document that could not be used, with where it came from. */
export interface ManifestProblem {
  readonly file: string;
  readonly document: number;
  readonly message: string;
}

/**
 * Parses the YAML texts of a manifests directory into a snapshot. Pure: `files` maps a file name
 * to its text. Documents that are not usable are reported in `problems` and skipped; a `List`
 * document's `items` are read too.
 */
export function parseManifests(files: ReadonlyMap<string, string>): {
  snapshot: ClusterSnapshot;
  problems: ManifestProblem[];
} {
  const acc: Record<ClusterKind, unknown[]> = {
    nodes: [],
    namespaces: [],
    pods: [],
    services: [],
    endpointSlices: [],
    networkPolicies: [],
  };
  const problems: ManifestProblem[] = [];
  const seen = new Set<string>();
  const names = [...files.keys()].sort();
  for (const file of names) {
    const docs = parseAllDocuments(files.get(file)!);
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, i) => {
      if (doc.errors.length > 0) {
        problems.push({ file, document: i, message: `YAML: ${doc.errors[0]!.message}` });
        return;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) return;
      const objects =
        typeof value === 'object' && (value as { kind?: unknown }).kind === 'List'
          ? ((value as { items?: unknown[] }).items ?? [])
          : [value];
      for (const obj of objects) {
        try {
          const { field, key } = classify(obj);
          if (field === undefined) continue;
          if (seen.has(key)) throw new AgentError('INVALID_MANIFEST', `duplicate object ${key}`);
          seen.add(key);
          acc[field].push(obj);
        } catch (e) {
          problems.push({ file, document: i, message: (e as Error).message });
        }
      }
    });
  }
  const snapshot = emptySnapshot() as Record<ClusterKind, unknown[]>;
  for (const k of Object.keys(acc) as ClusterKind[]) {
    snapshot[k] = sortObjects(acc[k] as { metadata?: { name?: string; namespace?: string } }[]);
  }
  return { snapshot: snapshot as unknown as ClusterSnapshot, problems };
}

function classify(obj: unknown): { field: ClusterKind | undefined; key: string } {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new AgentError('INVALID_MANIFEST', 'a document must be a Kubernetes object (a mapping)');
  }
  const o = obj as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { name?: unknown; namespace?: unknown };
  };
  if (typeof o.kind !== 'string') throw new AgentError('INVALID_MANIFEST', 'kind: want a string');
  const spec = KIND_FIELDS[o.kind];
  if (!spec) {
    if (IGNORED_KINDS.has(o.kind)) return { field: undefined, key: '' };
    throw new AgentError(
      'INVALID_MANIFEST',
      `kind: ${JSON.stringify(o.kind)} is not one the agent reads`,
    );
  }
  if (typeof o.apiVersion !== 'string' || !spec.apiVersions.includes(o.apiVersion)) {
    throw new AgentError(
      'INVALID_MANIFEST',
      `apiVersion: want ${spec.apiVersions.join(' or ')} for ${o.kind}, got ${JSON.stringify(o.apiVersion)}`,
    );
  }
  if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') {
    throw new AgentError('INVALID_MANIFEST', `metadata.name: want a name for the ${o.kind}`);
  }
  const clusterScoped = o.kind === 'Node' || o.kind === 'Namespace';
  if (!clusterScoped && o.metadata.namespace === undefined) {
    (o.metadata as { namespace?: string }).namespace = 'default';
  }
  if (!clusterScoped && typeof o.metadata.namespace !== 'string') {
    throw new AgentError('INVALID_MANIFEST', 'metadata.namespace: want a string');
  }
  const ns = clusterScoped ? '' : (o.metadata.namespace as string);
  return { field: spec.field, key: `${o.kind} ${ns ? `${ns}/` : ''}${o.metadata.name}` };
}

/** Options of {@link ManifestsSource}. */
export interface ManifestsSourceOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Rescan period in addition to change events (default 5 s). */
  readonly rescanMs?: number;
}

/** A directory of YAML manifests, watched with `fs.watch` and rescanned periodically. */
export class ManifestsSource implements ClusterSource {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private last = '';
  private scanning: Promise<void> = Promise.resolve();
  private onChange: (s: ClusterSnapshot) => void = () => {};
  private lastProblems = '';
  synced = false;

  constructor(private readonly options: ManifestsSourceOptions) {}

  async start(onChange: (snapshot: ClusterSnapshot) => void): Promise<void> {
    this.onChange = onChange;
    await this.rescan();
    try {
      this.watcher = watch(this.options.dir, () => this.schedule());
      this.watcher.on('error', (e) =>
        this.options.log.warn('manifests watch failed', { error: String(e) }),
      );
    } catch (e) {
      this.options.log.warn('cannot watch manifests directory; rescanning only', {
        error: String(e),
      });
    }
    this.timer = setInterval(() => this.schedule(), this.options.rescanMs ?? 5000);
    this.timer.unref();
  }

  /** Reads the directory now and emits a snapshot if anything changed. */
  rescan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanOnce());
    return this.scanning;
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rescan(), 50);
  }

  private async scanOnce(): Promise<void> {
    const files = new Map<string, string>();
    try {
      for (const name of await readdir(this.options.dir)) {
        if (!/\.(ya?ml|json)$/.test(name) || name.startsWith('.')) continue;
        try {
          files.set(name, await readFile(join(this.options.dir, name), 'utf8'));
        } catch {}
      }
    } catch (e) {
      this.options.log.warn('cannot read manifests directory', {
        dir: this.options.dir,
        error: String(e),
      });
      return;
    }
    const { snapshot, problems } = parseManifests(files);
    const problemText = JSON.stringify(problems);
    if (problemText !== this.lastProblems) {
      this.lastProblems = problemText;
      for (const p of problems) this.options.log.warn('manifest skipped', { ...p });
    }
    this.synced = true;
    const text = JSON.stringify(snapshot);
    if (text === this.last) return;
    this.last = text;
    this.onChange(snapshot);
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    await this.scanning;
  }
}
