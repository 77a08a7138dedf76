// A stand-in for the daemon's HTTP API on a loopback port: records every request and answers
// from a table of handlers, so the client and the CLI verbs can be tested without fastify or the
// broker. `writeRuntime` publishes it the way the real daemon does (runtime file, mode 0600).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AddressInfo } from 'node:net';

import type { Problem, RuntimeFile } from '../../../src/api-types.js';

export const TOKEN = 'T'.repeat(43);

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface Reply {
  status?: number;
  body?: unknown;
  contentType?: string;
  /** Never answer (timeouts). */
  hang?: boolean;
  /** Cut the connection without an answer. */
  destroy?: boolean;
  delayMs?: number;
}

export type Handler = (req: Recorded) => Reply | Promise<Reply>;

export interface FakeDaemon {
  port: number;
  requests: Recorded[];
  /** `"METHOD /path"` (path without query) → handler. */
  routes: Map<string, Handler>;
  on(route: string, handler: Handler | Reply): void;
  writeRuntime(runtimeFile: string, over?: Partial<RuntimeFile>): Promise<RuntimeFile>;
  close(): Promise<void>;
}

export function problem(status: number, code: string, detail: string, hint?: string): Reply {
  const body: Problem = { type: 'about:blank', title: code, status, code, detail, ...(hint ? { hint } : {}) };
  return { status, body, contentType: 'application/problem+json' };
}

export async function startFakeDaemon(opts: { pid?: number } = {}): Promise<FakeDaemon> {
  const requests: Recorded[] = [];
  const routes = new Map<string, Handler>();
  const pid = opts.pid ?? process.pid;
  routes.set('GET /v1/health', () => ({ body: { ok: true, pid, version: '0.1.0', store: 'memory', uptimeMs: 1234 } }));
  const hanging = new Set<import('node:http').ServerResponse>();

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(rec);
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        const p = problem(401, 'UNAUTHORIZED', 'missing or wrong API token');
        res.writeHead(401, { 'content-type': p.contentType });
        res.end(JSON.stringify(p.body));
        return;
      }
      const key = `${rec.method} ${rec.url.split('?')[0]}`;
      const handler = routes.get(key);
      Promise.resolve(handler ? handler(rec) : problem(404, 'NOT_FOUND', `no route ${key}`)).then(async (reply) => {
        if (reply.hang) {
          hanging.add(res);
          return;
        }
        if (reply.destroy) {
          res.socket?.destroy();
          return;
        }
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        const status = reply.status ?? 200;
        if (reply.body === undefined) {
          res.writeHead(status);
          res.end();
          return;
        }
        res.writeHead(status, { 'content-type': reply.contentType ?? 'application/json; charset=utf-8' });
        res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    requests,
    routes,
    on(route, handler) {
      routes.set(route, typeof handler === 'function' ? handler : () => handler);
    },
    async writeRuntime(runtimeFile, over = {}) {
      const rt: RuntimeFile = { pid, port, token: TOKEN, startedAt: Date.now(), version: '0.1.0', ...over };
      await mkdir(dirname(runtimeFile), { recursive: true, mode: 0o700 });
      await writeFile(runtimeFile, JSON.stringify(rt), { mode: 0o600 });
      return rt;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
