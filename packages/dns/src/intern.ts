/**
 * Interned strings: one copy of each distinct string, shared by everything that holds it.
 *
 * Names built by concatenation (`${svc}.${ns}.svc.${zone}`) are V8 cons strings; used as a Map
 * key one is flattened into a second, sequential copy that the cons string then points at, and
 * both stay alive (about 150 bytes per name in a Map instead of 85). V8 keeps property names in
 * its string table, one flat copy each: a property name is the interned string.
 */

/** A dictionary-mode holder: one property at a time, added and deleted. */
const box: Record<string, 0> = Object.create(null);

/**
 * The interned copy of `s`: equal to `s`, flat, and the same string for every equal input (for
 * names that look like array indices, such as `"12"`, an equal string that may not be shared).
 */
export function intern(s: string): string {
  box[s] = 0;
  let out = s;
  for (const k in box) {
    out = k;
    break;
  }
  delete box[s];
  return out;
}
