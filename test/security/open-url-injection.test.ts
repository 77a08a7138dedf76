/**
 * Threat: a hostile (or compromised) authorization server publishes an `authorization_endpoint`
 * crafted to run commands when the CLI hands the authorization URL to a browser launcher
 * (`BROWSER`, `xdg-open`, `cmd /c start`). The same class of bug hit several OAuth CLIs
 * (open-url command injection). The URL must be refused before anything is spawned, and a URL that
 * is accepted must reach the launcher as one argv entry with no shell in between.
 */
import type { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { assertSafeAuthorizationUrl, openBrowser } from '../../src/oauth/browser.js';

let dir: string;
let recorder: string;
let argvFile: string;
let pwned: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-auth-inject-'));
  argvFile = join(dir, 'argv');
  pwned = join(dir, 'pwned');
  recorder = join(dir, 'browser.sh');
  writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\0' "$@" > '${argvFile}'\n`);
  chmodSync(recorder, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hostile = (): string[] => [
  `https://as.example.com/authorize;touch ${pwned}`,
  `https://as.example.com/authorize?x=1;rm -rf ~`,
  `https://as.example.com/authorize?x=$(touch ${pwned})`,
  `https://as.example.com/authorize?x=\`touch ${pwned}\``,
  `https://as.example.com/authorize?x=1&&touch${'${IFS}'}${pwned}`,
  `https://as.example.com/authorize?x=1|touch ${pwned}`,
  `https://as.example.com/authorize?x=1\ntouch ${pwned}`,
  `https://as.example.com/authorize?x=1\r\ntouch ${pwned}`,
  `https://as.example.com/authorize?x=1" & calc.exe & "`,
  `https://as.example.com/authorize?x=1' ; touch ${pwned} ; '`,
  'https://as.example.com/authorize?x=1^&calc',
  'https://as.example.com/authorize?x=1>%TEMP%\\out',
  'https://as.example.com/authorize?x=\u001b]8;;https://evil.example\u0007',
  `javascript:require('child_process').exec('touch ${pwned}')`,
  `file://${pwned}`,
  'http://evil.example/authorize',
  `-a calc https://as.example.com/authorize`,
  `--help`,
];

describe('open-url injection through authorization_endpoint', () => {
  it('refuses every hostile URL with UNSAFE_AUTHORIZATION_URL', () => {
    for (const url of hostile()) {
      expect(() => assertSafeAuthorizationUrl(url), JSON.stringify(url)).toThrowError(
        expect.objectContaining({ code: ErrorCode.UnsafeAuthorizationUrl }),
      );
    }
  });

  it('spawns nothing for a hostile URL, whether BROWSER is set or not', async () => {
    for (const url of hostile()) {
      const fakeSpawn = vi.fn();
      const openUrl = vi.fn();
      await expect(
        openBrowser(url, { env: { BROWSER: recorder }, spawn: fakeSpawn as unknown as typeof spawn, openUrl }),
      ).rejects.toMatchObject({ code: ErrorCode.UnsafeAuthorizationUrl });
      await expect(openBrowser(url, { env: {}, openUrl })).rejects.toMatchObject({
        code: ErrorCode.UnsafeAuthorizationUrl,
      });
      expect(fakeSpawn).not.toHaveBeenCalled();
      expect(openUrl).not.toHaveBeenCalled();
    }
    // With the real spawner as well: the recorder never ran and nothing was created.
    for (const url of hostile()) {
      await openBrowser(url, { env: { ...process.env, BROWSER: recorder } }).catch(() => undefined);
    }
    expect(existsSync(argvFile)).toBe(false);
    expect(existsSync(pwned)).toBe(false);
  });

  it('delivers an accepted URL, percent-encoded payload and all, as one literal argument', async () => {
    const url =
      'https://as.example.com/authorize?state=%24%28touch%20x%29&scope=a+b+files%3A*&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&q=%60id%60%3B';
    const result = await openBrowser(url, { env: { ...process.env, BROWSER: recorder } });
    expect(result.opened).toBe(true);
    expect(readFileSync(argvFile, 'utf8').split('\0').slice(0, -1)).toEqual([url]);
    expect(existsSync(pwned)).toBe(false);
  });

  it('never lets a BROWSER value reach a shell', async () => {
    const result = await openBrowser('https://as.example.com/authorize', {
      env: { ...process.env, BROWSER: `${recorder} ;touch ${pwned}` },
    });
    expect(result.opened).toBe(true);
    expect(readFileSync(argvFile, 'utf8').split('\0').slice(0, -1)).toEqual([
      ';touch',
      pwned,
      'https://as.example.com/authorize',
    ]);
    expect(existsSync(pwned)).toBe(false);
  });
});
