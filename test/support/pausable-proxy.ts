// An HTTP proxy on 127.0.0.1 in front of one upstream origin (the authorization server fixture),
// which a test can pause at the two moments that matter for crash safety:
//
//   pauseBeforeForward()  requests are held on arrival, before the upstream ever sees them;
//   pauseAfterResponse()  requests go upstream, and the upstream's complete answer is held before
//                         it is passed back to the client.
//
// Each resolves with the first exchange it holds, so a test can act (e.g. SIGKILL the client) at
// exactly that point, then `release()` everything. A held exchange whose client went away meanwhile
// is dropped, never forwarded or answered: a request held "before" from a client that died was,
// as far as the upstream knows, never sent.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy received it (the body in full). */
export interface ProxiedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as `application/x-www-form-urlencoded` (what token requests are). */
  form(): URLSearchParams;
  /** Resolves once the client's connection has closed before it got its answer. */
  clientGone: Promise<void>;
}

/** The upstream's complete answer to a request. */
export interface ProxiedResponse {
  request: ProxiedRequest;
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

export interface ProxyCounters {
  /** Requests that reached the proxy. */
  received: number;
  /** Requests passed to the upstream. */
  forwarded: number;
  /** Complete answers received from the upstream. */
  answered: number;
  /** Answers written back to a client. */
  delivered: number;
  /** Exchanges abandoned because the client had gone: held requests never forwarded, held answers never delivered. */
  dropped: number;
  /** Requests the upstream could not be reached for (answered 502). */
  failed: number;
}

export interface PausableProxy {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The proxy's URL for the upstream URL `target` (same path and query). */
  via(target: string): string;
  readonly counters: Readonly<ProxyCounters>;
  /** How many exchanges are being held right now. */
  readonly holding: number;
  /** Holds every request from now on before forwarding it; resolves with the first one held. */
  pauseBeforeForward(): Promise<ProxiedRequest>;
  /** Holds every upstream answer from now on before delivering it; resolves with the first one held. */
  pauseAfterResponse(): Promise<ProxiedResponse>;
  /**
   * Stops pausing and lets everything held go on (a held exchange whose client has gone is dropped).
   * Resolves once each of them was delivered or dropped.
   */
  release(): Promise<void>;
  close(): Promise<void>;
}

type Mode = 'off' | 'before' | 'after';

interface Exchange {
  request: ProxiedRequest;
  res: ServerResponse;
  gone: boolean;
  /** Resolves once the answer was delivered, or the exchange dropped. */
  settled: Promise<void>;
  settle: () => void;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);

function readAll(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export async function startPausableProxy(upstreamOrigin: string): Promise<PausableProxy> {
  const upstream = new URL(upstreamOrigin);
  const counters: ProxyCounters = { received: 0, forwarded: 0, answered: 0, delivered: 0, dropped: 0, failed: 0 };
  let mode: Mode = 'off';
  let onHeldRequest: ((r: ProxiedRequest) => void) | undefined;
  let onHeldResponse: ((r: ProxiedResponse) => void) | undefined;
  /** Exchanges waiting for `release()`: what to do with each when it comes. */
  const held = new Set<{ exchange: Exchange; resume: () => void }>();

  function deliver(exchange: Exchange, answer: { status: number; headers: IncomingHttpHeaders; body: string }): void {
    exchange.settle();
    if (exchange.gone || exchange.res.destroyed) {
      counters.dropped += 1;
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    exchange.res.writeHead(answer.status, { ...headers, 'content-length': String(Buffer.byteLength(answer.body)) });
    exchange.res.end(answer.body);
    counters.delivered += 1;
  }

  async function forward(exchange: Exchange): Promise<void> {
    const { request } = exchange;
    counters.forwarded += 1;
    let answer: ProxiedResponse;
    try {
      answer = await new Promise<ProxiedResponse>((resolve, reject) => {
        const headers = { ...request.headers, host: upstream.host, 'content-length': String(Buffer.byteLength(request.body)) };
        delete headers.connection;
        delete headers['transfer-encoding'];
        const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers, agent: false });
        up.on('error', reject);
        up.on('response', (res) => {
          readAll(res).then(
            (body) =>
              resolve({
                request,
                status: res.statusCode ?? 502,
                headers: res.headers,
                body,
                json: <T>() => JSON.parse(body) as T,
              }),
            reject,
          );
        });
        up.end(request.body);
      });
    } catch {
      counters.failed += 1;
      deliver(exchange, { status: 502, headers: { 'content-type': 'text/plain' }, body: 'upstream unreachable' });
      return;
    }
    counters.answered += 1;
    if (mode === 'after') {
      await new Promise<void>((resume) => {
        held.add({ exchange, resume });
        onHeldResponse?.(answer);
        onHeldResponse = undefined;
      });
    }
    deliver(exchange, answer);
  }

  const server = createServer((req, res) => {
    counters.received += 1;
    readAll(req).then(
      async (body) => {
        let markGone!: () => void;
        const clientGone = new Promise<void>((resolve) => (markGone = resolve));
        const request: ProxiedRequest = {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          body,
          form: () => new URLSearchParams(body),
          clientGone,
        };
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        const exchange: Exchange = { request, res, gone: false, settled, settle };
        res.on('close', () => {
          if (!res.writableFinished) {
            exchange.gone = true;
            markGone();
          }
        });
        if (mode === 'before') {
          await new Promise<void>((resume) => {
            held.add({ exchange, resume });
            onHeldRequest?.(request);
            onHeldRequest = undefined;
          });
          if (exchange.gone || res.destroyed) {
            counters.dropped += 1;
            settle();
            return;
          }
        }
        await forward(exchange);
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;

  function arm<T>(next: Mode, set: (cb: (v: T) => void) => void): Promise<T> {
    if (mode !== 'off') throw new Error(`the proxy is already paused (${mode}); release() first`);
    mode = next;
    return new Promise<T>((resolve) => set(resolve));
  }

  const proxy: PausableProxy = {
    port,
    origin,
    via(target: string) {
      const u = new URL(target);
      return `${origin}${u.pathname}${u.search}`;
    },
    counters,
    get holding() {
      return held.size;
    },
    pauseBeforeForward() {
      return arm<ProxiedRequest>('before', (cb) => (onHeldRequest = cb));
    },
    pauseAfterResponse() {
      return arm<ProxiedResponse>('after', (cb) => (onHeldResponse = cb));
    },
    async release() {
      mode = 'off';
      onHeldRequest = undefined;
      onHeldResponse = undefined;
      const items = [...held];
      held.clear();
      for (const item of items) item.resume();
      await Promise.all(items.map((item) => item.exchange.settled));
    },
    async close() {
      await proxy.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
