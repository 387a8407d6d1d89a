#!/usr/bin/env bash
# The coordinator's queue at 10,000 open incidents, as a coordinator meets it: the
# incidents come in through `renkei incident import --format mbox` (one sshd report
# per attacker, as log watchers send them), the release `renkei serve` runs on
# 127.0.0.1, a coordinator signs in through the login form, and wrk (Debian's)
# requests each page with 8 connections for 10 s: /healthz beside the queue (first
# page, sorted by source, a page deep in the list, a saved view), one incident's
# page, the dashboard and the queue's API. The target (issue 20): the queue page's
# p99 ≤ 50 ms. SQLite, and PostgreSQL when RENKEI_TEST_POSTGRES_URL is set.
#
#   bench/queue.sh [N]     # N open incidents, 10000 by default
set -euo pipefail
n=${1:-10000}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
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
        a = i + 1
        f.write(f"From abuse@victim{i % 500}.example Fri Mar  8 12:00:00 2024\n")
        f.write(f"From: abuse@victim{i % 500}.example\nTo: report@csirt.example\n")
        f.write(f"Subject: ssh brute force {i}\nMessage-ID: <q{i}@victim.example>\n\n")
        f.write(f"Mar  8 11:59:00 gw sshd[1]: Failed password for root from "
                f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255} port 40000 ssh2\n\n")
PY

run() {
  local label=$1 url=$2 port=$3
  "$bin" incident import --database-url "$url" --format mbox "$work/abuse.mbox" >/dev/null
  echo 'bench-password-1234' | "$bin" admin create-user --database-url "$url" \
    --email coordinator@bench.example --role coordinator --name Bench --password-stdin >/dev/null
  RENKEI_DATABASE_URL=$url RENKEI_LISTEN=127.0.0.1:$port RENKEI_LOG=warn "$bin" serve >"$work/serve-$label.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  # Sign in as a browser does: the login form's CSRF token and cookie, then the post.
  local jar=$work/jar-$label
  local csrf
  csrf=$(curl -fs -c "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | cut -d'"' -f4)
  curl -fs -b "$jar" -c "$jar" -o /dev/null \
    --data-urlencode "email=coordinator@bench.example" --data-urlencode "password=bench-password-1234" \
    --data-urlencode "_csrf=$csrf" "http://127.0.0.1:$port/login"
  local cookie
  cookie=$(awk '$6 ~ /^renkei_/ {printf "%s=%s; ", $6, $7}' "$jar")
  local token
  token=$("$bin" admin create-token --database-url "$url" --email coordinator@bench.example --name bench \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
  local open
  open=$(curl -fs -D - -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/incidents?limit=1" | grep -i x-total-count | tr -d '\r' | cut -d' ' -f2)
  local one
  one=$(curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/incidents?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  echo "backend=$label open_incidents=$open"
  local healthz_p99=""
  for path in /healthz /incidents "/incidents?sort=source&dir=asc" "/incidents?page=100" "/incidents?idle=7&sort=updated&dir=asc" \
              "/incidents/$one" /dashboard "/api/v1/incidents?limit=50"; do
    local auth=(-H "Cookie: $cookie")
    case $path in /api/*) auth=(-H "Authorization: Bearer $token");; esac
    # The page must answer 200 as the signed-in coordinator, or the figure means nothing.
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || { echo "$path answered $code"; exit 1; }
    wrk -t2 -c8 -d10s --latency "${auth[@]}" "http://127.0.0.1:$port$path" >"$work/wrk.txt"
    python3 - "$label" "$path" "$work/wrk.txt" "$healthz_p99" <<'PY'
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

run sqlite "sqlite://$work/renkei.db" 18731
if [ -n "${RENKEI_TEST_POSTGRES_URL:-}" ]; then
  db="bench_queue_$$"
  psql "$RENKEI_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db" >/dev/null
  trap 'cleanup; psql "$RENKEI_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
  run postgres "${RENKEI_TEST_POSTGRES_URL%/*}/$db" 18732
fi
