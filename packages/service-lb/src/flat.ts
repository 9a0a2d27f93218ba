/**
 * The parts joined into one flat string. A template literal builds a rope (a tree of string
 * pieces, about 32 bytes per join) that an element kept for the life of a Service holds on to;
 * `Array.prototype.join` builds a flat string. At 100,000 endpoints that is about 15 MiB.
 */
export function flat(...parts: Array<string | number>): string {
  return parts.join('');
}
