/**
 * A small HTTP client for the CLI: bearer key, Idempotency-Key on every POST and PATCH, problem+json errors.
 * Every POST carries a JSON body (`{}` when the command has no fields): the API rejects POSTs without one.
 */
import { randomUUID } from 'node:crypto';

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Record<string, unknown>) {
    super(String(problem['detail'] ?? problem['title'] ?? `HTTP ${status}`));
  }
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export class ApiClient {
  constructor(private readonly baseUrl: string, private readonly apiKey: string | undefined) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    if (method === 'POST' || method === 'PATCH') {
      headers['idempotency-key'] = randomUUID();
      body ??= {};
    }
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, body: payload ?? null });
    const text = await res.text();
    const data = parse(text);
    if (!res.ok) throw new ApiError(res.status, (data ?? { detail: text.trim() || `HTTP ${res.status}` }) as Record<string, unknown>);
    if (data === undefined && text) throw new Error(`${method} ${path}: the answer is not JSON`);
    return data as T;
  }

  /**
   * Every row of a paged list (src/shared/paging.ts), following `nextCursor` in pages of 1,000:
   * the answer of one GET with the whole list in `field` (and `nextCursor: null`).
   */
  async all<R extends object>(path: string, field: keyof R & string): Promise<R> {
    const rows: unknown[] = [];
    const base = `${path}${path.includes('?') ? '&' : '?'}limit=1000`;
    let cursor: string | null = null;
    do {
      const page: Record<string, unknown> = await this.request<Record<string, unknown>>('GET', cursor === null ? base : `${base}&cursor=${encodeURIComponent(cursor)}`);
      rows.push(...((page[field] ?? []) as unknown[]));
      cursor = typeof page['nextCursor'] === 'string' ? page['nextCursor'] : null;
    } while (cursor !== null);
    return { [field]: rows, nextCursor: null } as R;
  }

  /** A GET whose answer is not JSON (a printable invoice). */
  async text(path: string): Promise<string> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    const res = await fetch(new URL(path, this.baseUrl), { headers });
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, (parse(text) ?? { detail: text.trim() || `HTTP ${res.status}` }) as Record<string, unknown>);
    return text;
  }
}
