// `mcp-auth login …` with the browser part done in Chromium: the CLI's BROWSER stand-in writes
// each authorization URL it is asked to open to a file, and Chromium completes that login.
import type { BrowserContext } from 'playwright-core';

import { completeLogin, waitForAuthorizationUrl, type CompletedLogin } from '../fixtures/browser.js';
import { startCli, type RunningCli } from './cli.js';

export interface BrowserLoginSetup {
  env: NodeJS.ProcessEnv;
  /** The file the BROWSER stand-in appends opened URLs to (MCP_AUTH_TEST_URL_FILE). */
  urlFile: string;
  /** Which opened URL (0-based) belongs to this login. */
  index: number;
  context: BrowserContext;
  user: { login: string; password: string };
}

/**
 * Starts `mcp-auth login <args>`, waits for the authorization URL it opens and completes the
 * login in Chromium. The CLI may still be running: await `running.result` for its outcome.
 */
export async function startBrowserLogin(
  setup: BrowserLoginSetup,
  args: string[],
): Promise<{ running: RunningCli; url: string; page: CompletedLogin }> {
  const running = startCli(['login', ...args], setup.env);
  const url = await waitForAuthorizationUrl(setup.urlFile, 30_000, setup.index);
  const page = await completeLogin(setup.context, url, setup.user);
  return { running, url, page };
}
