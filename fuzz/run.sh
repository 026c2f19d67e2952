#!/usr/bin/env bash
# Fuzzes one target with AFL++ and SharpFuzz (in-process persistent mode).
#   fuzz/run.sh TARGET SECONDS          e.g. fuzz/run.sh event-log 600
#   FUZZ_EXECS=10000000 fuzz/run.sh T S   stop after about that many executions (or SECONDS, whichever first)
#   FUZZ_NO_BUILD=1 fuzz/run.sh T S       reuse the instrumented build of the previous run (campaigns in a row)
# Installs afl++ (Debian) and the SharpFuzz instrumenter if missing, publishes and instruments the harness in
# fuzz/.build (one build serves every target: run campaigns one at a time), runs afl-fuzz with fuzz/corpus/TARGET
# as seeds (state in fuzz/.out/TARGET), copies every
# crash and hang to fuzz/findings/TARGET/ and ends with one line of figures.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
  echo "error: usage: fuzz/run.sh TARGET SECONDS" >&2
  exit 2
fi
target="$1"; seconds="$2"
if [ ! -d "$fuzz/corpus/$target" ]; then
  echo "error: unknown target '$target' (targets: $(ls "$fuzz/corpus" | tr '\n' ' '))" >&2
  exit 2
fi

if ! command -v afl-fuzz >/dev/null; then
  echo "== installing afl++"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq afl++ >/dev/null
fi

tools="$fuzz/.tools"
sharpfuzz_version=2.3.0
if [ ! -x "$tools/sharpfuzz" ]; then
  echo "== installing SharpFuzz.CommandLine $sharpfuzz_version"
  dotnet tool install SharpFuzz.CommandLine --version "$sharpfuzz_version" --tool-path "$tools" >/dev/null
fi

build="$fuzz/.build"
if [ -n "${FUZZ_NO_BUILD:-}" ] && [ -f "$build/OpenHgs.Fuzz.dll" ]; then
  echo "== reusing the instrumented build in $build"
else
  echo "== publishing and instrumenting into $build"
  rm -rf "$build"
  dotnet publish "$fuzz/OpenHgs.Fuzz/OpenHgs.Fuzz.csproj" -c Release -o "$build" -nologo -v quiet >/dev/null
  # Instrument the product assemblies (not the harness, not the framework).
  for dll in "$build"/OpenHgs.Tpm.dll "$build"/OpenHgs.Protocol.dll "$build"/OpenHgs.Crypto.dll; do
    [ -f "$dll" ] && "$tools/sharpfuzz" "$dll" >/dev/null
  done
fi

out="$fuzz/.out/$target"
rm -rf "$out"
mkdir -p "$out"
export AFL_SKIP_BIN_CHECK=1 AFL_MAP_SIZE=65536 AFL_FAST_CAL=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 \
       AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
limit=()
[ -n "${FUZZ_EXECS:-}" ] && limit=(-E "$FUZZ_EXECS")
echo "== afl-fuzz $target for at most ${seconds}s${FUZZ_EXECS:+ or $FUZZ_EXECS executions} (log: $out/afl.log)"
afl-fuzz -i "$fuzz/corpus/$target" -o "$out" -t 2000 -m none -V "$seconds" "${limit[@]}" \
  -- "$(command -v dotnet)" "$build/OpenHgs.Fuzz.dll" "$target" >"$out/afl.log" 2>&1 || {
  echo "error: afl-fuzz failed; last lines of $out/afl.log:" >&2
  tail -n 30 "$out/afl.log" >&2
  exit 1
}

stats="$out/default/fuzzer_stats"
get() { sed -n "s/^$1 *: *//p" "$stats"; }
findings="$fuzz/findings/$target"
saved=0
for kind in crashes hangs; do
  for file in "$out"/default/"$kind"/id:*; do
    [ -f "$file" ] || continue
    mkdir -p "$findings"
    name="${kind%es}"; name="${name%s}-$(sha1sum "$file" | cut -c1-16).bin"
    cp "$file" "$findings/$name"
    saved=$((saved + 1))
  done
done

execs="$(get execs_done)"; runtime="$(get run_time)"
[ -z "$runtime" ] && runtime="$(( $(get last_update) - $(get start_time) ))"
rate=$(( execs / (runtime > 0 ? runtime : 1) ))
echo "target=$target date=$(date -u +%F) execs=$execs exec_per_s=$rate duration_s=$runtime crashes=$(get saved_crashes) hangs=$(get saved_hangs) corpus=$(get corpus_count) findings_saved=$saved"
