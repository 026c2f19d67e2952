#!/usr/bin/env bash
# Installs what the tests need (Debian packages), builds, runs every test project and the quickstart smoke
# test, and ends with one line of totals: "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

"$root/scripts/install-test-deps.sh" || { echo "error: installing test dependencies failed" >&2; echo "0 passed, 1 failed"; exit 1; }

results="$root/.hgs/test-results"
rm -rf "$results"
mkdir -p "$results"
# Screenshots and other files tests keep for a human (e.g. the dashboard in Chromium).
export HGS_TEST_ARTEFACTS="$results/artefacts"
passed=0; failed=0; skipped=0

echo "== build"
if ! build_log="$(dotnet build OpenHgs.slnx -c Debug -nologo -v quiet 2>&1)"; then
  echo "$build_log" | grep -E "error|Error" | sort -u | head -n 40
  echo "error: build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

for project in tests/*/*.Tests.csproj; do
  name="$(basename "$project" .csproj)"
  echo "== $name"
  dotnet test "$project" --no-build -nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" 2>&1 \
    | grep -E "^\s*(Failed|Passed!|Failed!|Skipped)|error|Error Message|Assert" | head -n 200
  trx="$results/$name.trx"
  if [ ! -f "$trx" ]; then
    echo "   no results for $name (the test run crashed)"
    failed=$((failed + 1))
    continue
  fi
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)"
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  p="$(get passed)"; f="$(get failed)"; e="$(get error)"; t="$(get total)"; x="$(get executed)"
  p=${p:-0}; f=${f:-0}; e=${e:-0}; t=${t:-0}; x=${x:-0}
  s=$((t - x))
  echo "   $name: $p passed, $((f + e)) failed, $s not run"
  passed=$((passed + p)); failed=$((failed + f + e)); skipped=$((skipped + s))
done

echo "== quickstart (fresh data folder, embedded default)"
if out="$("$root/hgs" quickstart --data "$results/quickstart" 2>&1)" && grep -q "Quickstart complete" <<<"$out"; then
  passed=$((passed + 1)); echo "   quickstart: passed"
else
  failed=$((failed + 1)); echo "$out" | tail -n 20; echo "   quickstart: FAILED"
fi

echo "== bench smoke test (./bench/run.sh --quick prints the issue-4 JSON as its last line)"
bench_out="$results/bench-quick.json"
if "$root/bench/run.sh" --quick >"$bench_out" 2>"$results/bench-quick.log"; then
  last="$(tail -n 1 "$bench_out")"
  missing=""
  for key in hsm_unwrap_per_s hsm_sign_per_s release_per_s release_p50_ms release_p99_ms attest_per_s attest_p50_ms \
             attest_p99_ms release_vs_hsm server_peak_rss_mb scale_latency_ratio tpm_attest_per_s tpm_attest_p50_ms \
             tpm_attest_p99_ms; do
    grep -q "\"$key\":[0-9]" <<<"$last" || missing="$missing $key"
  done
  # Every request of the run must have succeeded and the audit chain must still verify.
  for expected in '"release_failures":0' '"attest_failures":0' '"tpm_attest_failures":0' '"audit_chain_valid":true'; do
    grep -qF "$expected" <<<"$last" || missing="$missing $expected"
  done
  if [[ "$last" == "{"*"}" ]] && [ -z "$missing" ]; then
    passed=$((passed + 1)); echo "   bench: passed"
  else
    failed=$((failed + 1)); echo "   bench: FAILED (missing:${missing:- none}; last line: ${last:0:200})"
  fi
else
  failed=$((failed + 1)); tail -n 20 "$results/bench-quick.log"; echo "   bench: FAILED (exit code)"
fi

if [ "$skipped" -gt 0 ]; then
  echo "note: $skipped tests did not run (counted as neither passed nor failed)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
