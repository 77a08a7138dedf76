#!/usr/bin/env node
// The same entry as bin/mcp-auth.cjs (the package's "bin"), kept for whatever runs this path
// (tests, the benchmarks, a daemon autostarted as `<node> bin/mcp-auth.js serve`). The fast
// `headers` path and the full CLI (dist/, from `npm run build`) live there.
import cli from './mcp-auth.cjs';
cli.start();
