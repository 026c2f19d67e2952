#!/usr/bin/env bash
# Remakes the upgrade fixture: a data folder written by a real older release (commit 044bfe1: database schema 5,
# before design change 62's explicit settings and policy states, before migration 6), with one registered host-key
# host that attested once and one key protector released once. UpgradeFromOldReleaseTests starts the current server
# on a copy of it. Run from anywhere inside the repository; needs the .NET 10 SDK, git, curl, jq and sqlite3.
#
#   tests/OpenHgs.EndToEnd.Tests/Upgrade/make-fixture.sh [--postgres] [COMMIT]
#
# Without --postgres the old release keeps its database in SQLite (hgs.db in the data folder) and the fixture is written
# to fixtures/COMMIT. With --postgres (what clusters use) it runs against a throwaway PostgreSQL server started here
# (initdb in a temporary folder, on a free loopback port, as the tests' PostgresServer does; as the postgres user when
# run as root), and fixtures/COMMIT-postgres gets a plain SQL dump of that database (database.sql, pg_dump
# --no-owner --no-privileges) beside the data folder. That data folder's hgs.json names the throwaway server, which is
# gone: the test restores the dump into a database of its own and points the copied hgs.json at it. --postgres needs
# PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) instead of sqlite3.
#
# The old release is built from a temporary git worktree, which is removed afterwards, also on failure.
set -euo pipefail

database_kind="sqlite"
if [ "${1:-}" = "--postgres" ]; then
  database_kind="postgres"
  shift
fi
commit="${1:-044bfe1}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
full_commit="$(git -C "$repo" rev-parse --verify "$commit^{commit}")"
short_commit="$(git -C "$repo" rev-parse --short=7 "$full_commit")"
if [ "$database_kind" = "postgres" ]; then
  destination="$here/fixtures/$short_commit-postgres"
else
  destination="$here/fixtures/$short_commit"
fi

# Facts the test checks after the upgrade: a non-default validity (the default is 8 h = 480 minutes), so a migration
# that rewrote it with the default would be caught.
host_name="upgrade-host"
validity_minutes=150

for tool in dotnet git curl jq sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is required" >&2; exit 2; }
done
if [ "$database_kind" = "sqlite" ]; then
  command -v sqlite3 >/dev/null 2>&1 || { echo "error: sqlite3 is required" >&2; exit 2; }
else
  # The newest installed major version, as PostgresServer picks it.
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  for tool in initdb pg_ctl createdb pg_dump; do
    [ -n "$pg_bin" ] && [ -x "$pg_bin/$tool" ] || { echo "error: PostgreSQL's $tool is required (/usr/lib/postgresql/*/bin)" >&2; exit 2; }
  done
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work="$(mktemp -d "${TMPDIR:-/tmp}/openhgs-upgrade-fixture.XXXXXX")"
old_source="$work/source"
server_pid=""
# The throwaway PostgreSQL server's folder (its own, outside $work: the postgres user cannot enter $work when run as
# root) and the prefix that runs its tools as that user.
pg_root=""
pg_as=()
if [ "$(id -u)" = "0" ]; then
  pg_as=(runuser -u postgres --)
fi
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_root" ]; then
    if [ -f "$pg_root/data/postmaster.pid" ]; then
      "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" stop -m immediate -w >/dev/null 2>&1 || true
    fi
    rm -rf "$pg_root"
  fi
  git -C "$repo" worktree remove --force "$old_source" 2>/dev/null || true
  git -C "$repo" worktree prune
  rm -rf "$work"
}
trap cleanup EXIT

echo "Checking out $short_commit into a temporary worktree…" >&2
git -C "$repo" worktree add --detach "$old_source" "$full_commit" >/dev/null 2>&1

echo "Building the old release's hgs (Release)…" >&2
if ! log=$(dotnet build "$old_source/src/OpenHgs.Cli/OpenHgs.Cli.csproj" -c Release -o "$work/bin" -nologo -v quiet 2>&1); then
  echo "$log" >&2
  echo "error: the old release did not build" >&2
  exit 2
fi
old_hgs() { dotnet "$work/bin/hgs.dll" "$@"; }

# A free loopback port: nothing answers a connection to it.
free_port() {
  for _ in $(seq 1 50); do
    local candidate=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: no free loopback port" >&2
  return 1
}

database_arguments=()
if [ "$database_kind" = "postgres" ]; then
  echo "Starting a throwaway PostgreSQL server…" >&2
  pg_root="$(mktemp -d "${TMPDIR:-/tmp}/openhgs-upgrade-pg.XXXXXX")"
  if [ "${#pg_as[@]}" -gt 0 ]; then
    chown postgres "$pg_root"
  fi
  "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_root/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
  pg_port="$(free_port)"
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -w -l "$pg_root/server.log" \
    -o "-p $pg_port -k $pg_root -c listen_addresses=127.0.0.1" start >/dev/null
  pg_database="openhgs_upgrade"
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$pg_database"
  # The form an operator types (docs/deploy.md §3); the old release writes it into hgs.json as postgres:….
  database_arguments=(--database "Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=$pg_database")
fi

fixture="$work/fixture"
data="$fixture/data"
old_hgs server init --data "$data" --software --name "Upgrade fixture fabric" "${database_arguments[@]}" >/dev/null
configured_database="$(jq -er '.database' "$data/hgs.json")"
case "$database_kind:$configured_database" in
  sqlite:sqlite:*|postgres:postgres:*) ;;
  *) echo "error: the old release configured database '$configured_database', not $database_kind" >&2; exit 1 ;;
esac

port="$(free_port)"
url="http://127.0.0.1:$port"

# The server's log stays in the temporary folder: the fixture holds state, not logs.
# exec'd (not run through old_hgs, whose subshell would take the signal) so that SIGTERM reaches the server itself and
# it shuts down gracefully; in the temporary folder, so nothing it might write lands in the repository.
(cd "$work" && exec dotnet "$work/bin/hgs.dll" server run --data "$data" --urls "$url" >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 600); do
  curl -fsS "$url/healthz/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "error: the old server exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$url/healthz/ready" >/dev/null || { cat "$work/server.log" >&2; echo "error: the old server never became ready" >&2; exit 1; }

export HGS_URL="$url" HGS_ADMIN_TOKEN_FILE="$data/admin.token"
old_hgs server set-validity "${validity_minutes}m" >/dev/null
recorded_validity="$(old_hgs server settings --json | jq -er '.healthCertificateValidityMinutes')"
[ "$recorded_validity" = "$validity_minutes" ] || { echo "error: the old release reports validity $recorded_validity, not $validity_minutes" >&2; exit 1; }

old_hgs client keygen --out "$fixture/host-keys" >/dev/null
old_hgs hosts add-key --name "$host_name" --public-key "$fixture/host-keys/host-signing.pub.pem" >/dev/null
old_hgs client configure --state "$fixture/host-state" --attestation-url "$url" --key-protection-url "$url" --host-key "$fixture/host-keys" >/dev/null
old_hgs client attest --state "$fixture/host-state" >/dev/null

old_hgs guardian export --out "$work/fabric-guardian.json" >/dev/null
old_hgs guardian new --name upgrade-owner --out "$work/owner.json" >/dev/null
old_hgs kp new --owner "$work/owner.json" --guardian "$work/fabric-guardian.json" --out "$fixture/vm1.kp" --transport-key-out "$work/vm1.key" >/dev/null
old_hgs client unlock --state "$fixture/host-state" --kp "$fixture/vm1.kp" --out "$work/vm1.released" >/dev/null
cmp -s "$work/vm1.key" "$work/vm1.released" || { echo "error: the old release released another key than the owner's" >&2; exit 1; }
# Only the digest is kept: the test compares what the current release releases with it.
transport_key_sha256="$(sha256sum "$work/vm1.released" | cut -d' ' -f1)"
old_hgs audit verify >/dev/null

kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=""
if curl -fsS "$url/healthz/live" >/dev/null 2>&1; then
  echo "error: the old server still answers after SIGTERM" >&2
  exit 1
fi
if [ "$database_kind" = "sqlite" ]; then
  # The old server leaves SQLite's write-ahead log beside hgs.db; fold it in so the fixture is one database file (the
  # last connection to close checkpoints the log and deletes it).
  sqlite3 "$data/hgs.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
  for leftover in "$data/hgs.db-wal" "$data/hgs.db-shm"; do
    if [ -s "$leftover" ]; then
      echo "error: $leftover is not empty after the checkpoint" >&2
      exit 1
    fi
    rm -f "$leftover"
  done
  database_files='{
    "data/hgs.json": "service configuration written by server init (software key store, sqlite:hgs.db)",
    "data/hgs.db": "SQLite database at the old schema, after the old server stopped"
  }'
else
  # Plain SQL, without owners or grants, so psql restores it into any database of any server the test runs.
  "$pg_bin/pg_dump" -h 127.0.0.1 -p "$pg_port" -U postgres --no-owner --no-privileges -f "$fixture/database.sql" "$pg_database"
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" stop -m fast -w >/dev/null
  database_files='{
    "data/hgs.json": "service configuration written by server init (software key store, postgres: naming the fixture run'\''s throwaway server; the test rewrites it)",
    "database.sql": "plain SQL dump (pg_dump --no-owner --no-privileges) of the PostgreSQL database at the old schema, after the old server stopped"
  }'
fi

jq -n \
  --arg commit "$full_commit" \
  --arg database "$database_kind" \
  --argjson databaseFiles "$database_files" \
  --arg made "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg host "$host_name" \
  --argjson validity "$validity_minutes" \
  --arg digest "$transport_key_sha256" \
  '{
    commit: $commit,
    madeAt: $made,
    madeBy: "tests/OpenHgs.EndToEnd.Tests/Upgrade/make-fixture.sh",
    database: $database,
    hostName: $host,
    validityMinutes: $validity,
    adminTokenFile: "data/admin.token",
    releasedTransportKeySha256: $digest,
    files: ($databaseFiles + {
      "data/keystore.key": "the software key store'\''s sealing key",
      "data/keystore/": "the software key store: fabric keys, audit checkpoint key, row-MAC key",
      "data/admin.token": "the admin credential",
      "host-keys/": "the guarded host'\''s keys from hgs client keygen",
      "host-state/client.json": "the host'\''s client configuration (URLs and host-key folder are those of the fixture run; the test rewrites them)",
      "host-state/health.cer": "the health certificate from the old release'\''s attestation",
      "vm1.kp": "a key protector granted to the fabric, released once by the old release (releasedTransportKeySha256)"
    })
  }' >"$fixture/fixture.json"

rm -rf "$destination"
mkdir -p "$(dirname "$destination")"
cp -a "$fixture" "$destination"
echo "Fixture written to ${destination#"$repo"/}" >&2
find "$destination" -type f | sort | sed "s|^$repo/|  |" >&2
