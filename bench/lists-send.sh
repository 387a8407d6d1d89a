#!/usr/bin/env bash
# One alert to 24,000 mailing-list readers through a real SMTP server on loopback
# (aiosmtpd, counting what it accepts and keeping nothing), timed from the start of
# `renkei serve` until every delivery is marked sent. Target: 60 s.
#
#   bench/lists-send.sh          # needs python3 -m pip install aiosmtpd
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import aiosmtpd' 2>/dev/null || { echo "needs aiosmtpd (python3 -m pip install aiosmtpd)"; exit 2; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/sink.py" <<'PY'
import asyncio, signal, sys
from aiosmtpd.controller import Controller

class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"

c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
def done(*_):
    c.stop()
    print(f"relay accepted {Count.n} messages", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
signal.pause()
PY
python3 "$work/sink.py" "$port" > "$work/relay.log" 2>&1 &
relay=$!
sleep 1
RENKEI_BENCH_RELAY="smtp://127.0.0.1:$port" cargo test --release -q -p renkei --test lists_send -- --ignored --nocapture bench_ 2>&1 | grep -E "sent one alert|panicked|FAILED" || true
kill -TERM $relay; wait $relay 2>/dev/null || true
cat "$work/relay.log"
