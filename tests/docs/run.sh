#!/usr/bin/env bash
# Runs the documentation as written: every ```sh, ```bash and ```console
# block of README.md and docs/*.md, in order, against `m2m serve` processes
# this script starts on free ports. A block that fails (or outlives its time)
# fails the run with its file:line, its text and its output.
#
# What the line just before a block's opening fence may say:
#
#   (nothing)                       run it. The blocks of one file form one
#                                   walk-through: each runs in its own bash
#                                   (set -euo pipefail, with `timeout`), and
#                                   sees the shell variables and the working
#                                   directory the blocks before it left.
#   <!-- no-run: REASON -->         do not run it; the reason is required.
#   <!-- run: server -->            a block that starts a long-running server:
#                                   run it in the background, wait for its
#                                   /healthz, check its admin file (mode 0600),
#                                   stop it with SIGTERM and expect exit 0 and
#                                   its ready file removed. It gets
#                                   M2M_LISTEN=127.0.0.1:0, M2M_READY_FILE,
#                                   M2M_DATABASE and M2M_BOOTSTRAP_ADMIN_FILE
#                                   naming a scratch folder (its own flags
#                                   still beat them).
#   <!-- run: file NAME -->         a file other blocks use (any language):
#                                   written to NAME in the working directory.
#
# Anything else on that line before a shell block is an error, and so is an
# unmarked shell block that does not run: no block escapes by accident.
#
# Each file's ordinary blocks run against an `m2m serve` of their own (debug
# build, fresh SQLite file), named in M2M_ENDPOINT and M2M_ADMIN_FILE, with
# target/debug first on PATH for `m2m`. A file that needs the server started
# with more flags says so on a line of its own:
#   <!-- run-against: m2m serve --dev-consent -->
# README.md's blocks run at the repository root (the README says so: they use
# `cargo`); each docs/ file's blocks in a scratch folder of their own.
#
# `console` blocks run their `$ ` lines only (the rest is shown output).
#
# Usage: tests/docs/run.sh [FILE.md ...]   (default: README.md docs/*.md)
# Bounds: M2M_DOCS_BLOCK_TIMEOUT (s per block, default 300),
#         M2M_DOCS_SERVER_TIMEOUT (s for a server block to answer, default
#         1800: the README's quick start builds the release binary).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
block_timeout=${M2M_DOCS_BLOCK_TIMEOUT:-300}
server_timeout=${M2M_DOCS_SERVER_TIMEOUT:-1800}

if [ "$#" -gt 0 ]; then files=("$@"); else files=(README.md docs/*.md); fi

# The tools the blocks use; CI runs as root on Debian.
missing=()
for tool in curl jq openssl timeout; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  packages=()
  for tool in "${missing[@]}"; do
    case $tool in timeout) packages+=(coreutils) ;; *) packages+=("$tool") ;; esac
  done
  echo "docs: installing ${packages[*]}"
  apt-get update -qq && apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# The same features as the test build (`cargo test --workspace --all-features`), so nothing rebuilds.
cargo build --quiet --workspace --all-features --bin m2m
bin="$root/target/debug"

work=$(mktemp -d)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Splits FILE into its blocks: one line per block, fields
# separated by \037 (file, line of the opening fence, language, marker kind, marker argument,
# path of the block's text), and fails on a marker it does not know.
parse() { # FILE OUT_DIR
  awk -v file="$1" -v out="$2" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    BEGIN { n = 0; inblock = 0; prev = "" }
    inblock && /^```[ \t]*$/ { inblock = 0; close(path); prev = $0; next }
    inblock { print > path; prev = $0; next }
    /^```/ {
      lang = substr($0, 4); sub(/[ ,].*/, "", lang)
      kind = "run"; arg = ""
      if (prev ~ /^<!-- no-run:.*-->[ \t]*$/) {
        kind = "no-run"; arg = prev; sub(/^<!-- no-run:/, "", arg); sub(/-->[ \t]*$/, "", arg); arg = trim(arg)
        if (arg == "") { printf "%s:%d: a no-run marker needs a reason\n", file, NR > "/dev/stderr"; bad = 1 }
      } else if (prev ~ /^<!-- run: server -->[ \t]*$/) {
        kind = "server"
      } else if (prev ~ /^<!-- run: file [^ ]+ -->[ \t]*$/) {
        kind = "file"; arg = prev; sub(/^<!-- run: file /, "", arg); sub(/ -->[ \t]*$/, "", arg)
      } else if (prev ~ /^<!-- *(no-)?run/) {
        printf "%s:%d: unknown marker %s\n", file, NR - 1, prev > "/dev/stderr"; bad = 1
      }
      shell = (lang == "sh" || lang == "bash" || lang == "console")
      n++; path = sprintf("%s/block-%03d.%s", out, n, (lang == "" ? "txt" : lang))
      printf "" > path
      if (shell || kind == "file") printf "%s\037%d\037%s\037%s\037%s\037%s\n", file, NR, lang, kind, arg, path
      inblock = 1; prev = $0; next
    }
    { prev = $0 }
    END {
      if (inblock) { printf "%s: a code block is not closed\n", file > "/dev/stderr"; bad = 1 }
      exit bad
    }' "$1"
}

# The script a block runs as: the variables and directory the blocks before
# it left, strict mode, a trace into its log, then its text, then it saves
# what it set for the next block.
wrap() { # TEXT LANG STATE BASELINE
  local text=$1 lang=$2 state=$3 baseline=$4
  cat <<EOF
__docs_save() {
  { for __docs_v in \$(compgen -v); do
      grep -qxF "\$__docs_v" $(printf %q "$baseline") || declare -p "\$__docs_v"
    done
    printf 'cd %q\n' "\$PWD"
  } >$(printf %q "$state.new") && mv $(printf %q "$state.new") $(printf %q "$state")
}
[ ! -f $(printf %q "$state") ] || source $(printf %q "$state")
set -euo pipefail
set -x
EOF
  if [ "$lang" = console ]; then
    sed -n 's/^\$ //p' "$text"
  else
    cat "$text"
  fi
  printf '\n{ set +x; } 2>/dev/null\n__docs_save\n'
}

wait_ready() { # READY_FILE LOG PID SECONDS: prints the URL once its /healthz answers
  local deadline=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -s "$1" ] && curl -fs -o /dev/null "$(cat "$1")/healthz"; then cat "$1"; return 0; fi
    kill -0 "$3" 2>/dev/null || break
    sleep 0.2
  done
  echo "the server exited, or did not answer /healthz within $4 s; its log ($2):" >&2
  cat "$2" >&2
  return 1
}

# A failed block's output goes to a CI log: client secrets (m2ms_...) and
# JWTs (three base64url parts, the first beginning eyJ) are masked, even
# those of the throwaway servers this script starts.
mask() {
  sed -E 's/m2ms_[A-Za-z0-9_-]+/m2ms_[masked]/g; s/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/[a JWT, masked]/g'
}

fail() { # WHERE TEXT LOG MESSAGE
  echo "FAILED: $1: $4"
  echo "--- the block:"
  cat "$2"
  echo "--- its output (its trace included; secrets and tokens masked):"
  mask <"$3"
  echo "---"
  exit 1
}

# A `run: server` block: in the background, in its own process group.
run_server_block() { # WHERE TEXT CWD
  local where=$1 text=$2 cwd=$3 dir
  dir=$(mktemp -d "$work/server.XXXXXX")
  local log="$dir/log" ready="$dir/ready" admin="$dir/m2m-admin.json"
  # The script ignores nothing: SIGTERM reaches the server, and the trap only
  # keeps the shell around to report the server's own exit status.
  { echo 'trap : TERM'; echo 'set -euo pipefail'; cat "$text"; } >"$dir/script.sh"
  set -m
  (cd "$cwd" && PATH="$bin:$PATH" M2M_LISTEN=127.0.0.1:0 M2M_READY_FILE="$ready" \
    M2M_DATABASE="sqlite://$dir/m2m.db?mode=rwc" M2M_BOOTSTRAP_ADMIN_FILE="$admin" \
    exec bash "$dir/script.sh") </dev/null >"$log" 2>&1 &
  local pid=$!
  set +m
  servers+=("$pid")
  local started=$SECONDS url
  url=$(wait_ready "$ready" "$log" "$pid" "$server_timeout" 2>>"$dir/why") ||
    { kill -- "-$pid" 2>/dev/null || true; fail "$where" "$text" "$dir/why" "the server did not come up"; }
  echo "   answered /healthz at $url after $((SECONDS - started)) s"
  [ -f "$admin" ] || { kill -- "-$pid" 2>/dev/null || true; fail "$where" "$text" "$log" "no admin file at $admin"; }
  local mode
  mode=$(stat -c %a "$admin")
  [ "$mode" = 600 ] || { kill -- "-$pid" 2>/dev/null || true; fail "$where" "$text" "$log" "the admin file has mode $mode, not 600"; }
  kill -TERM -- "-$pid"
  local status=0 deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    fail "$where" "$text" "$log" "still running 20 s after SIGTERM"
  fi
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || fail "$where" "$text" "$log" "exit status $status after SIGTERM, not 0"
  [ ! -e "$ready" ] || fail "$where" "$text" "$log" "the ready file was left behind after shutdown"
}

# The `m2m serve` a file's ordinary blocks talk to.
start_file_server() { # NAME FLAGS...
  local name=$1 dir
  shift
  dir=$(mktemp -d "$work/$name-issuer.XXXXXX")
  set -m
  "$bin/m2m" serve --listen 127.0.0.1:0 --ready-file "$dir/ready" \
    --database "sqlite://$dir/m2m.db?mode=rwc" --bootstrap-admin-file "$dir/m2m-admin.json" "$@" \
    </dev/null >"$dir/log" 2>&1 &
  local pid=$!
  set +m
  servers+=("$pid")
  file_server_pid=$pid
  M2M_ENDPOINT=$(wait_ready "$dir/ready" "$dir/log" "$pid" 60)
  M2M_ADMIN_FILE="$dir/m2m-admin.json"
  file_server_log="$dir/log"
}

ran=0
skipped=0
for file in "${files[@]}"; do
  name=$(basename "$file" .md)
  out="$work/$name"
  mkdir -p "$out"
  parse "$file" "$out" >"$out/blocks.tsv" || { echo "FAILED: $file: see above"; exit 1; }
  [ -s "$out/blocks.tsv" ] || continue
  echo "== $file"
  if [ "$file" = README.md ]; then cwd=$root; else cwd="$out/cwd"; mkdir -p "$cwd"; fi
  flags=()
  against=$(sed -n 's/^<!-- run-against: m2m serve\(.*\) -->[ \t]*$/\1/p' "$file" | head -n 1)
  # shellcheck disable=SC2206 # flags are words, as written in the file
  [ -z "$against" ] || flags=($against)
  state="$out/state"
  baseline="$out/baseline"
  file_server_pid=""
  while IFS=$'\037' read -r _ line lang kind arg text; do
    where="$file:$line"
    case $kind in
      no-run)
        echo "skip $where ($arg)"
        skipped=$((skipped + 1))
        ;;
      file)
        # A file no block of this document names would be checked by nothing.
        grep -qF -- "$arg" $(awk -F'\037' -v self="$text" '$4 != "file" && $4 != "no-run" && $6 != self { print $6 }' "$out/blocks.tsv") /dev/null ||
          fail "$where" "$text" /dev/null "no block of $file that runs uses $arg"
        cp "$text" "$cwd/$arg"
        echo "file $where -> $arg"
        ;;
      server)
        echo "serve $where"
        run_server_block "$where" "$text" "$cwd"
        ran=$((ran + 1))
        ;;
      run)
        if [ -z "$file_server_pid" ]; then
          start_file_server "$name" "${flags[@]}"
          export M2M_ENDPOINT M2M_ADMIN_FILE
          [ -f "$state" ] || printf 'cd %q\n' "$cwd" >"$state"
          (export PATH="$bin:$PATH"; bash -c 'compgen -v' >"$baseline")
        fi
        echo "run  $where"
        wrap "$text" "$lang" "$state" "$baseline" >"$out/block-$line.sh"
        log="$out/block-$line.log"
        status=0
        set -m
        PATH="$bin:$PATH" timeout -k 5 "$block_timeout" bash "$out/block-$line.sh" </dev/null >"$log" 2>&1 &
        pid=$!
        set +m
        wait "$pid" || status=$?
        # Whatever the block left running, at once (before the group's id can be reused).
        kill -- "-$pid" 2>/dev/null || true
        if [ "$status" -ne 0 ]; then
          [ "$status" -ne 124 ] || echo "(timed out after $block_timeout s)" >>"$log"
          { echo "--- the server's log ($file_server_log):"; cat "$file_server_log"; } >>"$log"
          fail "$where" "$text" "$log" "exit status $status"
        fi
        ran=$((ran + 1))
        ;;
    esac
  done <"$out/blocks.tsv"
  if [ -n "$file_server_pid" ]; then
    kill "$file_server_pid" 2>/dev/null || true
    wait "$file_server_pid" 2>/dev/null || true
  fi
  unset M2M_ENDPOINT M2M_ADMIN_FILE
done
echo "docs: $ran blocks ran, $skipped marked no-run, all passed"
