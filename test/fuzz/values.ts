/**
 * fast-check arbitraries for hostile API input: values generated from a JSON schema (valid-ish,
 * leaning on boundaries and on a dictionary of values the fixture knows), hostile scalars (NUL,
 * lone surrogates, huge and unicode strings, ±1e308, 1e999, invalid dates), structural mutations
 * of a generated value, malformed raw bodies, and their encodings (JSON, YAML, raw bytes).
 */
import fc from 'fast-check';
import YAML from 'yaml';
import type { JsonSchema } from './openapi.js';

/** A JSON token written verbatim: numbers JSON.stringify cannot write, or text that is not JSON. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** What the fixture knows: ids, models, counts and regions that make generated requests land. */
export interface Dictionary {
  nowMs: number;
  strings: string[];
  /** Numbers with meaning in the fixture (GPUs per node, per fabric, per model, ...). */
  numbers: number[];
}

/** A value with the names of the hostile ingredients that went into it (for reports and dedupe). */
export interface Tagged<T> {
  value: T;
  tags: string[];
}

const tagged = <T>(arb: fc.Arbitrary<T>, tag: string): fc.Arbitrary<Tagged<T>> => arb.map((value) => ({ value, tags: [tag] }));
const plain = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<Tagged<T>> => arb.map((value) => ({ value, tags: [] }));

// ---- hostile scalars ----

export const INVALID_DATES = [
  '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-12-01T24:00:00Z', '2026-12-31T23:59:60Z', '2026-06-30T23:59:60Z',
  '2026-12-01T00:00:00', '2026-12-01', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '+275760-09-13T00:00:00.000Z',
  '-000001-01-01T00:00:00Z', '2026-12-01T00:00:00.123456789Z', '2026-12-01t00:00:00z', '2026-12-01 00:00:00Z',
  '2026-12-01T00:00:00+99:99', '2026-12-01T00:00:00-23:59', '2026-12-01T00:00:00+14:00', 'tomorrow', '1764547200', '',
];

const HOSTILE_STRINGS: [string, string][] = [
  ['', 'empty'], [' ', 'blank'], ['\u0000', 'nul'], ['a\u0000b', 'nul'], ['\ud800', 'surrogate'], ['\udfff', 'surrogate'],
  ['a\ud800', 'surrogate'], ['\udc00\ud800', 'surrogate'], ['\u202egnp.exe', 'unicode'], ['🚀🚀', 'unicode'], ['e\u0301', 'unicode'],
  ['ß', 'unicode'], ['\ufeffbom', 'unicode'], ['Ｈ１００', 'unicode'], ['\r\n', 'control'], ['\t\u0007\u001b[31m', 'control'],
  ['%00', 'pct'], ['%ZZ', 'pct'], ['../../etc/passwd', 'traversal'], ["' OR 1=1 --", 'sql'], ['"; DROP TABLE leases; --', 'sql'],
  ['${7*7}{{7*7}}', 'template'], ['<script>alert(1)</script>', 'html'], ['null', 'lookalike'], ['true', 'lookalike'],
  ['0', 'lookalike'], ['-1', 'lookalike'], ['NaN', 'lookalike'], ['Infinity', 'lookalike'], ['1e308', 'lookalike'],
  ['__proto__', 'proto'], ['constructor', 'proto'],
];

export const hostileString: fc.Arbitrary<Tagged<string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_STRINGS).map(([value, tag]) => ({ value, tags: [tag] })) },
  { weight: 2, arbitrary: tagged(fc.constantFrom(...INVALID_DATES), 'bad-date') },
  { weight: 2, arbitrary: tagged(fc.constantFrom(65, 257, 70_000, 1_000_000).chain((n) => fc.constantFrom('a'.repeat(n), 'é'.repeat(n), '🚀'.repeat(n >> 1))), 'huge') },
  { weight: 1, arbitrary: tagged(fc.constant('\u0000'.repeat(1000)), 'nul') },
  { weight: 2, arbitrary: tagged(fc.string({ unit: 'binary', maxLength: 24 }), 'binary') },
  { weight: 1, arbitrary: tagged(fc.string({ unit: 'grapheme', maxLength: 24 }), 'unicode') },
);

export const hostileNumber: fc.Arbitrary<Tagged<unknown>> = fc.oneof(
  tagged(fc.constantFrom<unknown>(1e308, -1e308, 5e-324, -5e-324, 2 ** 31, 2 ** 53, -(2 ** 53), 1.5, 0.1, -1, 0, 1e21), 'num-edge'),
  tagged(fc.constantFrom(new RawJson('1e999'), new RawJson('-1e999'), new RawJson('9007199254740993'), new RawJson('-0'),
    new RawJson('123456789012345678901234567890'), new RawJson('1.0e-400')), 'num-raw'),
  tagged(fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), 'nan'),
);

/** Any hostile value, of any type: what a mutation puts where something else belongs. */
export const hostileValue: fc.Arbitrary<Tagged<unknown>> = fc.oneof(
  { weight: 5, arbitrary: hostileString as fc.Arbitrary<Tagged<unknown>> },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 2, arbitrary: tagged(fc.constantFrom<unknown>(null, true, false, [], {}, [null], { '': null }), 'wrong-type') },
  { weight: 1, arbitrary: tagged(fc.constantFrom(64, 1000).map((n) => nest(n)), 'deep') },
  { weight: 1, arbitrary: tagged(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), 'wrong-type') },
);

const nest = (depth: number): unknown => {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

// ---- values from a schema ----

export interface SchemaOptions {
  dict: Dictionary;
  /** Per property name: an upper bound tighter than the schema's (keeps generated fleets small). */
  clamp?: Record<string, number> | undefined;
}

const isoAround = (dict: Dictionary): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(0, 60_000, 3_600_000, 24 * 3_600_000, 365 * 24 * 3_600_000, -3_600_000),
    fc.integer({ min: -2 * 86_400_000, max: 400 * 86_400_000 }),
  ).map((off) => new Date(dict.nowMs + off).toISOString());

/** A value that mostly conforms to `schema`, leaning on boundaries and the dictionary. */
export function fromSchema(schema: JsonSchema, o: SchemaOptions, depth = 0, name = ''): fc.Arbitrary<unknown> {
  if (depth > 12) return fc.constant(null);
  if (Array.isArray(schema['enum'])) return fc.constantFrom(...(schema['enum'] as unknown[]));
  if ('const' in schema) return fc.constant(schema['const']);
  const alts = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (alts) return fc.oneof(...alts.map((a) => fromSchema(a, o, depth + 1, name)));
  const type = schema['type'];
  if (Array.isArray(type)) return fc.oneof(...type.map((t) => fromSchema({ ...schema, type: t }, o, depth, name)));
  switch (type) {
    case 'string': return stringFromSchema(schema, o);
    case 'integer': case 'number': return numberFromSchema(schema, o, name, type === 'integer');
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    case 'array': {
      const min = (schema['minItems'] as number | undefined) ?? 0;
      const max = Math.min((schema['maxItems'] as number | undefined) ?? 3, Math.max(min, 3));
      return fc.array(fromSchema((schema['items'] as JsonSchema | undefined) ?? {}, o, depth + 1, name), { minLength: min, maxLength: max });
    }
    case 'object': return objectFromSchema(schema, o, depth);
    default: return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectFromSchema(schema: JsonSchema, o: SchemaOptions, depth: number): fc.Arbitrary<unknown> {
  const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, s] of Object.entries(props)) model[k] = fromSchema(s, o, depth + 1, k);
  const fixed = fc.record(model, { requiredKeys: Object.keys(props).filter((k) => required.has(k)) });
  const extra = schema['additionalProperties'];
  if (extra && typeof extra === 'object') {
    const keys = fc.oneof(fc.constantFrom(...o.dict.strings), fc.string({ maxLength: 12 }));
    return fc.tuple(fixed, fc.dictionary(keys, fromSchema(extra as JsonSchema, o, depth + 1), { maxKeys: 3 }))
      .map(([a, b]) => ({ ...b, ...(a as object) }));
  }
  return fixed;
}

function stringFromSchema(schema: JsonSchema, o: SchemaOptions): fc.Arbitrary<string> {
  const minLength = (schema['minLength'] as number | undefined) ?? 0;
  const maxLength = (schema['maxLength'] as number | undefined) ?? 64;
  const pattern = schema['pattern'] as string | undefined;
  const re = pattern ? new RegExp(pattern) : undefined;
  const fits = o.dict.strings.filter((s) => s.length >= minLength && s.length <= maxLength && (!re || re.test(s)));
  if (schema['format'] === 'date-time') {
    return fc.oneof({ weight: 8, arbitrary: isoAround(o.dict) }, { weight: 1, arbitrary: fc.constantFrom(...INVALID_DATES) });
  }
  const free = re
    ? fc.stringMatching(re).filter((s) => s.length >= minLength && s.length <= maxLength)
    : fc.string({ minLength, maxLength: Math.min(maxLength, Math.max(minLength, 16)) });
  const bounds = re ? [] : [minLength, maxLength].filter((n) => n <= 100_000).map((n) => 'x'.repeat(n));
  return fc.oneof(
    ...(fits.length > 0 ? [{ weight: 4, arbitrary: fc.constantFrom(...fits) }] : []),
    { weight: 3, arbitrary: free },
    ...(bounds.length > 0 ? [{ weight: 1, arbitrary: fc.constantFrom(...bounds) }] : []),
  );
}

function numberFromSchema(schema: JsonSchema, o: SchemaOptions, name: string, integer: boolean): fc.Arbitrary<number> {
  const exMin = schema['exclusiveMinimum'] as number | undefined;
  const exMax = schema['exclusiveMaximum'] as number | undefined;
  const clamp = o.clamp?.[name];
  const min = (schema['minimum'] as number | undefined) ?? (exMin !== undefined ? (integer ? Math.floor(exMin) + 1 : exMin + 1e-6) : integer ? -1000 : -1e6);
  let max = (schema['maximum'] as number | undefined) ?? (exMax !== undefined ? (integer ? Math.ceil(exMax) - 1 : exMax - 1e-6) : integer ? 1_000_000 : 1e9);
  if (clamp !== undefined) max = Math.min(max, clamp);
  const inRange = o.dict.numbers.filter((n) => n >= min && n <= max && (!integer || Number.isInteger(n)));
  const free = integer ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true });
  const edges = integer ? [min, max, min + 1, max - 1] : [min, max, (min + max) / 2];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...edges.filter((n) => n >= min && n <= max)) },
    ...(inRange.length > 0 ? [{ weight: 3, arbitrary: fc.constantFrom(...inRange) }] : []),
    { weight: 3, arbitrary: free },
  );
}

// ---- mutations ----

/** One structural change, located by `at` modulo the number of candidate nodes. */
export type Mutation =
  | { kind: 'replace'; at: number; with: Tagged<unknown> }
  | { kind: 'delete'; at: number }
  | { kind: 'unknown-field'; at: number; name: string; with: unknown }
  | { kind: 'wrap'; at: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), with: hostileValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({
    kind: fc.constant('unknown-field' as const), at: fc.nat(),
    name: fc.oneof(fc.constantFrom('colour', '__proto__', 'constructor', '', '\u0000', 'a'.repeat(300), 'gpuCount ', 'ＩＤ', '\ud800'), fc.string({ maxLength: 8 })),
    with: fc.jsonValue({ maxDepth: 1 }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrap' as const), at: fc.nat() }) },
);

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** The places a mutation can reach in a value: the root is 0, then every member and element depth-first. */
export const slotCount = (v: unknown): number => 1 + slotsOf(v).length;

function slotsOf(v: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); slotsOf(x, out); });
  else if (v !== null && typeof v === 'object' && !(v instanceof RawJson)) {
    for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); slotsOf(x, out); }
  }
  return out;
}

/** Applies mutations to a copy of `value`; returns the result and the tags of what went in. */
export function mutate(value: unknown, muts: Mutation[]): Tagged<unknown> {
  const root = { v: clone(value) };
  const tags: string[] = [];
  for (const m of muts) {
    const slots = slotsOf(root.v);
    const all: Slot[] = [{ parent: root as unknown as Record<string, unknown>, key: 'v' }, ...slots];
    const slot = all[m.at % all.length]!;
    const cur = (slot.parent as Record<string | number, unknown>)[slot.key];
    switch (m.kind) {
      case 'replace':
        (slot.parent as Record<string | number, unknown>)[slot.key] = clone(m.with.value);
        tags.push(...m.with.tags);
        break;
      case 'delete':
        if (slot.parent === (root as unknown)) break;
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else delete slot.parent[slot.key as string];
        tags.push('missing-field');
        break;
      case 'unknown-field': {
        const target = cur !== null && typeof cur === 'object' && !Array.isArray(cur) && !(cur instanceof RawJson) ? cur : root.v;
        if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
          Object.defineProperty(target, m.name, { value: m.with, enumerable: true, configurable: true, writable: true });
          tags.push('unknown-field');
        }
        break;
      }
      case 'wrap':
        (slot.parent as Record<string | number, unknown>)[slot.key] = [cur];
        tags.push('wrong-type');
        break;
    }
  }
  return { value: root.v, tags };
}

function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (v !== null && typeof v === 'object' && !(v instanceof RawJson)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: clone(x), enumerable: true, configurable: true, writable: true });
    return out;
  }
  return v;
}

// ---- encodings ----

/** JSON text; RawJson verbatim, NaN as `NaN` (not JSON), ±Infinity as ±1e999 (parses to ±Infinity). */
export function toJsonText(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? '1e999' : '-1e999';
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(toJsonText).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJsonText(x)}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** YAML text for a value (RawJson tokens become plain scalars). */
export function toYamlText(v: unknown): string {
  const unraw = (x: unknown): unknown => x instanceof RawJson ? x.text
    : Array.isArray(x) ? x.map(unraw)
      : x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, unraw(y)])) : x;
  try {
    return YAML.stringify(unraw(v));
  } catch {
    return toJsonText(v);
  }
}

// ---- raw bodies ----

export interface RawBody {
  body: Buffer;
  contentType: string | null;
  tag: string;
}

const raw = (text: string | Buffer, contentType: string | null, tag: string): RawBody =>
  ({ body: typeof text === 'string' ? Buffer.from(text, 'utf8') : text, contentType, tag });

/** Billion-laughs style: one anchored list aliased just under the parser's alias limit. */
export function yamlAliasBomb(width: number, aliases: number): string {
  return `a: &a [${Array(width).fill('0').join(',')}]\nb: [${Array(aliases).fill('*a').join(',')}]\n`;
}

/** Malformed and hostile raw bodies, each built on demand (some are megabytes). */
export const RAW_BODIES: (() => RawBody)[] = [
  () => raw('', 'application/json', 'empty-body'),
  () => raw('{', 'application/json', 'malformed-json'),
  () => raw('{"a":', 'application/json', 'malformed-json'),
  () => raw('{"a":1,}', 'application/json', 'malformed-json'),
  () => raw("{'a':1}", 'application/json', 'malformed-json'),
  () => raw('{"a":1}{"b":2}', 'application/json', 'malformed-json'),
  () => raw('nul', 'application/json', 'malformed-json'),
  () => raw('null', 'application/json', 'wrong-type'),
  () => raw('true', 'application/json', 'wrong-type'),
  () => raw('0', 'application/json', 'wrong-type'),
  () => raw('"string"', 'application/json', 'wrong-type'),
  () => raw('[]', 'application/json', 'wrong-type'),
  () => raw('{}', 'application/json', 'empty-object'),
  () => raw(' ', 'application/json', 'empty-body'),
  () => raw('\ufeff{}', 'application/json', 'bom'),
  () => raw('NaN', 'application/json', 'nan'),
  () => raw('{"x":NaN}', 'application/json', 'nan'),
  () => raw('{"x":1e999}', 'application/json', 'num-raw'),
  () => raw('{"name":"a","name":"b"}', 'application/json', 'duplicate-key'),
  () => raw('{"__proto__":{"admin":true}}', 'application/json', 'proto'),
  () => raw('{"constructor":{"prototype":{"admin":true}}}', 'application/json', 'proto'),
  () => raw('{"\\u0000":1}', 'application/json', 'nul'),
  () => raw('{"name":"\\u0000"}', 'application/json', 'nul'),
  () => raw('{"name":"\\ud800"}', 'application/json', 'surrogate'),
  () => raw('"\\udfff"', 'application/json', 'surrogate'),
  () => raw(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'application/json', 'invalid-utf8'),
  () => raw(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc0, 0x80, 0x22, 0x7d]), 'application/json', 'invalid-utf8'),
  () => raw(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), 'application/json', 'invalid-utf8'),
  () => raw(`${'['.repeat(1000)}${']'.repeat(1000)}`, 'application/json', 'deep'),
  () => raw(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'application/json', 'deep'),
  () => raw(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`, 'application/json', 'deep'),
  () => raw(`"${'a'.repeat(1_000_000)}"`, 'application/json', 'huge'),
  () => raw(`{"a":"${'a'.repeat(17 * 1024 * 1024)}"}`, 'application/json', 'huge'),
  () => raw(`[${Array(200_000).fill('0').join(',')}]`, 'application/json', 'huge'),
  () => raw(yamlAliasBomb(300_000, 99), 'application/yaml', 'yaml-alias-bomb'),
  () => raw(yamlAliasBomb(10, 10), 'application/yaml', 'yaml-alias'),
  () => raw(`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'application/yaml', 'deep'),
  () => raw('a: !!binary aGVsbG8=\nb: .nan\nc: -.inf\n', 'application/yaml', 'yaml-tags'),
  () => raw('--- a\n--- b\n', 'application/yaml', 'yaml-multidoc'),
  () => raw('a: [', 'application/yaml', 'malformed-yaml'),
  () => raw('name=acme&x=1', 'application/x-www-form-urlencoded', 'form'),
  () => raw('--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n', 'multipart/form-data; boundary=x', 'multipart'),
  () => raw('{}', 'text/plain', 'wrong-content-type'),
  () => raw('<a/>', 'application/xml', 'wrong-content-type'),
  () => raw('{}', null, 'no-content-type'),
];

export const rawBodyArb: fc.Arbitrary<RawBody> = fc.integer({ min: 0, max: RAW_BODIES.length - 1 }).map((i) => RAW_BODIES[i]!());

export const CONTENT_TYPES: [string, string][] = [
  ['text/plain', 'wrong-content-type'], ['application/x-www-form-urlencoded', 'wrong-content-type'],
  ['application/json; charset=utf-16', 'charset'], ['application/json; charset=latin1', 'charset'], ['APPLICATION/JSON', 'ct-case'],
  ['application/json, text/plain', 'ct-list'], [';;;', 'ct-garbage'], ['application/problem+json', 'wrong-content-type'],
  ['application/merge-patch+json', 'wrong-content-type'], ['application/yaml', 'yaml'], [`application/json; x=${'a'.repeat(5000)}`, 'huge'],
  ['', 'ct-empty'], ['application/octet-stream', 'wrong-content-type'], ['multipart/form-data', 'wrong-content-type'],
];

// ---- URL text ----

/**
 * encodeURIComponent that also takes lone surrogates (written as their WTF-8 bytes, which no
 * UTF-8 decoder accepts) instead of throwing.
 */
export function pctEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch { /* a lone surrogate: byte by byte below */ }
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) {
      out += `%${(0xe0 | (c >> 12)).toString(16).toUpperCase()}%${(0x80 | ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`;
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/** Percent-encodes every character, unreserved ones included (`v1` → `%76%31`). */
export const pctAll = (s: string): string => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
