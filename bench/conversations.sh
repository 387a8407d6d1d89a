#!/usr/bin/env bash
# Correspondence at a busy desk, timed as users meet it, in release mode:
# - a report's page (and the API's thread) with a conversation of 1,000 messages,
#   p50/p99 over 200 requests;
# - 10,000 replies to 10,000 notifications handed to the built-in SMTP listener
#   (eight connections at a time, as a mail server delivers), timed until the last
#   is in its conversation and its incident is back with the coordinator.
#
#   bench/conversations.sh                 # SQLite
#   RENKEI_BENCH_BACKEND=postgres RENKEI_TEST_POSTGRES_URL=postgres://… bench/conversations.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p renkei-web --test web -- --ignored --exact \
  conversations::bench_a_long_thread_and_ten_thousand_replies --nocapture 2>&1 \
  | grep -E "^backend|^thread of|^10,000 replies|panicked|test result"
