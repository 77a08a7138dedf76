#!/usr/bin/env node
// A non-interactive "browser" for $BROWSER, used by the conformance client.
//
//   BROWSER="node test/conformance/browser.mjs" mcp-auth login <name>
//
// mcp-auth runs `$BROWSER <authorization-url>`. Test authorization servers with no
// login UI answer GET /authorize with a redirect to the redirect_uri (code + state).
// This script follows those redirects by hand, hop by hop, until it reaches the
// redirect_uri named in the authorization URL (the CLI's loopback callback), GETs it
// once and exits 0. It never leaves the loopback interface: any URL whose host is not
// localhost / 127.0.0.0/8 / [::1], or whose scheme is not http(s), is refused.

import { pathToFileURL } from 'node:url';

const MAX_HOPS = 8;
const HOP_TIMEOUT_MS = 10_000;

function log(msg) {
  process.stderr.write(`[conformance-browser] ${msg}\n`);
}

export function isLoopbackHost(hostname) {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return !!m && Number(m[1]) === 127 && m.slice(1).every((o) => Number(o) <= 255);
}

function checkUrl(u) {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`refusing non-http(s) URL: ${u.protocol}`);
  }
  if (!isLoopbackHost(u.hostname)) {
    throw new Error(`refusing non-loopback host: ${u.host}`);
  }
}

// The callback is reached when scheme, host, port and path equal the redirect_uri's.
function isCallback(u, redirect) {
  return !!redirect && u.origin === redirect.origin && u.pathname === redirect.pathname;
}

async function get(u) {
  return fetch(u, {
    method: 'GET',
    redirect: 'manual',
    headers: { accept: 'text/html,application/json;q=0.9,*/*;q=0.8' },
    signal: AbortSignal.timeout(HOP_TIMEOUT_MS),
  });
}

export async function browse(startUrl) {
  let url = new URL(startUrl);
  const ru = url.searchParams.get('redirect_uri');
  const redirect = ru ? new URL(ru) : undefined;
  if (redirect) checkUrl(redirect);

  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    checkUrl(url);
    const callback = isCallback(url, redirect);
    const res = await get(url);
    const location = res.headers.get('location');
    await res.arrayBuffer().catch(() => undefined);
    log(`GET ${url.origin}${url.pathname} -> ${res.status}${callback ? ' (callback)' : ''}`);

    if (callback) {
      // The CLI's listener answered; whatever page it shows, the browser's job is done.
      if (res.status >= 500) throw new Error(`callback answered ${res.status}`);
      return res.status;
    }
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    throw new Error(
      `authorization server answered ${res.status} without redirecting to the callback` +
        (redirect ? '' : ' (the authorization URL has no redirect_uri)'),
    );
  }
  throw new Error(`more than ${MAX_HOPS} redirects`);
}

const isMain = !!process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const target = process.argv[2];
  if (!target || process.argv.length > 3) {
    log('usage: browser.mjs <authorization-url>');
    process.exit(2);
  }
  browse(target).then(
    () => process.exit(0),
    (err) => {
      log(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
