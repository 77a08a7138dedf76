import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, McpAuthError, redactUrl } from '../errors.js';

/** What the browser tab shows once the callback has been handled. */
export interface CallbackOutcome {
  ok: boolean;
  title: string;
  detail?: string;
}

export interface CallbackListener {
  /** The exact redirect URI (with the real port when 0 was asked for). */
  readonly redirectUri: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface CallbackListenerOptions {
  /** e.g. `http://127.0.0.1:0/callback` or `http://localhost:8080/callback`; port 0 = pick a free port. */
  redirectUri: string;
  expectedState: string;
  /** Called once for the one request whose path and `state` match; its outcome is rendered. */
  onCallback: (url: URL) => Promise<CallbackOutcome>;
  /**
   * Several logins on one listener (a fixed port shared by servers): the handler for a `state`,
   * or undefined. Replaces `expectedState`/`onCallback` when given; each state is answered once.
   */
  route?: (state: string) => ((url: URL) => Promise<CallbackOutcome>) | undefined;
}

const PORT_ATTEMPTS = 5;
// Codes meaning "this machine has no usable ::1", as opposed to "someone else holds the port".
const NO_IPV6 = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT']);

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'",
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  Connection: 'close',
};

/**
 * Listens for the authorization response on a loopback redirect URI (RFC 8252 §7.3).
 *
 * `127.0.0.1` binds that address only; `localhost` binds 127.0.0.1 and `::1` on the same port,
 * because the browser may resolve the name to either (RFC 8252 §8.3) and whoever else held the
 * other family's port would receive the code. A machine without `::1` carries on with IPv4.
 *
 * Only `GET <redirect path>` with the expected `state` (RFC 6749 §10.12) reaches `onCallback`,
 * exactly once; anything else is refused without ending the wait. The listener stays open until
 * {@link CallbackListener.close} so the caller decides when the login is over.
 *
 * @throws McpAuthError `CALLBACK_PORT_IN_USE` when a fixed port is taken or not allowed,
 *   `CONFIG_INVALID` for a redirect URI that is not plain-http loopback.
 */
export async function startCallbackListener(opts: CallbackListenerOptions): Promise<CallbackListener> {
  const target = parseRedirectUri(opts.redirectUri);
  if (opts.expectedState === '' && !opts.route) {
    throw new McpAuthError(ErrorCode.Internal, 'The callback listener needs a non-empty state.');
  }
  const route =
    opts.route ?? ((state: string) => (state === opts.expectedState ? opts.onCallback : undefined));
  const handled = new Set<string>();
  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '';
    // Origin-form only; absolute-form or "*" targets are not something a browser sends here.
    if (!raw.startsWith('/')) return sendPlain(res, 400, 'Bad request');
    const base = new URL(target.url.href);
    base.port = String(req.socket.localPort ?? target.port);
    let url: URL;
    try {
      // Concatenation, not new URL(raw, base): "//host/path" must stay a path, not become a host.
      url = new URL(base.origin + raw);
    } catch {
      return sendPlain(res, 400, 'Bad request');
    }
    if (url.pathname !== target.url.pathname) return sendPlain(res, 404, 'Not found');
    if (req.method !== 'GET') return sendPlain(res, 405, 'Method not allowed', { Allow: 'GET' });

    const state = url.searchParams.get('state') ?? '';
    const onCallback = state === '' ? undefined : route(state);
    if (!onCallback) {
      return sendPage(res, 400, {
        ok: false,
        title: 'Sign-in response not recognised',
        detail:
          "This sign-in response doesn't belong to the login in progress. Start the login again from the terminal if it is still waiting.",
      });
    }
    if (handled.has(state)) {
      return sendPage(res, 409, {
        ok: false,
        title: 'Sign-in already handled',
        detail: 'This login has already received its response. You can close this tab.',
      });
    }
    handled.add(state);

    let outcome: CallbackOutcome;
    try {
      outcome = await onCallback(url);
    } catch {
      // The error itself goes to the terminal through the caller; the page stays generic.
      outcome = {
        ok: false,
        title: 'Sign-in failed',
        detail: 'mcp-auth could not complete the sign-in. See the terminal for details.',
      };
    }
    sendPage(res, outcome.ok ? 200 : 400, outcome);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    onRequest(req, res).catch(() => {
      if (!res.headersSent) sendPlain(res, 500, 'Internal error');
      else res.destroy();
    });
  };

  const servers = await bind(target, handler);
  const first = servers[0] as Server;
  const port = (first.address() as AddressInfo).port;

  let redirectUri = opts.redirectUri;
  if (target.port === 0) {
    const u = new URL(target.url.href);
    u.port = String(port);
    redirectUri = u.href;
  }

  let closing: Promise<void> | undefined;
  return {
    redirectUri,
    port,
    close(): Promise<void> {
      closing ??= Promise.all(servers.map(closeServer)).then(() => undefined);
      return closing;
    },
  };
}

interface Target {
  url: URL;
  /** `127.0.0.1`, `localhost` or `[::1]`. */
  hostname: string;
  port: number;
}

function parseRedirectUri(redirectUri: string): Target {
  const invalid = (why: string): McpAuthError =>
    new McpAuthError(ErrorCode.ConfigInvalid, `The redirect URI ${redactUrl(redirectUri)} ${why}.`, {
      hint: 'Use a loopback redirect URI such as http://127.0.0.1:0/callback or http://localhost:8080/callback.',
    });
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    throw invalid('is not a valid URL');
  }
  if (url.protocol !== 'http:') throw invalid('must use http:// (the loopback listener has no TLS)');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw invalid('must point at 127.0.0.1, localhost or [::1]');
  }
  if (url.username !== '' || url.password !== '') throw invalid('must not contain a user name or password');
  // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
  if (url.hash !== '' || redirectUri.includes('#')) throw invalid('must not contain a fragment');
  const port = url.port === '' ? 80 : Number(url.port);
  return { url, hostname: url.hostname, port };
}

async function bind(target: Target, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server[]> {
  if (target.hostname === '127.0.0.1') {
    return [await listenMapped(handler, '127.0.0.1', target.port)];
  }
  if (target.hostname === '[::1]') {
    return [await listenMapped(handler, '::1', target.port)];
  }

  for (let attempt = 0; attempt < (target.port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
    const v4 = await listenMapped(handler, '127.0.0.1', target.port);
    const port = (v4.address() as AddressInfo).port;
    try {
      return [v4, await listen(handler, '::1', port)];
    } catch (err) {
      const code = errorCode(err);
      if (code !== undefined && NO_IPV6.has(code)) return [v4];
      await closeServer(v4);
      // Someone holds the free-chosen port on ::1 only; another port will do.
      if (target.port === 0 && (code === 'EADDRINUSE' || code === 'EACCES')) continue;
      throw mapListenError(err, '[::1]', port, target.port !== 0);
    }
  }
  throw new McpAuthError(
    ErrorCode.CallbackPortInUse,
    `Could not find a port free on both 127.0.0.1 and [::1] after ${PORT_ATTEMPTS} attempts.`,
    { hint: 'Choose a port with --callback-port, or use a 127.0.0.1 redirect URI.' },
  );
}

async function listenMapped(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host: string,
  port: number,
): Promise<Server> {
  try {
    return await listen(handler, host, port);
  } catch (err) {
    throw mapListenError(err, host === '::1' ? '[::1]' : host, port, port !== 0);
  }
}

function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host: string,
  port: number,
): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      // A late socket error must not crash the process that is waiting for the login.
      server.on('error', () => undefined);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true, ipv6Only: host === '::1' });
  });
}

function mapListenError(err: unknown, host: string, port: number, fixed: boolean): McpAuthError {
  const code = errorCode(err);
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const what =
      code === 'EADDRINUSE' ? `Port ${port} on ${host} is already in use` : `Listening on port ${port} of ${host} is not permitted`;
    return new McpAuthError(ErrorCode.CallbackPortInUse, `${what}; the login callback cannot be received.`, {
      hint: fixed
        ? `Free port ${port} or choose another with --callback-port (if a pre-registered redirect URI pins this port, free it).`
        : 'Try again, or choose a port with --callback-port.',
      cause: err,
    });
  }
  return new McpAuthError(ErrorCode.Internal, `Could not listen on ${host}:${port} for the login callback.`, {
    hint: 'Check the local network configuration (loopback interface) and try again.',
    cause: err,
  });
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function sendPlain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function sendPage(res: ServerResponse, status: number, outcome: CallbackOutcome): void {
  const detail = outcome.ok ? (outcome.detail ?? 'You can close this tab.') : outcome.detail;
  const closeHint = outcome.ok && outcome.detail !== undefined ? '<p>You can close this tab.</p>\n' : '';
  const html =
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    `<title>mcp-auth: ${escapeHtml(outcome.title)}</title>\n</head>\n<body>\n` +
    `<h1>${escapeHtml(outcome.title)}</h1>\n` +
    (detail === undefined ? '' : `<p>${escapeHtml(detail)}</p>\n`) +
    closeHint +
    '</body>\n</html>\n';
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(html)),
  });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}
