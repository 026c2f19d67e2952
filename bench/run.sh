#!/usr/bin/env bash
# OpenHGS benchmark (issue 4): builds the bench in Release, starts what it needs (a SoftHSM2 token; with
# --postgres also a PostgreSQL server), runs the service as a child process, and prints progress and
# explanations on stderr and ONE JSON object as the last line of stdout. Options: see bench/README.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK (dotnet) is required" >&2
  exit 2
fi
echo "bench: checking dependencies (softhsm2, postgresql, …)" >&2
"$root/scripts/install-test-deps.sh" >&2
echo "bench: building bench/OpenHgs.Bench (Release)" >&2
if ! log=$(dotnet build "$root/bench/OpenHgs.Bench/OpenHgs.Bench.csproj" -c Release -nologo -v quiet 2>&1); then
  echo "$log" | grep -E "error" | sort -u | head -n 40 >&2
  echo "error: build failed" >&2
  exit 2
fi
exec dotnet "$root/bench/OpenHgs.Bench/bin/Release/net10.0/OpenHgs.Bench.dll" "$@"
