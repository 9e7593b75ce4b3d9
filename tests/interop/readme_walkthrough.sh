#!/usr/bin/env bash
# Runs the README's walk-through exactly as written: the quick-start server
# (started here the way the README says, in a scratch folder, on a free port
# that it names in its ready file) and then every shell block between
# <!-- walkthrough:begin --> and <!-- walkthrough:end -->, with M2M_ENDPOINT
# set to that server.
#
# Usage: readme_walkthrough.sh README.md BIN_DIR
set -euo pipefail
readme=$1
bin=$2
work=$(mktemp -d)
server=""
walk=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  # The walk-through runs in a process group of its own, with the example API
  # it starts in the background: stop them all, also after a failure.
  [ -n "$walk" ] && kill -- "-$walk" 2>/dev/null || true
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
m2m serve --listen 127.0.0.1:0 --ready-file "$work/ready" \
  --database "sqlite://$work/m2m.db?mode=rwc" --bootstrap-admin-file "$M2M_ADMIN_FILE" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  [ -s "$work/ready" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -s "$work/ready" ] || { echo "m2m serve exited, or wrote no ready file within 60 s; its log:"; cat "$work/server.log"; exit 1; }
M2M_ENDPOINT=$(cat "$work/ready")
export M2M_ENDPOINT

echo "--- running the README walk-through (M2M_ENDPOINT=$M2M_ENDPOINT):"
cat "$script"
echo "---"
set -m # the walk-through and what it starts get a process group of their own
bash -euo pipefail -x "$script" </dev/null &
walk=$!
set +m
status=0
wait "$walk" || status=$?
# Whatever it left running, at once (before the group's id can be reused).
kill -- "-$walk" 2>/dev/null || true
walk=""
if [ "$status" -ne 0 ]; then
  echo "the README walk-through failed (exit $status); the server's log:"
  cat "$work/server.log"
  exit "$status"
fi
