/** Fleet routes: apply a spec (JSON, or YAML from the operator, parsed off the event loop), the overview, the catalog. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ControlPlane } from '../../app/control-plane.js';
import { FleetSpecSchema, gpuModelSummary, type FleetSpec } from '../../fleet/index.js';
import { requireAdmin } from '../../tenancy/index.js';
import { principalOf } from '../http-context.js';
import { parseYamlBounded } from '../yaml-body.js';
import { Id, IdParam, errors, secured } from './common.js';

/** A fleet spec with explicit GPU uuids for 200,000 GPUs is ~12 MB of JSON. */
export const FLEET_JSON_LIMIT_BYTES = 16 * 1024 * 1024;
/** YAML parses ~50× slower than JSON: larger specs are sent as JSON. */
export const FLEET_YAML_LIMIT_BYTES = 2 * 1024 * 1024;
/** How long PUT /v1/fleet waits for its job before answering 202 with the job to poll. */
const APPLY_WAIT_MS = 20_000;

const ApplyResult = Type.Object({
  changed: Type.Boolean(),
  summary: Type.Record(Type.String(), Type.Any()),
  nodesDown: Type.Optional(Type.Array(Type.String())),
});
const FleetJobView = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
  phase: Type.String({ description: 'what the job is doing: validating, diffing, writing, reindexing, re-placing, done' }),
  progress: Type.Number({ minimum: 0, maximum: 1, description: 'share of the current phase done' }),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  result: Type.Union([ApplyResult, Type.Null()]),
  error: Type.Union([Type.Record(Type.String(), Type.Any()), Type.Null()], { description: 'the problem document of a failed job' }),
}, { description: 'a fleet apply running in the background' });

export function fleetRoutes(app: FastifyInstance, cp: ControlPlane): void {
  // YAML is accepted here only, from the operator only (checked before the body is read).
  app.register(async (scope) => {
    scope.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string', bodyLimit: FLEET_YAML_LIMIT_BYTES },
      async (_req: unknown, body: string | Buffer) => {
        // The route's JSON limit governs reading; YAML has its own, lower one.
        if (Buffer.byteLength(body) > FLEET_YAML_LIMIT_BYTES) {
          throw Object.assign(new Error('YAML body too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
        }
        return parseYamlBounded(String(body));
      });
    const r = scope.withTypeProvider<TypeBoxTypeProvider>();
    r.put('/v1/fleet', {
      bodyLimit: FLEET_JSON_LIMIT_BYTES,
      preParsing: async (req) => requireAdmin(principalOf(req)),
      schema: {
        tags: ['fleet'], ...secured,
        summary: 'Apply a fleet spec (idempotent; JSON, or YAML up to 2 MB). Answers 200 with the result, or 202 with a job to poll when it takes longer than 20 s (or at once with `Prefer: respond-async`)',
        body: FleetSpecSchema,
        response: { 200: ApplyResult, 202: FleetJobView, ...errors(400, 401, 403, 409, 413, 415) },
      },
    }, async (req, reply) => {
      const job = cp.fleetJobs.start(req.body as FleetSpec);
      const respondAsync = /\brespond-async\b/i.test(String(req.headers['prefer'] ?? ''));
      const done = await cp.fleetJobs.wait(job.id, respondAsync ? 0 : APPLY_WAIT_MS);
      if (done.state === 'succeeded') return reply.code(200).send(done.result!);
      if (done.state === 'failed') throw cp.fleetJobs.errorOf(job.id);
      return reply.code(202).header('location', `/v1/fleet/jobs/${job.id}`).send(cp.fleetJobs.view(job.id));
    });
  });

  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/v1/fleet/jobs/:id', {
    schema: { tags: ['fleet'], summary: 'A fleet apply job: phase, progress, result or error', ...secured, params: IdParam, response: { 200: FleetJobView, ...errors(401, 403, 404) } },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return cp.fleetJobs.view(req.params.id);
  });

  r.get('/v1/fleet', {
    schema: { tags: ['fleet'], summary: 'Fleet overview: sites, power used and capped, GPUs by model and state, leased now; measured draw (from the node agents) per site and hall beside the leased draw', ...secured },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return cp.fleetOverview();
  });

  r.get('/v1/fleet/nodes', {
    schema: {
      tags: ['fleet'], ...secured,
      summary: 'Operator: every node now (or one site\'s): hall, fabric, model, state, GPUs leased and the power they may draw, with each hall\'s power cap',
      querystring: Type.Object({ siteId: Type.Optional(Id) }, { additionalProperties: false }),
      response: { 200: Type.Unknown({ description: 'halls and nodes now' }), ...errors(400, 401, 403) },
    },
  }, async (req) => {
    requireAdmin(principalOf(req));
    return cp.leases.fleetNodes(req.query.siteId ?? null);
  });

  r.get('/v1/gpu-models', { schema: { tags: ['fleet'], summary: 'The GPU catalog', ...secured } }, async () => gpuModelSummary());
}
