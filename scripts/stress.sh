#!/usr/bin/env bash
# The whole suite several times in a row while every core is busy with another load: a test that
# passes only when the machine is idle (a tight wall-clock bound, a silence window, a sleep before
# an assertion) shows up here. `npm run test:stress [-- RUNS]` (default 3); exits non-zero and names
# the failed runs if any fails. The load is one busy loop per core, ended with the script.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
cores="$(nproc)"
logs="$(mktemp -d "${TMPDIR:-/tmp}/wampgres-stress-XXXXXX")"
load=()
stop_load() {
  for pid in "${load[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${load[@]}" 2>/dev/null
}
trap stop_load EXIT

# A bounded load: busy loops that end by themselves after 2 hours at the latest.
for _ in $(seq "$cores"); do
  timeout 7200 sh -c 'while :; do :; done' &
  load+=("$!")
done
echo "load: $cores busy loop(s) on $cores core(s); logs in $logs"

failed=()
for run in $(seq "$runs"); do
  started=$(date +%s)
  if npx vitest run >"$logs/run-$run.log" 2>&1; then
    outcome="passed"
  else
    outcome="FAILED"
    failed+=("$run")
  fi
  summary=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/run-$run.log" | grep -E "^\s*Tests\s" | tail -1 | tr -s ' ')
  echo "run $run/$runs: $outcome in $(( $(date +%s) - started )) s:$summary"
  if [ "$outcome" = "FAILED" ]; then
    sed 's/\x1b\[[0-9;]*m//g' "$logs/run-$run.log" | grep -E "^\s*(FAIL|×)" | sort -u | head -20
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "stress: ${#failed[@]} of $runs run(s) failed (${failed[*]}); logs in $logs"
  exit 1
fi
rm -rf "$logs"
echo "stress: all $runs run(s) passed under load"
