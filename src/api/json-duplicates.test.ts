import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duplicateKeyPath } from './json-duplicates.js';

describe('duplicateKeyPath', () => {
  it('finds nothing in any JSON that JSON.stringify writes (its keys are distinct), whatever the strings hold', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      expect(duplicateKeyPath(JSON.stringify(v))).toBeNull();
      expect(duplicateKeyPath(JSON.stringify(v, null, 2))).toBeNull();
    }), { numRuns: 500 });
  });

  it('names a key written twice at any depth, by its path, also when one copy is escaped', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.string(), fc.jsonValue(), fc.jsonValue(), fc.nat({ max: 3 }), (inner, key, a, b, depth) => {
      // The same key twice in one object, that object nested `depth` levels down behind other values.
      const escapedKey = JSON.stringify(key).replace(/[a-z]/, (ch) => `\\u00${ch.charCodeAt(0).toString(16)}`);
      let text = `{"pad":${JSON.stringify(inner)},${JSON.stringify(key)}:${JSON.stringify(a)},${escapedKey}:${JSON.stringify(b)}}`;
      let prefix = '';
      for (let d = 0; d < depth; d++) {
        text = d % 2 === 0 ? `{"x${d}":[${JSON.stringify(inner)},${text}]}` : `{"y${d}":${text}}`;
        prefix = d % 2 === 0 ? `x${d}[1]${prefix === '' ? '' : `.${prefix}`}` : `y${d}${prefix === '' ? '' : `.${prefix}`}`;
      }
      JSON.parse(text); // valid JSON
      const field = key === '' ? '""' : key;
      expect(duplicateKeyPath(text)).toBe(prefix === '' ? field : `${prefix}.${field}`);
    }), { numRuns: 500 });
  });

  it('tells keys from string values and from braces inside strings', () => {
    expect(duplicateKeyPath('{"a":"a","b":"{\\"a\\":1}","c":["a","a"]}')).toBeNull();
    expect(duplicateKeyPath('{"a":{"b":1},"c":{"b":2}}')).toBeNull();
    expect(duplicateKeyPath('[{"a":1},{"a":2}]')).toBeNull();
    expect(duplicateKeyPath('{"sites":[{"id":"a"},{"id":"b","id":"c"}]}')).toBe('sites[1].id');
  });
});

describe('duplicateKeyPath on deep input', () => {
  it('stops past maxDepth, and costs no more than the length of a 100,000-deep body', () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const arrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(duplicateKeyPath(deep, 33)).toBeNull();
    expect(duplicateKeyPath(arrays, 33)).toBeNull();
    // Without a bound the scan still finishes (paths are built only for a duplicate).
    expect(duplicateKeyPath(deep)).toBeNull();
    expect(duplicateKeyPath(`${'{"a":'.repeat(40)}{"b":1,"b":2}${'}'.repeat(40)}`)).toBe(`${'a.'.repeat(40)}b`);
    expect(duplicateKeyPath(`${'{"a":'.repeat(40)}{"b":1,"b":2}${'}'.repeat(40)}`, 33)).toBeNull();
  });
});
