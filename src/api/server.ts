/**
 * The HTTP server: Fastify with strict request validation, RFC 9457 errors, bearer-key auth,
 * OpenAPI 3.1 at /openapi.json with a docs UI at /docs, Prometheus /metrics, and the web
 * console at /.
 *
 * Authentication is decided by the route that matched, never by URL text: every route needs a
 * valid key unless it is registered with `config: { public: true }` (health, readiness, metrics,
 * the API description and docs, the console's static files). The router decodes the path before
 * matching, so `/%761/gpu-models` is `/v1/gpu-models` and needs a key like it.
 */
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { ControlPlane } from '../app/control-plane.js';
import { DomainError } from '../shared/errors.js';
import { ajvErrorToDomain, coercingAjv, strictAjv } from '../shared/validation.js';
import { duplicateKeyPath } from './json-duplicates.js';
import { MAX_DEPTH, guardInput } from './input-guard.js';
import { Metrics } from './metrics.js';
import { PROBLEM_CONTENT_TYPE, problem, type Problem } from './problem.js';
import { registerRoutes } from './routes/index.js';
import { securityHeaders } from './security-headers.js';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));
export const VERSION = '0.1.0';

/** JSON bodies everywhere but the fleet spec (whose route raises its own limit). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Longest path parameter (ids are ≤ 64 characters); longer answers 414. */
const MAX_PARAM_LENGTH = 200;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without an API key. Everything else needs one. */
    public?: boolean;
    /** Authenticated by a node agent's credential instead of an API key. */
    agent?: boolean;
  }
}

export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
  /**
   * Open connections the HTTP server holds at most (NEOCLOUD_MAX_CONNECTIONS, default
   * DEFAULT_MAX_CONNECTIONS). One more is closed at once and logged (see connectionLimit), instead
   * of the process running out of file descriptors and failing somewhere else (`EMFILE` on a new
   * database connection, issue 24).
   */
  maxConnections?: number | undefined;
}

/** Default connection limit: below a typical `ulimit -n` of 65,536 with room for the database pool and files. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** A refused connection is logged at most this often (with how many were refused since): a flood must not flood the log. */
const DROP_LOG_EVERY_MS = 10_000;

/**
 * Caps the server's open connections (Node's `server.maxConnections`: a connection over the cap is
 * closed as it is accepted, before any request is read) and logs each refusal clearly, at most once
 * per DROP_LOG_EVERY_MS with the count since the last line.
 */
function connectionLimit(app: FastifyInstance, max: number, nowMs: () => number): void {
  app.server.maxConnections = max;
  let dropped = 0;
  let lastLogMs = -Infinity;
  app.server.on('drop', (data?: { remoteAddress?: string }) => {
    dropped++;
    const now = nowMs();
    if (now - lastLogMs < DROP_LOG_EVERY_MS) return;
    lastLogMs = now;
    app.log.warn({ maxConnections: max, refused: dropped, remoteAddress: data?.remoteAddress },
      `connection refused: the server already holds ${max} open connections (NEOCLOUD_MAX_CONNECTIONS); ${dropped} refused since the last such line`);
    dropped = 0;
  });
}

/** Decodes request bodies; throws on bytes that are not UTF-8 (and keeps a leading BOM, which JSON.parse refuses). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The JSON parser's own error for a body declared in a charset other than UTF-8 (message: the charset). */
const CHARSET_ERROR = 'NC_ERR_JSON_CHARSET';

/** Errors Fastify raises itself, as problem documents (never its plain JSON). */
function frameworkProblem(err: FastifyError, req: FastifyRequest): Problem | undefined {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return problem('validation', 'path: not a valid URL (malformed percent-encoding)', { field: 'path' });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem('uri_too_long', `path: a path parameter is longer than ${MAX_PARAM_LENGTH} characters`, { field: 'path' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problem('unsupported_media_type', `Content-Type: ${String(req.headers['content-type'] ?? '(none)').slice(0, 100)} is not accepted here; send application/json`, { field: 'Content-Type' });
    case CHARSET_ERROR:
      return problem('unsupported_media_type', `Content-Type: charset ${err.message} is not accepted; send JSON in UTF-8 (charset=utf-8, or no charset)`, { field: 'Content-Type' });
    case 'FST_ERR_CTP_INVALID_TYPE':
      return problem('unsupported_media_type', 'Content-Type: must be a string', { field: 'Content-Type' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem('payload_too_large', 'body: too large for this endpoint', { field: 'body' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problem('validation', 'body: is empty; send a JSON object ({} when there are no fields)', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problem('validation', `body: not valid JSON (${err.message})`, { field: 'body' });
    default:
      return undefined;
  }
}

export async function buildServer(cp: ControlPlane, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ajv: { customOptions: {} },
    // Bad percent-encoding and over-long path parameters: problem documents too.
    frameworkErrors: (err, req, reply) => {
      const doc = frameworkProblem(err, req) ?? problem('validation', `path: ${err.message}`, { field: 'path' });
      void (reply as FastifyReply).code(doc.status).type(PROBLEM_CONTENT_TYPE).send(doc);
    },
    // Errors Node's HTTP parser meets before Fastify sees a request (431, malformed requests).
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const doc = err.code === 'HPE_HEADER_OVERFLOW'
        ? problem('headers_too_large', 'headers: larger than the server accepts', { field: 'headers' })
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? problem('request_timeout', 'request: not received in time', { field: 'request' })
          : problem('bad_request', 'request: not a valid HTTP request', { field: 'request' });
      const body = JSON.stringify(doc);
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${doc.status} ${doc.title}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy(err);
    },
  });

  connectionLimit(app, opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS, () => cp.clock.nowMs());
  securityHeaders(app);

  // JSON only (YAML where a spec is applied, registered by that route): a text/plain body is a 415,
  // not a string that fails the schema.
  app.removeContentTypeParser('text/plain');
  // JSON with the parser's own message (where it broke), instead of Fastify's generic one. An own
  // `__proto__` or `constructor` field is refused by the input guard below, naming it.
  app.removeContentTypeParser('application/json');
  // JSON is UTF-8 (RFC 8259); a body declared in another charset would be read as UTF-8 and mean
  // something else, so it is a 415. A field written twice is a 400 naming it (JSON.parse would
  // silently keep the last copy).
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(String(req.headers['content-type'] ?? ''))?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(Object.assign(new Error(charset.slice(0, 40)), { code: CHARSET_ERROR, statusCode: 415 }) as FastifyError, undefined);
      return;
    }
    let text: string;
    try {
      // Strict: bytes that are not UTF-8 are refused, not turned into U+FFFD and stored.
      text = STRICT_UTF8.decode(body as Buffer);
    } catch {
      done(new DomainError('validation', 'body: not valid UTF-8; send JSON encoded in UTF-8', { field: 'body' }) as unknown as FastifyError, undefined);
      return;
    }
    if (text.length === 0) {
      done(new DomainError('validation', 'body: is empty; send a JSON object ({} when there are no fields)', { field: 'body' }) as unknown as FastifyError, undefined);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      done(new DomainError('validation', `body: not valid JSON (${(err as Error).message.slice(0, 200)})`, { field: 'body' }) as unknown as FastifyError, undefined);
      return;
    }
    const twice = duplicateKeyPath(text, MAX_DEPTH + 1);
    if (twice !== null) {
      const field = twice.slice(0, 200);
      done(new DomainError('validation', `${field}: appears twice in the same object; send each field once`, { field }) as unknown as FastifyError, undefined);
      return;
    }
    done(null, value);
  });

  // Bodies: strict (no coercion, unknown fields rejected). Query strings and params: coerced text.
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema as object));

  const metrics = new Metrics(() => cp);
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { route: req.routeOptions.url ?? 'unmatched', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // Authentication by the matched route (see the file comment). An unmatched path answers 404
  // without a key: it reveals nothing the public OpenAPI document does not.
  app.addHook('onRequest', async (req) => {
    if (req.is404 || req.routeOptions.config.public === true) return;
    if (req.routeOptions.config.agent === true) {
      req.agent = await cp.telemetry.authenticate(req.headers.authorization);
      return;
    }
    req.principal = await cp.tenants.authenticate(req.headers.authorization);
  });

  // NUL, lone surrogates, depth and size, in every body, query and path parameter, before any
  // schema or service sees them.
  app.addHook('preValidation', async (req) => {
    guardInput(req.params, '', 'path');
    guardInput(req.query, '', 'query');
    guardInput(req.body, '', 'body');
  });

  app.setErrorHandler((err: FastifyError & { validation?: import('ajv').ErrorObject[]; validationContext?: string }, req, reply) => {
    let doc: Problem;
    if (err instanceof DomainError) {
      doc = problem(err.code, err.message, err.extensions);
    } else if (err.validation && err.validation.length > 0) {
      const ctx = err.validationContext ?? 'body';
      const best = [...err.validation].sort((a, b) => b.instancePath.length - a.instancePath.length)[0]!;
      const d = ajvErrorToDomain(best, ctx === 'body' ? '' : '');
      doc = ctx === 'body' && req.body === undefined
        ? problem('validation', 'body: is required: send a JSON object with Content-Type: application/json ({} when there are no fields)', { field: 'body' })
        : problem('validation', ctx === 'body' ? d.message : `${ctx} ${d.message}`, d.extensions);
    } else {
      const known = frameworkProblem(err, req);
      if (known) {
        doc = known;
      } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
        // Any other client error Fastify raises (e.g. a body sent with GET).
        doc = { ...problem('validation', `request: ${err.message}`, { field: 'body' }), status: err.statusCode };
      } else {
        req.log.error({ err }, 'unhandled error');
        if (process.env['NC_DEBUG']) console.error(err);
        doc = problem('internal', 'an internal error occurred; it has been logged');
      }
    }
    // A rate limit says when to come back (RFC 9110 §10.2.3), in whole seconds.
    if (typeof doc['retryAfterS'] === 'number') void reply.header('retry-after', String(Math.max(1, Math.ceil(doc['retryAfterS']))));
    return reply.code(doc.status).type(PROBLEM_CONTENT_TYPE).send(doc);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!.slice(0, 200);
    reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problem('route_not_found', `no route ${req.method} ${path}`));
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'neocloud control plane', version: VERSION,
        description: 'Fleet, tenants and GPU leases. Money is integer micro-dollars sent as decimal strings (e.g. "1890000" is $1.89); ' +
          'times are RFC 3339 UTC; windows are half-open [start, end). Every mutating POST needs an Idempotency-Key header and a JSON body ({} when it has no fields).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'operator admin key or tenant API key' } } },
    },
  });
  // Plugins' own routes (docs UI, console files) are public: mark every route they register.
  await app.register(async (pub) => {
    pub.addHook('onRoute', (route) => { route.config = { ...(route.config ?? {}), public: true }; });
    await pub.register(fastifySwaggerUi, { routePrefix: '/docs' });
    if (existsSync(WEB_DIST)) {
      await pub.register(fastifyStatic, { root: WEB_DIST, prefix: '/', index: ['index.html'], wildcard: false });
    } else {
      pub.get('/', { schema: { hide: true } }, async (_req, reply) =>
        reply.type('text/plain').send('The console is not built. Run `npm run build` (npm start does it for you).'));
    }
  });

  const open = { schema: { hide: true }, config: { public: true } } as const;
  app.get('/openapi.json', open, async () => app.swagger());
  app.get('/healthz', open, async () => ({ status: 'ok' }));
  app.get('/readyz', open, async (_req: FastifyRequest, reply: FastifyReply) => {
    try {
      await cp.settings.get('fleet_initialized');
      return { status: 'ready', store: cp.handle.kind };
    } catch {
      return reply.code(503).type(PROBLEM_CONTENT_TYPE).send({ ...problem('internal', 'store not reachable'), status: 503 });
    }
  });
  app.get('/metrics', open, async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  registerRoutes(app, cp, metrics);
  return app;
}
