function fnv1a32(text: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The VTEP MAC of a node, derived from its name alone: stable across restarts and computable by
 * any peer. A locally administered unicast address (first octet `x2`, `x6`, `xa` or `xe`).
 */
export function vtepMacFor(nodeName: string): string {
  const a = fnv1a32(nodeName, 0x811c9dc5);
  const b = fnv1a32(`podnet-vtep/${nodeName}`, 0x811c9dc5);
  const bytes = [
    ((a >>> 24) & 0xfc) | 0x02,
    (a >>> 16) & 0xff,
    (a >>> 8) & 0xff,
    a & 0xff,
    (b >>> 8) & 0xff,
    b & 0xff,
  ];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
