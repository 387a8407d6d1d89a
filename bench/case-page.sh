#!/usr/bin/env bash
# A case with 150 vendors, timed as coordinators and vendors meet it, in release
# mode: the vendors are registered, added, acknowledge, record status and write
# through the public API; then the coordinator's case page, the case API and one
# vendor's case page are each requested 200 times (p50/p99), beside /healthz.
# VINCE's users report 10 s pages at 121 vendors; the target is p99 ≤ 100 ms for
# the coordinator's page and ≤ 50 ms for a vendor's.
#
#   bench/case-page.sh                 # SQLite
#   RENKEI_BENCH_BACKEND=postgres RENKEI_TEST_POSTGRES_URL=postgres://… bench/case-page.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p renkei-web --test web -- --ignored --exact \
  vulnerabilities::bench_a_case_with_150_vendors --nocapture 2>&1 \
  | grep -E "^backend|^built|^healthz|^case|panicked|test result"
