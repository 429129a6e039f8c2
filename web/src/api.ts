/**
 * The HTTP client. Every call carries `Authorization: Bearer <key>` from sessionStorage; every
 * non-2xx answer becomes an ApiError carrying the problem+json title and detail.
 */

const KEY_ITEM = 'neocloud.apiKey';

export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY_ITEM),
  set: (key: string): void => sessionStorage.setItem(KEY_ITEM, key),
  clear: (): void => sessionStorage.removeItem(KEY_ITEM),
};

export class ApiError extends Error {
  constructor(readonly status: number, readonly title: string, readonly detail: string) {
    super(detail);
  }
}

/** crypto.randomUUID exists only in secure contexts (https, localhost); fall back to random hex. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function parse(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every row of a paged list (src/shared/paging.ts): asks for pages of 1,000 and follows
 * `nextCursor` until the server says the last page was served. `field` is the list's member.
 */
export async function apiAll<T>(path: string, field: string): Promise<T[]> {
  const out: T[] = [];
  const base = `${path}${path.includes('?') ? '&' : '?'}limit=1000`;
  let cursor: string | null = null;
  do {
    const page: Record<string, unknown> = await api<Record<string, unknown>>('GET', cursor === null ? base : `${base}&cursor=${encodeURIComponent(cursor)}`);
    out.push(...((page[field] ?? []) as T[]));
    cursor = typeof page['nextCursor'] === 'string' ? page['nextCursor'] : null;
  } while (cursor !== null);
  return out;
}

export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
  const key = apiKey.get();
  if (key) headers['Authorization'] = `Bearer ${key}`;
  let payload: string | undefined;
  if (method === 'POST') {
    // One key per user action: a click is one intended change.
    headers['Idempotency-Key'] = newIdempotencyKey();
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body ?? {});
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, 'Network error', 'the control plane could not be reached');
  }
  const data = parse(await res.text());
  if (!res.ok) {
    const p = (data ?? {}) as { title?: unknown; detail?: unknown };
    throw new ApiError(
      res.status,
      typeof p.title === 'string' ? p.title : res.statusText || 'Error',
      typeof p.detail === 'string' ? p.detail : `HTTP ${res.status}`,
    );
  }
  return data as T;
}
