#!/usr/bin/env bash
# Abuse mail import as an abuse desk runs it: one mbox of N sshd reports (ten
# source addresses each, as fail2ban and log watchers send them) imported with
# `renkei incident import --format mbox` (the release binary) into SQLite and,
# when RENKEI_TEST_POSTGRES_URL is set, PostgreSQL; then imported again (every
# message is found by its hash and nothing is added). Beside it, in the same
# run, the script people write today: Python's mailbox module reading the same
# file and pulling the addresses out with a regular expression (no storage).
#
#   bench/mail-import.sh [N]     # N messages, 100000 by default
set -euo pipefail
n=${1:-100000}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -p renkei >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release/renkei

python3 - "$n" "$work/abuse.mbox" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(f"From abuse@victim{i % 500}.example Fri Mar  8 12:00:00 2024\n")
        f.write(f"From: abuse@victim{i % 500}.example\nTo: report@csirt.example\n")
        f.write(f"Subject: ssh brute force {i}\nMessage-ID: <r{i}@victim.example>\n\n")
        for k in range(10):
            a = (i * 10 + k) % 16_000_000
            f.write(f"Mar  8 11:59:{k:02d} gw sshd[{k}]: Failed password for root from "
                    f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255} port {40000 + k} ssh2\n")
        f.write("\n")
PY
echo "mbox: $n messages, $(du -h "$work/abuse.mbox" | cut -f1)"

python3 - "$work/abuse.mbox" <<'PY'
import mailbox, re, sys, time
t = time.perf_counter(); found = 0
rx = re.compile(r"from (\d+\.\d+\.\d+\.\d+) port")
for m in mailbox.mbox(sys.argv[1]):
    found += len(set(rx.findall(m.get_payload())))
d = time.perf_counter() - t
print(f"python mailbox + regex (read only): {d:.1f} s, {found} addresses")
PY

run() {
  local label=$1 url=$2
  local t0 t1 t2
  t0=$(date +%s.%N)
  "$bin" incident import --database-url "$url" --format mbox "$work/abuse.mbox" >"$work/out.jsonl"
  t1=$(date +%s.%N)
  "$bin" incident import --database-url "$url" --format mbox "$work/abuse.mbox" >"$work/again.jsonl"
  t2=$(date +%s.%N)
  python3 - "$label" "$n" "$t0" "$t1" "$t2" "$work/out.jsonl" "$work/again.jsonl" <<'PY'
import json, sys
label, n, t0, t1, t2, out, again = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6], sys.argv[7]
lines = [json.loads(l) for l in open(out)]
incidents = sum(len(l["incidents"]) for l in lines)
dups = sum(1 for l in map(json.loads, open(again)) if l["duplicate"])
print(f"renkei {label}: {n} messages in {t1 - t0:.1f} s = {n / (t1 - t0):.0f} messages/s, "
      f"{incidents} incidents; again: {t2 - t1:.1f} s ({dups} found as imported before)")
PY
}

run sqlite "sqlite://$work/renkei.db"
if [ -n "${RENKEI_TEST_POSTGRES_URL:-}" ]; then
  db="bench_mail_$$"
  psql "$RENKEI_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
  trap 'psql "$RENKEI_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; rm -rf "$work"' EXIT
  run postgres "${RENKEI_TEST_POSTGRES_URL%/*}/$db"
fi
