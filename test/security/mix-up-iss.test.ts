/**
 * Threat: authorization server mix-up (RFC 9207, RFC 9700 §4.4). With more than one authorization
 * server in play, an attacker's AS can make the client send an honest AS's authorization code to
 * the attacker's token endpoint. Defence: the authorization response's `iss` must equal the issuer
 * the request was made to (recorded with the PKCE verifier) before any code is redeemed; a missing
 * `iss` is refused when the AS promised one; and metadata must name the issuer it was fetched for.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { ErrorCode, McpAuthError } from '../../src/errors.js';
import { startHostileAs, type HostileAs } from '../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../support/test-deps.js';

let honest: HostileAs;
let attacker: HostileAs;
let deps: TestDeps;

beforeAll(async () => {
  honest = await startHostileAs();
  attacker = await startHostileAs();
});
afterAll(async () => {
  await honest.close();
  await attacker.close();
});
beforeEach(() => {
  honest.reset();
  attacker.reset();
  deps = createTestDeps();
});
afterEach(async () => {
  await deps.cleanup();
});

const tokenRequestsAnywhere = () => honest.count('/token') + attacker.count('/token');

async function loginFails(name: string): Promise<McpAuthError> {
  const e = await new Broker(deps).login(name, { timeoutMs: 5_000 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'the login must fail').toBeInstanceOf(McpAuthError);
  return e as McpAuthError;
}

describe('authorization response iss (RFC 9207)', () => {
  beforeEach(async () => {
    await addServer(deps, 'honest', { type: 'http', url: honest.mcpUrl });
  });

  it('a response carrying another issuer is refused and its code is never redeemed', async () => {
    honest.config.authorize = { iss: attacker.issuer };
    const err = await loginFails('honest');
    expect(err.code).toBe(ErrorCode.IssMismatch);
    expect(err.hint).toMatch(/mix-up/i);
    expect(tokenRequestsAnywhere()).toBe(0);
  });

  it('a missing iss is refused when the AS advertises authorization_response_iss_parameter_supported', async () => {
    honest.config.authorize = { iss: 'missing' };
    expect((await loginFails('honest')).code).toBe(ErrorCode.IssMismatch);
    expect(tokenRequestsAnywhere()).toBe(0);
  });

  it('a missing iss is accepted from an AS that does not advertise it (RFC 9207 §2.4)', async () => {
    honest.config.metadata = { ...honest.defaultMetadata(), authorization_response_iss_parameter_supported: false };
    honest.config.authorize = { iss: 'missing' };
    expect(await new Broker(deps).login('honest', { timeoutMs: 5_000 })).toMatchObject({ status: 'logged_in' });
  });

  it('a foreign iss is refused even from an AS that does not advertise the parameter', async () => {
    honest.config.metadata = { ...honest.defaultMetadata(), authorization_response_iss_parameter_supported: false };
    honest.config.authorize = { iss: attacker.issuer };
    expect((await loginFails('honest')).code).toBe(ErrorCode.IssMismatch);
    expect(tokenRequestsAnywhere()).toBe(0);
  });

  it('iss is compared as a string: a trailing slash is another issuer', async () => {
    honest.config.authorize = { iss: `${honest.issuer}/` };
    expect((await loginFails('honest')).code).toBe(ErrorCode.IssMismatch);
  });

  it('the honest flow redeems the code at the issuer it was requested from, only', async () => {
    await new Broker(deps).login('honest', { timeoutMs: 5_000 });
    expect(honest.tokenRequests('authorization_code')).toHaveLength(1);
    expect(attacker.count('/token')).toBe(0);
  });
});

describe('the classic mix-up: an attacker AS relays an honest AS response', () => {
  it("the honest AS's code, arriving at a login made to the attacker, is not sent to the attacker's token endpoint", async () => {
    // The user logs in to a server whose AS is the attacker. The attacker bounces the user to the
    // honest AS (which the user trusts and is logged in to), and the honest AS's response — code
    // and all — comes back to our callback with the honest iss.
    await addServer(deps, 'evil', { type: 'http', url: attacker.mcpUrl });
    attacker.config.routes['/authorize'] = (req) => {
      const back = new URL(req.query.get('redirect_uri')!);
      back.searchParams.set('code', 'code-issued-by-the-honest-as');
      back.searchParams.set('state', req.query.get('state')!);
      back.searchParams.set('iss', honest.issuer);
      return { status: 302, headers: { location: back.href } };
    };
    const err = await loginFails('evil');
    expect(err.code).toBe(ErrorCode.IssMismatch);
    expect(err.message).not.toContain('code-issued-by-the-honest-as');
    expect(attacker.count('/token')).toBe(0);
    expect(honest.count('/token')).toBe(0);
  });
});

describe('metadata issuer (RFC 8414 §3.3)', () => {
  it("an AS whose metadata claims another issuer's identity is refused before any authorization request", async () => {
    await addServer(deps, 'honest', { type: 'http', url: honest.mcpUrl });
    // The PRM names the honest issuer, but the document served there claims to be the attacker,
    // with the attacker's endpoints.
    honest.config.metadata = { ...attacker.defaultMetadata() };
    const err = await loginFails('honest');
    expect(err.code).toBe(ErrorCode.IssuerMismatch);
    for (const s of [honest, attacker]) {
      expect(s.count('/register')).toBe(0);
      expect(s.count('/authorize')).toBe(0);
      expect(s.count('/token')).toBe(0);
    }
    expect(deps.browser.opened).toEqual([]);
  });

  it('a PRM that points at the attacker AS is followed, but the attacker must then be consistent about who it is', async () => {
    await addServer(deps, 'honest', { type: 'http', url: honest.mcpUrl });
    honest.config.prm = { resource: honest.mcpUrl, authorization_servers: [attacker.issuer] };
    attacker.config.metadata = { ...attacker.defaultMetadata(), issuer: honest.issuer };
    expect((await loginFails('honest')).code).toBe(ErrorCode.IssuerMismatch);
    expect(attacker.count('/authorize') + honest.count('/authorize')).toBe(0);
  });
});
