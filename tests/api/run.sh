#!/usr/bin/env bash
# API conformance: schemathesis against a real `m2m serve` on 127.0.0.1 (a
# fresh SQLite database), over every operation of the server's own
# /openapi.json, with an admin token. Checks: no 5xx, every response's
# status, content type and body match the document. Phases: the document's
# examples, schemathesis' coverage cases, random (positive and negative)
# fuzzing, and stateful sequences along the document's links (create a
# client, then read, patch, add a secret, remove it, delete the client).
# Bounded: --max-examples per operation, and a time budget.
#
# Installs the hashed lock tests/api/requirements.txt (made from
# requirements.in) into tests/api/.venv.
#
# Usage: tests/api/run.sh [extra schemathesis arguments]
#        (a longer run: M2M_API_TIMEOUT=900 tests/api/run.sh --max-time 600 --max-examples 100)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# The same features as the test build (`cargo test --workspace --all-features`), so nothing rebuilds.
cargo build --quiet --workspace --all-features --bin m2m
bin="$root/target/debug/m2m"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# requirements.txt is the full lock (every package, exact version, sha256
# hashes): pip installs exactly that or fails. Rebuilt when the lock changes.
if [ ! -x "$here/.venv/bin/schemathesis" ] || ! cmp -s "$here/requirements.txt" "$here/.venv/requirements.txt"; then
  rm -rf "$here/.venv"
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$here/.venv/requirements.txt"
fi

"$bin" serve --listen 127.0.0.1:0 --ready-file "$work/ready" \
  --database "sqlite://$work/api.db?mode=rwc" \
  --bootstrap-admin-file "$work/admin.json" >"$work/server.log" 2>&1 &
server_pid=$!
endpoint=
for _ in $(seq 1 600); do
  if [ -s "$work/ready" ] && curl -fs -o /dev/null "$(cat "$work/ready")/healthz"; then
    endpoint=$(cat "$work/ready"); break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$endpoint" ]; then
  echo "m2m serve exited, or was not ready within 60 s:" >&2; cat "$work/server.log" >&2; exit 1
fi

# The bootstrap admin's credentials: hooks.py trades them for admin tokens
# (client_secret_basic) and keeps the run from changing that client.
M2M_API_ENDPOINT=$endpoint
M2M_API_ADMIN_ID=$(jq -r .client_id "$work/admin.json")
M2M_API_ADMIN_SECRET=$(jq -r .client_secret "$work/admin.json")
export M2M_API_ENDPOINT M2M_API_ADMIN_ID M2M_API_ADMIN_SECRET
curl -fsS -o /dev/null -u "$M2M_API_ADMIN_ID:$M2M_API_ADMIN_SECRET" -d grant_type=client_credentials \
  "$endpoint/oauth/token" || { echo "the admin credentials get no token" >&2; exit 1; }

# One worker and a fixed seed: the same cases on every run. Run from the
# temporary folder, so that schemathesis' cache stays out of the tree.
status=0
(cd "$work" && PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks \
  timeout "${M2M_API_TIMEOUT:-300}" "$here/.venv/bin/schemathesis" run "$endpoint/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples 25 --max-time 120 --seed 18 --workers 1 \
  --request-timeout 10 --max-redirects 0 \
  --suppress-health-check filter_too_much,too_slow \
  --output-truncate false \
  "$@") || status=$?
if [ "$status" -ne 0 ]; then
  echo "== schemathesis failed ($status); the server's log:" >&2
  tail -n 50 "$work/server.log" >&2
  exit "$status"
fi
# No request may have made the server log an internal failure.
if grep -q 'request failed inside the issuer' "$work/server.log"; then
  echo "== the server logged an internal failure:" >&2
  grep 'request failed inside the issuer' "$work/server.log" >&2
  exit 1
fi
echo "== api: schemathesis found no failure over every operation of /openapi.json"
