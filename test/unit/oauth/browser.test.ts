import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, isMcpAuthError } from '../../../src/errors.js';
import { assertSafeAuthorizationUrl, openBrowser } from '../../../src/oauth/browser.js';

const AUTH_URL =
  'https://as.example.com/authorize?response_type=code&client_id=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&scope=files%3Aread+files%3A*&state=s~t-a_t.e&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.com%2F';

let dir: string;
let recorder: string;
let argvFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-auth-browser-'));
  argvFile = join(dir, 'argv');
  recorder = join(dir, 'record-argv.sh');
  // NUL-separated so the test sees exactly how many arguments arrived and their bytes.
  writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\0' "$@" > '${argvFile}'\n`);
  chmodSync(recorder, 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function recordedArgv(): string[] {
  return readFileSync(argvFile, 'utf8').split('\0').slice(0, -1);
}

describe('assertSafeAuthorizationUrl', () => {
  it.each([
    AUTH_URL,
    'https://as.example.com/authorize',
    'https://as.example.com:8443/t1/oauth2/v2.0/authorize?x=%24%28id%29&y=a=b&z=1+2',
    'http://127.0.0.1:4000/authorize?state=x',
    'http://localhost:4000/authorize',
    'http://[::1]:4000/authorize',
  ])('accepts %s', (url) => {
    expect(assertSafeAuthorizationUrl(url)).toBeInstanceOf(URL);
  });

  it.each([
    'http://example.com/authorize',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'data:text/html,hi',
    'ftp://as.example.com/authorize',
    'https://user:pass@as.example.com/authorize',
    'https://@as.example.com/authorize',
    'https://as.example.com@evil.example/authorize',
    'http://0.0.0.0/authorize',
    'http://localhost.evil.com/authorize',
    'https://as.example.com/authorize?x=a b',
    'https://as.example.com/authorize?x=a\tb',
    'https://as.example.com/authorize\n',
    ' https://as.example.com/authorize',
    'https://as.example.com/authorize?x=\u0085',
    'https://as.example.com/authorize?x=\u202e',
    'https://as.example.com/authorize?x=\u007f',
    'https://as.example.com/authorize?x="',
    "https://as.example.com/authorize?x='",
    'https://as.example.com/authorize?x=`id`',
    'https://as.example.com/authorize?x=$(id)',
    'https://as.example.com/authorize?x=$HOME',
    'https://as.example.com/authorize;rm',
    'https://as.example.com/authorize?x=1|id',
    'https://as.example.com/authorize?x=<y>',
    'https://as.example.com/authorize\\x',
    '',
    'not a url',
  ])('refuses %j', (url) => {
    let err: unknown;
    try {
      assertSafeAuthorizationUrl(url);
    } catch (e) {
      err = e;
    }
    expect(isMcpAuthError(err, ErrorCode.UnsafeAuthorizationUrl)).toBe(true);
  });

  it('does not echo the query string in the error', () => {
    try {
      assertSafeAuthorizationUrl('http://example.com/authorize?state=SECRETSTATE&code_challenge=abc');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('example.com');
      expect((err as Error).message).not.toContain('SECRETSTATE');
    }
  });
});

describe('openBrowser with BROWSER', () => {
  it('runs the BROWSER command without a shell, with the URL as exactly one argument', async () => {
    rmSync(argvFile, { force: true });
    const result = await openBrowser(AUTH_URL, { env: { ...process.env, BROWSER: recorder } });
    expect(result).toEqual({ opened: true });
    expect(recordedArgv()).toEqual([AUTH_URL]);
  });

  it('splits BROWSER on whitespace into argv and appends the URL last', async () => {
    rmSync(argvFile, { force: true });
    const result = await openBrowser(AUTH_URL, {
      env: { ...process.env, BROWSER: `  ${recorder}   --new-window\t--profile=$HOME;echo ` },
    });
    expect(result.opened).toBe(true);
    // "$HOME;echo" arrives literally: nothing ever interprets BROWSER through a shell.
    expect(recordedArgv()).toEqual(['--new-window', '--profile=$HOME;echo', AUTH_URL]);
  });

  it('reports opened:false when the command exits non-zero (BROWSER=false)', async () => {
    const result = await openBrowser(AUTH_URL, { env: { PATH: process.env.PATH, BROWSER: 'false' } });
    expect(result.opened).toBe(false);
    expect(result.reason).toContain('exited with code 1');
    expect(result.reason).not.toContain('as.example.com');
  });

  it('reports opened:false when the command does not exist', async () => {
    const result = await openBrowser(AUTH_URL, { env: { BROWSER: join(dir, 'no-such-browser') } });
    expect(result.opened).toBe(false);
    expect(result.reason).toContain('ENOENT');
  });

  it('counts a browser that keeps running as opened after the grace period, without waiting for it', async () => {
    const slow = join(dir, 'slow.sh');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 3\n');
    chmodSync(slow, 0o755);
    const started = Date.now();
    const result = await openBrowser(AUTH_URL, { env: { ...process.env, BROWSER: slow } });
    const elapsed = Date.now() - started;
    expect(result).toEqual({ opened: true });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(3000);
  });

  it('spawns detached with stdio ignored, no shell, and the given env', async () => {
    const fakeSpawn = vi.fn((cmd: string, args: readonly string[], options: object) =>
      spawn('true', [], options as Parameters<typeof spawn>[2]),
    );
    const env = { BROWSER: 'firefox -P work', DISPLAY: ':7', PATH: process.env.PATH };
    const result = await openBrowser(AUTH_URL, { env, spawn: fakeSpawn as unknown as typeof spawn });
    expect(result.opened).toBe(true);
    expect(fakeSpawn).toHaveBeenCalledTimes(1);
    const [cmd, args, options] = fakeSpawn.mock.calls[0] ?? [];
    expect(cmd).toBe('firefox');
    expect(args).toEqual(['-P', 'work', AUTH_URL]);
    expect(options).toMatchObject({ detached: true, stdio: 'ignore', shell: false, env });
  });

  it('does not throw when spawn itself throws', async () => {
    const throwing = (() => {
      throw new Error('EPERM-ish');
    }) as unknown as typeof spawn;
    const result = await openBrowser(AUTH_URL, { env: { BROWSER: 'x' }, spawn: throwing });
    expect(result.opened).toBe(false);
  });
});

describe('openBrowser without BROWSER', () => {
  it('uses openUrl and reports opened:false when the launcher exits 3 (xdg-open without a desktop)', async () => {
    const openUrl = vi.fn(async (): Promise<ChildProcess> => spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' }));
    const result = await openBrowser(AUTH_URL, { env: {}, openUrl });
    expect(openUrl).toHaveBeenCalledWith(AUTH_URL);
    expect(result.opened).toBe(false);
    expect(result.reason).toContain('exited with code 3');
  });

  it('notices a launcher that had already exited when open() resolved', async () => {
    const openUrl = async (): Promise<ChildProcess> => {
      const child = spawn('sh', ['-c', 'exit 4'], { stdio: 'ignore' });
      await new Promise((r) => child.once('exit', r));
      return child;
    };
    const result = await openBrowser(AUTH_URL, { env: { BROWSER: '   ' }, openUrl });
    expect(result).toMatchObject({ opened: false });
    expect(result.reason).toContain('code 4');
  });

  it('reports opened:true when the launcher exits 0', async () => {
    const openUrl = async (): Promise<ChildProcess> => spawn('true', [], { stdio: 'ignore' });
    expect(await openBrowser(AUTH_URL, { env: {}, openUrl })).toEqual({ opened: true });
  });

  it('does not throw when open() rejects', async () => {
    const openUrl = async (): Promise<ChildProcess> => {
      throw Object.assign(new Error('spawn xdg-open ENOENT'), { code: 'ENOENT' });
    };
    const result = await openBrowser(AUTH_URL, { env: {}, openUrl });
    expect(result.opened).toBe(false);
    expect(result.reason).toContain('ENOENT');
  });

  it('throws for an unsafe URL before any launcher is touched', async () => {
    const openUrl = vi.fn();
    const fakeSpawn = vi.fn();
    await expect(
      openBrowser('javascript:alert(1)', { env: {}, openUrl, spawn: fakeSpawn as unknown as typeof spawn }),
    ).rejects.toMatchObject({ code: ErrorCode.UnsafeAuthorizationUrl });
    expect(openUrl).not.toHaveBeenCalled();
    expect(fakeSpawn).not.toHaveBeenCalled();
  });
});
