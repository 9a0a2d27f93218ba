/**
 * Object keys, the same as `@podnet/cluster-state`'s store keys (and so the keys its deltas
 * delete by): `namespace/name` for pods and NetworkPolicies, `name` for namespaces, nodes and
 * ClusterNetworkPolicies. Pure.
 */

interface Named {
  metadata?: { name?: string; namespace?: string };
}

/** The object's name, or `undefined` when it has none (such objects are ignored). */
export function nameOf(o: Named): string | undefined {
  const name = o.metadata?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** The object's namespace; an absent or empty one is `default`, as the API server fills it in. */
export function namespaceOf(o: Named): string {
  const ns = o.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
}

/** `namespace/name` of a pod or NetworkPolicy, or `undefined` without a name. */
export function namespacedKey(o: Named): string | undefined {
  const name = nameOf(o);
  return name === undefined ? undefined : `${namespaceOf(o)}/${name}`;
}
