// Regression: registrations are kept per issuer, so a second server's login on the same issuer
// may replace the registration. A login made with the earlier confidential client must still
// refresh with that client's own secret.
import { afterEach, beforeEach, expect, it } from 'vitest';

import { Broker } from '../../../src/broker/broker.js';
import { registrationKey } from '../../../src/store/key.js';
import { startHostileAs, type HostileAs } from '../../support/hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from '../../support/test-deps.js';

let as: HostileAs;
let deps: TestDeps;
let broker: Broker;

beforeEach(async () => {
  as = await startHostileAs();
  as.config.metadata = { ...as.defaultMetadata(), token_endpoint_auth_methods_supported: ['client_secret_basic'] };
  deps = createTestDeps();
  broker = new Broker(deps);
  await addServer(deps, 'a', { type: 'http', url: as.mcpUrl });
});

afterEach(async () => {
  await broker.close();
  await as.close();
  await deps.cleanup();
});

it('refreshes with the secret of the registration the login was made with, after the issuer registration was replaced', async () => {
  const outcome = await broker.login('a');
  expect(outcome.status).toBe('logged_in');
  const [registered] = as.registrations();
  expect(registered?.token_endpoint_auth_method).toBe('client_secret_basic');
  const key = registrationKey({ issuer: as.issuer });
  const original = JSON.parse((await deps.store.get(key))!) as { clientId: string; clientSecret: string };
  // Another server's login re-registered on this issuer.
  await deps.store.set(key, JSON.stringify({ ...original, clientId: 'someone-else', clientSecret: 'other-secret' }));

  deps.clock.advance(24 * 3600_000);
  await broker.headers('a');
  const refresh = as.tokenRequests('refresh_token');
  expect(refresh).toHaveLength(1);
  const basic = Buffer.from(String(refresh[0]!.headers.authorization).replace(/^Basic /, ''), 'base64').toString();
  expect(basic).toBe(`${encodeURIComponent(original.clientId)}:${encodeURIComponent(original.clientSecret)}`);
});
