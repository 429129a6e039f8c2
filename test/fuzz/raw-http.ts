/**
 * A bare HTTP/1.1 client over a TCP socket. fetch and node:http normalise or refuse what a fuzzer
 * must be able to send (dot segments, raw spaces and control bytes in the target, non-ASCII header
 * values, a GET with a body), so the request goes out byte for byte as given. One request per
 * connection (`Connection: close`); the response is read until the server closes.
 */
import net from 'node:net';

export interface RawRequest {
  method: string;
  /** The request-target exactly as sent: already percent-encoded (or deliberately not). */
  target: string;
  /** Header lines in order; names and values are written as UTF-8 bytes, unchecked. */
  headers: [string, string][];
  body?: Buffer | undefined;
}

export interface RawResponse {
  /** 0: the connection closed (or timed out) without a parsable status line. */
  status: number;
  /** Lower-cased names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
  timedOut: boolean;
  /** A socket error seen while sending or reading (the response may still be complete). */
  error?: string;
}

export function encodeRequest(host: string, req: RawRequest): Buffer {
  const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  const hasLength = req.headers.some(([k]) => k.toLowerCase() === 'content-length' || k.toLowerCase() === 'transfer-encoding');
  for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
  if (req.body !== undefined && !hasLength) lines.push(`Content-Length: ${req.body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return req.body === undefined ? head : Buffer.concat([head, req.body]);
}

/** Sends one request and reads the whole response; never rejects. */
export function send(port: number, req: RawRequest, timeoutMs: number): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponse(Buffer.concat(chunks));
      resolve({ ...parsed, ms: performance.now() - started, timedOut, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on('connect', () => {
      socket.write(encodeRequest(`127.0.0.1:${port}`, req), (err) => { if (err) error ??= err.message; });
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may answer and close before reading all of a large body: keep what arrived.
    socket.on('error', (err) => { error ??= err.message; finish(false); });
    socket.on('end', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

function parseResponse(raw: Buffer): { status: number; headers: Record<string, string>; body: Buffer } {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: 0, headers: {}, body: raw };
  const [statusLine, ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = raw.subarray(headEnd + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: m ? Number(m[1]) : 0, headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(b.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
