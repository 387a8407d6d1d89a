#!/usr/bin/env bash
# Fetches the public IP→ASN and IP→country tables (npm packages @ip-location-db/asn,
# CC-BY-4.0: RouteViews and DB-IP, attribution required; and
# @ip-location-db/geo-whois-asn-country, CC0) and loads them into Renkei.
#
#   scripts/fetch-ip-location-db.sh [DIR]   # DIR defaults to ./data/ip-location-db
#
# Extra arguments for `renkei` (e.g. --database-url) can be given in RENKEI_ARGS.
set -euo pipefail
dir=${1:-./data/ip-location-db}
renkei=${RENKEI:-renkei}
mkdir -p "$dir"
(
  cd "$dir"
  rm -rf asn country ./*.tgz
  npm pack --silent @ip-location-db/asn @ip-location-db/geo-whois-asn-country >/dev/null
  mkdir -p asn country
  tar xzf ip-location-db-asn-*.tgz -C asn --strip-components=1
  tar xzf ip-location-db-geo-whois-asn-country-*.tgz -C country --strip-components=1
)
# shellcheck disable=SC2086
"$renkei" ${RENKEI_ARGS:-} enrich load --kind asn --format ip-location-db \
  "$dir/asn/asn-ipv4.csv" "$dir/asn/asn-ipv6.csv"
# shellcheck disable=SC2086
"$renkei" ${RENKEI_ARGS:-} enrich load --kind country --format ip-location-db \
  "$dir/country/geo-whois-asn-country-ipv4.csv" "$dir/country/geo-whois-asn-country-ipv6.csv"
