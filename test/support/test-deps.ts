// BrokerDeps for tests: a memory store, the real safe fetch (loopback only in practice), a fake
// clock, a non-interactive "browser" that follows the authorization redirect into the callback
// listener, a log array, and paths in a fresh temporary MCP_AUTH_HOME.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { BrokerDeps } from '../../src/broker/deps.js';
import { resolvePaths } from '../../src/config/paths.js';
import type { ServerConfig } from '../../src/config/schema.js';
import { updateConfig } from '../../src/config/servers-file.js';
import { runHeadersHelper } from '../../src/helpers/headers-helper.js';
import type { OpenBrowserResult } from '../../src/oauth/browser.js';
import { startCallbackListener } from '../../src/oauth/callback-listener.js';
import { createSafeFetch } from '../../src/oauth/http.js';
import { isLoopbackHost } from '../../src/util/loopback.js';
import { MemoryStore } from '../../src/store/memory.js';

export interface FakeClock {
  now(): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function createFakeClock(start = Date.UTC(2031, 0, 1)): FakeClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

export interface BrowserVisit {
  url: string;
  status: number;
}

/** What the test browser did. */
export interface TestBrowser {
  /** Every URL handed to `openBrowser`, in order. */
  opened: string[];
  /** Every GET it made, with the status it got. */
  visits: BrowserVisit[];
  /** Navigation failures (non-loopback hop, too many redirects, network). */
  errors: Error[];
  /** `follow` (default) navigates; `ignore` pretends to open and does nothing; `fail` reports opened: false. */
  mode: 'follow' | 'ignore' | 'fail';
  /** Resolves when every navigation started so far has ended. */
  idle(): Promise<void>;
}

const MAX_HOPS = 5;

/**
 * A browser stand-in for authorization servers without UI (like the conformance suite's): GETs the
 * URL, follows redirects by hand (at most 5 hops, loopback only, so nothing leaves the machine)
 * and lands on the callback listener. Returns at once, as a real launcher does.
 */
export function createTestBrowser(): { browser: TestBrowser; openBrowser: (url: string) => Promise<OpenBrowserResult> } {
  const navigations: Array<Promise<void>> = [];
  const browser: TestBrowser = {
    opened: [],
    visits: [],
    errors: [],
    mode: 'follow',
    async idle() {
      await Promise.all(navigations);
    },
  };
  const navigate = async (start: string): Promise<void> => {
    let url = new URL(start);
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      if (!['http:', 'https:'].includes(url.protocol) || !isLoopbackHost(url.hostname)) {
        throw new Error(`test browser refuses to leave loopback: ${url.protocol}//${url.host}`);
      }
      const res = await fetch(url, { redirect: 'manual' });
      browser.visits.push({ url: url.href, status: res.status });
      await res.arrayBuffer().catch(() => undefined);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status > 399 || location === null) return;
      url = new URL(location, url);
    }
    throw new Error(`test browser: more than ${MAX_HOPS} redirects`);
  };
  const openBrowser = async (url: string): Promise<OpenBrowserResult> => {
    browser.opened.push(url);
    if (browser.mode === 'fail') return { opened: false, reason: 'test browser set to fail' };
    if (browser.mode === 'follow') {
      navigations.push(
        navigate(url).catch((err: unknown) => {
          browser.errors.push(err instanceof Error ? err : new Error(String(err)));
        }),
      );
    }
    return { opened: true };
  };
  return { browser, openBrowser };
}

export interface TestDeps extends BrokerDeps {
  store: MemoryStore;
  clock: FakeClock;
  logs: string[];
  browser: TestBrowser;
  /** The temporary MCP_AUTH_HOME. */
  home: string;
  /** Removes the temporary home. */
  cleanup(): Promise<void>;
}

export function createTestDeps(overrides: Partial<BrokerDeps> = {}): TestDeps {
  const home = mkdtempSync(join(tmpdir(), 'mcp-auth-test-'));
  const clock = createFakeClock();
  const logs: string[] = [];
  const { browser, openBrowser } = createTestBrowser();
  const deps: TestDeps = {
    paths: resolvePaths({ MCP_AUTH_HOME: home }),
    store: new MemoryStore(),
    fetch: createSafeFetch(),
    now: clock.now,
    env: {},
    openBrowser,
    startCallbackListener,
    runHeadersHelper,
    log: (line) => {
      logs.push(line);
    },
    clock,
    logs,
    browser,
    home,
    cleanup: () => rm(home, { recursive: true, force: true }),
  };
  return Object.assign(deps, overrides);
}

/** Writes a server definition into the test home's servers.json. */
export async function addServer(deps: Pick<BrokerDeps, 'paths'>, name: string, server: ServerConfig): Promise<void> {
  await updateConfig(deps.paths, (cfg) => {
    cfg.mcpServers[name] = server;
  });
}

export interface RouteCall {
  url: string;
  method: string;
  body: string | undefined;
}

/**
 * A fetch for made-up non-loopback URLs (https://as.example.com/…): answers from a table and
 * records the calls, so nothing leaves the machine. Unknown URLs answer 404. Wrap it in
 * createSafeFetch({ fetch }) to keep the real URL, size and redirect rules.
 */
export function createRouteFetch(routes: Record<string, () => Response>): { fetch: typeof fetch; calls: RouteCall[] } {
  const calls: RouteCall[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push({ url, method: init?.method ?? 'GET', body: typeof init?.body === 'string' ? init.body : init?.body?.toString() });
    const route = routes[url];
    return route ? route() : new Response('{"error":"not_found"}', { status: 404, headers: { 'content-type': 'application/json' } });
  };
  return { fetch: fn as typeof fetch, calls };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
