#!/usr/bin/env bash
# Runs OpenSpine's load harness (see docs/performance.md): builds the spine
# and spinebench into a temporary folder, prints the machine, and runs the
# harness with its defaults on SQLite and, with --postgres, also on
# PostgreSQL at 127.0.0.1:5432 (database test, user postgres, trust auth) in
# a fresh schema that is dropped afterwards.
#
#   bash bench/run.sh [--postgres] [spinebench flags, e.g. --orgs 5000 --duration 2s --perf DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

postgres=0
args=()
for a in "$@"; do
  case "$a" in
    --postgres) postgres=1 ;;
    *) args+=("$a") ;;
  esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spinebench-bin-XXXXXX")
schema=""
psqlc() { PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -p 5432 -U postgres -d test -v ON_ERROR_STOP=1 -qX "$@"; }
cleanup() {
  rm -rf "$tmp"
  if [ -n "$schema" ]; then
    psqlc -c "DROP SCHEMA IF EXISTS $schema CASCADE" || echo "!! could not drop schema $schema" >&2
  fi
}
trap cleanup EXIT

echo "== machine"
echo "cores: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel: $(uname -sr)"
echo "go: $(go version)"
echo "date: $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- internal cmd 2>/dev/null || echo ' (internal/ or cmd/ modified)')"

echo "== build"
go build -o "$tmp/spine" ./cmd/spine
go build -o "$tmp/spinebench" ./bench/cmd/spinebench

echo
echo "== SQLite"
"$tmp/spinebench" --spine "$tmp/spine" ${args[@]+"${args[@]}"}

if [ "$postgres" = 1 ]; then
  echo
  echo "== PostgreSQL"
  schema="spinebench_$(date +%s)_$$"
  psqlc -c "CREATE SCHEMA $schema"
  echo "postgres: $(psqlc -tAc 'SHOW server_version'), schema $schema"
  "$tmp/spinebench" --spine "$tmp/spine" \
    --db "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$schema" ${args[@]+"${args[@]}"}
fi
