import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DnsError } from './errors.js';
import type {
  ClusterDnsState,
  K8sEndpointSlice,
  K8sNamespace,
  K8sPod,
  K8sService,
} from './types.js';

function add(state: Required<ClusterDnsState>, doc: unknown, where: string): void {
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new DnsError('INVALID_MANIFEST', `${where} is not a Kubernetes object`, {
      field: where,
      value: doc,
    });
  }
  const obj = doc as { kind?: unknown; items?: unknown };
  switch (obj.kind) {
    case 'List':
      if (!Array.isArray(obj.items))
        throw new DnsError('INVALID_MANIFEST', `${where}.items must be a list`, {
          field: `${where}.items`,
        });
      obj.items.forEach((item, i) => {
        add(state, item, `${where}.items[${i}]`);
      });
      return;
    case 'Namespace':
      (state.namespaces as K8sNamespace[]).push(obj as K8sNamespace);
      return;
    case 'Service':
      (state.services as K8sService[]).push(obj as K8sService);
      return;
    case 'EndpointSlice':
      (state.endpointSlices as K8sEndpointSlice[]).push(obj as K8sEndpointSlice);
      return;
    case 'Pod':
      (state.pods as K8sPod[]).push(obj as K8sPod);
      return;
    default:
      if (typeof obj.kind !== 'string')
        throw new DnsError('INVALID_MANIFEST', `${where}.kind is missing`, {
          field: `${where}.kind`,
        });
  }
}

/**
 * Collects Namespaces, Services, EndpointSlices and Pods (also inside `kind: List`) from
 * multi-document YAML text; other kinds are ignored. `source` names the text in errors.
 */
export function parseManifests(
  text: string,
  source = 'manifest',
  into?: ClusterDnsState,
): ClusterDnsState {
  const state: Required<ClusterDnsState> = {
    namespaces: [...(into?.namespaces ?? [])],
    services: [...(into?.services ?? [])],
    endpointSlices: [...(into?.endpointSlices ?? [])],
    pods: [...(into?.pods ?? [])],
  };
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length) {
      throw new DnsError(
        'INVALID_MANIFEST',
        `${source} document ${i + 1}: ${doc.errors[0]?.message}`,
        { field: `${source}#${i + 1}`, cause: doc.errors[0] },
      );
    }
    add(state, doc.toJS(), `${source}#${i + 1}`);
  });
  return state;
}

/** Reads every `.yaml`, `.yml` and `.json` file of a directory (sorted) into a cluster state. */
export async function loadManifests(dir: string): Promise<ClusterDnsState> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
  } catch (cause) {
    throw new DnsError('INVALID_MANIFEST', `manifests directory ${dir} cannot be read`, {
      field: 'manifests',
      cause,
    });
  }
  let state: ClusterDnsState = {};
  for (const f of files) {
    const text = await readFile(join(dir, f), 'utf8');
    if (f.endsWith('.json')) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (cause) {
        throw new DnsError('INVALID_MANIFEST', `${f}: ${(cause as Error).message}`, {
          field: f,
          cause,
        });
      }
      const next = parseManifests('', f, state) as Required<ClusterDnsState>;
      add(next, doc, `${f}#1`);
      state = next;
    } else {
      state = parseManifests(text, f, state);
    }
  }
  return state;
}
