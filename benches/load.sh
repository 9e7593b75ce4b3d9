#!/usr/bin/env bash
# External-load benchmark of m2m-auth: `m2m serve` (SQLite and PostgreSQL)
# and an axum API guarded by m2m-guard, driven by wrk over HTTP/1.1 on
# 127.0.0.1, with the server's CPU time per request read from /proc.
# A benchmark, not a test: figures are ratios measured in one run.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: benches/load.sh [targets|growth|all]

  targets  (default) the issue's target ratios, each measured in this run:
           a. unguarded axum route (the baseline: same binary, same header)
           b. guard, cache hit (one token repeated)
           c. guard, signature path (a fresh token per request), ES256 and EdDSA
           d. bare sign/verify per algorithm, in process
           e. m2m serve token endpoint, client credentials, ES256, SQLite and PostgreSQL
           f. RSS of the guard after 100,000, 200,000 and 300,000 distinct tokens
  growth   token endpoint with 1, 1,000 and 100,000 clients (a random client per
           request); GET /admin/clients at 100,000 clients; a new guard catching
           up on 1,000,000 revocation-feed entries; issuer start time with
           100,000 clients and that revocation log
  all      both

Environment:
  LOAD_SECS=10            measured seconds of each run (after a warm-up)
  LOAD_WARMUP_SECS=2      warm-up seconds before each run
  LOAD_CONNECTIONS=64     wrk connections
  LOAD_THREADS=1          wrk threads (the load generator shares the machine)
  LOAD_ROUNDS=3           alternating rounds of a and b (the median counts)
  LOAD_GROWTH_CLIENTS=100000   the largest client count of the growth run
  LOAD_REVOCATIONS=1000000     revocation-feed entries of the growth run
  M2M_TEST_POSTGRES_URL   PostgreSQL server for the PostgreSQL run (default
                          postgres://postgres@127.0.0.1:5432/test); a fresh
                          database is created on it and dropped at the end.
                          LOAD_SKIP_POSTGRES=1 skips it.
  LOAD_TOKENS             fresh tokens minted per algorithm (default 20,000 per
                          second of LOAD_SECS + 1; the run fails if they run out)
  LOAD_NO_BUILD=1         use the release binaries already built
  LOAD_KEEP=1             keep the temporary directory (logs, databases, tokens)

Installs wrk from Debian (apt-get) if it is missing. The tokens, databases
and logs go to a temporary directory under TMPDIR (about 500 MB for targets
with the defaults), removed at the end.
EOF
}

MODE=${1:-targets}
case "$MODE" in
  targets | growth | all) ;;
  -h | --help | help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

LOAD_SECS=${LOAD_SECS:-10}
LOAD_WARMUP_SECS=${LOAD_WARMUP_SECS:-2}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-64}
LOAD_THREADS=${LOAD_THREADS:-1}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
LOAD_GROWTH_CLIENTS=${LOAD_GROWTH_CLIENTS:-100000}
LOAD_REVOCATIONS=${LOAD_REVOCATIONS:-1000000}
PG_URL=${M2M_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
M2M=$TARGET_DIR/release/m2m
LOAD_TARGET=$TARGET_DIR/release/examples/load_target
WORK=$(mktemp -d "${TMPDIR:-/tmp}/m2m-load.XXXXXX")
PIDS=()
PG_DB=""

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PG_DB" ]; then
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${LOAD_KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# ---- tools and builds ----

if ! command -v wrk >/dev/null; then
  log "wrk is missing: installing it from Debian"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
for tool in curl sqlite3 perl; do
  command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done

if [ -z "${LOAD_NO_BUILD:-}" ]; then
  log "building release binaries"
  cargo build --release -q -p m2m-server
  cargo build --release -q -p m2m-guard --example load_target
fi

# ---- measuring ----

# The CPU time (user + system) of process $1 so far, in µs.
cpu_us() {
  local stat ticks
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*) }                       # fields from 3 on (the name may hold spaces)
  read -r -a f <<<"$stat"
  ticks=$((f[11] + f[12]))                # utime (14) + stime (15)
  echo $((ticks * 1000000 / $(getconf CLK_TCK)))
}

# VmRSS of process $1, in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The wrk Lua scripts.
cat >"$WORK/tokens.lua" <<'EOF'
-- GET PATH with "Authorization: Bearer <token>": the tokens are the lines
-- [FROM, TO) of TOKENS, shared out between threads so none repeats (REPEAT=1:
-- every thread sends them all, again and again). A thread that runs out
-- starts again from its first, counted as a wrap; with DONE set it sends
-- each once, then writes DONE.<thread> and stops.
local path = os.getenv("PATH_") or "/guarded"
local done_file = os.getenv("DONE")
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  local nthreads = tonumber(os.getenv("NTHREADS"))
  local from = tonumber(os.getenv("FROM") or "0")
  local to = tonumber(os.getenv("TO") or "1e12")
  repeat_all = os.getenv("REPEAT") == "1"
  tokens = {}
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i >= from and i < to and (repeat_all or i % nthreads == tid) then
      tokens[#tokens + 1] = "Bearer " .. line
    end
    i = i + 1
  end
  n, answered, wrapped = 0, 0, 0
end
function request()
  n = n + 1
  if n > #tokens then
    if done_file then
      return wrk.format("GET", "/unguarded")
    end
    n = 1
    if not repeat_all then wrapped = wrapped + 1 end
  end
  return wrk.format("GET", path, { Authorization = tokens[n] })
end
if done_file then
  function response(status, headers, body)
    answered = answered + 1
    if answered == #tokens then
      io.open(done_file .. "." .. tid, "w"):close()
      wrk.thread:stop()
    end
  end
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  io.write(string.format("wrapped %d\n", w))
end
EOF

cat >"$WORK/token_endpoint.lua" <<'EOF'
-- POST /oauth/token, client credentials with client_secret_basic, a random
-- client (a line "Basic ..." of CLIENTS) per request.
function init(args)
  clients = {}
  for line in io.lines(os.getenv("CLIENTS")) do clients[#clients + 1] = line end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end
function request()
  local auth = clients[math.random(#clients)]
  return wrk.format("POST", "/oauth/token", {
    Authorization = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=client_credentials")
end
EOF

cat >"$WORK/create_clients.lua" <<'EOF'
-- POST /admin/clients until each thread made COUNT/NTHREADS clients; writes
-- "Basic base64(id:secret)" per client to OUT.<thread>, then OUT.done.<thread>.
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  quota = math.floor(tonumber(os.getenv("COUNT")) / tonumber(os.getenv("NTHREADS")))
  if tid == 0 then
    quota = quota + tonumber(os.getenv("COUNT")) % tonumber(os.getenv("NTHREADS"))
  end
  made, failed = 0, 0
  out = io.open(os.getenv("OUT") .. "." .. tid, "w")
  body = '{"name":"load","kind":"service","org_id":"org_load","scopes":["invoices:read"],'
    .. '"audiences":["https://api.example.com"]}'
  headers = { Authorization = "Bearer " .. os.getenv("ADMIN_TOKEN"),
              ["Content-Type"] = "application/json" }
end
function request()
  -- wrk may call request() for a request it never sends: decide by the
  -- answers so far (so up to one per connection more may be made).
  if made + failed >= quota then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/admin/clients", headers, body)
end
function response(status, hdrs, resp)
  if made + failed >= quota then return end
  if status == 201 then
    local id = resp:match('"client_id":"([^"]+)"')
    local secret = resp:match('"client_secret":"([^"]+)"')
    out:write("Basic " .. b64(id .. ":" .. secret) .. "\n")
    made = made + 1
  elseif status ~= 200 then
    -- a refused POST (200 is /healthz, sent once the quota is out)
    failed = failed + 1
  end
  if made + failed >= quota then
    out:close()
    io.open(os.getenv("OUT") .. ".done." .. tid, "w"):close()
    wrk.thread:stop()
  end
end
EOF

# Runs wrk against $1 (base URL) with Lua script $2 for $3 seconds; extra
# environment for the script is in the caller's environment. Prints
# "requests rps p50_ms p99_ms non2xx wrapped".
run_wrk() {
  local url=$1 script=$2 secs=$3 out
  out=$(NTHREADS=$LOAD_THREADS wrk -t"$LOAD_THREADS" -c"$LOAD_CONNECTIONS" -d"${secs}s" \
    --latency -s "$script" "$url" 2>&1) || { log "$out"; return 1; }
  printf '%s\n' "$out" >>"$WORK/wrk.log"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /s$/) return v * 1000; return v }
    / requests in / { req = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    /^wrapped / { wrapped = $2 }
    END { printf "%d %.0f %.3f %.3f %d %d\n", req, rps, p50, p99, bad + 0, wrapped + 0 }
  ' <<<"$out"
}

# Runs wrk on $1 with script $2 until each thread wrote the file $3.<n>
# (wrk's own clock would run on), then stops it.
run_until_done() {
  local url=$1 script=$2 done=$3 pid t
  rm -f "$done".*
  NTHREADS=$LOAD_THREADS wrk -t"$LOAD_THREADS" -c"$LOAD_CONNECTIONS" -d3600s -s "$script" \
    "$url" >>"$WORK/wrk.log" 2>&1 &
  pid=$!
  for t in $(seq 0 $((LOAD_THREADS - 1))); do
    until [ -e "$done.$t" ]; do
      kill -0 "$pid" 2>/dev/null || { log "error: wrk ended early (see its log)"; tail "$WORK/wrk.log" >&2; exit 1; }
      sleep 0.2
    done
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$done".*
}

# A measured run: warm-up, then LOAD_SECS with the CPU of process $1 read
# before and after. Prints "rps p50 p99 cpu_us_per_request requests".
# $2 URL, $3 script, $4 warm-up script (or "" for the same).
measure() {
  local pid=$1 url=$2 script=$3 warm=${4:-$3} before after req rps p50 p99 bad wrapped
  run_wrk "$url" "$warm" "$LOAD_WARMUP_SECS" >/dev/null
  before=$(cpu_us "$pid")
  read -r req rps p50 p99 bad wrapped < <(run_wrk "$url" "$script" "$LOAD_SECS")
  after=$(cpu_us "$pid")
  if [ "$bad" -ne 0 ]; then log "error: $bad non-2xx responses from $url ($script)"; exit 1; fi
  if [ "$wrapped" -ne 0 ]; then log "error: the token file ran out ($wrapped wraps): raise LOAD_TOKENS"; exit 1; fi
  [ "$req" -gt 0 ] || { log "error: no request completed"; exit 1; }
  echo "$rps $p50 $p99 $(awk -v d=$((after - before)) -v n="$req" 'BEGIN {printf "%.2f", d / n}') $req"
}

# The run (a line of measure's output) with the median CPU per request.
median_run() { printf '%s\n' "$@" | sort -k4,4n | sed -n "$((($# + 1) / 2))p"; }

# Starts the guard bench server; sets GUARD_PID and GUARD_URL.
start_guard() {
  local out=$WORK/guard.out count=$1
  "$LOAD_TARGET" serve "$WORK/tokens" "$count" >"$out" 2>&1 &
  GUARD_PID=$!
  PIDS+=("$GUARD_PID")
  for _ in $(seq 1200); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  GUARD_URL=$(sed -n 's/^listening on //p' "$out")
  [ -n "$GUARD_URL" ] || { cat "$out" >&2; exit 1; }
  # The cache-hit script, to warm up before a signature-path run.
  printf 'wrk.headers["Authorization"] = "Bearer %s"\nwrk.path = "/guarded"\n' \
    "$(cat "$WORK/tokens/hit.txt")" >"$WORK/hit.lua"
}

# Starts `m2m serve` on database $1 in directory $2; sets M2M_PID and
# M2M_URL, and START_MS (start to the first 200 on the JWKS).
start_m2m() {
  local db=$1 dir=$2 t0 t1
  mkdir -p "$dir"
  rm -f "$dir/ready"
  t0=$(date +%s%N)
  M2M_LOG_FORMAT=json "$M2M" serve --listen 127.0.0.1:0 --database "$db" \
    --bootstrap-admin-file "$dir/admin.json" --ready-file "$dir/ready" \
    --algorithm es256 >>"$dir/server.log" 2>&1 &
  M2M_PID=$!
  PIDS+=("$M2M_PID")
  for _ in $(seq 6000); do
    [ -s "$dir/ready" ] && break
    kill -0 "$M2M_PID" 2>/dev/null || break
    sleep 0.01
  done
  M2M_URL=$(head -n1 "$dir/ready" 2>/dev/null || true)
  [ -n "$M2M_URL" ] || { cat "$dir/server.log" >&2; exit 1; }
  until curl -fs -o /dev/null "$M2M_URL/.well-known/jwks.json"; do sleep 0.005; done
  t1=$(date +%s%N)
  START_MS=$(((t1 - t0) / 1000000))
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# An admin access token from the bootstrap admin file in directory $1.
admin_token() {
  local id secret
  id=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' "$1/admin.json")
  secret=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' "$1/admin.json")
  curl -fs -u "$id:$secret" -d grant_type=client_credentials "$M2M_URL/oauth/token" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# Registers $2 clients through the admin API of the server in directory $1;
# appends their "Basic ..." headers to $1/clients.
create_clients() {
  local dir=$1 count=$2 token
  token=$(admin_token "$dir")
  rm -f "$dir"/made.*
  COUNT=$count OUT=$dir/made ADMIN_TOKEN=$token LOAD_CONNECTIONS=$((count < LOAD_CONNECTIONS ? count : LOAD_CONNECTIONS)) \
    run_until_done "$M2M_URL" "$WORK/create_clients.lua" "$dir/made.done"
  cat "$dir"/made.[0-9]* >>"$dir/clients"
  rm -f "$dir"/made.*
}

# A token endpoint run against the server in $1 (clients in $1/clients).
token_run() {
  CLIENTS=$1/clients measure "$M2M_PID" "$M2M_URL" "$WORK/token_endpoint.lua"
}

SUMMARY=()
row() { SUMMARY+=("$(printf '%-52s %-26s %-22s %s' "$1" "$2" "$3" "$4")"); }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b ? "met" : "NOT MET") }'; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

# ---- the machine ----

echo "# m2m-auth load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), mode $MODE, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
echo "# load generator: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $LOAD_THREADS thread(s), $LOAD_CONNECTIONS connections, ${LOAD_SECS}s runs after ${LOAD_WARMUP_SECS}s warm-up"
echo "# $(rustc --version)"

# ---- d. bare costs, in process ----

declare -A BARE
while read -r name value; do BARE[$name]=$value; done < <("$LOAD_TARGET" measure)
echo
echo "in process, CPU time per operation (median of 7 rounds of 2,000):"
printf '  ES256 sign %s µs, verify %s µs; EdDSA sign %s µs, verify %s µs\n' \
  "${BARE[sign_es256_us]}" "${BARE[verify_es256_us]}" "${BARE[sign_eddsa_us]}" "${BARE[verify_eddsa_us]}"

# ---- targets ----

if [ "$MODE" = targets ] || [ "$MODE" = all ]; then
  # Enough distinct tokens that none repeats: 20,000 per second of load is
  # above what 2 cores verify.
  LOAD_TOKENS=${LOAD_TOKENS:-$(((LOAD_SECS + 1) * 20000))}
  log "minting $LOAD_TOKENS tokens per algorithm and 300,000 for the memory run"
  start_guard "$LOAD_TOKENS"
  echo
  echo "guard bench server (crates/guard/examples/load_target.rs, 1 process, tokio multi-thread):"
  printf '  %-34s %10s %9s %9s %12s\n' run req/s p50_ms p99_ms cpu_us/req

  # f. memory first, on a fresh guard: 100,000 distinct tokens (the cache's
  # bound), then twice 100,000 more: the first refill settles the allocator
  # (evicted entries leave holes), the second shows whether RSS is bounded.
  rss0=$(rss_kib "$GUARD_PID")
  TOKENS=$WORK/tokens/rss.txt FROM=0 TO=100000 DONE=$WORK/rss.done PATH_=/guarded \
    run_until_done "$GUARD_URL" "$WORK/tokens.lua" "$WORK/rss.done"
  cached1=$(curl -fs "$GUARD_URL/stats" | awk '{print $2}')
  rss1=$(rss_kib "$GUARD_PID")
  TOKENS=$WORK/tokens/rss.txt FROM=100000 TO=200000 DONE=$WORK/rss.done PATH_=/guarded \
    run_until_done "$GUARD_URL" "$WORK/tokens.lua" "$WORK/rss.done"
  cached2=$(curl -fs "$GUARD_URL/stats" | awk '{print $2}')
  rss2=$(rss_kib "$GUARD_PID")
  TOKENS=$WORK/tokens/rss.txt FROM=200000 TO=300000 DONE=$WORK/rss.done PATH_=/guarded \
    run_until_done "$GUARD_URL" "$WORK/tokens.lua" "$WORK/rss.done"
  cached3=$(curl -fs "$GUARD_URL/stats" | awk '{print $2}')
  rss3=$(rss_kib "$GUARD_PID")

  # a and b alternate, LOAD_ROUNDS times each; the median round counts.
  export TOKENS=$WORK/tokens/hit.txt REPEAT=1
  declare -a U_RUNS H_RUNS
  for _ in $(seq "$LOAD_ROUNDS"); do
    U_RUNS+=("$(PATH_=/unguarded measure "$GUARD_PID" "$GUARD_URL" "$WORK/tokens.lua")")
    H_RUNS+=("$(PATH_=/guarded measure "$GUARD_PID" "$GUARD_URL" "$WORK/tokens.lua")")
  done
  read -r u_rps u_p50 u_p99 u_cpu _ < <(median_run "${U_RUNS[@]}")
  read -r h_rps h_p50 h_p99 h_cpu _ < <(median_run "${H_RUNS[@]}")
  printf '  %-34s %10s %9s %9s %12s   (median of %s; rounds: %s)\n' "a. unguarded" "$u_rps" "$u_p50" "$u_p99" "$u_cpu" \
    "$LOAD_ROUNDS" "$(printf '%s\n' "${U_RUNS[@]}" | awk '{print $4}' | paste -sd' ')"
  printf '  %-34s %10s %9s %9s %12s   (median of %s; rounds: %s)\n' "b. guarded, cache hit" "$h_rps" "$h_p50" "$h_p99" "$h_cpu" \
    "$LOAD_ROUNDS" "$(printf '%s\n' "${H_RUNS[@]}" | awk '{print $4}' | paste -sd' ')"
  export PATH_=/guarded
  unset REPEAT
  declare -A SIG
  for alg in es256 eddsa; do
    # Warm up on cache hits, so the measured run starts at the first token.
    read -r s_rps s_p50 s_p99 s_cpu _ < <(TOKENS=$WORK/tokens/$alg.txt measure \
      "$GUARD_PID" "$GUARD_URL" "$WORK/tokens.lua" "$WORK/hit.lua")
    SIG[$alg]=$s_cpu
    printf '  %-34s %10s %9s %9s %12s\n' "c. guarded, fresh token ($alg)" "$s_rps" "$s_p50" "$s_p99" "$s_cpu"
  done
  unset TOKENS PATH_
  stop "$GUARD_PID"
  echo "  memory: VmRSS $((rss0 / 1024)) MiB at start, $((rss1 / 1024)) MiB after 100,000 distinct tokens ($cached1 cached), $((rss2 / 1024)) MiB after 200,000 ($cached2 cached), $((rss3 / 1024)) MiB after 300,000 ($cached3 cached)"

  # e. the token endpoint, SQLite then PostgreSQL, one client.
  echo
  echo "m2m serve, POST /oauth/token (client_credentials, client_secret_basic, ES256), 1 client:"
  printf '  %-34s %10s %9s %9s %12s\n' run tokens/s p50_ms p99_ms cpu_us/token
  DIR=$WORK/sqlite
  start_m2m "sqlite://$DIR/m2m.db?mode=rwc" "$DIR"
  create_clients "$DIR" 1
  read -r t_rps t_p50 t_p99 t_cpu _ < <(token_run "$DIR")
  printf '  %-34s %10s %9s %9s %12s\n' "e. SQLite" "$t_rps" "$t_p50" "$t_p99" "$t_cpu"
  stop "$M2M_PID"
  pg_rps=""
  if [ -z "${LOAD_SKIP_POSTGRES:-}" ]; then
    PG_DB=m2m_load_$$
    psql -q "$PG_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
    DIR=$WORK/postgres
    # Replicas on PostgreSQL share the key that encrypts signing keys at rest.
    M2M_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64) start_m2m "${PG_URL%/*}/$PG_DB" "$DIR"
    create_clients "$DIR" 1
    read -r pg_rps pg_p50 pg_p99 pg_cpu _ < <(token_run "$DIR")
    printf '  %-34s %10s %9s %9s %12s\n' "e. PostgreSQL" "$pg_rps" "$pg_p50" "$pg_p99" "$pg_cpu"
    stop "$M2M_PID"
  fi

  # The targets.
  tok_bound=$(calc "${BARE[sign_es256_us]} + $u_cpu")
  row "token endpoint CPU/token (SQLite)" "$t_cpu µs" "<= 40 µs" "$(verdict "$t_cpu" 40)"
  row "  ... / (ES256 sign + unguarded request)" "$(calc "$t_cpu / $tok_bound")x ($tok_bound µs)" "<= 2x" \
    "$(verdict "$(calc "$t_cpu / $tok_bound")" 2)"
  if [ -n "$pg_rps" ]; then
    r=$(calc "$pg_rps / $t_rps")
    row "PostgreSQL / SQLite token throughput" "${r}x" ">= 0.8x" "$(awk -v r="$r" 'BEGIN { print (r >= 0.8 ? "met" : "NOT MET") }')"
  fi
  for alg in es256 eddsa; do
    bound=$(calc "${BARE[verify_${alg}_us]} + $u_cpu")
    over=$(calc "${SIG[$alg]} - $bound")
    row "guard sig path $alg: CPU - (verify + unguarded)" "${SIG[$alg]} - $bound = $over µs" "<= 5 µs" "$(verdict "$over" 5)"
  done
  over=$(calc "$h_cpu - $u_cpu")
  row "guard cache hit: CPU - unguarded" "$h_cpu - $u_cpu = $over µs" "<= 1 µs" "$(verdict "$over" 1)"
  row "guard RSS, 100,000 cached tokens" "$((rss1 / 1024)) MiB" "< 100 MiB" "$(verdict "$rss1" $((100 * 1024 - 1)))"
  growth_kib=$((rss3 - rss2))
  row "guard RSS growth, 2nd refill of 100,000 (flat)" "$((growth_kib / 1024)) MiB" "<= 5% of RSS" \
    "$(verdict "$growth_kib" $((rss2 / 20)))"
fi

# ---- growth ----

if [ "$MODE" = growth ] || [ "$MODE" = all ]; then
  echo
  echo "growth (SQLite):"
  DIR=$WORK/growth
  start_m2m "sqlite://$DIR/m2m.db?mode=rwc" "$DIR"
  printf '  %-44s %10s %9s %9s %12s\n' "token endpoint, random client" tokens/s p50_ms p99_ms cpu_us/token
  have=0
  for n in 1 1000 "$LOAD_GROWTH_CLIENTS"; do
    t0=$(date +%s%N)
    create_clients "$DIR" $((n - have))
    made_ms=$((($(date +%s%N) - t0) / 1000000))
    have=$(wc -l <"$DIR/clients")
    [ "$(wc -l <"$DIR/clients")" -ge "$n" ] || { log "error: $(wc -l <"$DIR/clients") clients made, $n wanted"; exit 1; }
    read -r g_rps g_p50 g_p99 g_cpu _ < <(token_run "$DIR")
    printf '  %-44s %10s %9s %9s %12s\n' "$have clients (registered in $made_ms ms)" "$g_rps" "$g_p50" "$g_p99" "$g_cpu"
  done
  # Once more: the clients the first run used are now in the client cache
  # (if its TTL has not passed) and stamped as used this minute.
  read -r g_rps g_p50 g_p99 g_cpu _ < <(token_run "$DIR")
  printf '  %-44s %10s %9s %9s %12s\n' "$have clients, a second run right after" "$g_rps" "$g_p50" "$g_p99" "$g_cpu"

  # GET /admin/clients at LOAD_GROWTH_CLIENTS clients: the first page, and
  # the page after walking half the list 200 (the largest page) at a time.
  token=$(admin_token "$DIR")
  page_ms() {  # median of 5 GETs of $1, in ms
    for _ in 1 2 3 4 5; do
      curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$1"
    done | sort -n | sed -n 3p | awk '{printf "%.1f", $1 * 1000}'
  }
  first=$(page_ms "$M2M_URL/admin/clients")
  cursor=""
  for _ in $(seq $((LOAD_GROWTH_CLIENTS / 400))); do
    cursor=$(curl -fs -H "Authorization: Bearer $token" \
      "$M2M_URL/admin/clients?limit=200${cursor:+&cursor=$cursor}" |
      sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p')
  done
  later=$(page_ms "$M2M_URL/admin/clients?cursor=$cursor")
  big=$(page_ms "$M2M_URL/admin/clients?limit=200&cursor=$cursor")
  echo "  GET /admin/clients at $have clients (median of 5): first page (50) $first ms; a page of 50 at the middle $later ms; of 200 at the middle $big ms"
  stop "$M2M_PID"

  # A full revocation log, written straight into the SQLite file (the
  # store's own table; the server is stopped), then the start and catch-up.
  now=$(date +%s)
  sqlite3 "$DIR/m2m.db" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LOAD_REVOCATIONS)
INSERT INTO revocation_log (seq, kind, jti, client_id, kid, exp, revoked_at)
SELECT (SELECT head FROM revocation_head) + i, 'token', printf('load-%08d', i),
       'm2m_load', NULL, $now + 3 * 3600, $now FROM n;
UPDATE revocation_head SET head = head + $LOAD_REVOCATIONS;
COMMIT;
EOF
  start_m2m "sqlite://$DIR/m2m.db?mode=rwc" "$DIR"
  echo "  issuer start (process start to the first 200 on /.well-known/jwks.json) at $LOAD_GROWTH_CLIENTS clients and $LOAD_REVOCATIONS revocations: $START_MS ms"
  catch=$("$LOAD_TARGET" catch-up "$M2M_URL" https://api.example.com)
  echo "  a new guard catching up on the feed: $catch"
  stop "$M2M_PID"
fi

if [ "${#SUMMARY[@]}" -gt 0 ]; then
  echo
  echo "targets:"
  printf '  %-52s %-26s %-22s %s\n' target measured bound verdict
  for line in "${SUMMARY[@]}"; do echo "  $line"; done
fi
