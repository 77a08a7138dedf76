import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../../src/config/paths.js';

describe('resolvePaths', () => {
  it('puts everything under MCP_AUTH_HOME when set', () => {
    const p = resolvePaths({ MCP_AUTH_HOME: '/opt/ma', XDG_CONFIG_HOME: '/x', XDG_RUNTIME_DIR: '/run/user/1' });
    expect(p).toEqual({
      home: '/opt/ma',
      configFile: '/opt/ma/servers.json',
      credentialsFile: '/opt/ma/credentials.json',
      locksDir: '/opt/ma/locks',
      runtimeDir: '/opt/ma/run',
      runtimeFile: '/opt/ma/run/daemon.json',
      logFile: '/opt/ma/daemon.log',
    });
  });

  it('makes a relative MCP_AUTH_HOME absolute', () => {
    expect(resolvePaths({ MCP_AUTH_HOME: 'rel/dir' }).home).toBe(resolve('rel/dir'));
  });

  it('uses XDG defaults under HOME', () => {
    const p = resolvePaths({ HOME: '/home/u' });
    expect(p).toEqual({
      home: '/home/u/.config/mcp-auth',
      configFile: '/home/u/.config/mcp-auth/servers.json',
      credentialsFile: '/home/u/.local/share/mcp-auth/credentials.json',
      locksDir: '/home/u/.local/share/mcp-auth/locks',
      runtimeDir: '/home/u/.local/share/mcp-auth/run',
      runtimeFile: '/home/u/.local/share/mcp-auth/run/daemon.json',
      logFile: '/home/u/.local/state/mcp-auth/daemon.log',
    });
  });

  it('honours XDG variables', () => {
    const p = resolvePaths({
      HOME: '/home/u',
      XDG_CONFIG_HOME: '/cfg',
      XDG_DATA_HOME: '/data',
      XDG_STATE_HOME: '/state',
      XDG_RUNTIME_DIR: '/run/user/1000',
    });
    expect(p.configFile).toBe('/cfg/mcp-auth/servers.json');
    expect(p.credentialsFile).toBe('/data/mcp-auth/credentials.json');
    expect(p.locksDir).toBe('/data/mcp-auth/locks');
    expect(p.runtimeDir).toBe('/run/user/1000/mcp-auth');
    expect(p.runtimeFile).toBe('/run/user/1000/mcp-auth/daemon.json');
    expect(p.logFile).toBe('/state/mcp-auth/daemon.log');
  });

  it('ignores empty and relative XDG variables, as the XDG spec says', () => {
    const p = resolvePaths({ HOME: '/home/u', XDG_CONFIG_HOME: 'relative', XDG_DATA_HOME: '', XDG_RUNTIME_DIR: 'run', MCP_AUTH_HOME: '' });
    expect(p.configFile).toBe('/home/u/.config/mcp-auth/servers.json');
    expect(p.credentialsFile).toBe('/home/u/.local/share/mcp-auth/credentials.json');
    expect(p.runtimeDir).toBe('/home/u/.local/share/mcp-auth/run');
  });

  it('falls back to the OS home directory without HOME', () => {
    expect(resolvePaths({}).configFile).toBe(`${homedir()}/.config/mcp-auth/servers.json`);
  });
});
