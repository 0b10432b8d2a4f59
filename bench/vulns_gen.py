#!/usr/bin/env python3
"""Makes an asset inventory and an OSV-sized advisory set for bench/vulns.sh.

    vulns_gen.py OUT ASSETS RECORDS [PACKAGES]

OUT/assets.csv: ASSETS assets, each running 5 packages (npm, PyPI, crates.io, Debian) at random
versions. OUT/osv/: OSV records with 4 affected packages each, RECORDS affected-package records in
all, every one an ECOSYSTEM or SEMVER range (introduced/fixed, or introduced/last_affected), so
every candidate pair needs a real version comparison. Deterministic (seeded).
"""
import json, os, random, sys

out, n_assets, n_records = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n_packages = int(sys.argv[4]) if len(sys.argv) > 4 else max(1000, n_records)
rnd = random.Random(20261203)
ecos = [("npm", "npm"), ("PyPI", "pypi"), ("crates.io", "cargo"), ("Debian:12", "deb/debian")]
packages = [(ecos[i % 4], f"pkg{i:07d}") for i in range(n_packages)]

def version():
    return f"{rnd.randint(0, 9)}.{rnd.randint(0, 20)}.{rnd.randint(0, 30)}"

def deb(v):
    return f"{v}-{rnd.randint(1, 5)}+deb12u{rnd.randint(1, 12)}"

os.makedirs(f"{out}/osv", exist_ok=True)
with open(f"{out}/assets.csv", "w") as f:
    f.write("id,name,organisation,constituent,owner,criticality,software\n")
    for a in range(n_assets):
        sw = []
        for _ in range(5):
            (eco, ty), name = rnd.choice(packages)
            v = version()
            if ty == "deb/debian":
                sw.append(f"pkg:{ty}/{name}@{deb(v)}?distro=bookworm")
            else:
                sw.append(f"pkg:{ty}/{name}@{v}")
        org = a % 2000
        f.write(f"asset-{a:07d},Host {a},Org {org},org-{org:05d},ops,{rnd.choice(['low','medium','high','critical'])},{' '.join(sw)}\n")

per_doc = 4
docs = (n_records + per_doc - 1) // per_doc
for d in range(docs):
    affected = []
    for _ in range(per_doc):
        (eco, ty), name = rnd.choice(packages)
        lo, hi = sorted([version(), version()], key=lambda v: tuple(map(int, v.split("."))))
        end = {"fixed": hi} if rnd.random() < 0.8 else {"last_affected": hi}
        if eco == "Debian:12":
            lo, end = deb(lo), {k: deb(v) for k, v in end.items()}
        affected.append({
            "package": {"ecosystem": eco, "name": name},
            "ranges": [{"type": "SEMVER" if eco == "crates.io" else "ECOSYSTEM",
                        "events": [{"introduced": lo}, end]}],
        })
    doc = {"id": f"BENCH-{d:07d}", "modified": "2026-01-01T00:00:00Z", "aliases": [f"CVE-2026-{d:07d}"],
           "summary": f"bench advisory {d}", "affected": affected,
           "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
    # Bulk OSV exports are arrays of records: 1000 per file.
    if d % 1000 == 0:
        if d:
            f.write("]\n")
            f.close()
        f = open(f"{out}/osv/part-{d // 1000:05d}.json", "w")
        f.write("[")
    else:
        f.write(",")
    json.dump(doc, f)
f.write("]\n")
f.close()
