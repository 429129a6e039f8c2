/** Schema pieces every route module shares: problem responses, ids, the Idempotency-Key header, empty bodies. */
import { Type } from 'typebox';
import { PAGE_DEFAULT, PageQueryProps } from '../../shared/paging.js';

export const ProblemSchema = Type.Object({
  type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String(),
  field: Type.Optional(Type.String({ description: 'the request field at fault, as a dotted path' })),
}, { additionalProperties: true, description: 'RFC 9457 problem document' });

export const errors = (...codes: number[]): Record<number, typeof ProblemSchema> =>
  Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

/** Resource ids: `prefix_hex`, at most 64 characters. */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const IdParam = Type.Object({ id: Id });

export const idemHeader = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: 'required: a unique key per intended change (e.g. a UUID); a retry with the same key returns the first response' })),
});

/** The body of a POST that takes no fields: `{}` (a JSON object is still required). */
export const EmptyBody = Type.Object({}, { additionalProperties: false, description: 'no fields: send {}' });

export const secured = { security: [{ bearer: [] }] };

/** `?limit&cursor` of a paged list (src/shared/paging.ts). */
export const PageQuery = Type.Object(PageQueryProps, { additionalProperties: false });
/** The page a paged list's query asks for. */
export const page = (q: { limit?: number | undefined; cursor?: string | undefined }): { limit: number; cursor?: string | undefined } => ({ limit: q.limit ?? PAGE_DEFAULT, cursor: q.cursor });
