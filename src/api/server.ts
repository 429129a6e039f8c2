/**
 * The HTTP server: Fastify with strict request validation, RFC 9457 errors, bearer-key auth on
 * /v1, OpenAPI 3.1 at /openapi.json with a docs UI at /docs, Prometheus /metrics, and the web
 * console at /.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import YAML from 'yaml';
import type { ControlPlane } from '../app/control-plane.js';
import { DomainError } from '../shared/errors.js';
import { ajvErrorToDomain, coercingAjv, strictAjv } from '../shared/validation.js';
import { Metrics } from './metrics.js';
import { PROBLEM_CONTENT_TYPE, problem } from './problem.js';
import { registerRoutes } from './routes.js';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
export const VERSION = '0.1.0';

export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
}

export async function buildServer(cp: ControlPlane, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: 16 * 1024 * 1024, // fleet specs with explicit GPU uuids can be large
    ajv: { customOptions: {} },
  });

  // Bodies: strict (no coercion, unknown fields rejected). Query strings and params: coerced text.
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema as object));

  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, YAML.parse(body as string));
    } catch (err) {
      done(new DomainError('validation', `body: not valid YAML (${(err as Error).message.split('\n')[0]})`, { field: 'body' }) as unknown as FastifyError);
    }
  });

  const metrics = new Metrics(() => cp);
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { route: req.routeOptions.url ?? 'unmatched', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // Every /v1 request carries a bearer key.
  app.addHook('onRequest', async (req) => {
    if (req.url.startsWith('/v1/') || req.url === '/v1') {
      req.principal = await cp.tenants.authenticate(req.headers.authorization);
    }
  });

  app.setErrorHandler((err: FastifyError & { validation?: import('ajv').ErrorObject[]; validationContext?: string }, req, reply) => {
    let doc;
    if (err instanceof DomainError) {
      doc = problem(err.code, err.message, err.extensions);
    } else if (err.validation && err.validation.length > 0) {
      const ctx = err.validationContext ?? 'body';
      const best = [...err.validation].sort((a, b) => b.instancePath.length - a.instancePath.length)[0]!;
      const d = ajvErrorToDomain(best, ctx === 'body' ? '' : '');
      doc = problem('validation', ctx === 'body' ? d.message : `${ctx} ${d.message}`, d.extensions);
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      doc = problem('unsupported_media_type', `Content-Type: ${req.headers['content-type'] ?? '(none)'} is not accepted; send application/json`, { field: 'Content-Type' });
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      doc = problem('payload_too_large', 'body: too large');
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // Malformed JSON, empty JSON body and similar parser errors.
      doc = { ...problem('validation', `body: ${err.message}`, { field: 'body' }), status: err.statusCode };
    } else {
      req.log.error({ err }, 'unhandled error');
      if (process.env['NC_DEBUG']) console.error(err);
      doc = problem('internal', 'an internal error occurred; it has been logged');
    }
    return reply.code(doc.status).type(PROBLEM_CONTENT_TYPE).send(doc);
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problem('route_not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'neocloud control plane', version: VERSION, description: 'Fleet, tenants and GPU leases. Money is integer micro-dollars; times are RFC 3339 UTC; windows are half-open [start, end).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'operator admin key or tenant API key' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await cp.store.getSetting('fleet_initialized');
      return { status: 'ready', store: cp.handle.kind };
    } catch {
      return reply.code(503).type(PROBLEM_CONTENT_TYPE).send({ ...problem('internal', 'store not reachable'), status: 503 });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  registerRoutes(app, cp, metrics);

  if (existsSync(WEB_DIST)) {
    await app.register(fastifyStatic, { root: WEB_DIST, prefix: '/', index: ['index.html'], wildcard: false });
  } else {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/plain').send('The console is not built. Run `npm run build` (npm start does it for you).'));
  }
  return app;
}
