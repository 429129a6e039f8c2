/** A small HTTP client for the CLI: bearer key, Idempotency-Key on every POST, problem+json errors. */
import { randomUUID } from 'node:crypto';

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Record<string, unknown>) {
    super(String(problem['detail'] ?? problem['title'] ?? `HTTP ${status}`));
  }
}

export class ApiClient {
  constructor(private readonly baseUrl: string, private readonly apiKey: string | undefined) {}

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    if (method === 'POST') headers['idempotency-key'] = randomUUID();
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, body: payload ?? null });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) throw new ApiError(res.status, (data ?? {}) as Record<string, unknown>);
    return data as T;
  }
}
