import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import {
  startCallbackListener,
  type CallbackListener,
  type CallbackOutcome,
} from '../../../src/oauth/callback-listener.js';

const STATE = 'state-abc_123';
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()?.();
});

async function start(
  redirectUri: string,
  onCallback: (url: URL) => Promise<CallbackOutcome> = async () => ({ ok: true, title: 'Signed in' }),
): Promise<CallbackListener> {
  const listener = await startCallbackListener({ redirectUri, expectedState: STATE, onCallback });
  cleanup.push(() => listener.close());
  return listener;
}

function occupy(host: string, port: number): Promise<NetServer> {
  const server = createNetServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host === '::1' }, () => {
      cleanup.push(() => new Promise((r) => server.close(r)));
      resolve(server);
    });
  });
}

function portOf(server: NetServer): number {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = portOf(s);
  await new Promise((r) => s.close(r));
  return port;
}

let hasIpv6 = false;
let ipv6Why = '';
beforeAll(async () => {
  // A real bind decides, not os.networkInterfaces(): containers often list ::1 and refuse it.
  try {
    const s = await new Promise<NetServer>((resolve, reject) => {
      const srv = createNetServer();
      srv.once('error', reject);
      srv.listen({ host: '::1', port: 0, ipv6Only: true }, () => resolve(srv));
    });
    await new Promise((r) => s.close(r));
    hasIpv6 = true;
  } catch (err) {
    ipv6Why = `binding [::1] failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    console.warn(`Skipping the [::1] halves of the callback-listener tests: ${ipv6Why}`);
  }
});

async function get(url: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('startCallbackListener', () => {
  it('picks a free port on 127.0.0.1 and reports the real redirect URI', async () => {
    const seen: string[] = [];
    const l = await start('http://127.0.0.1:0/callback', async (url) => {
      seen.push(url.href);
      return { ok: true, title: 'Signed in to example' };
    });
    expect(l.port).toBeGreaterThan(0);
    expect(l.redirectUri).toBe(`http://127.0.0.1:${l.port}/callback`);

    const res = await get(`${l.redirectUri}?code=the-code&state=${STATE}&iss=https%3A%2F%2Fas.example`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Signed in to example');
    expect(res.text).toContain('You can close this tab');
    expect(res.text).not.toContain('the-code');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('connection')).toBe('close');
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(seen).toEqual([`http://127.0.0.1:${l.port}/callback?code=the-code&state=${STATE}&iss=https%3A%2F%2Fas.example`]);
  });

  it('listens on 127.0.0.1 only for a 127.0.0.1 redirect URI', async () => {
    if (!hasIpv6) {
      console.warn(`skipped: ${ipv6Why}`);
      return;
    }
    const l = await start('http://127.0.0.1:0/callback');
    // The same port on ::1 is still free, proving nothing listens there.
    const s = await occupy('::1', l.port);
    expect(portOf(s)).toBe(l.port);
  });

  it('keeps a fixed port and the redirect URI byte-identical', async () => {
    const port = await freePort();
    const uri = `http://127.0.0.1:${port}/oauth/callback`;
    const l = await start(uri);
    expect(l.port).toBe(port);
    expect(l.redirectUri).toBe(uri);
  });

  it('fails with CALLBACK_PORT_IN_USE naming a fixed port that is taken on 127.0.0.1', async () => {
    const taken = await occupy('127.0.0.1', 0);
    const port = portOf(taken);
    for (const host of ['127.0.0.1', 'localhost']) {
      const err = await startCallbackListener({
        redirectUri: `http://${host}:${port}/callback`,
        expectedState: STATE,
        onCallback: async () => ({ ok: true, title: 'x' }),
      }).then(
        (l) => {
          cleanup.push(() => l.close());
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(isMcpAuthError(err, ErrorCode.CallbackPortInUse), host).toBe(true);
      if (isMcpAuthError(err)) {
        expect(err.message).toContain(String(port));
        expect(err.hint).toContain('--callback-port');
        expect(err.hint).toContain(String(port));
      }
    }
  });

  it('fails with CALLBACK_PORT_IN_USE when localhost:port is taken on [::1] only, releasing 127.0.0.1', async () => {
    if (!hasIpv6) {
      console.warn(`skipped: ${ipv6Why}`);
      return;
    }
    const taken = await occupy('::1', 0);
    const port = portOf(taken);
    const err = await startCallbackListener({
      redirectUri: `http://localhost:${port}/callback`,
      expectedState: STATE,
      onCallback: async () => ({ ok: true, title: 'x' }),
    }).catch((e: unknown) => e);
    expect(isMcpAuthError(err, ErrorCode.CallbackPortInUse)).toBe(true);
    // The IPv4 half must have been released.
    const v4 = await occupy('127.0.0.1', port);
    expect(portOf(v4)).toBe(port);
  });

  it('answers localhost on both 127.0.0.1 and [::1] with the same port', async () => {
    const calls: string[] = [];
    const l = await start('http://localhost:0/callback', async (url) => {
      calls.push(url.href);
      return { ok: true, title: 'Signed in' };
    });
    expect(l.redirectUri).toBe(`http://localhost:${l.port}/callback`);

    const v4 = await get(`http://127.0.0.1:${l.port}/callback?state=wrong`);
    expect(v4.status).toBe(400);

    if (hasIpv6) {
      const v6 = await get(`http://[::1]:${l.port}/callback?state=wrong`);
      expect(v6.status).toBe(400);
      const ok = await get(`http://[::1]:${l.port}/callback?code=c&state=${STATE}`);
      expect(ok.status).toBe(200);
    } else {
      console.warn(`skipped the [::1] request: ${ipv6Why}`);
      const ok = await get(`http://127.0.0.1:${l.port}/callback?code=c&state=${STATE}`);
      expect(ok.status).toBe(200);
    }
    // The URL handed over uses the redirect URI's own host name and port.
    expect(calls).toEqual([`http://localhost:${l.port}/callback?code=c&state=${STATE}`]);
  });

  it('keeps waiting after a wrong or missing state, then handles the right one', async () => {
    const onCallback = vi.fn(async () => ({ ok: true, title: 'Signed in' }));
    const l = await start('http://127.0.0.1:0/callback', onCallback);

    const wrong = await get(`${l.redirectUri}?code=stolen&state=other`);
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain("doesn&#39;t belong to the login in progress");
    expect(wrong.text).not.toContain('stolen');
    expect(wrong.headers.get('content-security-policy')).toBe("default-src 'none'");

    const missing = await get(`${l.redirectUri}?code=x`);
    expect(missing.status).toBe(400);
    expect(onCallback).not.toHaveBeenCalled();

    const ok = await get(`${l.redirectUri}?code=good&state=${STATE}`);
    expect(ok.status).toBe(200);
    expect(onCallback).toHaveBeenCalledTimes(1);
  });

  it('answers only GET on the redirect path', async () => {
    const onCallback = vi.fn(async () => ({ ok: true, title: 'Signed in' }));
    const l = await start('http://127.0.0.1:0/callback', onCallback);
    const origin = `http://127.0.0.1:${l.port}`;

    const other = await get(`${origin}/other?state=${STATE}`);
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await get(`${origin}/callback/extra?state=${STATE}`)).status).toBe(404);
    expect((await get(`${origin}/?state=${STATE}`)).status).toBe(404);
    expect((await get(`${origin}//evil.example/callback?state=${STATE}`)).status).toBe(404);

    const post = await fetch(`${origin}/callback?state=${STATE}`, { method: 'POST', body: 'code=x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    await post.text();
    expect(onCallback).not.toHaveBeenCalled();
  });

  it('calls onCallback exactly once, even for concurrent matching requests', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const onCallback = vi.fn(async () => {
      await gate;
      return { ok: true, title: 'Signed in' };
    });
    const l = await start('http://127.0.0.1:0/callback', onCallback);
    const first = get(`${l.redirectUri}?code=one&state=${STATE}`);
    await vi.waitFor(() => expect(onCallback).toHaveBeenCalledTimes(1));
    const second = await get(`${l.redirectUri}?code=two&state=${STATE}`);
    expect(second.status).toBe(409);
    expect(second.text).toContain('already handled');
    release();
    expect((await first).status).toBe(200);
    const third = await get(`${l.redirectUri}?code=three&state=${STATE}`);
    expect(third.text).toContain('already handled');
    expect(onCallback).toHaveBeenCalledTimes(1);
  });

  it('renders a failing outcome HTML-escaped', async () => {
    const l = await start('http://127.0.0.1:0/callback', async () => ({
      ok: false,
      title: '<script>alert("t")</script>',
      detail: 'The server said: <img src=x onerror=alert(1)> & "more"',
    }));
    const res = await get(`${l.redirectUri}?error=access_denied&state=${STATE}`);
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('<script>');
    expect(res.text).not.toContain('<img');
    expect(res.text).toContain('&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;');
    expect(res.text).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;more&quot;');
    expect(res.text).not.toContain('You can close this tab');
  });

  it('shows a generic failure page when onCallback throws, without its message', async () => {
    const l = await start('http://127.0.0.1:0/callback', async () => {
      throw new Error('token endpoint said: secret-detail');
    });
    const res = await get(`${l.redirectUri}?code=c&state=${STATE}`);
    expect(res.status).toBe(400);
    expect(res.text).toContain('Sign-in failed');
    expect(res.text).not.toContain('secret-detail');
  });

  it('stays open after the callback until close(), and close() is idempotent and drops idle connections', async () => {
    const l = await startCallbackListener({
      redirectUri: 'http://localhost:0/callback',
      expectedState: STATE,
      onCallback: async () => ({ ok: true, title: 'Signed in' }),
    });
    expect((await get(`${l.redirectUri}?code=c&state=${STATE}`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${l.port}/callback?state=${STATE}`)).status).toBe(409);

    // An idle connection that never sends a request must not hold close() up.
    const idle: Socket = connect(l.port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    const idleClosed = new Promise((r) => idle.once('close', r));

    const started = Date.now();
    await Promise.all([l.close(), l.close()]);
    await l.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await idleClosed;

    await expect(fetch(`http://127.0.0.1:${l.port}/callback`)).rejects.toThrow();
    // Both families are free again.
    await occupy('127.0.0.1', l.port);
    if (hasIpv6) await occupy('::1', l.port);
  });

  it.each([
    'https://127.0.0.1:0/callback',
    'http://example.com:0/callback',
    'http://0.0.0.0:0/callback',
    'http://user@127.0.0.1:0/callback',
    'http://127.0.0.1:0/callback#frag',
    'not a url',
  ])('refuses the redirect URI %s', async (redirectUri) => {
    const err = await startCallbackListener({
      redirectUri,
      expectedState: STATE,
      onCallback: async () => ({ ok: true, title: 'x' }),
    }).catch((e: unknown) => e);
    expect(isMcpAuthError(err, ErrorCode.ConfigInvalid)).toBe(true);
  });
});
