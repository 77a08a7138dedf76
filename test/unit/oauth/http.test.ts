import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, isMcpAuthError, McpAuthError } from '../../../src/errors.js';
import { createSafeFetch } from '../../../src/oauth/http.js';

let server: Server;
let base: string;
let hits: Record<string, number> = {};
let lastRequest: { method?: string; headers?: IncomingMessage['headers']; body?: string } = {};

function route(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits[path] = (hits[path] ?? 0) + 1;
  switch (path) {
    case '/echo':
      lastRequest = { method: req.method, headers: req.headers, body };
      res.writeHead(201, 'Created Here', { 'content-type': 'application/json', 'x-extra': 'yes' });
      res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization ?? null }));
      return;
    case '/redirect':
      res.writeHead(302, { location: `${base}/target` });
      res.end('moved');
      return;
    case '/target':
      res.end('should never be fetched');
      return;
    case '/no-content':
      res.writeHead(204, { etag: '"v1"' });
      res.end();
      return;
    case '/not-modified':
      res.writeHead(304, { etag: '"v1"' });
      res.end();
      return;
    case '/hang':
      return; // never answers
    case '/slow-body':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('start');
      return; // body never finishes
    case '/big-chunked': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(16 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 4 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
      return;
    }
    case '/big-declared':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(5 * 1024 * 1024) });
      res.write('x'.repeat(100)); // lies about what follows; must be refused up front
      return;
    case '/exact': {
      const b = 'y'.repeat(1024);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1024' });
      res.end(b);
      return;
    }
    case '/gzip-bomb': {
      const gz = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x61));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': String(gz.length) });
      res.end(gz);
      return;
    }
    default:
      res.writeHead(404);
      res.end('nope');
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => route(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('createSafeFetch', () => {
  it('passes method, headers and body through and keeps status, statusText and headers', async () => {
    const f = createSafeFetch();
    const res = await f(`${base}/echo`, {
      method: 'POST',
      headers: { authorization: 'Basic abc', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'c1' }),
    });
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Created Here');
    expect(res.headers.get('x-extra')).toBe('yes');
    expect(res.url).toBe(`${base}/echo`);
    expect(await res.json()).toEqual({
      method: 'POST',
      body: 'grant_type=authorization_code&code=c1',
      auth: 'Basic abc',
    });
    expect(lastRequest.headers?.['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('accepts URL and Request inputs', async () => {
    const f = createSafeFetch();
    expect((await f(new URL(`${base}/echo`))).status).toBe(201);
    const res = await f(new Request(`${base}/echo`, { method: 'PUT', body: 'hello' }));
    expect(await res.json()).toMatchObject({ method: 'PUT', body: 'hello' });
  });

  it('returns a 3xx as is and never follows it', async () => {
    hits = {};
    const f = createSafeFetch();
    const res = await f(`${base}/redirect`, { redirect: 'follow' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${base}/target`);
    expect(hits['/target']).toBeUndefined();
    expect(hits['/redirect']).toBe(1);
  });

  it('forces redirect: manual on the underlying fetch even when the caller asks otherwise', async () => {
    const fake = vi.fn(async (_input: string | URL | Request, _init?: RequestInit) => new Response('ok'));
    const f = createSafeFetch({ fetch: fake as typeof fetch });
    await f('https://as.example.com/token', { method: 'POST', redirect: 'follow', headers: { a: 'b' } });
    expect(fake).toHaveBeenCalledTimes(1);
    const init = fake.mock.calls[0]?.[1];
    expect(init?.redirect).toBe('manual');
    expect(init?.method).toBe('POST');
    expect(init?.headers).toEqual({ a: 'b' });
    expect(init?.signal).toBeInstanceOf(AbortSignal);
  });

  it.each(['/no-content', '/not-modified'])('handles the null-body status of %s', async (path) => {
    const res = await createSafeFetch()(`${base}${path}`);
    expect([204, 304]).toContain(res.status);
    expect(res.body).toBeNull();
    expect(res.headers.get('etag')).toBe('"v1"');
  });

  it('returns a null body for 204/304 even from a fetch that hands back an empty stream', async () => {
    // Some fetch implementations and proxies give an empty body stream for 304; rebuilding a
    // Response with a body for a null-body status would throw.
    const fake = (async () => {
      const r = new Response(new ReadableStream({ start: (c) => c.close() }), { headers: { etag: '"v2"' } });
      Object.defineProperty(r, 'status', { value: 304 });
      return r;
    }) as unknown as typeof fetch;
    const res = await createSafeFetch({ fetch: fake })('https://as.example.com/jwks');
    expect(res.status).toBe(304);
    expect(res.body).toBeNull();
    expect(res.headers.get('etag')).toBe('"v2"');
  });

  it('refuses insecure URLs without calling fetch', async () => {
    const fake = vi.fn(async () => new Response('ok'));
    const f = createSafeFetch({ fetch: fake as unknown as typeof fetch });
    for (const url of ['http://as.example.com/token', 'https://u:p@as.example.com/', 'file:///etc/passwd']) {
      const err = await rejectionOf(f(url));
      expect(isMcpAuthError(err, ErrorCode.InsecureUrl), url).toBe(true);
    }
    const err = await rejectionOf(f(new Request('http://as.example.com/x')));
    expect(isMcpAuthError(err, ErrorCode.InsecureUrl)).toBe(true);
    expect(fake).not.toHaveBeenCalled();
  });

  it('times out waiting for headers', async () => {
    const started = Date.now();
    const err = await rejectionOf(createSafeFetch({ timeoutMs: 200 })(`${base}/hang`));
    expect(isMcpAuthError(err, ErrorCode.Timeout)).toBe(true);
    expect((err as Error).message).toContain('127.0.0.1');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('times out while reading a body that never ends', async () => {
    const err = await rejectionOf(createSafeFetch({ timeoutMs: 300 })(`${base}/slow-body`));
    expect(isMcpAuthError(err, ErrorCode.Timeout)).toBe(true);
  });

  it('gives back the caller abort instead of a timeout or network error', async () => {
    const controller = new AbortController();
    const p = createSafeFetch({ timeoutMs: 5000 })(`${base}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const err = await rejectionOf(p);
    expect(isMcpAuthError(err)).toBe(false);
    expect((err as Error).name).toBe('AbortError');
  });

  it('caps a chunked body with no Content-Length', async () => {
    const err = await rejectionOf(createSafeFetch({ maxResponseBytes: 64 * 1024 })(`${base}/big-chunked`));
    expect(isMcpAuthError(err, ErrorCode.ResponseTooLarge)).toBe(true);
  });

  it('refuses a declared Content-Length over the cap before reading', async () => {
    const err = await rejectionOf(createSafeFetch({ timeoutMs: 2000 })(`${base}/big-declared`));
    expect(isMcpAuthError(err, ErrorCode.ResponseTooLarge)).toBe(true);
  });

  it('caps the decoded size of a compressed body', async () => {
    const err = await rejectionOf(createSafeFetch()(`${base}/gzip-bomb`));
    expect(isMcpAuthError(err, ErrorCode.ResponseTooLarge)).toBe(true);
  });

  it('accepts a body of exactly the cap', async () => {
    const res = await createSafeFetch({ maxResponseBytes: 1024 })(`${base}/exact`);
    expect((await res.text()).length).toBe(1024);
  });

  it('reports an unreachable host as NETWORK_ERROR with the host and the cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await rejectionOf(createSafeFetch()(`http://127.0.0.1:${port}/x?code=secret`));
    expect(isMcpAuthError(err, ErrorCode.Network)).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('secret');
    expect((err as McpAuthError).cause).toBeDefined();
    expect(JSON.stringify(err)).not.toContain('cause');
  });

  it('maps a throwing injected fetch to NETWORK_ERROR and keeps McpAuthErrors as they are', async () => {
    const boom = createSafeFetch({
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as unknown as typeof fetch,
    });
    const err = await rejectionOf(boom('https://as.example.com/.well-known/oauth-authorization-server'));
    expect(isMcpAuthError(err, ErrorCode.Network)).toBe(true);
    expect((err as Error).message).toContain('as.example.com');

    const own = new McpAuthError(ErrorCode.IssuerBlocked, 'blocked');
    const passthrough = createSafeFetch({
      fetch: (async () => {
        throw own;
      }) as unknown as typeof fetch,
    });
    expect(await rejectionOf(passthrough('https://as.example.com/'))).toBe(own);
  });

  it('produces responses oauth4webapi processes (discovery through customFetch)', async () => {
    const issuer = new URL('https://as.example.com');
    const metadata = {
      issuer: issuer.href.replace(/\/$/, ''),
      authorization_endpoint: 'https://as.example.com/authorize',
      token_endpoint: 'https://as.example.com/token',
      code_challenge_methods_supported: ['S256'],
    };
    const seen: string[] = [];
    const fake = (async (input: string | URL | Request, init?: RequestInit) => {
      seen.push(`${init?.method ?? 'GET'} ${String(input)} ${init?.redirect}`);
      return new Response(JSON.stringify(metadata), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }) as typeof fetch;
    const safe = createSafeFetch({ fetch: fake });
    const response = await oauth.discoveryRequest(issuer, {
      algorithm: 'oauth2',
      [oauth.customFetch]: safe,
    });
    const as = await oauth.processDiscoveryResponse(issuer, response);
    expect(as.token_endpoint).toBe('https://as.example.com/token');
    expect(seen).toEqual(['GET https://as.example.com/.well-known/oauth-authorization-server manual']);
  });
});
