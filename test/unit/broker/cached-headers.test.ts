// Broker.cachedHeaders: the daemon's GET headers answered without waiting, from what the broker
// already holds, but only after checking (a stat of servers.json, then of credentials.json) that
// nothing changed; every other case is left to headers(). And the expansion cache: a server's
// `${VAR}`-free expansion is reused for its config object, a `${VAR}` one never is, so lent env
// affects one request only.
//
// A file younger than RACY_MS is never trusted, so tests that need the caches engaged move Date
// forward (only Date is faked; timers stay real).
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { readCredential, readServerState, writeRecord, type CredentialRecord } from '../../../src/broker/records.js';
import { loadConfig, updateConfig } from '../../../src/config/servers-file.js';
import type { ServerConfig } from '../../../src/config/schema.js';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { serverStateKey } from '../../../src/store/key.js';
import { FileStore } from '../../../src/store/file.js';
import { RACY_MS } from '../../../src/util/file-signature.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';
import { call, appFor, plantLogin, SERVER_URL } from '../daemon/support.js';

function ageFiles(): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + RACY_MS + 60_000);
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** A broker over the FILE store (the daemon's default) with `demo` logged in. */
async function fileSetup(server: ServerConfig = { type: 'http', url: SERVER_URL }): Promise<{ deps: TestDeps; broker: Broker; store: FileStore }> {
  const deps = createTestDeps();
  cleanups.push(deps.cleanup);
  const store = new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir });
  Object.assign(deps, { store });
  await addServer(deps, 'demo', server);
  await plantLogin(deps, 'demo', { accessToken: 'at-0001', refreshToken: 'rt-0001' });
  return { deps, broker: new Broker(deps), store };
}

/** Another writer's FileStore replaces demo's access token. */
async function rotateElsewhere(deps: TestDeps, accessToken: string): Promise<void> {
  const other = new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir });
  const state = (await readServerState(other, serverStateKey('demo')))!;
  const cred = (await readCredential(other, state.credentialKey))!;
  const next: CredentialRecord = { ...cred, accessToken };
  await writeRecord(other, state.credentialKey, next);
}

describe('Broker.cachedHeaders', () => {
  it('answers what headers() answers, once both files have been read and parsed', async () => {
    const { broker } = await fileSetup();
    ageFiles();
    expect(broker.cachedHeaders('demo')).toBeUndefined(); // nothing read yet
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001' });
    expect(broker.cachedHeaders('demo')).toEqual({ Authorization: 'Bearer at-0001' });
    expect(broker.cachedHeaders('demo')).toEqual(await broker.headers('demo'));
    expect(broker.shared.lastUsed.has('demo')).toBe(true);
  });

  it('never serves a credential after credentials.json changed (another instance, another process)', async () => {
    const { deps, broker } = await fileSetup();
    ageFiles();
    await broker.headers('demo');
    expect(broker.cachedHeaders('demo')).toEqual({ Authorization: 'Bearer at-0001' });

    await rotateElsewhere(deps, 'at-0002');
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0002' });

    // Another process: a same-size rewrite in place (same inode) by a separate node.
    const text = (await import('node:fs')).readFileSync(deps.paths.credentialsFile, 'utf8');
    vi.useRealTimers();
    await new Promise((r) => setTimeout(r, 20)); // a later timestamp than the previous write
    execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(deps.paths.credentialsFile)}, ${JSON.stringify(text.replace('at-0002', 'at-0003'))})`]);
    ageFiles();
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0003' });
    expect(broker.cachedHeaders('demo')).toEqual({ Authorization: 'Bearer at-0003' });

    // Logged out elsewhere.
    await new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir }).delete(serverStateKey('demo'));
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(isMcpAuthError(await errorOf(broker.headers('demo')), ErrorCode.LoginRequired)).toBe(true);
    expect(broker.cachedHeaders('demo')).toBeUndefined();
  });

  it('never serves a server after servers.json changed (edited, server removed, file removed)', async () => {
    const { deps, broker } = await fileSetup();
    ageFiles();
    await broker.headers('demo');
    expect(broker.cachedHeaders('demo')).toBeDefined();

    // Same server, file rewritten: checked again.
    const cfg = await loadConfig(deps.paths);
    await writeFile(deps.paths.configFile, JSON.stringify(cfg, null, 2) + '\n');
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    await broker.headers('demo');
    ageFiles();
    await broker.headers('demo');
    expect(broker.cachedHeaders('demo')).toBeDefined();

    // The server now points elsewhere: its state no longer applies.
    await updateConfig(deps.paths, (c) => {
      c.mcpServers.demo = { type: 'http', url: 'https://moved.example.com/mcp' };
    });
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(isMcpAuthError(await errorOf(broker.headers('demo')), ErrorCode.LoginRequired)).toBe(true);
    ageFiles();
    await errorOf(broker.headers('demo'));
    expect(broker.cachedHeaders('demo')).toBeUndefined();

    await updateConfig(deps.paths, (c) => {
      delete c.mcpServers.demo;
    });
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(isMcpAuthError(await errorOf(broker.headers('demo')), ErrorCode.ServerNotFound)).toBe(true);
    expect(broker.cachedHeaders('demo')).toBeUndefined();
  });

  it('leaves refreshes, ended logins and other server kinds to headers()', async () => {
    const { deps, broker } = await fileSetup();
    ageFiles();
    await broker.headers('demo');
    expect(broker.cachedHeaders('demo')).toBeDefined();
    // Due for refresh: headers() must run (and share the refresh).
    deps.clock.advance(3_600_000);
    expect(broker.cachedHeaders('demo')).toBeUndefined();

    const other = await fileSetup({ type: 'http', url: SERVER_URL, headers: { 'X-Team': 'one' } });
    ageFiles();
    expect(await other.broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'one' });
    expect(other.broker.cachedHeaders('demo')).toBeUndefined();

    const noOAuth = await fileSetup({ type: 'http', url: SERVER_URL, oauth: false, headers: { Authorization: 'Bearer static' } });
    ageFiles();
    expect(await noOAuth.broker.headers('demo')).toEqual({ Authorization: 'Bearer static' });
    expect(noOAuth.broker.cachedHeaders('demo')).toBeUndefined();

    // loginRequiredAt on the stored credential.
    const ended = await fileSetup();
    const state = (await readServerState(ended.store, serverStateKey('demo')))!;
    const cred = (await readCredential(ended.store, state.credentialKey))!;
    const endedCred: CredentialRecord = { ...cred, loginRequiredAt: ended.deps.now() };
    await writeRecord(ended.store, state.credentialKey, endedCred);
    ageFiles();
    expect(isMcpAuthError(await errorOf(ended.broker.headers('demo')), ErrorCode.LoginRequired)).toBe(true);
    expect(ended.broker.cachedHeaders('demo')).toBeUndefined();
  });

  it('a broker over a store that cannot peek always takes headers()', async () => {
    const deps = createTestDeps(); // MemoryStore
    cleanups.push(deps.cleanup);
    await addServer(deps, 'demo', { type: 'http', url: SERVER_URL });
    await plantLogin(deps, 'demo', { accessToken: 'at-0001', refreshToken: 'rt-0001' });
    const broker = new Broker(deps);
    ageFiles();
    await broker.headers('demo');
    expect(broker.cachedHeaders('demo')).toBeUndefined();
  });
});

describe('expansion and lent env', () => {
  it('a ${VAR} server is expanded per call: lent env serves its own request only', async () => {
    const { broker } = await fileSetup({ type: 'http', url: SERVER_URL, headers: { 'X-Team': '${TEAM}' } });
    ageFiles();
    expect(await broker.forRequest({ TEAM: 'a' }).headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'a' });
    expect(await broker.forRequest({ TEAM: 'b' }).headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'b' });
    expect(isMcpAuthError(await errorOf(broker.headers('demo')), ErrorCode.ConfigInvalid)).toBe(true);
    expect(broker.cachedHeaders('demo')).toBeUndefined();
    expect(await broker.forRequest({ TEAM: 'c' }).headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'c' });
  });

  it('a ${VAR}-free server is the same for every env, and follows edits of servers.json', async () => {
    const { deps, broker } = await fileSetup({ type: 'http', url: SERVER_URL, headers: { 'X-Team': 'one' } });
    ageFiles();
    expect(await broker.forRequest({ TEAM: 'a' }).headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'one' });
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'one' });
    await updateConfig(deps.paths, (c) => {
      c.mcpServers.demo = { type: 'http', url: SERVER_URL, headers: { 'X-Team': 'two' } };
    });
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'two' });
    await updateConfig(deps.paths, (c) => {
      c.mcpServers.demo = { type: 'http', url: SERVER_URL, headers: { 'X-Team': '${TEAM}' } };
    });
    expect(await broker.forRequest({ TEAM: 'lent' }).headers('demo')).toEqual({ Authorization: 'Bearer at-0001', 'X-Team': 'lent' });
  });

  it('headers() results stay the caller’s own to modify', async () => {
    const { broker } = await fileSetup();
    ageFiles();
    const first = await broker.headers('demo');
    first.Authorization = 'tampered';
    expect(await broker.headers('demo')).toEqual({ Authorization: 'Bearer at-0001' });
    expect(broker.cachedHeaders('demo')).toEqual({ Authorization: 'Bearer at-0001' });
    expect(Object.isFrozen(broker.cachedHeaders('demo'))).toBe(true);
  });
});

describe('GET /v1/servers/:name/headers over the file store', () => {
  it('answers from the broker at once, and the next request after a write sees it', async () => {
    const { deps, broker } = await fileSetup();
    const app = appFor(broker);
    cleanups.push(() => app.close());
    ageFiles();
    const spy = vi.spyOn(broker, 'headers');
    const first = await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ headers: { Authorization: 'Bearer at-0001' } });
    expect(spy).toHaveBeenCalledTimes(1);
    const second = await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    expect(second.body).toBe(first.body);
    expect(second.headers['content-type']).toBe(first.headers['content-type']);
    expect(second.headers['cache-control']).toBe('no-store');
    expect(spy).toHaveBeenCalledTimes(1); // the fast path

    await rotateElsewhere(deps, 'at-0002');
    const third = await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    expect(third.json()).toEqual({ headers: { Authorization: 'Bearer at-0002' } });
    expect(spy).toHaveBeenCalledTimes(2);

    // Concurrent requests (answered first-of-turn at once, the rest in one batch after the turn):
    // every one gets the current token, and a write between two bursts is seen by the second.
    const burst = () => Promise.all(Array.from({ length: 25 }, () => call(app, { method: 'GET', url: '/v1/servers/demo/headers' })));
    for (const r of await burst()) expect(r.json()).toEqual({ headers: { Authorization: 'Bearer at-0002' } });
    ageFiles();
    await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    await rotateElsewhere(deps, 'at-0003');
    for (const r of await burst()) expect(r.json()).toEqual({ headers: { Authorization: 'Bearer at-0003' } });
    ageFiles();
    await call(app, { method: 'GET', url: '/v1/servers/demo/headers' });
    const calls = spy.mock.calls.length;
    for (const r of await burst()) expect(r.json()).toEqual({ headers: { Authorization: 'Bearer at-0003' } });
    expect(spy.mock.calls.length).toBe(calls); // all from the broker's cached answer

    // Logged out elsewhere: a burst after it is refused, every request.
    await new FileStore({ file: deps.paths.credentialsFile, locksDir: deps.paths.locksDir }).delete(serverStateKey('demo'));
    for (const r of await burst()) expect(r.statusCode).toBe(409);
    await plantLogin(deps, 'demo', { accessToken: 'at-0002', refreshToken: 'rt-0002' });

    // POST with env never takes the shared fast path.
    const lent = await call(app, { method: 'POST', url: '/v1/servers/demo/headers', payload: { env: { X: '1' } } });
    expect(lent.json()).toEqual({ headers: { Authorization: 'Bearer at-0002' } });
  });
});
