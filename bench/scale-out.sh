#!/usr/bin/env bash
# Scale-out throughput on this machine: sensor batches and bulk-feed rows with one
# `renkei serve` node without a bus, then one, two and three nodes sharing one
# PostgreSQL database and one NATS JetStream; and the latency of a report submission
# in each setting. Every node is a release build on 127.0.0.1; with 2 cores, more
# nodes share the same cores, so expect the figures to level off, not to triple.
#
#   bench/scale-out.sh            # needs PostgreSQL on 127.0.0.1:5432, nats-server
#                                 # (started by the run itself) and aiosmtpd (pip)
#   SCALE_BATCHES=300 SCALE_ROWS=500000 bench/scale-out.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RENKEI_TEST_POSTGRES_URL="${RENKEI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --release --locked -p renkei --test scale_out -- --ignored --nocapture --test-threads 1 throughput 2>&1 \
    | grep -oE 'nodes=.*|test result.*|panicked.*'
