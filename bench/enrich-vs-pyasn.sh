#!/usr/bin/env bash
# IP→ASN lookups, Renkei beside pyasn (the tool IntelMQ and many CSIRT scripts use),
# on the same table and the same million IPv4 addresses, in one run.
#
#   bench/enrich-vs-pyasn.sh DIR    # DIR: the unpacked ip-location-db packages
#                                   # (scripts/fetch-ip-location-db.sh fetches them)
set -euo pipefail
dir=$(cd "${1:?usage: bench/enrich-vs-pyasn.sh IP-LOCATION-DB-DIR}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c 'import pyasn' 2>/dev/null || pip install --quiet pyasn
asn_csv=$(find "$dir" -name asn-ipv4.csv | head -1)

# pyasn reads the ipasn format (prefix<TAB>asn): the ranges of the CSV as CIDR blocks.
python3 - "$asn_csv" "$work/ipasn.dat" <<'PY'
import csv, ipaddress, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w') as out:
    for row in csv.reader(f):
        s, e = ipaddress.IPv4Address(row[0]), ipaddress.IPv4Address(row[1])
        for net in ipaddress.summarize_address_range(s, e):
            out.write(f"{net}\t{row[2]}\n")
PY

python3 - "$work/ipasn.dat" <<'PY'
import sys, time, socket, struct, pyasn
db = pyasn.pyasn(sys.argv[1])
x, ips = 0x9e3779b9, []
for _ in range(1_000_000):   # the xorshift sequence the Rust bench uses
    x ^= (x << 13) & 0xffffffff; x ^= x >> 17; x ^= (x << 5) & 0xffffffff
    ips.append(socket.inet_ntoa(struct.pack('!I', x)))
best = None
for _ in range(3):
    t = time.perf_counter(); found = 0
    for ip in ips:
        if db.lookup(ip)[0] is not None: found += 1
    d = time.perf_counter() - t
    best = d if best is None else min(best, d)
print(f"pyasn: 1M IPv4 lookups in {best*1000:.0f} ms = {1/best:.2f} M lookups/s ({found} found)")
PY

cd "$(dirname "$0")/.."
RENKEI_BENCH_IPDB="$dir" RENKEI_BENCH_IPASN="$work/ipasn.dat" \
  cargo bench -p renkei-enrich --bench lookup -- --noplot 2>&1 | grep -E "^lookup|built|thrpt"
