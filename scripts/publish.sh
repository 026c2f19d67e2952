#!/usr/bin/env bash
# Builds the release artefacts (./hgs publish [--out DIR]): self-contained for linux-x64, no .NET needed to run them.
#   openhgs-server-linux-x64.tar.gz  the service and the full hgs CLI (fabric nodes, admin workstations)
#   openhgs-host-linux-x64.tar.gz    the guarded-host hgs: client commands only (attest, unlock, TPM identity/baseline)
# Each tarball holds one folder with the hgs executable, VERSION and SHA256SUMS (every other file, `sha256sum -c`);
# the server one also holds systemd/openhgs.service. Next to each tarball goes its own .sha256.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.hgs/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "error: --out needs a folder" >&2; exit 2; }; out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; echo "usage: hgs publish [--out DIR]"; exit 0 ;;
    *) echo "error: unknown argument '$1' (usage: hgs publish [--out DIR])" >&2; exit 2 ;;
  esac
done
command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET 10 SDK (dotnet) is required to publish OpenHGS" >&2; exit 2; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rid=linux-x64

commit="$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then commit="$commit-dirty"; fi
version="${HGS_VERSION:-0.1.0}"
work="$(mktemp -d "${TMPDIR:-/tmp}/hgs-publish.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# $1 edition (full|host), $2 package name, $3 description
publish() {
  local edition="$1" name="$2" what="$3" dir="$work/$2"
  echo "Publishing $name ($what)…" >&2
  # Own artifacts folder per edition: the two editions never share intermediate files, nor touch the tree's obj/.
  if ! log="$(dotnet publish "$root/src/OpenHgs.Cli/OpenHgs.Cli.csproj" -c Release -r "$rid" --self-contained true \
        -p:HgsEdition="$edition" -p:Version="$version" -p:SourceRevisionId="$commit" \
        --artifacts-path "$work/artifacts-$edition" -o "$dir" -nologo -v quiet 2>&1)"; then
    echo "$log" >&2
    echo "error: publishing $name failed" >&2
    exit 1
  fi
  rm -f "$dir"/*.pdb
  if [ "$edition" = full ]; then
    mkdir -p "$dir/systemd"
    cp "$root/packaging/systemd/openhgs.service" "$dir/systemd/"
  fi
  local runtime
  runtime="$(sed -n 's/.*"Microsoft.NETCore.App", *"version": *"\([^"]*\)".*/\1/p' "$dir/hgs.runtimeconfig.json" | head -n 1)"
  [ -n "$runtime" ] || runtime="$(tr -d '\n ' <"$dir/hgs.runtimeconfig.json" | sed -n 's/.*"includedFrameworks":\[{"name":"Microsoft.NETCore.App","version":"\([^"]*\)".*/\1/p')"
  cat >"$dir/VERSION" <<VERSION_EOF
name=$name
version=$version
commit=$commit
edition=$edition
rid=$rid
dotnet_runtime=${runtime:-unknown}
self_contained=true
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_EOF
  (cd "$dir" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum >SHA256SUMS)
  tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -czf "$out/$name.tar.gz" "$name"
  (cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
  echo "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1), $(wc -l <"$dir/SHA256SUMS") files, .NET ${runtime:-?})" >&2
}

start=$SECONDS
publish full "openhgs-server-$rid" "service and full CLI"
publish host "openhgs-host-$rid" "guarded-host client"
echo "Published to $out in $((SECONDS - start)) s." >&2
