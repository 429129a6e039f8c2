/**
 * A retried admin-key rotation: the retry carries the key the first attempt revoked. It is refused
 * (the new secret is never stored in clear, so it cannot be replayed) with a 401 that says the key
 * was revoked and names the break-glass; the new key works.
 */
import { expect, it } from 'vitest';
import { startServer } from './helpers.js';

it('a retried rotation is told its key was revoked and how to recover; the new key works', async () => {
  const s = await startServer({});
  try {
    const rotate = () => fetch(`${s.url}/v1/admin/keys/rotate`, {
      method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'idempotency-key': 'rot-1' }, body: '{}',
    });
    const first = await rotate();
    expect(first.status).toBe(201);
    const { apiKey } = await first.json() as { apiKey: string };
    expect(apiKey).toMatch(/^nc_/);
    const retry = await rotate();
    expect(retry.status).toBe(401);
    expect(retry.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await retry.json() as { detail: string }).detail).toMatch(/revoked.*NEOCLOUD_ADMIN_KEY/s);
    // An unknown key still gets the plain answer (no hint that it ever existed).
    const unknown = await fetch(`${s.url}/v1/whoami`, { headers: { authorization: 'Bearer nc_adm_never_issued_0123456789abcdef0123456789' } });
    expect((await unknown.json() as { detail: string }).detail).toMatch(/not valid/);
    expect((await s.call('GET', '/v1/whoami', { key: apiKey })).body).toMatchObject({ kind: 'admin' });
  } finally {
    await s.close();
  }
});
