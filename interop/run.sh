#!/usr/bin/env bash
# Interoperability tests: fhir-kit-client (from npm, pinned in package-lock.json)
# against a spine server that directory.test.mjs builds and starts itself
# (set SPINE_BIN to use an already-built binary). Exit code = the test result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund
exec npm test
