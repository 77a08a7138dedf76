/**
 * Chooses who we are to an authorization server, and owns the callback listener that goes with
 * that choice (the listener's port is part of the identity: the redirect URI must be
 * byte-identical at registration, authorization and token exchange).
 */
import type * as oauth from 'oauth4webapi';
import type { OAuthConfig } from '../config/schema.js';
import { ErrorCode, McpAuthError, isMcpAuthError, redactUrl } from '../errors.js';
import type { CallbackListener, CallbackOutcome } from '../oauth/callback-listener.js';
import {
  chooseAuthMethod,
  localhostRedirectUri,
  registerClient,
  registrationUsable,
  type ClientIdentity,
  type StoredRegistration,
} from '../oauth/registration.js';
import { clientSecretKey, registrationKey } from '../store/key.js';
import type { BrokerDeps } from './deps.js';
import { readRegistration, writeRecord } from './records.js';

export interface IdentityWithListener {
  identity: ClientIdentity;
  listener: CallbackListener;
  /** Where a dynamic registration lives, so an `invalid_client` can discard it. */
  registrationKey?: string;
  /** True when this login registered a new client (no point retrying registration). */
  freshRegistration: boolean;
  /** A new registration to save under `registrationKey` once the login has succeeded. */
  pendingRegistration?: StoredRegistration;
}

function portOf(uri: string): number | undefined {
  const p = new URL(uri).port;
  return p === '' ? undefined : Number(p);
}

/** Client secret for a pre-registered client: the caller's `MCP_CLIENT_SECRET`, else the stored one. */
export async function clientSecretFor(deps: BrokerDeps, serverName: string): Promise<string | undefined> {
  const fromEnv = deps.env.MCP_CLIENT_SECRET;
  if (fromEnv) return fromEnv;
  return deps.store.get(clientSecretKey(serverName));
}

/** The secret a logged-in server's client authenticates with (dynamic registration or configured). */
export async function clientSecretForState(
  deps: BrokerDeps,
  serverName: string,
  state: { issuer: string; client: { clientId: string; source: ClientIdentity['source'] } },
  credential?: { clientSecret?: string },
): Promise<string | undefined> {
  if (state.client.source === 'dcr') {
    // The credential keeps the secret of the registration it was made with: the per-issuer
    // registration may since have been replaced by another server's login.
    if (credential?.clientSecret) return credential.clientSecret;
    const reg = await readRegistration(deps.store, registrationKey({ issuer: state.issuer }));
    return reg?.clientId === state.client.clientId ? reg.clientSecret : undefined;
  }
  return clientSecretFor(deps, serverName);
}

/**
 * Pre-registered client → Client ID Metadata Document (when configured and advertised) → dynamic
 * registration (reusing the one kept for this issuer, with its port) → an error that says what to
 * configure. Starts the callback listener on the port the identity needs.
 */
export async function resolveClientIdentity(
  deps: BrokerDeps,
  p: {
    serverName: string;
    oauthConfig: OAuthConfig;
    as: oauth.AuthorizationServer;
    state: string;
    onCallback: (url: URL) => Promise<CallbackOutcome>;
    signal?: AbortSignal;
  },
): Promise<IdentityWithListener> {
  const cfg = p.oauthConfig;
  const listen = (redirectUri: string) =>
    deps.startCallbackListener({ redirectUri, expectedState: p.state, onCallback: p.onCallback });

  if (cfg.clientId) {
    const secret = await clientSecretFor(deps, p.serverName);
    const listener = await listen(cfg.redirectUri ?? localhostRedirectUri(cfg.callbackPort));
    const identity: ClientIdentity = {
      clientId: cfg.clientId,
      tokenEndpointAuthMethod: chooseAuthMethod(p.as, secret !== undefined),
      redirectUri: listener.redirectUri,
      source: 'preregistered',
    };
    if (secret) identity.clientSecret = secret;
    return { identity, listener, freshRegistration: false };
  }

  if (cfg.clientMetadataUrl && p.as.client_id_metadata_document_supported === true) {
    const listener = await listen(cfg.redirectUri ?? localhostRedirectUri(cfg.callbackPort));
    return {
      identity: { clientId: cfg.clientMetadataUrl, tokenEndpointAuthMethod: 'none', redirectUri: listener.redirectUri, source: 'cimd' },
      listener,
      freshRegistration: false,
    };
  }

  if (!p.as.registration_endpoint) {
    throw new McpAuthError(
      ErrorCode.NoClientIdentity,
      `authorization server ${redactUrl(p.as.issuer)} supports neither dynamic registration nor client metadata documents, and no client id is configured`,
      { hint: `Register a client with the operator, then: mcp-auth add ${p.serverName} <url> --client-id <id> [--client-secret]` },
    );
  }

  const regKey = registrationKey({ issuer: p.as.issuer });
  const saved = await readRegistration(deps.store, regKey);
  const wantedPort = cfg.callbackPort;
  if (registrationUsable(saved, p.as.issuer, deps.now())) {
    const savedPort = portOf(saved.redirectUri);
    const matches = cfg.redirectUri ? saved.redirectUri === cfg.redirectUri : wantedPort === undefined || savedPort === wantedPort;
    if (matches) {
      try {
        const listener = await listen(saved.redirectUri);
        const identity: ClientIdentity = {
          clientId: saved.clientId,
          tokenEndpointAuthMethod: saved.tokenEndpointAuthMethod,
          redirectUri: saved.redirectUri,
          source: 'dcr',
        };
        if (saved.clientSecret) identity.clientSecret = saved.clientSecret;
        return { identity, listener, registrationKey: regKey, freshRegistration: false };
      } catch (e) {
        // The saved port is taken: register again on a free one rather than fail the login.
        if (!isMcpAuthError(e, ErrorCode.CallbackPortInUse) || wantedPort !== undefined || cfg.redirectUri) throw e;
        deps.log(`Callback port ${savedPort} is in use; registering a new client on a free port.`);
      }
    }
  }

  const listener = await listen(cfg.redirectUri ?? `http://127.0.0.1:${wantedPort ?? 0}/callback`);
  try {
    const reg = await registerClient(p.as, {
      redirectUri: listener.redirectUri,
      fetch: deps.fetch,
      now: deps.now(),
      ...(p.signal ? { signal: p.signal } : {}),
    });
    // A stored login refreshes with the secret of the registration it was made with. Replacing a
    // confidential registration now would strand that secret if this login then fails; it is
    // saved when the login succeeds instead.
    const strandsSecret = saved?.clientSecret !== undefined && saved.clientId !== reg.clientId;
    if (!strandsSecret) await writeRecord(deps.store, regKey, reg);
    const identity: ClientIdentity = {
      clientId: reg.clientId,
      tokenEndpointAuthMethod: reg.tokenEndpointAuthMethod,
      redirectUri: reg.redirectUri,
      source: 'dcr',
    };
    if (reg.clientSecret) identity.clientSecret = reg.clientSecret;
    return { identity, listener, registrationKey: regKey, freshRegistration: true, ...(strandsSecret ? { pendingRegistration: reg } : {}) };
  } catch (e) {
    await listener.close();
    throw e;
  }
}
