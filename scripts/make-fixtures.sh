#!/usr/bin/env bash
# Regenerates the committed example data and test fixtures from ../shared (the reference
# workload generator and the real IP data). Run it only to refresh them; tests and the demo use
# the committed copies and never read ../shared.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$here/../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make_one() { # out rows seed orgs netblock_orgs malformed_share
  python3 "$shared/bench/make-workload.py" --rows "$2" --seed "$3" --orgs "$4" --netblock-orgs "$5" --malformed "$6" --out "$tmp/$1" >/dev/null
  mkdir -p "$here/$1"
  cp "$tmp/$1/feed.csv" "$tmp/$1/constituents.csv" "$tmp/$1/expected.json" "$here/$1/"
  python3 "$here/scripts/asn-subset.py" "$shared/data/ipdb" "$tmp/$1/feed.csv" "$here/$1"
}

make_one tests/fixtures/workload 5000 11 300 100 0.01
make_one data/demo 20000 3 200 60 0.002
cp "$shared/data/ipdb/geo-whois-asn-country.mmdb" "$shared/data/ipdb/"*LICENSE "$here/data/ipdb/"
