/**
 * One fuzz case per HTTP request: who calls (operator, tenant, no key, a garbage key), the path
 * (valid, foreign and mutated ids; percent-encoded, dotted, doubled and overlong paths), the query,
 * the headers and the body (from the schema, from a fixture-aware model of a valid request, mutated,
 * or a raw malformed body), all drawn by fast-check from the operation in /openapi.json.
 */
import fc from 'fast-check';
import { fillPath, type JsonSchema, type Operation } from './openapi.js';
import type { RawRequest } from './raw-http.js';
import {
  CONTENT_TYPES, fromSchema, hostileString, INVALID_DATES, mutate, mutationArb, pctAll, pctEncode, RAW_BODIES, rawBodyArb, slotCount, toJsonText, toYamlText,
  type Dictionary, type Mutation, type Tagged,
} from './values.js';

export type PrincipalKind = 'operator' | 'tenant' | 'none' | 'garbage';
export const PRINCIPALS: PrincipalKind[] = ['operator', 'tenant', 'none', 'garbage'];

export interface FuzzCase {
  op: string;
  principal: PrincipalKind;
  request: RawRequest;
  /** Hostile ingredients, e.g. `nul`, `pct-path`, `deep`; empty for a request the spec allows. */
  tags: string[];
  /** No body and no Content-Type were sent. */
  bodyless: boolean;
  /** The body generator (`schema`, `model`, `raw:<tag>`, `none`), for skipping known-slow kinds. */
  bodyKind: string;
}

export interface CaseContext {
  dict: Dictionary;
  /** The fuzzing principals' keys; cases say `{{operator}}` / `{{tenant}}`, filled in when sent (a case may rotate a key). */
  keys: { operator: string; tenant: string };
  /** Ids to put in `{param}` of a path, by the collection segment before it (`leases`, `tenants`). */
  ids: Record<string, { own: string[]; foreign: string[] }>;
  /** Well-formed ids that exist nowhere. */
  missingIds: string[];
  /** A fixture-aware model of a valid body for some operations (`POST /v1/leases`). */
  models: Record<string, (p: PrincipalKind) => fc.Arbitrary<unknown>>;
  /** Per operation, property-name bounds tighter than the schema's (see SchemaOptions.clamp). */
  clamps: Record<string, Record<string, number>>;
  /** Idempotency keys of earlier successes, by principal (a reuse with another body must be a 422). */
  usedIdemKeys: Record<string, string[]>;
}

/** Keys that must not authenticate. `{{operator-chop}}`: the operator key less its last character. */
const GARBAGE_AUTH: string[] = [
  'Bearer nc_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Bearer nc_adm_x', 'Bearer ', 'Bearer', 'Basic YWRtaW46YWRtaW4=',
  'Bearer {{operator}}x', 'Bearer {{operator-chop}}', `Bearer ${'a'.repeat(10_000)}`, 'Bearer nc_adm_ü', 'Bearer {{operator}} extra',
  'Bearer %00', "Bearer ' OR 1=1 --", 'Token {{operator}}', '{{operator}}', 'Bearer nc_live_\u00e9\u00e9',
];

const principalArb = fc.oneof(
  { weight: 7, arbitrary: fc.constant<PrincipalKind>('operator') },
  { weight: 7, arbitrary: fc.constant<PrincipalKind>('tenant') },
  { weight: 3, arbitrary: fc.constant<PrincipalKind>('none') },
  { weight: 3, arbitrary: fc.constant<PrincipalKind>('garbage') },
);

// ---- path ----

function idArb(ctx: CaseContext, template: string, param: string, hostile: boolean): fc.Arbitrary<Tagged<string>> {
  const before = template.split(`{${param}}`)[0]!.split('/').filter(Boolean).pop() ?? '';
  const mine = ctx.ids[before] ?? { own: [], foreign: [] };
  const others = Object.entries(ctx.ids).filter(([k]) => k !== before).flatMap(([, v]) => [...v.own, ...v.foreign]);
  const own = mine.own.length > 0 ? mine.own : ctx.missingIds;
  const valid = fc.constantFrom(...own).map((id) => ({ value: pctEncode(id), tags: [] as string[] }));
  const foreign = fc.constantFrom(...[...mine.foreign, ...others, ...ctx.missingIds]).map((id) => ({ value: pctEncode(id), tags: ['foreign-id'] }));
  const mutated = fc.tuple(fc.constantFrom(...own), fc.nat()).map(([id, k]): Tagged<string> => {
    const all = idMutations(id);
    const [value, tag] = all[k % all.length]!;
    return { value, tags: [tag] };
  });
  return hostile ? mutated : fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: foreign });
}

/** What a path id becomes when mutated (already encoded for the request-target) and a tag for it. */
export function idMutations(id: string): [string, string][] {
  const e = pctEncode(id);
  return [
    [`${e}%00`, 'nul'], ['%00', 'nul'], [`${e.slice(0, 5)}%00${e.slice(5)}`, 'nul'], [pctAll(id), 'pct-id'],
    [`${e}${'a'.repeat(Math.max(1, 65 - id.length))}`, 'long-id'], [`${e}${'a'.repeat(100)}`, 'long-id'], ['a'.repeat(5000), 'long-id'],
    ['..', 'traversal'], ['.', 'traversal'], ['%2e%2e', 'traversal'], ['%2F', 'traversal'], [`${e}%2F..`, 'traversal'],
    [pctEncode(`é${id}`), 'unicode'], [pctEncode('🚀'), 'unicode'], [pctEncode('\u202e'), 'unicode'], ['%ED%A0%80', 'surrogate'],
    ['%', 'bad-escape'], ['%zz', 'bad-escape'], ['%E0%A4%A', 'bad-escape'], ['%C0%AF', 'bad-escape'], ['%FF', 'bad-escape'],
    ['%25', 'pct'], ['+', 'pct'], ['%20', 'blank'], [pctEncode("' OR 1=1 --"), 'sql'], ['', 'empty'], [e.toUpperCase(), 'case'],
    [`${e}?`, 'query-junk'], [`${e}#x`, 'fragment'], [`${e};x=1`, 'matrix'], [`é${e}`, 'raw-unicode'],
  ];
}

export const PATH_MUTATIONS = 17;

/** Mutations of the whole path (kind < PATH_MUTATIONS); `pick` chooses where, so a case is reproducible. */
function mutatePath(path: string, kind: number, pick: number): Tagged<string> {
  const slashes = [...path].flatMap((c, i) => (c === '/' ? [i] : []));
  const at = slashes[pick % slashes.length] ?? 0;
  const encode = (indexes: number[]): string => [...path].map((c, i) => (indexes.includes(i) ? `%${c.charCodeAt(0).toString(16)}` : c)).join('');
  switch (kind) {
    case 0: { // percent-encode a character of the first segment: `/%761/gpu-models` is `/v1/gpu-models`
      const end = path.indexOf('/', 1) < 0 ? path.length : path.indexOf('/', 1);
      return { value: encode([1 + (pick % Math.max(1, end - 1))]), tags: ['pct-path'] };
    }
    case 16: { // percent-encode one to three letters anywhere
      const letters = [...path].flatMap((c, i) => (/[A-Za-z0-9]/.test(c) ? [i] : []));
      return { value: encode(Array.from({ length: 1 + (pick % 3) }, (_, j) => letters[(pick * (j + 7) + j) % letters.length]!)), tags: ['pct-path'] };
    }
    case 1: return { value: `${path.slice(0, at)}/${path.slice(at)}`, tags: ['double-slash'] };
    case 2: return { value: `${path}/`, tags: ['trailing-slash'] };
    case 3: return { value: `${path.slice(0, at)}/.${path.slice(at)}`, tags: ['dot-segment'] };
    case 4: return { value: `/x/..${path}`, tags: ['dot-segment'] };
    case 5: return { value: `${path.slice(0, at)}/%2e%2e/v1${path.slice(at)}`, tags: ['dot-segment'] };
    case 6: return { value: path.replace('/v1/', '/V1/'), tags: ['case'] };
    case 7: return { value: `${path}${'/a'.repeat(2000)}`, tags: ['long-path'] };
    case 8: return { value: `${path}?${'a'.repeat(20_000)}`, tags: ['long-path'] };
    case 9: return { value: `http://127.0.0.1${path}`, tags: ['absolute-form'] };
    case 10: return { value: path.replace(/\//g, '\\'), tags: ['backslash'] };
    case 11: return { value: `${path}%`, tags: ['bad-escape'] };
    case 12: return { value: `${path} x`, tags: ['raw-space'] };
    case 13: return { value: `${path}\u0000`, tags: ['raw-nul'] };
    case 14: return { value: `${path}/%2e%2e`, tags: ['dot-segment'] };
    default: return { value: `/%${path.slice(1)}`, tags: ['bad-escape'] };
  }
}

function pathArb(op: Operation, ctx: CaseContext, hostile: boolean): fc.Arbitrary<Tagged<string>> {
  const ids = (mutated: boolean) => fc.tuple(...op.pathParams.map((p) => idArb(ctx, op.template, p.name, mutated).map((v) => [p.name, v] as const)))
    .map((pairs) => ({ value: fillPath(op.template, Object.fromEntries(pairs.map(([n, v]) => [n, v.value]))), tags: pairs.flatMap(([, v]) => v.tags) }));
  if (!hostile) return ids(false);
  const whole = fc.tuple(ids(false), fc.nat({ max: PATH_MUTATIONS - 1 }), fc.nat()).map(([p, kind, pick]) => {
    const m = mutatePath(p.value, kind, pick);
    return { value: m.value, tags: [...p.tags, ...m.tags] };
  });
  return op.pathParams.length === 0 ? whole : fc.oneof(ids(true), whole);
}

// ---- query ----

function queryValueArb(schema: JsonSchema, ctx: CaseContext, hostile: boolean): fc.Arbitrary<Tagged<string>> {
  const valid = fromSchema(schema, { dict: ctx.dict }).map((v) => ({ value: typeof v === 'string' ? v : JSON.stringify(v), tags: [] as string[] }));
  if (!hostile) return valid;
  return fc.oneof(
    hostileString,
    fc.constantFrom('NaN', 'Infinity', '-1', '1e308', '-1e308', '0x10', '1_000', ' 1', '1.5', '', '[]', '{}', 'true').map((value) => ({ value, tags: ['query-type'] })),
    fc.constantFrom(...INVALID_DATES).map((value) => ({ value, tags: ['bad-date'] })),
  );
}

function queryArb(op: Operation, ctx: CaseContext, hostile: boolean): fc.Arbitrary<Tagged<string>> {
  const entries = op.query.map((p) => fc.tuple(fc.constant(p.name), p.required ? fc.constant(true) : fc.boolean(), fc.boolean(), fc.nat({ max: 5 })));
  const junk = fc.oneof(
    hostileString.map((h) => ({ value: `${pctEncode(h.value)}=1`, tags: ['unknown-param', ...h.tags] })),
    fc.constantFrom('&&&', '=', 'a', '%', '%zz=1', 'a=%00', 'a[b]=1', '__proto__[x]=1').map((value) => ({ value, tags: ['query-junk'] })),
  );
  const values = op.query.map((p) => fc.tuple(queryValueArb(p.schema, ctx, false), queryValueArb(p.schema, ctx, true)));
  return fc.tuple(fc.tuple(...entries), fc.tuple(...values), junk, fc.nat()).map(([parts, vals, ex, pick]) => {
    const tags: string[] = [];
    const pairs: string[] = [];
    // Hostile: one parameter gets a hostile value or shape, or an unknown parameter joins.
    const target = hostile && parts.length > 0 ? pick % (parts.length + 1) : -1;
    parts.forEach(([name, present, , shape], i) => {
      if (!present && i !== target) return;
      const [ok, bad] = vals[i]!;
      const v = i === target ? bad : ok;
      tags.push(...v.tags);
      const kv = `${name}=${pctEncode(v.value)}`;
      if (i === target && shape === 0) { pairs.push(kv, kv); tags.push('repeated-param'); }
      else if (i === target && shape === 1) { pairs.push(name); tags.push('query-junk'); }
      else pairs.push(kv);
    });
    if (hostile && (target < 0 || target === parts.length)) { pairs.push(ex.value); tags.push(...ex.tags); }
    return { value: pairs.length > 0 ? `?${pairs.join('&')}` : '', tags };
  });
}

// ---- body ----

interface BodyOut {
  body?: Buffer | undefined;
  contentType: string | null;
  tags: string[];
  kind: string;
}

function bodyArb(op: Operation, ctx: CaseContext, principal: PrincipalKind, hostile: boolean, hostileType: boolean): fc.Arbitrary<BodyOut> {
  const rawArb = rawBodyArb.map((r): BodyOut => ({ body: r.body, contentType: r.contentType, tags: [r.tag], kind: `raw:${r.tag}` }));
  const none = fc.constant<BodyOut>({ contentType: null, tags: [], kind: 'none' });
  const withType = (a: fc.Arbitrary<BodyOut>): fc.Arbitrary<BodyOut> => !hostileType ? a
    : fc.tuple(a, fc.constantFrom(...CONTENT_TYPES)).map(([b, [ct, tag]]) => (b.tags.includes('yaml') ? b : { ...b, contentType: ct, tags: [...b.tags, tag] }));
  if (!op.body) {
    if (!hostile) return withType(none);
    const json = fc.jsonValue({ maxDepth: 3 }).map((v): BodyOut => ({ body: Buffer.from(toJsonText(v)), contentType: 'application/json', tags: ['unexpected-body'], kind: 'json' }));
    return withType(fc.oneof({ weight: 3, arbitrary: rawArb }, { weight: 1, arbitrary: json }));
  }
  const model = ctx.models[op.key];
  const valid: fc.Arbitrary<Tagged<unknown> & { kind: string }> = fc.oneof(
    { weight: 2, arbitrary: fromSchema(op.body.schema, { dict: ctx.dict, clamp: ctx.clamps[op.key] }).map((value) => ({ value, tags: [] as string[], kind: 'schema' })) },
    ...(model ? [{ weight: 3, arbitrary: model(principal).map((value) => ({ value, tags: [] as string[], kind: 'model' })) }] : []),
  );
  const mutations = hostile ? fc.array(mutationArb, { minLength: 1, maxLength: 3 }) : fc.constant<Mutation[]>([]);
  const structured = fc.tuple(valid, mutations, fc.nat({ max: 9 })).map(([v, muts, enc]): BodyOut => {
    const m = mutate(v.value, muts);
    // A hostile type sometimes carries YAML, which the server also parses.
    const yaml = hostileType && enc === 0;
    return {
      body: Buffer.from(yaml ? toYamlText(m.value) : toJsonText(m.value), 'utf8'),
      contentType: yaml ? 'application/yaml' : 'application/json', tags: [...m.tags, ...(yaml ? ['yaml'] : [])], kind: v.kind,
    };
  });
  if (!hostile) return withType(structured);
  return withType(fc.oneof({ weight: 5, arbitrary: structured }, { weight: 3, arbitrary: rawArb }, { weight: 1, arbitrary: none }));
}

// ---- headers ----

function authArb(p: PrincipalKind): fc.Arbitrary<Tagged<[string, string][]>> {
  switch (p) {
    case 'operator': return fc.constant({ value: [['Authorization', 'Bearer {{operator}}']], tags: [] });
    case 'tenant': return fc.constant({ value: [['Authorization', 'Bearer {{tenant}}']], tags: [] });
    case 'none': return fc.constant({ value: [], tags: [] });
    case 'garbage': return fc.constantFrom(...GARBAGE_AUTH).map((v) => ({ value: [['Authorization', v]], tags: ['garbage-key'] }));
  }
}

let idemSeq = 0;

/** `<fresh>` becomes a new key here; `<reuse:n>` is resolved when sent (keys of earlier successes). */
const hostileIdemArb: fc.Arbitrary<Tagged<string | null>> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Tagged<string | null>>({ value: null, tags: ['no-idem-key'] }) },
  { weight: 2, arbitrary: fc.constantFrom('', ' ', 'k'.repeat(300), 'ключ', 'a b', '\u0000', '%00').map((value): Tagged<string | null> => ({ value, tags: ['bad-idem-key'] })) },
  { weight: 2, arbitrary: fc.nat().map((n): Tagged<string | null> => ({ value: `<reuse:${n}>`, tags: ['reused-idem-key'] })) },
);

const header = (value: [string, string][], tag: string): Tagged<[string, string][]> => ({ value, tags: [tag] });
const hostileHeaderArb: fc.Arbitrary<Tagged<[string, string][]>> = fc.oneof(
  fc.constant(header([['X-Big', 'a'.repeat(20_000)]], 'huge-header')),
  fc.constant(header(Array.from({ length: 200 }, (_, i) => [`X-H${i}`, 'v']), 'many-headers')),
  fc.constant(header([['Authorization', 'Bearer nc_live_nope']], 'double-auth')),
  fc.constant(header([['X-Forwarded-For', '\u00e9\u0001']], 'control')),
  fc.constant(header([['Content-Length', '0']], 'content-length')),
);

type Dim = 'path' | 'query' | 'body' | 'content-type' | 'headers' | 'idem';

/**
 * The arbitrary of complete cases for one operation. Each case is hostile in none (30%), one (50%)
 * or two of its parts, so most requests get past the first check and exercise the one behind it.
 */
export function caseArb(op: Operation, ctx: CaseContext): fc.Arbitrary<FuzzCase> {
  const dims: Dim[] = ['path', 'query', 'body', 'headers', ...(op.body ? ['content-type' as const] : []), ...(op.method === 'POST' ? ['idem' as const] : [])];
  const hostileDims = fc.integer({ min: 0, max: 9 }).map((n) => (n < 3 ? 0 : n < 8 ? 1 : 2))
    .chain((k) => fc.shuffledSubarray(dims, { minLength: k, maxLength: k })).map((d) => new Set(d));
  // Arbitraries are built once per variant: building one (a schema's regexes) costs more than drawing from it.
  const memo = new Map<string, fc.Arbitrary<unknown>>();
  const once = <T>(key: string, make: () => fc.Arbitrary<T>): fc.Arbitrary<T> => {
    if (!memo.has(key)) memo.set(key, make());
    return memo.get(key) as fc.Arbitrary<T>;
  };
  return fc.tuple(principalArb, hostileDims).chain(([principal, h]) => fc.record({
    path: once(`path:${h.has('path')}`, () => pathArb(op, ctx, h.has('path'))),
    query: once(`query:${h.has('query')}`, () => queryArb(op, ctx, h.has('query'))),
    body: once(`body:${principal}:${h.has('body')}:${h.has('content-type')}`, () => bodyArb(op, ctx, principal, h.has('body'), h.has('content-type'))),
    auth: once(`auth:${principal}`, () => authArb(principal)),
    idem: h.has('idem') ? hostileIdemArb : fc.constant<Tagged<string | null>>({ value: '<fresh>', tags: [] }),
    extra: h.has('headers') ? hostileHeaderArb : fc.constant(header([], '')),
  }).map(({ path, query, body, auth, idem, extra }) => assemble(op, principal, path, query, body, auth, idem, extra)));
}

function assemble(
  op: Operation, principal: PrincipalKind, path: Tagged<string>, query: Tagged<string>, body: BodyOut,
  auth: Tagged<[string, string][]>, idem: Tagged<string | null>, extra: Tagged<[string, string][]>,
): FuzzCase {
  const headers: [string, string][] = [...auth.value];
  const tags = [...path.tags, ...query.tags, ...body.tags, ...auth.tags, ...extra.tags].filter(Boolean);
  if (op.method === 'POST') {
    const key = idem.value === '<fresh>' ? `fuzz-${process.pid}-${idemSeq++}` : idem.value;
    if (key !== null) headers.push(['Idempotency-Key', key]);
    tags.push(...idem.tags);
  }
  if (body.contentType !== null) headers.push(['Content-Type', body.contentType]);
  headers.push(...extra.value);
  return {
    op: op.key, principal, tags: [...new Set(tags)], bodyless: body.body === undefined && body.contentType === null, bodyKind: body.kind,
    request: { method: op.method, target: path.value + query.value, headers, body: body.body },
  };
}

/** Values every leaf of a valid body is replaced by, one at a time, in the systematic cases. */
const LEAF_VALUES: Tagged<unknown>[] = [
  { value: 'a\u0000b', tags: ['nul'] }, { value: 'a\ud800', tags: ['surrogate'] }, { value: 'é'.repeat(70_000), tags: ['huge'] },
  { value: 1e308, tags: ['num-edge'] }, { value: -1, tags: ['num-edge'] }, { value: null, tags: ['wrong-type'] }, { value: {}, tags: ['wrong-type'] },
];

/**
 * Cases every operation gets before the random ones, so each hostile ingredient meets each
 * operation at least once: every raw body and every leaf of a valid body replaced by each of
 * LEAF_VALUES (as the operator), every id mutation (as the operator), every whole-path mutation
 * (with no key, where a 2xx is a bypass), and no body at all.
 */
export function systematicCases(op: Operation, ctx: CaseContext, seed: number): FuzzCase[] {
  const ok = (value: string): Tagged<string> => ({ value, tags: [] });
  const validPath = fc.sample(pathArb(op, ctx, false), { seed, numRuns: 1 })[0]!;
  const fresh: Tagged<string | null> = { value: '<fresh>', tags: [] };
  const noExtra = header([], '');
  const auth = (p: PrincipalKind) => fc.sample(authArb(p), { seed, numRuns: 1 })[0]!;
  const validBody: BodyOut = fc.sample(bodyArb(op, ctx, 'operator', false, false), { seed, numRuns: 1 })[0]!;
  const mk = (p: PrincipalKind, path: Tagged<string>, body: BodyOut) => assemble(op, p, path, ok(''), body, auth(p), fresh, noExtra);
  const out: FuzzCase[] = [];
  for (const r of RAW_BODIES) {
    const b = r();
    out.push(mk('operator', validPath, { body: b.body, contentType: b.contentType, tags: [b.tag], kind: `raw:${b.tag}` }));
  }
  for (let kind = 0; kind < PATH_MUTATIONS; kind++) out.push(mk('none', mutatePath(validPath.value, kind, 0), validBody));
  for (const p of op.pathParams) {
    const id = (ctx.ids[op.template.split(`{${p.name}}`)[0]!.split('/').filter(Boolean).pop() ?? '']?.own ?? ctx.missingIds)[0] ?? ctx.missingIds[0]!;
    for (const [value, tag] of idMutations(id)) {
      const filled = fillPath(op.template, Object.fromEntries(op.pathParams.map((q) => [q.name, q.name === p.name ? value : validPath.value.split('/')[op.template.split('/').indexOf(`{${q.name}}`)] ?? ''])));
      out.push(mk('operator', { value: filled, tags: [tag] }, validBody));
    }
  }
  if (op.body && validBody.body) {
    const value = JSON.parse(validBody.body.toString('utf8')) as unknown;
    const slots = slotCount(value);
    const step = Math.max(1, Math.ceil(slots / 12));
    for (let at = 0; at < slots; at += step) {
      for (const leaf of LEAF_VALUES) {
        const m = mutate(value, [{ kind: 'replace', at, with: leaf }]);
        out.push(mk('operator', validPath, { body: Buffer.from(toJsonText(m.value), 'utf8'), contentType: 'application/json', tags: m.tags, kind: 'leaf' }));
      }
    }
    out.push(mk('operator', validPath, { contentType: null, tags: [], kind: 'none' }));
  }
  return out;
}
