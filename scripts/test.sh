#!/usr/bin/env bash
# Runs every test of OpenSpine: the Go tests (storage tests on SQLite and on
# PostgreSQL) and the interoperability tests with a real FHIR client.
# PostgreSQL: SPINE_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test);
# with SPINE_REQUIRE_POSTGRES=1 an unreachable server fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

pg="${SPINE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
hostport=$(echo "$pg" | sed -E 's|^[a-z]+://([^@/]*@)?([^/?]+).*|\2|')
host=${hostport%:*}; port=${hostport##*:}; [ "$port" = "$hostport" ] && port=5432
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "== PostgreSQL reachable at $host:$port: storage tests run on SQLite AND PostgreSQL"
else
  if [ "${SPINE_REQUIRE_POSTGRES:-}" = "1" ]; then
    echo "!! PostgreSQL is REQUIRED but unreachable at $host:$port" >&2
    exit 1
  fi
  echo "!!"
  echo "!! WARNING: PostgreSQL UNREACHABLE at $host:$port — PostgreSQL storage tests will be SKIPPED."
  echo "!! Start PostgreSQL or set SPINE_TEST_POSTGRES to test the production backend."
  echo "!!"
fi

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 20m ./...
# The packages whose tests race goroutines against each other (concurrent
# updates by version, group commit, the audit log's appends, exactly-once
# releases) run again under the race detector: a data race there could lose
# or mix up a write without any assertion noticing. SPINE_TEST_RACE=0 skips it.
if [ "${SPINE_TEST_RACE:-1}" != "0" ]; then
  echo "== go test -race (store, audit, idempotency, monitor, pds, eps)"
  go test -race -count=1 -timeout 20m ./internal/store/ ./internal/audit/ ./internal/idempotency/ \
    ./internal/monitor/ ./internal/pds/ ./internal/eps/
fi
if [ -f interop/run.sh ]; then
  echo "== interoperability tests (fhir-kit-client)"
  bash interop/run.sh
fi
