#!/usr/bin/env bash
# Backup, restore and the move to PostgreSQL, timed as an operator runs them on the
# release binary. The store is made through the product's own import paths: the
# enrichment tables (`renkei enrich load`), log watchers' mails (`renkei incident
# import --format mbox`, five incidents each) and Shadowserver scan feeds. Then:
#
# 1. `renkei backup` of the SQLite store while `renkei serve` takes 100 reports a
#    second through the API (a Python client paced to that rate), beside what people
#    use today on the same file in the same run: sqlite3's `.backup` (online, pages)
#    and `VACUUM INTO`. The reports the load got answers for before the backup began
#    are looked for in the restored store.
# 2. `renkei restore` of that file into a new SQLite store, and into PostgreSQL when
#    RENKEI_TEST_POSTGRES_URL is set; `renkei audit verify` on each.
# 3. `renkei store copy` from the SQLite store to PostgreSQL (rows/s), beside
#    `pg_dump | pg_restore` of the result (what a PostgreSQL team uses today).
#
#   bench/backup-restore.sh [MAILS] [FEED_ROWS]
#     MAILS      mails of five incidents each (200000: a million incidents)
#     FEED_ROWS  feed events (2000000)
set -euo pipefail
n=${1:-200000}
rows=${2:-2000000}
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --locked -p renkei >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release/renkei
export RENKEI_MAIL__FROM="Bench CSIRT <csirt@bench.example>"
export RENKEI_LOG=warn

python3 - "$n" "$rows" "$work" <<'PY'
import sys
n, rows, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dot = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
with open(f"{work}/asn.csv", "w") as a, open(f"{work}/contacts.csv", "w") as c:
    c.write("network,email\n")
    for i in range(4096):
        lo = (10 << 24) | (i << 12)
        a.write(f"{dot(lo)},{dot(lo | 0xFFF)},{64512 + i},Network {i}\n")
        c.write(f"{dot(lo)}/20,abuse@net{i}.example\n")
with open(f"{work}/abuse.mbox", "w") as f:
    for i in range(n):
        ja = i % 3 == 0
        f.write(f"From abuse@victim{i % 500}.example Fri Mar  8 12:00:00 2024\n")
        f.write(f"From: abuse@victim{i % 500}.example\nTo: report@csirt.example\n")
        f.write(f"Subject: {'不正アクセスの報告' if ja else 'ssh brute force'} {i}\nMessage-ID: <s{i}@victim.example>\n")
        f.write("Content-Type: text/plain; charset=utf-8\n\n")
        f.write("弊社サーバに対する総当たり攻撃を確認しました。ログを添えます。\n" if ja
                else "We see password guessing against our servers; logs below.\n")
        for k in range(5):
            x = i * 5 + k + 1
            f.write(f"Mar  8 11:59:0{k} gw sshd[1]: Failed password for root from {dot((10 << 24) | x)} port 4000{k} ssh2\n")
        f.write("\n")
days = 4
for d in range(days):
    with open(f"{work}/scan-2024-03-{d + 1:02d}.csv", "w") as f:
        f.write('"timestamp","ip","protocol","port","hostname","tag"\n')
        for i in range(rows // days):
            x = (i * 2654435761 + d * 7919) & 0xFFFFFF
            f.write(f'"2024-03-{d + 1:02d} {(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}",'
                    f'"{dot((10 << 24) | x)}","tcp","{(22, 23, 445, 3389)[i % 4]}","","scan"\n')
PY

db="$work/renkei.db"
url="sqlite://$db"
"$bin" enrich load --database-url "$url" --kind asn --format ip-location-db "$work/asn.csv" >/dev/null
"$bin" enrich load --database-url "$url" --kind contacts --format csv "$work/contacts.csv" >/dev/null
t0=$SECONDS
"$bin" incident import --database-url "$url" --format mbox "$work/abuse.mbox" >/dev/null
"$bin" incident import --database-url "$url" --format csv --feed shadowserver-scan "$work"/scan-*.csv >/dev/null
incidents=$(sqlite3 "$db" "SELECT COUNT(*) FROM incidents")
echo "store: mails=$n incidents=$incidents feed_rows=$rows made_in_s=$((SECONDS - t0)) sqlite_mb=$(( $(stat -c %s "$db") / 1048576 ))"

echo 'bench-password-1234' | "$bin" admin create-user --database-url "$url" \
  --email coordinator@bench.example --role coordinator --name Bench --password-stdin >/dev/null
token=$("$bin" admin create-token --database-url "$url" --email coordinator@bench.example --name bench \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
port=18093
RENKEI_DATABASE_URL=$url RENKEI_LISTEN=127.0.0.1:$port "$bin" serve >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

# 100 reports a second; each line of the log: the report's number and whether its
# answer came before the backup began (the file "$work/started" appears then).
python3 - "$port" "$token" "$work" >"$work/load.log" 2>&1 <<'PY' &
import json, os, sys, time, urllib.request
port, token, work = sys.argv[1], sys.argv[2], sys.argv[3]
n, start = 0, time.monotonic()
while not os.path.exists(f"{work}/stop"):
    before = not os.path.exists(f"{work}/started")
    body = json.dumps({"site_org": "Load", "reporter_name": "SOC", "reporter_email": "soc@load.example",
                       "description": f"load report {n}",
                       "logs": f"DROP SRC=192.0.2.{n % 250 + 1} DST=198.51.100.1 PROTO=TCP DPT=22"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/reports", body,
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        print(json.load(r)["report"], int(before), flush=True)
    n += 1
    time.sleep(max(0, start + n / 100 - time.monotonic()))
PY
pids+=($!)
sleep 3
touch "$work/started"
/usr/bin/time -f "%e %M" -o "$work/backup.time" "$bin" backup --database-url "$url" --out "$work/renkei.snapshot" >"$work/backup.json"
sleep 1
touch "$work/stop"
sleep 1
read -r secs rss <"$work/backup.time"
during=$(awk '$2 == 0' "$work/load.log" | wc -l)
echo "renkei backup (while 100 reports/s are written): ${secs}s peak_rss_mb=$((rss / 1024)) file_mb=$(( $(stat -c %s "$work/renkei.snapshot") / 1048576 )) reports_written_meanwhile=$during $(cat "$work/backup.json")"
/usr/bin/time -f "%e" -o "$work/t" sqlite3 "$db" ".backup '$work/dot-backup.db'"
echo "sqlite3 .backup (same store, same load): $(cat "$work/t")s file_mb=$(( $(stat -c %s "$work/dot-backup.db") / 1048576 ))"
/usr/bin/time -f "%e" -o "$work/t" sqlite3 "$db" "VACUUM INTO '$work/vacuum-into.db'"
echo "sqlite3 VACUUM INTO (same store): $(cat "$work/t")s"
rm -f "$work/dot-backup.db" "$work/vacuum-into.db"

check_restored() {
  local label=$1 target=$2
  "$bin" audit verify --database-url "$target" | sed "s/^/$label audit verify: /"
  python3 - "$work/load.log" "$target" "$label" <<'PY'
import sys, subprocess
log, target, label = sys.argv[1:4]
before = [int(l.split()[0]) for l in open(log) if l.strip().endswith(" 1")]
if target.startswith("sqlite://"):
    q = lambda sql: subprocess.run(["sqlite3", target[len("sqlite://"):], sql], capture_output=True, text=True).stdout
else:
    q = lambda sql: subprocess.run(["psql", "-qtA", target, "-c", sql], capture_output=True, text=True).stdout
have = set(int(x) for x in q("SELECT id FROM reports").split())
missing = [i for i in before if i not in have]
print(f"{label}: reports acknowledged before the backup began: {len(before)}, missing after restore: {len(missing)}")
PY
}

/usr/bin/time -f "%e %M" -o "$work/t" "$bin" restore --database-url "sqlite://$work/restored.db" --from "$work/renkei.snapshot" >/dev/null
read -r secs rss <"$work/t"
echo "renkei restore into SQLite: ${secs}s peak_rss_mb=$((rss / 1024))"
check_restored "restored SQLite" "sqlite://$work/restored.db"

if [ -n "${RENKEI_TEST_POSTGRES_URL:-}" ]; then
  admin=$RENKEI_TEST_POSTGRES_URL
  base=${admin%/*}
  for d in renkei_bench_restore renkei_bench_copy renkei_bench_dumped; do
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" -c "CREATE DATABASE $d" >/dev/null
  done
  /usr/bin/time -f "%e %M" -o "$work/t" "$bin" restore --database-url "$base/renkei_bench_restore" --from "$work/renkei.snapshot" >/dev/null
  read -r secs rss <"$work/t"
  echo "renkei restore into PostgreSQL: ${secs}s peak_rss_mb=$((rss / 1024))"
  check_restored "restored PostgreSQL" "$base/renkei_bench_restore"

  kill "${pids[0]}" 2>/dev/null || true
  sleep 1
  total=$(sqlite3 "$db" "SELECT SUM(n) FROM (SELECT COUNT(*) AS n FROM incidents UNION ALL SELECT COUNT(*) FROM reports UNION ALL SELECT COUNT(*) FROM audit_log)")
  /usr/bin/time -f "%e %M" -o "$work/t" "$bin" store copy --from "$url" --to "$base/renkei_bench_copy" >"$work/copy.json"
  read -r secs rss <"$work/t"
  copied=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$work/copy.json")
  echo "renkei store copy SQLite -> PostgreSQL: ${secs}s rows=$copied rows_per_s=$(python3 -c "print(int($copied / max($secs, 0.01)))") peak_rss_mb=$((rss / 1024)) (incidents+reports+audit rows: $total)"
  "$bin" audit verify --database-url "$base/renkei_bench_copy" | sed 's/^/copy audit verify: /'
  t0=$(date +%s.%N)
  pg_dump -Fc "$base/renkei_bench_copy" >"$work/pg.dump"
  t1=$(date +%s.%N)
  pg_restore -d "$base/renkei_bench_dumped" "$work/pg.dump"
  t2=$(date +%s.%N)
  echo "pg_dump -Fc of the copy: $(python3 -c "print(round($t1 - $t0, 2))")s file_mb=$(( $(stat -c %s "$work/pg.dump") / 1048576 )); pg_restore: $(python3 -c "print(round($t2 - $t1, 2))")s"
  for d in renkei_bench_restore renkei_bench_copy renkei_bench_dumped; do
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null
  done
fi
