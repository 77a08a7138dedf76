// Module loader hooks for scripts/bench/trace-modules.mjs: report each loaded module's URL.
let port;
export function initialize(data) {
  port = data.port;
}
export async function load(url, context, next) {
  port.postMessage(url);
  return next(url, context);
}
