/**
 * One Ajv setup for every boundary (HTTP bodies, YAML fleet specs, CLI input), so schema errors
 * always read the same: `field: message`, the field as a dotted path (`sites[0].halls[1].id`).
 *
 * Bodies are validated strictly: no type coercion ("8" is not a count) and unknown fields are
 * errors, not silently dropped. Query strings and params coerce, since they are text on the wire.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Type } from 'typebox';
import { DomainError } from './errors.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    coerceTypes: coerce ? 'array' : false,
    removeAdditional: false,
    useDefaults: true,
    strict: false,
  });
  addFormats(ajv);
  ajv.addFormat(MICROS_FORMAT, { type: 'string', validate: fitsInt64 });
  return ajv;
}

/**
 * The largest amount the ledger holds: its money columns are PostgreSQL `bigint` (2^63 − 1; the
 * same figure as pricing's MAX_MICROS, which shared code may not import).
 */
export const MAX_INT64 = 9_223_372_036_854_775_807n;
/** The Ajv format of a decimal micros string that must fit a `bigint` column (see MicrosString). */
const MICROS_FORMAT = 'micros';

/** Whether a decimal integer string lies within a signed 64-bit integer's range. */
function fitsInt64(s: string): boolean {
  if (!/^-?[0-9]{1,19}$/.test(s)) return false;
  const v = BigInt(s);
  return v <= MAX_INT64 && v >= -MAX_INT64 - 1n;
}

export const strictAjv = makeAjv(false);
export const coercingAjv = makeAjv(true);

/** `/sites/0/halls/1/id` -> `sites[0].halls[1].id` */
export function pointerToField(pointer: string, prefix = ''): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = prefix;
  for (const part of parts) {
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

export function ajvErrorToDomain(err: ErrorObject, prefix = ''): DomainError {
  let field = pointerToField(err.instancePath, prefix);
  const join = (name: string): string => (field === '' ? name : `${field}.${name}`);
  let message = err.message ?? 'is invalid';
  if (err.keyword === 'required') {
    field = join(String(err.params['missingProperty']));
    message = 'is required';
  } else if (err.keyword === 'additionalProperties') {
    field = join(String(err.params['additionalProperty']));
    message = 'is not a known field';
  } else if (err.keyword === 'const' || err.keyword === 'enum') {
    const allowed = (err.params['allowedValues'] ?? [err.params['allowedValue']]) as unknown[];
    message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  } else if (err.keyword === 'format' && err.params['format'] === MICROS_FORMAT) {
    message = `must be at most ${MAX_INT64} in magnitude (2^63 − 1 micros: what the ledger's bigint columns hold)`;
  } else if (err.keyword === 'anyOf') {
    message = 'is not one of the allowed values';
  }
  if (field === '') field = prefix === '' ? 'body' : prefix;
  return new DomainError('validation', `${field}: ${message}`, { field });
}

const cache = new WeakMap<object, ValidateFunction>();

/** Validates `value` against a JSON schema (strict), throwing a DomainError naming the field. */
export function validateOrThrow<T>(schema: object, value: unknown, prefix = ''): T {
  let fn = cache.get(schema);
  if (!fn) {
    fn = strictAjv.compile(schema);
    cache.set(schema, fn);
  }
  if (!fn(value)) {
    const errs = fn.errors ?? [];
    // anyOf/union errors are noisy: report the most specific (deepest) one.
    const best = [...errs].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
    throw best ? ajvErrorToDomain(best, prefix) : new DomainError('validation', 'body: is invalid', { field: 'body' });
  }
  return value as T;
}

/** A string schema limited to `values`, typed as their union; errors list the allowed values. */
export function oneOf<const T extends readonly string[]>(values: T, description?: string): import('typebox').TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
}

/**
 * Integer micros as a decimal string (bigint-safe on the wire): "1890000" is $1.89. Bounded to what
 * the ledger holds (a `bigint` column: |v| ≤ 2^63 − 1), so a 19-digit value beyond it is a 400
 * naming the field at the boundary, not a failure (or a wrapped value) when it is stored. `of`
 * names the unit (default micro-dollars); `nonNegative` refuses a sign.
 */
export function MicrosString(description: string, o: { nonNegative?: boolean; of?: string } = {}): import('typebox').TString {
  return Type.String({
    pattern: o.nonNegative ? '^[0-9]{1,19}$' : '^-?[0-9]{1,19}$', format: MICROS_FORMAT,
    description: `${description}: integer ${o.of ?? 'micro-dollars'} as a decimal string ("1890000" is 1.89 units), at most ${MAX_INT64}`,
  });
}
