"""Test data for the feed benchmarks: enrichment tables of a national CSIRT's size
(400,000 routed networks, an abuse desk for each of 20,000 ASes, CSIRTs for three
countries) and Shadowserver scan files whose addresses spread over the whole IPv4
space, so that about 9,400 recipients share each day's rows.

    python3 bench/feed_data.py WORK ROWS            scan.csv (2026-11-21) and one.csv
    python3 bench/feed_data.py WORK ROWS DAYS       scan-0.csv … (2026-10-01 onwards)
"""
import sys

work, rows = sys.argv[1], int(sys.argv[2])
days = int(sys.argv[3]) if len(sys.argv) > 3 else None
dot = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
with open(f"{work}/asn.csv", "w") as a, open(f"{work}/country.csv", "w") as c:
    at = 1 << 24
    for i in range(400_000):
        n = 256 << (i % 5)
        a.write(f"{dot(at)},{dot(at + n - 1)},{i % 70000},AS{i % 70000}\n")
        c.write(f"{dot(at)},{dot(at + n - 1)},{('JP', 'US', 'DE', 'CN')[i % 4]}\n")
        at += n + 256 * (i % 3)
with open(f"{work}/contacts.csv", "w") as f:
    f.write("network,email,lang\n")
    for asn in range(20_000):
        f.write(f"AS{asn},abuse@as{asn}.example,en\n")
with open(f"{work}/csirts.csv", "w") as f:
    f.write("country,name,email\nUS,US,cert@us.example\nDE,DE,cert@de.example\nCN,CN,cert@cn.example\n")
head = '"timestamp","ip","protocol","port","hostname","tag","asn","geo","region","city"\n'
x = 0x12345678


def xorshift():
    global x
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def scan(path, day):
    with open(path, "w") as f:
        f.write(head)
        for i in range(rows):
            ip = dot(xorshift() | 0x01000000)
            f.write(f'"{day} {i % 24:02d}:{i % 60:02d}:07","{ip}","tcp","{(22, 23, 3389, 445)[i % 4]}","",'
                    f'"{("ssh", "telnet", "rdp", "smb")[i % 4]}",,"","",""\n')


if days is None:
    scan(f"{work}/scan.csv", "2026-11-21")
    with open(f"{work}/one.csv", "w") as f:
        f.write(head)
        f.write('"2026-11-20 00:00:07","1.0.0.1","tcp","22","","ssh",,"","",""\n')
else:
    for d in range(days):
        scan(f"{work}/scan-{d}.csv", f"2026-10-{d + 1:02d}")
