import { isClusterScoped, type ObjectKind, SERVICE_NAME_LABEL } from './types.js';

/** The part of an object a key is made from. */
interface Named {
  metadata?: { name?: string; namespace?: string };
}

/**
 * The store key of an object: `namespace/name` for namespaced kinds (an absent namespace is
 * `default`, as the API server fills it in), `name` for cluster-scoped ones.
 */
export function objectKey(kind: ObjectKind, obj: Named): string {
  const name = obj.metadata?.name ?? '';
  if (isClusterScoped(kind)) return name;
  return `${obj.metadata?.namespace || 'default'}/${name}`;
}

/** `Kind namespace/name` (or `Kind name`): how messages name an object. */
export function describeObject(kind: ObjectKind, obj: Named): string {
  return `${kind} ${objectKey(kind, obj)}`;
}

/** `namespace/service-name` of an EndpointSlice, or `undefined` without the service-name label. */
export function sliceServiceKey(slice: {
  metadata?: { namespace?: string; labels?: { [k: string]: string } };
}): string | undefined {
  const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!svc) return undefined;
  return `${slice.metadata?.namespace || 'default'}/${svc}`;
}
