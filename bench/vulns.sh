#!/usr/bin/env bash
# Vulnerability matching at scale: ASSETS assets (5 packages each) against RECORDS affected-package
# records in OSV documents, through the real binary on a fresh SQLite data folder. Times the
# asset import, the advisory import (without matching), and one full match (`focal vulns match`:
# the installed software indexed by package key in memory, every record streamed past it, the
# findings stored with their audit entries).
#
#   bench/vulns.sh [ASSETS] [RECORDS]        # the issue's size: bench/vulns.sh 100000 200000
#
# Writes bench/out/vulns/result.json. Defaults are small (proves the script works).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
assets=${1:-2000}
records=${2:-4000}
out=$here/bench/out/vulns
rm -rf "$out"
mkdir -p "$out"
focal=${FOCAL:-$here/target/release/focal}
[ -n "${FOCAL:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
python3 "$here/bench/vulns_gen.py" "$out/work" "$assets" "$records"
data=$out/data
"$focal" --data "$data" init --admin-password bench-password >/dev/null
t() { local s=$(date +%s.%N); "$@" >"$out/last.json"; python3 -c "import sys;print(round($(date +%s.%N)-$s,3))"; }
t_assets=$(t "$focal" --json --data "$data" risks assets import "$out/work/assets.csv")
t_import=$(t "$focal" --json --data "$data" vulns import --no-match "$out/work/osv")
t_match=$(t "$focal" --json --data "$data" vulns match)
cp "$out/last.json" "$out/match.json"
python3 - "$out" "$assets" "$records" "$t_assets" "$t_import" "$t_match" <<'PY'
import json, sys
out, assets, records, ta, ti, tm = sys.argv[1:]
m = json.load(open(f"{out}/match.json"))
result = {"assets": int(assets), "affected_records": int(records), "seconds": {
    "asset_import": float(ta), "advisory_import": float(ti), "full_match": float(tm)},
    "findings_opened": m["opened"]}
json.dump(result, open(f"{out}/result.json", "w"), indent=1)
print(json.dumps(result, indent=1))
PY
