// Preloaded with `node --import <this file>` by scripts/bench-cli-headers.mjs to list what a
// process loads. With TRACE_ESM=1 it registers a module loader hook that reports every ES module
// URL (ours, and any package loaded as ESM); in any case, at exit it writes to TRACE_OUT the
// CommonJS modules in require.cache and the Node built-ins in process.moduleLoadList. The hook
// itself loads built-ins (worker_threads and the loader), so built-ins are taken from a run
// without it.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const out = process.env.TRACE_OUT;
let drain = () => [];
if (process.env.TRACE_ESM === '1') {
  const { register } = await import('node:module');
  const { MessageChannel, receiveMessageOnPort } = await import('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  register('./trace-hooks.mjs', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
  port1.unref();
  drain = () => {
    const urls = [];
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) urls.push(m.message);
    return urls;
  };
}
process.on('exit', () => {
  const require = createRequire(import.meta.url);
  writeFileSync(
    out,
    JSON.stringify({
      esm: drain(),
      cjs: Object.keys(require.cache),
      builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)),
    }),
  );
});
