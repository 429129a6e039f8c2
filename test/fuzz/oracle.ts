/**
 * What every answer must satisfy, whatever was sent:
 * - no 5xx, and an answer at all, in time, without blocking the server's event loop for long
 *   (which stalls every other request, /healthz included);
 * - every 4xx is `application/problem+json` with `type` (a URI), `title`, `detail` and a `status`
 *   equal to the HTTP status; a given `type` always comes with the same status (checked over the run);
 * - a 400 names the field (`field`, and `detail` mentions it);
 * - nothing under /v1 answers 2xx to a request without a valid key, however the path is encoded;
 * - every POST takes a JSON body, `{}` when it has no fields (docs/decisions.md): one sent without a
 *   body is refused, not silently accepted;
 * - the database is unchanged by a rejected request (checked by the campaign, with a digest).
 */
import type { FuzzCase } from './cases.js';
import type { RawResponse } from './raw-http.js';

export interface Finding {
  check: string;
  /** What makes two findings of a check the same defect (the server's error, the route, ...). */
  about: string;
}

export interface ParsedAnswer {
  json: unknown;
  problem?: { type?: unknown; title?: unknown; status?: unknown; detail?: unknown; field?: unknown } | undefined;
}

export function parseAnswer(res: RawResponse): ParsedAnswer {
  let json: unknown;
  try { json = JSON.parse(res.body.toString('utf8')); } catch { json = undefined; }
  const problem = json !== null && typeof json === 'object' && !Array.isArray(json) ? json as ParsedAnswer['problem'] : undefined;
  return { json, problem };
}

/** The path a router would see: percent-decoded byte-wise, dot segments and doubled slashes resolved. */
export function routePath(target: string): string {
  let p = target.replace(/^[a-z]+:\/\/[^/]*/i, '');
  p = p.split(/[?#]/)[0] ?? '';
  const bytes: number[] = [];
  for (let i = 0; i < p.length; i++) {
    const m = /^%([0-9a-f]{2})/i.exec(p.slice(i, i + 3));
    if (m) { bytes.push(parseInt(m[1]!, 16)); i += 2; } else bytes.push(...Buffer.from(p[i]!, 'utf8'));
  }
  const segs: string[] = [];
  for (const s of Buffer.from(bytes).toString('utf8').replace(/\\/g, '/').split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop(); else segs.push(s);
  }
  return `/${segs.join('/')}`;
}

/** The API proper; everything else (health, metrics, docs, OpenAPI, the console) is public. */
export const isProtected = (target: string): boolean => /^\/v1(\/|$)/i.test(routePath(target));

export interface OracleOptions {
  /** Longest acceptable answer. */
  slowMs: number;
  /** Longest acceptable stretch the request kept the server's event loop busy (blockedMs). */
  blockMs: number;
  blockedMs: number;
  /** The last error the server logged while answering (from NC_DEBUG), if any. */
  serverError?: string | undefined;
}

const norm = (s: string): string => (s.split(' — ')[0] ?? s)
  .replace(/\b([a-z]+)_[0-9a-f]{32}\b/g, '$1_…')
  .replace(/0x[0-9a-f]+/gi, '0x…').replace(/\d{3,}/g, '#').slice(0, 140);

/** The findings one answer gives rise to (the database check is the campaign's). */
export function checkAnswer(c: FuzzCase, res: RawResponse, a: ParsedAnswer, o: OracleOptions): Finding[] {
  const out: Finding[] = [];
  if (res.timedOut) return [{ check: 'timeout', about: `${c.op} ${c.bodyKind}` }];
  if (res.status === 0) return [{ check: 'no-response', about: `${res.error ?? 'closed'} ${c.tags.join(',')}` }];
  if (res.ms > o.slowMs) out.push({ check: 'slow', about: `${c.op} ${c.bodyKind}` });
  if (o.blockedMs > o.blockMs) out.push({ check: 'blocked', about: `${c.op} ${c.bodyKind}` });
  if (res.status >= 500) out.push({ check: '5xx', about: `${res.status} ${o.serverError ? norm(o.serverError) : norm(String(a.problem?.detail ?? res.body.toString('utf8').slice(0, 80)))}` });
  if (res.status >= 200 && res.status < 300 && (c.principal === 'none' || c.principal === 'garbage') && isProtected(c.request.target)) {
    out.push({ check: 'auth-bypass', about: `${c.request.method} ${routePath(c.request.target).replace(/\/[a-z]+_[0-9a-f]{32}\b/g, '/{id}')}` });
  }
  if (res.status >= 200 && res.status < 300 && c.request.method === 'POST' && c.bodyless) {
    out.push({ check: 'bodiless-post-accepted', about: c.op });
  }
  if (res.status >= 400 && res.status < 500) {
    const p = a.problem;
    const ct = res.headers['content-type'] ?? '(none)';
    const code = (a.json as { code?: unknown } | undefined)?.code;
    if (!/^application\/problem\+json\b/i.test(ct)) {
      out.push({ check: 'not-problem-json', about: `${res.status} ${ct.split(';')[0]}${typeof code === 'string' ? ` ${code}` : ''}` });
    } else if (!p || typeof p.type !== 'string' || !isUri(p.type) || typeof p.title !== 'string' || typeof p.detail !== 'string' || p.status !== res.status) {
      out.push({ check: 'bad-problem', about: `${res.status} ${JSON.stringify(p?.type)} status=${JSON.stringify(p?.status)}` });
    } else if (res.status === 400 && (typeof p.field !== 'string' || p.field === '' || !(p.detail as string).includes(p.field))) {
      out.push({ check: '400-without-field', about: `${p.type}` });
    }
  }
  return out;
}

function isUri(s: string): boolean {
  try { return new URL(s).protocol.length > 1 && !/\s/.test(s); } catch { return false; }
}
