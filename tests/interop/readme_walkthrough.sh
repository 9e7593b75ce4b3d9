#!/usr/bin/env bash
# Runs the README's walk-through exactly as written: the quick-start server
# (started here the way the README says, in a scratch folder) and then every
# shell block between <!-- walkthrough:begin --> and <!-- walkthrough:end -->.
#
# Usage: readme_walkthrough.sh README.md BIN_DIR
set -euo pipefail
readme=$1
bin=$2
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  # The walk-through starts the example API in the background; stop it too.
  pkill -f "$bin/examples/guard_existing_app" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

script="$work/walkthrough.sh"
awk '/<!-- walkthrough:begin -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && /^```/{inblock=!inblock; next} on && inblock' "$readme" >"$script"
[ -s "$script" ] || { echo "no walk-through found in $readme"; exit 1; }

# The walk-through runs from the repository root (it uses `cargo run` for the
# example API); the quick start's server keeps its files in a scratch folder.
cd "$(dirname "$readme")"
export PATH="$bin:$PATH"
export M2M_ADMIN_FILE="$work/m2m-admin.json"
m2m serve --database "sqlite://$work/m2m.db?mode=rwc" --bootstrap-admin-file "$M2M_ADMIN_FILE" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do curl -fs -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.1; done
curl -fs -o /dev/null http://127.0.0.1:8080/healthz || { cat "$work/server.log"; exit 1; }

echo "--- running the README walk-through:"
cat "$script"
echo "---"
bash -euo pipefail -x "$script"
