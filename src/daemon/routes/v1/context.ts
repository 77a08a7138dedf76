import type { DaemonBroker } from '../../broker-port.js';

/** What the v1 routes need from the app. */
export interface RouteContext {
  broker: DaemonBroker;
  version: string;
  startedAt: number;
  /** Aborted when the app starts closing: long-polls return early so shutdown is not held up. */
  closing: AbortSignal;
}

/** The broker for this request: the shared one with the caller's env lent, when it sent one. */
export function brokerFor(ctx: RouteContext, env: Record<string, string> | undefined): DaemonBroker {
  return env === undefined ? ctx.broker : ctx.broker.forRequest(env);
}
