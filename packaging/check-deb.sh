#!/usr/bin/env bash
# The Debian package as an operator installs it: built by cargo deb from the binary
# the tests built (target/debug/renkei; a release build would double CI's time),
# installed with dpkg -i, started as the package's user with the package's
# configuration, answering /healthz and /readyz; then purged. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || cargo install --quiet --locked cargo-deb@2.11.1
test -x target/debug/renkei || cargo build --locked -p renkei

out="$(mktemp -d)"
cargo deb -p renkei --no-build --profile dev --no-strip --output "$out/" >/dev/null
deb="$(ls "$out"/renkei_*.deb)"
echo "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    dpkg --purge renkei >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

dpkg -i "$deb"
getent passwd renkei
stat -c '%U:%G %a %n' /etc/renkei/renkei.toml /var/lib/renkei
unit="$(dpkg -L renkei | grep '/renkei.service$')"
echo "unit: $unit"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify "$unit" 2>&1 | grep -v -e 'Failed to connect' -e 'not running' || true
fi

# The unit's command, as its user (systemd is not PID 1 on CI machines).
port=18087
runuser -u renkei -- env RENKEI_MAIL__FROM='CI <ci@renkei.invalid>' \
    /usr/bin/renkei serve --config /etc/renkei/renkei.toml --listen "127.0.0.1:$port" \
    >"$out/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$out/serve.log"; exit 1; }
    sleep 0.2
done
echo "healthz: $(curl -fsS "http://127.0.0.1:$port/healthz")"
echo "readyz: $(curl -fsS "http://127.0.0.1:$port/readyz")"
test -f /var/lib/renkei/renkei.db
stat -c '%U %n' /var/lib/renkei/renkei.db
kill "$pid"
wait "$pid" || true
pid=
dpkg --purge renkei
if getent passwd renkei >/dev/null; then echo 'the user outlived the purge'; exit 1; fi
test -f /var/lib/renkei/renkei.db   # the data outlives the package
rm -rf /var/lib/renkei
echo "the package installs, serves and purges"
