import { createRequire } from 'node:module';
import { ClusterStateError } from './errors.js';
import { describeObject, objectKey } from './keys.js';
import {
  API_VERSIONS,
  type ClusterObject,
  isClusterScoped,
  type KindMap,
  OBJECT_KINDS,
  type ObjectKind,
} from './types.js';
import { validateObject } from './validate.js';

/** The `yaml` module's parser, as {@link parseText} takes it. */
export type YamlParser = Parameters<typeof parseText>[0];

/** The part of the `yaml` module podnet uses: its parser and its writer. */
type YamlModule = YamlParser & { stringify(value: unknown): string };

let yamlModule: YamlModule | undefined;

/**
 * `yaml`, loaded on first use: it is an optional peer dependency, so a package that only takes
 * cluster-state's types (netpol, service-lb, dns's library) does not install it. The manifest
 * reader and the directory source need it installed.
 */
export function loadYaml(): YamlModule {
  if (!yamlModule) {
    try {
      yamlModule = createRequire(import.meta.url)('yaml') as YamlModule;
    } catch (cause) {
      throw new ClusterStateError(
        'INVALID_ARGUMENT',
        'reading YAML manifests needs the "yaml" package (^2) installed beside @podnet/cluster-state',
        { cause },
      );
    }
  }
  return yamlModule;
}

/** Largest manifest file read by default (4 MiB): a bigger one is refused with a clear error. */
export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Aliases a YAML document may resolve before it is refused (an alias bomb costs nothing). */
export const MAX_YAML_ALIASES = 100;

/** One problem found in a manifest: the file, the document, the field path and what is wrong. */
export interface ManifestProblem {
  readonly file: string;
  /** 1-based document number in the file (0: the file as a whole). */
  readonly document: number;
  /** Dotted field path in the document (`items[2].spec.ports[0].port`), or `''`. */
  readonly path: string;
  readonly message: string;
  /** `Kind namespace/name` when the object could be named. */
  readonly object?: string;
}

/** An object read from a manifest, with where it came from. */
export interface ManifestObject<K extends ObjectKind = ObjectKind> {
  readonly kind: K;
  /** Store key: `namespace/name`, or `name` for cluster-scoped kinds. */
  readonly key: string;
  readonly object: KindMap[K];
  readonly file: string;
  readonly document: number;
}

/** A document of a kind podnet does not read (kept out without an error). */
export interface IgnoredDocument {
  readonly file: string;
  readonly document: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name?: string;
}

/** What {@link readManifestText} found. */
export interface ManifestRead {
  readonly objects: ManifestObject[];
  readonly problems: ManifestProblem[];
  readonly ignored: IgnoredDocument[];
}

/** Options of {@link readManifestText}. */
export interface ReadManifestOptions {
  /** Names the text in problems (default `manifest`). */
  file?: string;
  /** `json` parses with `JSON.parse`; `yaml` with multi-document YAML; default: by file name. */
  format?: 'json' | 'yaml';
  /** Refuse texts longer than this many bytes (default {@link DEFAULT_MAX_MANIFEST_BYTES}). */
  maxBytes?: number;
  /**
   * What to do with a kind that is neither podnet's nor a well-known built-in one: `error`
   * (default: a problem naming the kind, as for a typo) or `ignore`.
   */
  unknownKinds?: 'error' | 'ignore';
}

/**
 * Built-in kinds (and common add-ons) a manifests directory may hold beside podnet's: they are
 * skipped without a problem. Anything else that is not podnet's is reported, so a typo such as
 * `kind: Servise` is not silently dropped.
 */
export const IGNORED_KINDS: ReadonlySet<string> = new Set([
  'ConfigMap',
  'Secret',
  'ServiceAccount',
  'Deployment',
  'DaemonSet',
  'StatefulSet',
  'ReplicaSet',
  'ReplicationController',
  'Job',
  'CronJob',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'Ingress',
  'IngressClass',
  'Endpoints',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'StorageClass',
  'PodDisruptionBudget',
  'HorizontalPodAutoscaler',
  'LimitRange',
  'ResourceQuota',
  'PriorityClass',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'Lease',
  'Event',
]);

/** Kinds refused with advice instead of being read. */
const REFUSED_KINDS: Record<string, string> = {
  AdminNetworkPolicy:
    'AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) is not read: convert it to a ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) with spec.tier: Admin, the same priority, spec.subject as before, and each rule action Allow -> Accept (Deny and Pass stay)',
  BaselineAdminNetworkPolicy:
    'BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) is not read: convert it to a ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) with spec.tier: Baseline, a spec.priority, spec.subject as before, and each rule action Allow -> Accept (Deny stays)',
};

const isPodnetKind = (k: unknown): k is ObjectKind =>
  typeof k === 'string' && (OBJECT_KINDS as readonly string[]).includes(k);

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `file: document N: path: message` (parts left out when unknown). */
export function formatProblem(p: ManifestProblem): string {
  const where = [p.file, p.document > 0 ? `document ${p.document}` : '', p.object ?? '', p.path]
    .filter(Boolean)
    .join(': ');
  return `${where}: ${p.message}`;
}

/** One parsed document, or why it could not be parsed. */
export interface ParsedDocument {
  readonly document: number;
  readonly value?: unknown;
  readonly error?: string;
}

/**
 * Parses YAML or JSON text into plain values, one per document, with the `yaml` module given.
 * Self-contained on purpose (it uses only its parameters): the manifests source also runs this
 * very function in its parse worker. An alias bomb or absurd nesting is an error of that
 * document, never an exception.
 */
export function parseText(
  yaml: {
    parseAllDocuments(
      text: string,
      options: { uniqueKeys: boolean },
    ):
      | Array<{ errors: Array<{ message: string }>; toJS(o: { maxAliasCount: number }): unknown }>
      | { errors: Array<{ message: string }>; toJS(o: { maxAliasCount: number }): unknown };
  },
  text: string,
  format: 'json' | 'yaml',
  maxAliasCount: number,
): ParsedDocument[] {
  if (format === 'json') {
    try {
      return [{ document: 1, value: JSON.parse(text) }];
    } catch (e) {
      return [{ document: 1, error: `JSON: ${(e as Error).message}` }];
    }
  }
  let docs: ReturnType<typeof yaml.parseAllDocuments>;
  try {
    docs = yaml.parseAllDocuments(text, { uniqueKeys: true });
  } catch (e) {
    return [{ document: 0, error: `YAML: ${(e as Error).message}` }];
  }
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((doc, i) => {
    if (doc.errors.length > 0) return { document: i + 1, error: `YAML: ${doc.errors[0]!.message}` };
    try {
      return { document: i + 1, value: doc.toJS({ maxAliasCount }) };
    } catch (e) {
      return { document: i + 1, error: `YAML: ${(e as Error).message}` };
    }
  });
}

/** The format of a manifest file by its name: `.json` is JSON, anything else YAML. */
export function formatOf(file: string): 'json' | 'yaml' {
  return /\.json$/i.test(file) ? 'json' : 'yaml';
}

/** The problem for a text over the size limit, or undefined. */
export function sizeProblem(file: string, bytes: number, max: number): ManifestProblem | undefined {
  if (bytes <= max) return undefined;
  return {
    file,
    document: 0,
    path: '',
    message: `file is larger than the limit of ${max} bytes: not read`,
  };
}

/**
 * Reads the Kubernetes objects of a manifest text: YAML (multi-document) or JSON, `List` kinds
 * (and `<Kind>List`) expanded. Pure. Each object podnet reads is checked with
 * {@link validateObject}; a namespaced object without a namespace gets `default`, as the API
 * server would give it. Every unusable document or object is a problem naming the file, the
 * document and the field path; the rest is read. Well-known kinds podnet does not use are listed
 * in `ignored`.
 */
export function readManifestText(text: string, options: ReadManifestOptions = {}): ManifestRead {
  return readDocuments(parseManifestText(text, options), options);
}

/**
 * The first half of {@link readManifestText}: the documents of a manifest text as plain values
 * (no kind checks), for tools that read other kinds too (the kind manifests' schema checks). A
 * text over the size limit is one error of document 0.
 */
export function parseManifestText(
  text: string,
  options: ReadManifestOptions = {},
): ParsedDocument[] {
  const max = options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  const tooBig = sizeProblem(options.file ?? 'manifest', Buffer.byteLength(text, 'utf8'), max);
  if (tooBig) return [{ document: 0, error: tooBig.message }];
  const format = options.format ?? formatOf(options.file ?? 'manifest');
  const yaml = format === 'json' ? { parseAllDocuments: () => [] } : loadYaml();
  return parseText(yaml, text, format, MAX_YAML_ALIASES);
}

/** An object as the YAML text of a manifest file, which {@link readManifestText} reads back. */
export function formatManifest(object: unknown): string {
  return loadYaml().stringify(object);
}

/**
 * Reads the objects of already parsed documents (see {@link parseText}): the second half of
 * {@link readManifestText}.
 */
export function readDocuments(
  parsed: readonly ParsedDocument[],
  options: ReadManifestOptions = {},
): ManifestRead {
  const file = options.file ?? 'manifest';
  const problems: ManifestProblem[] = [];
  for (const d of parsed)
    if (d.error !== undefined)
      problems.push({ file, document: d.document, path: '', message: d.error });
  const documents = parsed.filter((d) => d.error === undefined);
  const objects: ManifestObject[] = [];
  const ignored: IgnoredDocument[] = [];
  const seen = new Map<string, number>();
  const visit = (value: unknown, document: number, prefix: string): void => {
    if (value === null || value === undefined) return;
    const at = (path: string) => (prefix && path ? `${prefix}.${path}` : prefix || path);
    if (!isMapping(value)) {
      problems.push({
        file,
        document,
        path: prefix,
        message: 'want a Kubernetes object (a mapping with apiVersion and kind)',
      });
      return;
    }
    const kind = value.kind;
    if (typeof kind !== 'string' || kind === '') {
      problems.push({ file, document, path: at('kind'), message: 'required, want a string' });
      return;
    }
    if (kind === 'List' || (kind.endsWith('List') && Array.isArray(value.items))) {
      if (!Array.isArray(value.items)) {
        problems.push({ file, document, path: at('items'), message: 'want a list' });
        return;
      }
      value.items.forEach((item, i) => {
        visit(item, document, at(`items[${i}]`));
      });
      return;
    }
    const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
    const meta = isMapping(value.metadata) ? value.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : undefined;
    if (!isPodnetKind(kind)) {
      const refused = REFUSED_KINDS[kind];
      if (refused) {
        problems.push({ file, document, path: at('kind'), message: refused });
      } else if (IGNORED_KINDS.has(kind) || options.unknownKinds === 'ignore') {
        ignored.push({ file, document, apiVersion, kind, ...(name ? { name } : {}) });
      } else {
        problems.push({
          file,
          document,
          path: at('kind'),
          message: `${JSON.stringify(kind)} is not a kind podnet reads (${OBJECT_KINDS.join(', ')}) nor a known built-in kind`,
        });
      }
      return;
    }
    const want = API_VERSIONS[kind];
    if (apiVersion !== want) {
      problems.push({
        file,
        document,
        path: at('apiVersion'),
        message: `want ${want} for ${kind}, got ${JSON.stringify(value.apiVersion)}`,
      });
      return;
    }
    const obj = normalize(kind, value);
    const label = describeObject(kind, obj as ClusterObject);
    const found = validateObject(kind, obj);
    if (found.length > 0) {
      for (const f of found)
        problems.push({ file, document, path: at(f.path), message: f.message, object: label });
      return;
    }
    const key = objectKey(kind, obj as ClusterObject);
    const dup = `${kind} ${key}`;
    const first = seen.get(dup);
    if (first !== undefined) {
      problems.push({
        file,
        document,
        path: at('metadata.name'),
        message: `${label} is also defined in document ${first}`,
        object: label,
      });
      return;
    }
    seen.set(dup, document);
    objects.push({ kind, key, object: obj as ClusterObject, file, document } as ManifestObject);
  };
  for (const d of documents) visit(d.value, d.document, '');
  return { objects, problems, ignored };
}

/** Fills in what the API server would: a namespace for namespaced kinds, empty required lists. */
function normalize(kind: ObjectKind, value: Record<string, unknown>): Record<string, unknown> {
  let out = value;
  const meta = isMapping(value.metadata) ? value.metadata : undefined;
  if (meta && !isClusterScoped(kind) && (meta.namespace === undefined || meta.namespace === '')) {
    out = { ...out, metadata: { ...meta, namespace: 'default' } };
  }
  if (kind === 'Pod' && isMapping(out.spec) && out.spec.containers === undefined)
    out = { ...out, spec: { ...out.spec, containers: [] } };
  if (kind === 'EndpointSlice' && (out.endpoints === undefined || out.endpoints === null))
    out = { ...out, endpoints: [] };
  return out;
}
