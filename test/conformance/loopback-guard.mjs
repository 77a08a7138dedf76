// Preloaded into the conformance runner (`node --import ./loopback-guard.mjs ...`):
// this workplace allows loopback traffic only, and the suite itself fetches a client's
// CIMD URL (https://conformance-test.local/...) in auth/offline-access-scope. A fetch to
// any non-loopback host fails at once, as an unreachable host would (the suite then
// records its INFO check "metadata URL could not be fetched").
import { isLoopbackHost } from './browser.mjs';

const realFetch = globalThis.fetch;
globalThis.fetch = function guardedFetch(input, init) {
  let host;
  try {
    host = new URL(input instanceof Request ? input.url : String(input)).hostname;
  } catch {
    return realFetch(input, init);
  }
  if (!isLoopbackHost(host)) {
    return Promise.reject(new TypeError(`fetch failed: ${host} is not loopback (blocked by loopback-guard)`));
  }
  return realFetch(input, init);
};
