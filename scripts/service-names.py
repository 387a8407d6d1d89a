#!/usr/bin/env python3
"""Writes crates/formats/data/iana/service-names.tsv, the port-to-name table Renkei
embeds at build time, from the IANA Service Name and Transport Protocol Port Number
Registry.

Usage:
    python3 scripts/service-names.py service-names-port-numbers.csv > crates/formats/data/iana/service-names.tsv

The input is the registry as IANA publishes it in CSV
(https://www.iana.org/assignments/service-names-port-numbers/), or a JSON copy of it:
either a list of records in the registry's order (fields ServiceName, PortNumber,
TransportProtocol) or an object mapping "port/proto" to [name, description]. Several
inputs may be given; an earlier one names a port first, a later one only adds ports
the earlier ones lack.

For each TCP and UDP port the table keeps the first service name the registry lists
(80/tcp is "http", not its later aliases "www" and "www-http"); ranges and ports
without a name are left out.
"""

import csv
import json
import sys


def records(path):
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                yield row.get("Service Name", ""), row.get("Port Number", ""), row.get("Transport Protocol", "")
        return
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):
        for key, value in data.items():
            port, _, proto = key.partition("/")
            yield (value[0] if value else ""), port, proto
    else:
        for row in data:
            yield row.get("ServiceName", ""), row.get("PortNumber", ""), row.get("TransportProtocol", "")


def main(paths):
    table = {}
    for path in paths:
        seen = {}
        for name, port, proto in records(path):
            name, proto = name.strip(), proto.strip().lower()
            # A service name is one word (RFC 6335 section 5.1; some old ones hold
            # dots or underscores); a copy that put a description there is skipped.
            if not name or " " in name or proto not in ("tcp", "udp") or not port.strip().isdigit():
                continue
            key = (int(port), proto)
            if key not in seen:
                seen[key] = name
        for key, name in seen.items():
            table.setdefault(key, name)
    out = sys.stdout
    out.write("# port\tproto\tname: the first service name the IANA Service Name and Transport\n")
    out.write("# Protocol Port Number Registry lists for each TCP and UDP port. Written by\n")
    out.write("# scripts/service-names.py; do not edit by hand.\n")
    for (port, proto), name in sorted(table.items()):
        out.write(f"{port}\t{proto}\t{name}\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
