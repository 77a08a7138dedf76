import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isMcpAuthError, type McpAuthError } from '../../../src/errors.js';
import { mergeHeaders, runHeadersHelper } from '../../../src/helpers/headers-helper.js';

const base = { serverName: 'github', serverUrl: 'https://api.example.com/mcp' };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-auth-helper-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function helperError(command: string, opts: Partial<Parameters<typeof runHeadersHelper>[1]> = {}): Promise<McpAuthError> {
  const err = await runHeadersHelper(command, { ...base, ...opts }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isMcpAuthError(err, ErrorCode.HelperFailed)) throw new Error(`expected HELPER_FAILED, got ${String(err)}`);
  expect(err.hint).toBeTruthy();
  return err;
}

describe('runHeadersHelper', () => {
  it('returns the JSON object the command prints', async () => {
    const headers = await runHeadersHelper(`printf '%s\\n' '{"Authorization":"Bearer abc","X-Team":"core"}'`, base);
    expect(headers).toEqual({ Authorization: 'Bearer abc', 'X-Team': 'core' });
  });

  it('passes the server name and URL in the environment, on top of env', async () => {
    const headers = await runHeadersHelper(
      `printf '{"n":"%s","u":"%s","x":"%s"}' "$CLAUDE_CODE_MCP_SERVER_NAME" "$CLAUDE_CODE_MCP_SERVER_URL" "$EXTRA"`,
      { ...base, env: { PATH: process.env.PATH, EXTRA: 'yes' } },
    );
    expect(headers).toEqual({ n: 'github', u: 'https://api.example.com/mcp', x: 'yes' });
  });

  it('runs in cwd', async () => {
    const headers = await runHeadersHelper(`printf '{"d":"%s"}' "$(pwd -P)"`, { ...base, cwd: dir });
    expect(headers.d).toContain('mcp-auth-helper-');
  });

  it('accepts an empty object and surrounding whitespace', async () => {
    expect(await runHeadersHelper(`printf '\\n  {}  \\n\\n'`, base)).toEqual({});
  });

  it('fails on a non-zero exit with the code and the first stderr line, cut to 200 chars', async () => {
    const long = 'e'.repeat(500);
    const err = await helperError(`echo '{"Authorization":"Bearer leaked"}'; echo; echo "first ${long}" >&2; echo second >&2; exit 3`);
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('first eee');
    expect(err.message).not.toContain('second');
    expect(err.message).not.toContain('leaked');
    expect(err.message.length).toBeLessThan(320);
    expect(err.message).toContain('"github"');
  });

  it('strips control characters from stderr', async () => {
    const err = await helperError(`printf '\\033[2Jevil\\007\\n' >&2; exit 1`);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
    expect(err.message).toContain('evil');
  });

  it('never puts stdout into the message', async () => {
    for (const out of ['not json secret-token', '["secret-token"]', '{"A": 5, "t":"secret-token"}', '"secret-token"', 'null']) {
      const err = await helperError(`printf '%s' '${out}'`);
      expect(err.message).not.toContain('secret-token');
    }
  });

  it('rejects output that is not one JSON object of valid headers', async () => {
    expect((await helperError('true')).message).toMatch(/printed nothing/);
    expect((await helperError(`echo '{"a":1}{"b":2}'`)).message).toMatch(/valid JSON/);
    expect((await helperError(`echo '[1]'`)).message).toMatch(/JSON object/);
    expect((await helperError(`echo '{"A": 5}'`)).message).toMatch(/non-string/);
    expect((await helperError(`echo '{"Bad Name": "v"}'`)).message).toMatch(/invalid header name/);
    expect((await helperError(`echo '{"": "v"}'`)).message).toMatch(/invalid header name/);
    expect((await helperError(`printf '%s' '{"X-A": "v\\r\\nX-Injected: 1"}'`)).message).toMatch(/line break/);
  });

  it('times out and kills the whole process group', async () => {
    const marker = join(dir, 'survived');
    const started = Date.now();
    // The background child would write the marker after 1.5 s unless it is killed with its group.
    const err = await helperError(`(sleep 1.5; echo x > '${marker}') & sleep 30`, { timeoutMs: 300 });
    expect(err.message).toContain('timed out after 300 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
    await sleep(1_800);
    await expect(readFile(marker, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails when output exceeds maxOutputBytes', async () => {
    const err = await helperError(`head -c 5000 /dev/zero | tr '\\0' a; sleep 5`, { maxOutputBytes: 1024 });
    expect(err.message).toContain('more than 1024 bytes');
  });

  it('reports a signal', async () => {
    expect((await helperError('kill -TERM $$')).message).toContain('SIGTERM');
  });

  it('fails when the command cannot be started', async () => {
    expect((await helperError('true', { cwd: join(dir, 'missing') })).message).toContain('could not be started');
  });

  it('reports a missing command through its exit code and stderr', async () => {
    const err = await helperError('definitely-not-a-command-xyz');
    expect(err.message).toContain('exited with code 127');
    expect(err.message).toContain('not found');
  });
});

describe('mergeHeaders', () => {
  it('lets later layers win, comparing names case-insensitively and keeping the later spelling', () => {
    expect(
      mergeHeaders(
        { authorization: 'Basic a', 'X-One': '1' },
        undefined,
        { 'x-one': 'one', 'X-Two': '2' },
        { Authorization: 'Bearer t' },
      ),
    ).toEqual({ 'x-one': 'one', 'X-Two': '2', Authorization: 'Bearer t' });
  });

  it('returns an empty object for no layers and keeps __proto__ as a plain header', () => {
    expect(mergeHeaders()).toEqual({});
    const merged = mergeHeaders(JSON.parse('{"__proto__":"x"}') as Record<string, string>);
    expect(Object.keys(merged)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });
});
