// The daemon's per-request log: one "request completed" line per request (never fastify's extra
// "incoming request" line), at info for refusals, failures and successes, except successes on the
// hot routes (headers, health), which go to debug; and the per-request child logger created only
// when a line is actually written.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../../src/daemon/app.js';
import { createLogger, lazyChildLogger } from '../../../src/daemon/logger.js';
import { HOST, PORT, stubBroker, TOKEN } from './support.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function setup(level: 'info' | 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const broker = stubBroker();
  const app = buildApp({ broker, token: TOKEN, port: () => PORT, logger, version: 't', startedAt: Date.now() });
  apps.push(app);
  const get = (url: string, token = TOKEN) => app.inject({ method: 'GET', url, headers: { host: HOST, authorization: `Bearer ${token}` } });
  return { lines, broker, get };
}

const completed = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.msg === 'request completed' || l.msg === 'request errored');

describe('request log', () => {
  it('at info: other routes log their successes (logins, logouts: the audit trail)', async () => {
    const { lines, get } = setup('info');
    expect((await get('/v1/servers')).statusCode).toBe(200);
    expect(completed(lines)).toMatchObject([{ level: 30, req: { method: 'GET', url: '/v1/servers' }, res: { statusCode: 200 } }]);
  });

  it('at info: successes on the hot routes (headers, health) are not logged, refusals are, once, with method, path and status', async () => {
    const { lines, get } = setup('info');
    expect((await get('/v1/servers/demo/headers')).statusCode).toBe(200);
    expect((await get('/v1/health')).statusCode).toBe(200);
    expect(completed(lines)).toEqual([]);
    expect((await get('/v1/servers/demo/headers', 'x'.repeat(43))).statusCode).toBe(401);
    const logged = completed(lines);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 30, req: { method: 'GET', url: '/v1/servers/demo/headers' }, res: { statusCode: 401 } });
    expect(typeof logged[0]!.responseTime).toBe('number');
    expect(typeof logged[0]!.reqId).toBe('string');
    expect(lines.some((l) => l.msg === 'incoming request')).toBe(false);
  });

  it('at debug: successes are logged too', async () => {
    const { lines, get } = setup('debug');
    await get('/v1/health');
    expect(completed(lines)).toMatchObject([{ level: 20, req: { url: '/v1/health' }, res: { statusCode: 200 } }]);
  });

  it('a failing handler is still logged as an error, and its request completed at info', async () => {
    const { lines, broker, get } = setup('info');
    broker.headers.mockRejectedValueOnce(new Error('unexpected'));
    expect((await get('/v1/servers/demo/headers')).statusCode).toBe(500);
    expect(lines.some((l) => l.level === 50 && l.msg === 'request failed')).toBe(true);
    expect(completed(lines)).toMatchObject([{ level: 30, res: { statusCode: 500 } }]);
  });
});

describe('lazyChildLogger', () => {
  it('creates the pino child only on the first enabled log call', () => {
    const lines: string[] = [];
    const parent = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const child = vi.spyOn(parent, 'child');
    const log = lazyChildLogger(parent, { reqId: 'req-1' }, {});
    log.debug('not written');
    log.trace('not written');
    expect(child).not.toHaveBeenCalled();
    expect(log.level).toBe('info');
    log.info({ x: 1 }, 'written');
    log.warn('also written');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { reqId: 'req-1', x: 1, msg: 'written' },
      { reqId: 'req-1', msg: 'also written' },
    ]);
  });

  it('with child options (a route log level), makes the child at once', () => {
    const parent = createLogger({ level: 'info', destination: { write: () => undefined } });
    const child = vi.spyOn(parent, 'child');
    lazyChildLogger(parent, { reqId: 'req-2' }, { level: 'warn' });
    expect(child).toHaveBeenCalledTimes(1);
  });
});
