#!/usr/bin/env bash
# Runs the relay-fallback integration test while both cores are busy (stress-ng), so that the
# path controller's timing (probe time-outs adapting to RTT and jitter, docs/path-controller.md)
# is tested under load and not only on an idle machine. Root; after `npm run build`.
#   bash scripts/test-under-load.sh
# Bounded: the whole step ends within LOAD_TEST_BUDGET_S (default 300 s); stress-ng is stopped on
# every exit path (also on failure and SIGINT).
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET_S="${LOAD_TEST_BUDGET_S:-300}"
WORKERS="${LOAD_TEST_CPU_WORKERS:-$(nproc)}"
TEST=core/cli/dist/test/relay-fallback.int.test.js

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "test-under-load: stress-ng is missing (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$TEST" ]; then
  echo "test-under-load: $TEST not found: run npm run build first" >&2
  exit 1
fi

stress_pid=""
cleanup() {
  if [ -n "$stress_pid" ] && kill -0 "$stress_pid" 2>/dev/null; then
    kill -TERM "$stress_pid" 2>/dev/null || true
    wait "$stress_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One CPU hog per core at full load, for at most the budget (stress-ng stops itself too).
stress-ng --cpu "$WORKERS" --cpu-load 100 --timeout "${BUDGET_S}s" --quiet &
stress_pid=$!
echo "test-under-load: stress-ng --cpu $WORKERS (pid $stress_pid); running $TEST"
sleep 2

start=$(date +%s)
status=0
timeout --signal=INT --kill-after=20 "$((BUDGET_S - 10))" \
  npx mocha --exit --timeout 300000 "$TEST" || status=$?
echo "test-under-load: relay-fallback under load finished in $(($(date +%s) - start)) s (exit $status)"
exit "$status"
