#!/usr/bin/env python3
"""Writes asn-ipv4.csv / asn-ipv6.csv holding only the rows of the real tables that cover an IP
of the given feed, plus every 200th other row, so lookups for the feed give exactly the answers
of the full tables while the files stay small."""
import bisect, csv, ipaddress, os, sys

ipdb, feed, out = sys.argv[1:4]
ips = set()
with open(feed, "rb") as f:
    next(f)
    for line in f:
        parts = line.split(b",")
        if len(parts) > 1:
            try:
                ips.add(ipaddress.ip_address(parts[1].decode()))
            except (ValueError, UnicodeDecodeError):
                pass
for fam in ("ipv4", "ipv6"):
    rows = list(csv.reader(open(os.path.join(ipdb, f"asn-{fam}.csv"), newline="", encoding="utf-8")))
    starts = [int(ipaddress.ip_address(r[0])) for r in rows]
    keep = set(range(0, len(rows), 200))
    for ip in ips:
        i = bisect.bisect_right(starts, int(ip)) - 1
        # Overlapping rows exist in the real data: keep the neighbours too, so the answer is unchanged.
        for j in (i - 1, i, i + 1):
            if 0 <= j < len(rows):
                keep.add(j)
    with open(os.path.join(out, f"asn-{fam}.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        for j in sorted(keep):
            w.writerow(rows[j])
