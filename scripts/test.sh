#!/usr/bin/env bash
# `npm test`: installs what the suite needs, builds, type-checks, and runs every test against a
# real browser and a real Secret Service, then the MCP conformance suite when it is present.
# Extra arguments go to vitest (e.g. `npm test -- test/e2e/fixtures.test.ts`).
# Nothing is ever skipped: a missing prerequisite is installed (as root) or is an error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

# --- 1. system prerequisites -------------------------------------------------------------------
APT_PACKAGES=(chromium gnome-keyring libsecret-1-0 libsecret-tools dbus)

package_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  package_installed "$pkg" || missing+=("$pkg")
done
# The tools themselves are what the tests run; a package record alone is not proof enough.
for tool in /usr/bin/chromium gnome-keyring-daemon secret-tool dbus-run-session; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      /usr/bin/chromium) pkg=chromium ;;
      gnome-keyring-daemon) pkg=gnome-keyring ;;
      secret-tool) pkg=libsecret-tools ;;
      dbus-run-session) pkg=dbus ;;
    esac
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# --- 2. node_modules ---------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install: if it is older than the manifest
# or the lockfile, the tree may not match them.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  if [ -f package-lock.json ]; then
    step "npm ci"
    npm ci --no-audit --no-fund
  else
    step "npm install"
    npm install --no-audit --no-fund
  fi
fi

# --- 3. build and 4. type check ----------------------------------------------------------------
step "build (tsc -p tsconfig.build.json)"
npm run --silent build

step "type check (tsc --noEmit -p .)"
./node_modules/.bin/tsc --noEmit -p .

# --- 5. tests, inside a private D-Bus session with an unlocked keyring ---------------------------
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/mcp-auth-test.XXXXXX")"
trap 'rm -rf "$run_dir"' EXIT

# dbus-daemon reports every service activation (and a harmless fd-limit refusal) on stderr;
# that goes to a log file instead of into the test output.
cat >"$run_dir/dbus-daemon-quiet" <<EOF
#!/bin/sh
exec dbus-daemon "\$@" 2>>"$run_dir/dbus-daemon.log"
EOF
chmod +x "$run_dir/dbus-daemon-quiet"

# Runs "$@" on a fresh session bus whose Secret Service (gnome-keyring) has a new, unlocked login
# keyring, with XDG dirs of its own so the user's real keyring and data are never touched.
in_keyring_session() {
  local name="$1"
  shift
  local session="$run_dir/$name"
  mkdir -p "$session/data"
  mkdir -m 0700 "$session/runtime"
  XDG_DATA_HOME="$session/data" XDG_RUNTIME_DIR="$session/runtime" \
    MCP_AUTH_TEST_KEYRING_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
    dbus-run-session --dbus-daemon="$run_dir/dbus-daemon-quiet" -- sh -c '
      printf %s "$MCP_AUTH_TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
      unset MCP_AUTH_TEST_KEYRING_PASSWORD
      # Fail here, clearly, rather than in some keychain test later.
      if ! printf probe | secret-tool store --label="mcp-auth test probe" service mcp-auth-test-probe account probe \
        || ! secret-tool clear service mcp-auth-test-probe account probe; then
        echo "error: the Secret Service (gnome-keyring) is not usable in the test session" >&2
        exit 1
      fi
      exec "$@"
    ' sh "$@"
}

# The summary is printed again at the very end, after the conformance output.
if [ -t 1 ]; then export FORCE_COLOR=1; fi
step "vitest"
in_keyring_session vitest ./node_modules/.bin/vitest run --reporter=default "$@" 2>&1 | tee "$run_dir/vitest.log"

# --- 6. conformance ----------------------------------------------------------------------------
conformance_status=0
if [ -f scripts/conformance.sh ]; then
  step "conformance (npm run conformance)"
  in_keyring_session conformance npm run --silent conformance || conformance_status=$?
fi

step "vitest summary"
sed -e 's/\x1b\[[0-9;]*m//g' "$run_dir/vitest.log" | grep -E '^ *(Test Files|Tests|Errors|Duration) ' || true
if [ "$conformance_status" -ne 0 ]; then
  echo "conformance failed (exit $conformance_status)" >&2
fi
# One plain closing line for whoever reads the end of the log: vitest's tests plus the conformance
# scenarios, as "N passed, M failed".
tests_line=$(sed -e 's/\x1b\[[0-9;]*m//g' "$run_dir/vitest.log" | grep -E '^ *Tests ' | tail -n 1)
v_passed=$(printf '%s' "$tests_line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
v_failed=$(printf '%s' "$tests_line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
c_summary=$(ls -t .tmp/conformance/summary.json 2>/dev/null | head -n 1)
c_passed=0; c_failed=0
if [ -n "$c_summary" ]; then
  c_passed=$(node -e 'const s=require(process.argv[1]);process.stdout.write(String(s.passed ?? 0))' "$PWD/$c_summary" 2>/dev/null || echo 0)
  c_failed=$(node -e 'const s=require(process.argv[1]);process.stdout.write(String(s.failed ?? 0))' "$PWD/$c_summary" 2>/dev/null || echo 0)
fi
[ "$conformance_status" -ne 0 ] && [ "$c_failed" -eq 0 ] && c_failed=1
echo "all: $((v_passed + c_passed)) passed, $((v_failed + c_failed)) failed"
exit "$conformance_status"
