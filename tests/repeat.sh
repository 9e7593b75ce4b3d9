#!/usr/bin/env bash
# Runs CI's test phase (`.ci/run --tests`: the README's test command, the
# examples, the interop suite, the documentation's shell blocks and the
# feature matrix's tests) N times in a row on the current tree and prints a
# tally.
# A test that fails in some runs only depends on chance or the clock: each
# failed run's log is kept (and all logs removed when every run passed), and
# the failing tests are named.
#
# Usage: tests/repeat.sh [RUNS]      (default 20)
#
# Formatting and lints are left out (they do not change from run to run);
# the build is done once before the first run, so every run times tests only.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20}
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [RUNS]  (a positive number; default 20)" >&2
  exit 2
fi

export CARGO_TERM_COLOR=never
export M2M_TEST_POSTGRES_URL="${M2M_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

logs=$(mktemp -d "${TMPDIR:-/tmp}/m2m-repeat.XXXXXX")
# Everything the test phase builds: the test build, the examples and the
# interop binaries (same features), the quick start's release binary, and
# the feature matrix's three test builds.
echo "== building once"
if ! {
  cargo test --workspace --all-features --no-run &&
    cargo build --workspace --all-features --bins --examples &&
    cargo build --example guard_existing_app &&
    cargo build --release --bin m2m &&
    cargo test -p m2m-core --no-default-features --no-run &&
    cargo test -p m2m-guard --no-default-features --no-run &&
    cargo test -p m2m-client --no-default-features --no-run
} >"$logs/build.log" 2>&1; then
  echo "the build failed:"
  cat "$logs/build.log"
  exit 1
fi

passed=0
failed=0
declare -A failures=()
for run in $(seq 1 "$runs"); do
  log="$logs/run-$run.log"
  started=$SECONDS
  if bash .ci/run --tests >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "run $run/$runs: passed in $((SECONDS - started)) s"
    rm -f "$log"
  else
    failed=$((failed + 1))
    echo "run $run/$runs: FAILED in $((SECONDS - started)) s (log: $log)"
    # cargo test's "test NAME ... FAILED", pytest's "FAILED NAME", node's "not ok N - NAME",
    # the docs runner's "FAILED: FILE:LINE: WHY".
    names=$(grep -E '^test .* \.\.\. FAILED$|^FAILED |^FAILED: |^not ok ' "$log" | sort -u)
    [ -n "$names" ] || names="(no failing test named: see the log's end)"
    while IFS= read -r name; do
      echo "    $name"
      failures[$name]=$((${failures[$name]:-0} + 1))
    done <<<"$names"
  fi
done

if [ "$failed" -gt 0 ]; then
  echo "failing tests, with the number of runs each failed in:"
  for name in "${!failures[@]}"; do
    echo "  ${failures[$name]}x $name"
  done
fi
echo "repeat: $passed passed, $failed failed"
if [ "$failed" -eq 0 ]; then
  rm -rf "$logs"
else
  echo "logs of the failed runs: $logs"
fi
[ "$failed" -eq 0 ]
