/**
 * One loopback listener per fixed redirect URI, shared by every login that needs it: servers
 * configured with the same `callbackPort` (a redirect URI registered once with several clients)
 * can log in at the same time, each callback routed to its login by `state` (RFC 6749 §10.12).
 * Random-port redirect URIs never collide and get a listener of their own.
 */
import type { CallbackListener, CallbackListenerOptions, CallbackOutcome } from './callback-listener.js';

type Start = (opts: CallbackListenerOptions) => Promise<CallbackListener>;
type Handler = (url: URL) => Promise<CallbackOutcome>;

interface Shared {
  listener: Promise<CallbackListener>;
  routes: Map<string, Handler>;
}

function hasFixedPort(redirectUri: string): boolean {
  const port = new URL(redirectUri).port;
  return port !== '' && port !== '0';
}

/** A drop-in `startCallbackListener` that shares fixed-port listeners between concurrent logins. */
export function createCallbackHub(start: Start): Start {
  const shared = new Map<string, Shared>();

  return async (opts) => {
    if (!hasFixedPort(opts.redirectUri)) return start(opts);
    const key = opts.redirectUri;
    let entry = shared.get(key);
    if (!entry) {
      const routes = new Map<string, Handler>();
      const created: Shared = {
        routes,
        listener: start({ ...opts, route: (state) => routes.get(state) }),
      };
      shared.set(key, created);
      created.listener.catch(() => {
        if (shared.get(key) === created) shared.delete(key);
      });
      entry = created;
    }
    const current = entry;
    current.routes.set(opts.expectedState, opts.onCallback);
    let listener: CallbackListener;
    try {
      listener = await current.listener;
    } catch (e) {
      current.routes.delete(opts.expectedState);
      throw e;
    }
    let closed = false;
    return {
      redirectUri: listener.redirectUri,
      port: listener.port,
      async close() {
        if (closed) return;
        closed = true;
        current.routes.delete(opts.expectedState);
        if (current.routes.size === 0 && shared.get(key) === current) {
          shared.delete(key);
          await listener.close();
        }
      },
    };
  };
}
