/** The operations of an OpenAPI 3.1 document, flattened for the fuzzer. */

export type JsonSchema = Record<string, unknown>;

export interface Param {
  name: string;
  schema: JsonSchema;
  required: boolean;
}

export interface Operation {
  /** `POST /v1/leases/{id}/release` */
  key: string;
  method: string;
  /** The path template with `{name}` placeholders. */
  template: string;
  pathParams: Param[];
  query: Param[];
  /** The JSON body schema; undefined when the operation declares no body. */
  body?: { schema: JsonSchema; required: boolean } | undefined;
}

interface Doc {
  paths: Record<string, Record<string, { parameters?: ({ in: string } & Param)[]; requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> } }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch']);

export function operationsOf(doc: Doc): Operation[] {
  const resolve = (s: unknown): JsonSchema => inlineRefs(s, doc.components?.schemas ?? {}, 0) as JsonSchema;
  const ops: Operation[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      if (!METHODS.has(m)) continue;
      const params = (op.parameters ?? []).map((p) => ({ ...p, schema: resolve(p.schema ?? {}), required: p.required === true }));
      const json = op.requestBody?.content?.['application/json']?.schema;
      ops.push({
        key: `${m.toUpperCase()} ${template}`,
        method: m.toUpperCase(),
        template,
        pathParams: params.filter((p) => p.in === 'path'),
        query: params.filter((p) => p.in === 'query'),
        body: json ? { schema: resolve(json), required: op.requestBody?.required === true } : undefined,
      });
    }
  }
  return ops;
}

/** Replaces `{"$ref": "#/components/schemas/X"}` by X (cycles are cut at depth 20). */
function inlineRefs(s: unknown, schemas: Record<string, JsonSchema>, depth: number): unknown {
  if (Array.isArray(s)) return s.map((x) => inlineRefs(x, schemas, depth));
  if (s === null || typeof s !== 'object') return s;
  const ref = (s as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/') && depth < 20) {
    return inlineRefs(schemas[ref.slice('#/components/schemas/'.length)] ?? {}, schemas, depth + 1);
  }
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, inlineRefs(v, schemas, depth)]));
}

/** The path with each `{name}` replaced by an already-encoded segment. */
export function fillPath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? `{${name}}`);
}
