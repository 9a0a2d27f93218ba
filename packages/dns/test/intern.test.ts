import { describe, expect, it } from 'vitest';
import { intern } from '../src/intern.js';

describe('intern', () => {
  it('gives back an equal string for names, keys, index-like and odd strings', () => {
    const inputs = [
      'svc-1.ns-1.svc.cluster.local',
      `${'svc-2'}.${'ns-2'}.svc.${'cluster.local'}`,
      'ns-1/svc-1',
      '',
      '12',
      '4294967295',
      '-0',
      '__proto__',
      'constructor',
      'toString',
      '\u0000static',
      '\uffffns/pod',
      'ünïcode.名前',
    ];
    for (const s of inputs) {
      const out = intern(s);
      expect(out).toBe(s);
      expect(out.length).toBe(s.length);
      // and again: the holder is left empty each time
      expect(intern(s)).toBe(s);
    }
  });

  it('keeps nothing between calls', () => {
    const a = intern('first-name');
    const b = intern('second-name');
    expect([a, b]).toEqual(['first-name', 'second-name']);
  });
});
