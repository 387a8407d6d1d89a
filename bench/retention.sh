#!/usr/bin/env bash
# The retention job over ten million feed events, as an operator runs it:
# `renkei retention run` (the release binary) with feed_events_days set so that every
# event goes, on a SQLite store filled by `renkei incident import` with DAYS
# Shadowserver scan files of ROWS rows each (the enrichment tables of a national CSIRT,
# so each day's events are split over about 9,400 recipients). Timed whole, with peak
# memory, while a second process writes to the store every 50 ms and notes its longest
# wait (what the server's own writes would feel).
#
# Beside it, what a team does today: one `DELETE` of the old rows in the sqlite3 shell,
# on a copy of the same store, with the same writer beside it.
#
#   bench/retention.sh [ROWS_PER_DAY] [DAYS]     (1000000 10)
set -euo pipefail
rows=${1:-1000000}
days=${2:-10}
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -p renkei >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release/renkei

python3 bench/feed_data.py "$work" "$rows" "$days"

# A writer beside the job: a row every 50 ms in its own transaction, as the server
# writes; prints its longest wait for the write lock when told to stop.
cat > "$work/writer.py" <<'PY'
import sqlite3, sys, time, os
db, stop = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, timeout=600, isolation_level=None)
c.execute("CREATE TABLE IF NOT EXISTS bench_writes (at REAL)")
worst, n = 0.0, 0
while not os.path.exists(stop):
    t = time.monotonic()
    c.execute("BEGIN IMMEDIATE"); c.execute("INSERT INTO bench_writes VALUES (?)", (t,)); c.execute("COMMIT")
    worst = max(worst, time.monotonic() - t); n += 1
    time.sleep(0.05)
print(f"{worst * 1000:.0f} {n}")
PY

secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
now() { date +%s.%N; }

db="$work/renkei.db"
url="sqlite://$db"
export RENKEI_MAIL__FROM="Bench CSIRT <csirt@bench.example>"
"$bin" enrich load --database-url "$url" --kind asn --format ip-location-db "$work/asn.csv" >/dev/null
"$bin" enrich load --database-url "$url" --kind country --format ip-location-db "$work/country.csv" >/dev/null
"$bin" enrich load --database-url "$url" --kind contacts --format csv "$work/contacts.csv" >/dev/null
"$bin" enrich load --database-url "$url" --kind csirts --format csv "$work/csirts.csv" >/dev/null
t0=$(now)
for d in $(seq 0 $((days - 1))); do
  "$bin" incident import --database-url "$url" --format csv --feed shadowserver-scan "$work/scan-$d.csv" >/dev/null
done
t1=$(now)
q() { sqlite3 "$db" "$1"; }
events=$(q "SELECT SUM(events) FROM feed_batches")
echo "store: events=$events batches=$(q 'SELECT COUNT(*) FROM feed_batches') sightings=$(q 'SELECT COUNT(*) FROM feed_sightings') file_mb=$(( $(stat -c %s "$db") / 1048576 )) imported_in_s=$(secs "$t0" "$t1")"
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$db" "$work/today.db"

# With a writer beside it: run CMD, print wall seconds, peak RSS and the writer's worst wait.
beside() {
  local label=$1 file=$2; shift 2
  rm -f "$work/stop"
  python3 "$work/writer.py" "$file" "$work/stop" >"$work/writer-$label" &
  local w=$! t0 t1
  sleep 1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$work/rss-$label" "$@" >"$work/out-$label" 2>"$work/err-$label"
  t1=$(now)
  touch "$work/stop"; wait "$w"
  read -r worst n <"$work/writer-$label"
  local s; s=$(secs "$t0" "$t1")
  echo "$label: seconds=$s events_per_s=$(python3 -c "print(int($events / max($s, 0.001)))") peak_rss_mb=$(( $(cat "$work/rss-$label") / 1024 )) writer_worst_wait_ms=$worst writer_commits=$n"
}

export RENKEI_RETENTION__FEED_EVENTS_DAYS=1
t0=$(now)
"$bin" retention run --dry-run --database-url "$url" >"$work/dry"
t1=$(now)
echo "dry run: seconds=$(secs "$t0" "$t1") would=$(cat "$work/dry")"
beside renkei "$db" "$bin" retention run --database-url "$url"
echo "  removed=$(tail -1 "$work/out-renkei") left: batches=$(q 'SELECT COUNT(*) FROM feed_batches') sightings=$(q 'SELECT COUNT(*) FROM feed_sightings') counts_kept=$(q 'SELECT SUM(events) FROM feed_counts')"
cut=$(date -u -d yesterday +%F)
beside today-sqlite3-delete "$work/today.db" sqlite3 "$work/today.db" \
  "PRAGMA foreign_keys = ON; BEGIN; DELETE FROM feed_sightings WHERE day < '$cut'; DELETE FROM feed_batches WHERE day < '$cut'; COMMIT;"
