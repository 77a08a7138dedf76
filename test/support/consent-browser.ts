// A cookie-keeping, form-submitting stand-in browser for the oidc-provider fixture's login and
// consent pages (test/fixtures/authorization-server.ts), so unit-level tests can run the happy
// path against a real authorization server without Chromium. Loopback only.
import type { OpenBrowserResult } from '../../src/oauth/browser.js';
import { isLoopbackHost } from '../../src/util/loopback.js';

const MAX_STEPS = 20;

interface Cookie {
  value: string;
  path: string;
}

export interface ConsentBrowser {
  opened: string[];
  errors: Error[];
  idle(): Promise<void>;
  openBrowser(url: string): Promise<OpenBrowserResult>;
}

export function createConsentBrowser(user: { login: string; password: string }): ConsentBrowser {
  const jar = new Map<string, Cookie>();
  const navigations: Array<Promise<void>> = [];

  const cookieHeader = (url: URL): string =>
    [...jar.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');

  const keep = (res: Response): void => {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a.trim())) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, { value, path });
    }
  };

  const request = async (url: URL, form?: Record<string, string>): Promise<Response> => {
    if (!isLoopbackHost(url.hostname)) throw new Error(`consent browser refuses ${url.host}`);
    const headers: Record<string, string> = { cookie: cookieHeader(url) };
    const init: RequestInit = { redirect: 'manual', headers };
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init.method = 'POST';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, init);
    keep(res);
    return res;
  };

  const navigate = async (start: string): Promise<void> => {
    let url = new URL(start);
    let form: Record<string, string> | undefined;
    for (let step = 0; step < MAX_STEPS; step++) {
      const res = await request(url, form);
      form = undefined;
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        url = new URL(location, url);
        continue;
      }
      const html = await res.text();
      const action = /<form id="(login|consent)" method="post" action="([^"]+)"/.exec(html);
      if (!action) return; // the callback page, or an error page: the login decides
      url = new URL(action[2]!, url);
      form = action[1] === 'login' ? { login: user.login, password: user.password } : {};
    }
    throw new Error('consent browser: too many steps');
  };

  const browser: ConsentBrowser = {
    opened: [],
    errors: [],
    async idle() {
      await Promise.all(navigations);
    },
    async openBrowser(url) {
      browser.opened.push(url);
      navigations.push(navigate(url).catch((e: unknown) => void browser.errors.push(e instanceof Error ? e : new Error(String(e)))));
      return { opened: true };
    },
  };
  return browser;
}
