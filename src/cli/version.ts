/** This build's version, as `mcp-auth --version` prints it and the daemon reports in `/v1/health`. */
export const VERSION = '0.1.0';
