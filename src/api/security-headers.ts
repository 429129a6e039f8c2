/**
 * Security headers on every answer: a Content-Security-Policy that allows only what each kind of
 * page really loads, and the usual companions (OWASP Secure Headers Project; MDN's CSP reference).
 *
 * - The console (web/dist): its own script bundle and lazily loaded chunks (`script-src 'self'`;
 *   no inline script, no eval), its stylesheet, `fetch` to this origin only, the `data:` favicon.
 *   Two inline allowances, each for a reason:
 *   - `style-src-attr 'unsafe-inline'`: ECharts writes its tooltips as HTML with `style="…"`
 *     attributes (echarts/lib/component/tooltip/tooltipMarkup.js). A style attribute cannot run
 *     script; `<style>` elements stay refused.
 *   - the printable invoice's stylesheet by its SHA-256: the console opens the invoice as a `blob:`
 *     document, which inherits the console's policy.
 * - The printable invoice (`GET /v1/invoices/{id}/html`): nothing but its own stylesheet.
 * - The API docs (/docs, Swagger UI): its own scripts; inline styles, which its React views set.
 * - Everything else (JSON, problem documents, the console's scripts and styles): `default-src
 *   'none'` — a JSON answer opened as a page can load nothing.
 *
 * Every answer also gets `frame-ancestors 'none'` with `X-Frame-Options: DENY` (no framing:
 * clickjacking), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (no URL with an
 * id leaves in a Referer), `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Resource-Policy: same-origin`. No HSTS: the server speaks plain HTTP and TLS is
 * terminated in front of it, where HSTS belongs.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { INVOICE_CSS } from '../billing/index.js';

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const INVOICE_STYLE = sha256(INVOICE_CSS);

const policy = (d: Record<string, string>): string => Object.entries(d).map(([k, v]) => `${k} ${v}`).join('; ');
const COMMON = { 'base-uri': "'none'", 'object-src': "'none'", 'frame-ancestors': "'none'" };

export const CSP = {
  console: policy({
    'default-src': "'self'", 'script-src': "'self'", 'style-src': `'self' ${INVOICE_STYLE}`, 'style-src-attr': "'unsafe-inline'",
    'img-src': "'self' data:", 'connect-src': "'self'", 'font-src': "'self'", 'form-action': "'self'", ...COMMON,
  }),
  invoice: policy({ 'default-src': "'none'", 'style-src': INVOICE_STYLE, 'form-action': "'none'", ...COMMON }),
  docs: policy({
    'default-src': "'self'", 'script-src': "'self'", 'style-src': "'self' 'unsafe-inline'", 'img-src': "'self' data:", 'connect-src': "'self'",
    'form-action': "'self'", ...COMMON,
  }),
  none: policy({ 'default-src': "'none'", 'form-action': "'none'", ...COMMON }),
} as const;

const FIXED: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The policy for an answer: by its path and content type. */
export function cspFor(url: string, contentType: string): string {
  const path = url.split('?')[0]!;
  const html = contentType.startsWith('text/html');
  if (path === '/docs' || path.startsWith('/docs/')) return CSP.docs;
  if (html && path.startsWith('/v1/')) return CSP.invoice;
  if (html) return CSP.console;
  return CSP.none;
}

/** Adds the headers to every answer, errors and the console's files included (register before any route or plugin). */
export function securityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(FIXED)) reply.header(k, v);
    reply.header('content-security-policy', cspFor(req.url, String(reply.getHeader('content-type') ?? '')));
    return payload;
  });
}
