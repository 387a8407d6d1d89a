#!/usr/bin/env python3
"""Writes scan traffic with scapy, as a real tool would, for the observation tests:
Ethernet (some VLAN-tagged), IPv4 with and without options, IPv6, TCP SYN scans,
backscatter (SYN-ACK, RST, ICMP errors quoting TCP), UDP probes, ICMP and ICMPv6
echo, ARP, a fragmented datagram and frames cut short; a Linux cooked (SLL) capture
and a pcapng file. Usage: make_scans.py OUTDIR"""
import random
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, CookedLinux, Dot1Q, Ether, IPv6,
                       ICMPv6EchoRequest, IPOption_RR, Raw, fragment, wrpcap)
from scapy.utils import PcapNgWriter

out = sys.argv[1]
rnd = random.Random(2967)
T0 = 1191164400  # 2007-10-01T00:00:00+09:00


def src4():
    return "198.51.%d.%d" % (rnd.randrange(0, 4), rnd.randrange(1, 255))


def src6():
    return "2001:db8:%x::%x" % (rnd.randrange(0, 3), rnd.randrange(1, 60))


pkts = []


def add(p, t):
    p.time = T0 + t
    pkts.append(p)


eth = lambda: Ether(src="00:16:3e:00:00:02", dst="00:16:3e:00:00:01")
for i in range(400):
    port = rnd.choice([23, 445, 445, 445, 2967, 5900, 135, 1433, 22])
    p = eth() / IP(src=src4(), dst="203.0.113.%d" % rnd.randrange(1, 255)) / TCP(sport=rnd.randrange(1024, 65535), dport=port, flags="S")
    if i % 10 == 0:
        p = eth() / Dot1Q(vlan=42) / p[IP]
    add(p, i * 7)
for i in range(60):
    add(eth() / IP(src=src4(), dst="203.0.113.9") / UDP(sport=rnd.randrange(1024, 65535), dport=rnd.choice([1434, 137, 53])) / Raw(b"x" * 8), 100 + i * 11)
for i in range(50):
    add(eth() / IP(src=src4(), dst="203.0.113.10") / ICMP(type=8) / Raw(b"ping"), 200 + i * 13)
for i in range(40):
    flags = "SA" if i % 2 else "R"
    add(eth() / IP(src="192.0.2.%d" % (i % 9 + 1), dst="203.0.113.11") / TCP(sport=80, dport=rnd.randrange(1024, 65535), flags=flags), 300 + i * 17)
for i in range(20):
    quoted = IP(src="203.0.113.12", dst="192.0.2.77") / TCP(sport=4444, dport=80, flags="S")
    add(eth() / IP(src="192.0.2.%d" % (i % 5 + 20), dst="203.0.113.12") / ICMP(type=3, code=1) / quoted, 400 + i * 19)
for i in range(30):
    add(eth() / IP(src=src4(), dst="203.0.113.13", options=[IPOption_RR()]) / TCP(sport=5555, dport=8080, flags="S"), 500 + i * 3)
for i in range(40):
    add(eth() / IPv6(src=src6(), dst="2001:db8:ffff::1") / TCP(sport=rnd.randrange(1024, 65535), dport=rnd.choice([22, 23]), flags="S"), 600 + i * 5)
for i in range(15):
    add(eth() / IPv6(src=src6(), dst="2001:db8:ffff::2") / ICMPv6EchoRequest(), 700 + i * 5)
for i in range(10):
    add(eth() / ARP(psrc=src4(), pdst="203.0.113.1"), 800 + i)
for i, frag in enumerate(fragment(IP(src="198.51.100.99", dst="203.0.113.14") / UDP(sport=1, dport=1434) / Raw(b"z" * 3000), fragsize=1000)):
    add(eth() / frag, 900 + i)
for i in range(5):
    whole = eth() / IP(src=src4(), dst="203.0.113.15") / TCP(sport=1, dport=3389, flags="S")
    add(Ether(bytes(whole)[:30]), 1000 + i)  # cut inside the IP header
# Late in the day, a second hourly bucket.
for i in range(30):
    add(eth() / IP(src=src4(), dst="203.0.113.16") / TCP(sport=2000, dport=5900, flags="S"), 3600 + i)
wrpcap(out + "/scan-ethernet.pcap", pkts)

cooked = []
for i in range(25):
    p = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x00\x16\x3e\x00\x00\x02\x00\x00", proto=0x0800) / IP(src=src4(), dst="203.0.113.20") / TCP(sport=3333, dport=rnd.choice([445, 1025]), flags="S")
    p.time = T0 + 50 + i
    cooked.append(p)
wrpcap(out + "/scan-sll.pcap", cooked, linktype=113)

w = PcapNgWriter(out + "/scan.pcapng")
for i in range(35):
    p = eth() / IP(src=src4(), dst="203.0.113.30") / TCP(sport=4000, dport=rnd.choice([23, 2323]), flags="S")
    p.time = T0 + 70 + i
    w.write(p)
w.close()
