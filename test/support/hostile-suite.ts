// The set-up most protocol tests share: one hostile AS per file or describe block (reset before
// each test), fresh test deps per test, and optionally a server named after it in servers.json.
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

import { startHostileAs, type HostileAs } from './hostile-as.js';
import { addServer, createTestDeps, type TestDeps } from './test-deps.js';

export interface HostileSuite {
  readonly h: HostileAs;
  readonly deps: TestDeps;
}

/** Registers the hooks in the calling scope; read `h` and `deps` from the result inside tests. */
export function useHostileAs(opts: { serverName?: string } = {}): HostileSuite {
  const suite = {} as { h: HostileAs; deps: TestDeps };
  beforeAll(async () => {
    suite.h = await startHostileAs();
  });
  afterAll(async () => {
    await suite.h.close();
  });
  beforeEach(async () => {
    suite.h.reset();
    suite.deps = createTestDeps();
    if (opts.serverName) await addServer(suite.deps, opts.serverName, { type: 'http', url: suite.h.mcpUrl });
  });
  afterEach(async () => {
    await suite.deps.cleanup();
  });
  return suite;
}
