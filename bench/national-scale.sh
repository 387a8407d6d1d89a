#!/usr/bin/env bash
# A national CSIRT's store, and "everything we know about 10.0.19.140" asked of it.
# Everything comes in through the product's own import paths, as an operator would
# bring it: the enrichment tables (`renkei enrich load`), reports as log watchers'
# mails (`renkei incident import --format mbox`, five attacking addresses each, in
# Japanese and English), and Shadowserver scan feeds (`renkei incident import
# --format csv --feed shadowserver-scan`, one file per day). Then the release
# `renkei serve` runs on 127.0.0.1, and wrk (Debian's) asks with 8 connections for
# 10 s each: /healthz, then the queue, a search for one address (hit and miss), a
# /24, an AS-sized range, a Japanese two-character word, a rare and a common English
# word, the address's indicator page (JSON and HTML), its AS's page, and the
# incident statistics for the year. Beside it, what people do today: grep over the
# mail archive for the address. Issue 19's targets: every page's p99 <= 5x /healthz
# p99 and <= 50 ms, statistics for a year <= 100 ms. SQLite, and PostgreSQL when
# RENKEI_TEST_POSTGRES_URL is set.
#
#   bench/national-scale.sh [MAILS] [FEED_ROWS]
#     MAILS      mails of five incidents each (200000: a million incidents)
#     FEED_ROWS  feed events over 10 days (10000000)
#   SKIP_SQLITE=1 measures PostgreSQL alone.
set -euo pipefail
n=${1:-200000}
rows=${2:-10000000}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --locked -p renkei >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release/renkei

python3 - "$n" "$work/abuse.mbox" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        ja = i % 3 == 0
        f.write(f"From abuse@victim{i % 500}.example Fri Mar  8 12:00:00 2024\n")
        f.write(f"From: abuse@victim{i % 500}.example\nTo: report@csirt.example\n")
        subject = "不正アクセスの報告" if ja else "ssh brute force"
        f.write(f"Subject: {subject} {i}\nMessage-ID: <s{i}@victim.example>\n")
        f.write("Content-Type: text/plain; charset=utf-8\n\n")
        if ja:
            f.write("弊社サーバに対する総当たり攻撃を確認しました。ログを添えます。\n")
        else:
            f.write("We see password guessing against our servers; logs below.\n")
        if i % 1000 == 7:
            f.write("The host also spread ransomware to a file server.\n")
        for k in range(5):
            a = i * 5 + k + 1
            f.write(f"Mar  8 11:59:0{k} gw sshd[1]: Failed password for root from "
                    f"10.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255} port 4000{k} ssh2\n")
        f.write("\n")
PY
# The address asked for: the first source of the 1000th mail.
hit=$(python3 -c "a=999*5+1; print(f'10.{(a>>16)&255}.{(a>>8)&255}.{a&255}')")

# Enrichment: each /20 of 10.0.0.0/8 its own AS and abuse desk (4,096 networks).
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
with open(f"{work}/asn.csv", "w") as a, open(f"{work}/contacts.csv", "w") as c:
    c.write("network,email\n")
    for i in range(4096):
        lo = (10 << 24) | (i << 12)
        hi = lo | 0xFFF
        dot = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
        a.write(f"{dot(lo)},{dot(hi)},{64512 + i},Network {i}\n")
        c.write(f"{dot(lo)}/20,abuse@net{i}.example\n")
PY

# Feeds: one Shadowserver scan file per day over ten days; the address asked for
# is in each of them.
python3 - "$rows" "$work" "$hit" <<'PY'
import sys
rows, work, hit = int(sys.argv[1]), sys.argv[2], sys.argv[3]
days = 10
per = rows // days
for d in range(days):
    with open(f"{work}/scan-2024-03-{d + 1:02d}.csv", "w") as f:
        f.write('"timestamp","ip","protocol","port","hostname","tag"\n')
        f.write(f'"2024-03-{d + 1:02d} 00:00:00","{hit}","tcp","22","","ssh"\n')
        for i in range(per - 1):
            a = (i * 2654435761 + d * 7919) & 0xFFFFFF
            f.write(f'"2024-03-{d + 1:02d} {(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}",'
                    f'"10.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}","tcp","{(22, 23, 445, 3389)[i % 4]}","","scan"\n')
PY
asn_hit=$(python3 -c "a=999*5+1; print(64512 + (a >> 12))")

run() {
  local label=$1 url=$2 port=$3
  export RENKEI_MAIL__FROM="Bench CSIRT <csirt@bench.example>"
  "$bin" enrich load --database-url "$url" --kind asn --format ip-location-db "$work/asn.csv" >/dev/null
  "$bin" enrich load --database-url "$url" --kind contacts --format csv "$work/contacts.csv" >/dev/null
  local t0=$SECONDS
  "$bin" incident import --database-url "$url" --format mbox "$work/abuse.mbox" >/dev/null
  echo "backend=$label mails=$n import_s=$((SECONDS - t0))"
  t0=$SECONDS
  /usr/bin/time -f "%M" -o "$work/feed-rss" "$bin" incident import --database-url "$url" --format csv \
    --feed shadowserver-scan "$work"/scan-*.csv >/dev/null || true
  local secs=$((SECONDS - t0))
  echo "backend=$label feed_rows=$rows feed_import_s=$secs rows_per_s=$((rows / (secs > 0 ? secs : 1))) peak_rss_mb=$(( $(tail -1 "$work/feed-rss") / 1024 ))"
  echo 'bench-password-1234' | "$bin" admin create-user --database-url "$url" \
    --email coordinator@bench.example --role coordinator --name Bench --password-stdin >/dev/null
  RENKEI_DATABASE_URL=$url RENKEI_LISTEN=127.0.0.1:$port RENKEI_LOG=warn "$bin" serve >"$work/serve-$label.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  local jar=$work/jar-$label csrf
  csrf=$(curl -fs -c "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
  curl -fs -b "$jar" -c "$jar" -o /dev/null \
    --data-urlencode "email=coordinator@bench.example" --data-urlencode "password=bench-password-1234" \
    --data-urlencode "_csrf=$csrf" "http://127.0.0.1:$port/login"
  local cookie token total
  cookie=$(awk '$6 ~ /^renkei_/ {printf "%s=%s; ", $6, $7}' "$jar")
  token=$("$bin" admin create-token --database-url "$url" --email coordinator@bench.example --name bench \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
  total=$(curl -fs -D - -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/incidents?all=1&limit=1" | grep -i "^x-total-count:" | tr -d '\r' | cut -d' ' -f2)
  echo "backend=$label queue_total=$total (counted exactly up to 10000)"
  case $url in
    sqlite://*) echo "sqlite_file_mb=$(( $(stat -c %s "${url#sqlite://}") / 1048576 ))";;
    postgres://*) psql "$url" -Atc "SELECT 'postgres_' || relname || '_mb=' || pg_total_relation_size(oid) / 1048576 FROM pg_class WHERE relname IN ('incidents', 'reports', 'report_search', 'feed_batches', 'feed_sightings', 'feed_asn_days') ORDER BY relname";;
  esac
  local healthz_p99=""
  for path in /healthz "/api/v1/incidents?all=1&limit=50&q=$hit" "/api/v1/incidents?all=1&limit=50&q=192.0.2.77" \
              "/api/v1/incidents?all=1&limit=50&q=ip:10.0.3.0/24" "/api/v1/incidents?all=1&limit=50&q=ip:10.0.0.0-10.0.255.255" \
              "/api/v1/incidents?all=1&limit=50&q=%E6%94%BB%E6%92%83" "/api/v1/incidents?all=1&limit=50&q=ransomware" \
              "/api/v1/incidents?all=1&limit=50&q=password" "/incidents" "/incidents?all=1&q=$hit" \
              "/api/v1/indicators/ip/$hit" "/indicators/ip/$hit" "/api/v1/indicators/asn/$asn_hit" \
              "/api/v1/statistics/incidents?from=$(date +%Y)-01-01&to=$(date +%Y)-12-31"; do
    local auth=(-H "Cookie: $cookie")
    case $path in /api/*) auth=(-H "Authorization: Bearer $token");; esac
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || { echo "$path answered $code"; exit 1; }
    local found=""
    case $path in /api/v1/incidents*) found=" found=$(curl -fs -D - -o /dev/null "${auth[@]}" "http://127.0.0.1:$port$path" | grep -i "^x-total-count:" | tr -d '\r' | cut -d' ' -f2)";; esac
    wrk -t2 -c8 -d10s --latency "${auth[@]}" "http://127.0.0.1:$port$path" >"$work/wrk.txt"
    python3 - "$label" "$path$found" "$work/wrk.txt" "$healthz_p99" <<'PY'
import re, sys
label, path, out, healthz = sys.argv[1], sys.argv[2], open(sys.argv[3]).read(), sys.argv[4]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
pct = {m[0]: ms(m[1], m[2]) for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", out, re.M)}
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
ratio = f" ({pct['99'] / float(healthz):.1f}x healthz)" if healthz else ""
print(f"{label} {path}: p50 {pct['50']:.1f} ms, p99 {pct['99']:.1f} ms{ratio}, {float(rps):.0f} req/s"
      + (f", {errors.group(1)} errors" if errors else ""))
PY
    if [ "$path" = /healthz ]; then
      healthz_p99=$(grep -E '^\s+99%' "$work/wrk.txt" | awk '{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else {sub(/s/,"",v); v*=1000}; print v}')
    fi
  done
}

# What people do today: grep the mail archive for the address.
start=$(date +%s%N)
grep -c -F "from $hit " "$work/abuse.mbox" >/dev/null
echo "grep over the mbox ($(( $(stat -c %s "$work/abuse.mbox") / 1048576 )) MB) for $hit: $(( ($(date +%s%N) - start) / 1000000 )) ms"

[ -n "${SKIP_SQLITE:-}" ] || run sqlite "sqlite://$work/renkei.db" 18741
if [ -n "${RENKEI_TEST_POSTGRES_URL:-}" ]; then
  db="bench_national_$$"
  psql "$RENKEI_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
  trap 'cleanup; psql "$RENKEI_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
  run postgres "${RENKEI_TEST_POSTGRES_URL%/*}/$db" 18742
fi
