/**
 * The first field named twice in one JSON object, by its path (`sites[1].id`; an empty name is
 * written `""`), or null. JSON.parse keeps the last of two equal keys without a word, so
 * `{"gpuCount": 1, "gpuCount": 512}` would be read as whatever the last copy says — a request that
 * means two things is refused instead.
 *
 * Call it on text JSON.parse has accepted: the scan trusts the syntax. One pass, iterative (an
 * explicit stack, no recursion), keys compared after unescaping (`"a"` and `"\u0061"` are one name).
 * Nesting deeper than `maxDepth` stops the scan (null): the input guard refuses such a body anyway,
 * and a 100,000-deep body must cost no more than its length.
 */
export function duplicateKeyPath(text: string, maxDepth = Infinity): string | null {
  type Frame = { obj: true; keys: Set<string>; key: string; expectKey: boolean } | { obj: false; index: number };
  const stack: Frame[] = [];
  const name = (k: string): string => (k === '' ? '""' : k);
  // The path is built only when a duplicate is found, from the frames' current keys and indexes.
  const pathTo = (key: string): string => {
    let p = '';
    for (let d = 0; d < stack.length - 1; d++) {
      const f = stack[d]!;
      p = f.obj ? (p === '' ? name(f.key) : `${p}.${name(f.key)}`) : `${p}[${f.index}]`;
    }
    return p === '' ? name(key) : `${p}.${name(key)}`;
  };
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j++; // skip the escaped character (the scan trusts JSON.parse for the rest)
        } else if (d === 0x22) {
          break;
        }
      }
      const top = stack[stack.length - 1];
      if (top?.obj && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) return pathTo(key);
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) return null;
      stack.push(c === 0x7b ? { obj: true, keys: new Set(), key: '', expectKey: true } : { obj: false, index: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.obj) top.expectKey = true;
      else if (top) top.index++;
    }
    i++;
  }
  return null;
}
