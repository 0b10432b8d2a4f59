#!/usr/bin/env bash
# End-to-end ingest benchmark on the reference workload (issue 2's acceptance figures).
#
#   bench/ingest.sh [ROWS] [RUNS]        # default: 4000000 rows, 3 runs
#   FOCAL=/path/to/focal bench/ingest.sh # measure another build (no cargo build)
#
# Makes the workload with ../shared/bench/make-workload.py (seed 1) once into bench/out/, then per
# run: a fresh data folder, `init` with the real ASN and country data, `constituents import`, and
# `ingest --no-group` measured as a whole process with /usr/bin/time -v (grouping into incidents
# is measured separately by bench/incidents.sh); checks `stats --json` against
# expected.json; prints each run and the median wall time and peak memory.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-4000000}
runs=${2:-3}
shared=${SHARED:-$here/../shared}
ipdb=$shared/data/ipdb
out=$here/bench/out
work=$out/w$rows
mkdir -p "$out"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
# FOCAL=path/to/focal measures that binary instead (e.g. an older build, to compare).
focal=${FOCAL:-$here/target/release/focal}
[ -n "${FOCAL:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
if [ ! -f "$work/expected.json" ]; then
  echo "making the ${rows}-row workload..." >&2
  python3 "$shared/bench/make-workload.py" --rows "$rows" --seed 1 --out "$work" >/dev/null
fi
results=$out/results-$rows.tsv
: > "$results"
for i in $(seq 1 "$runs"); do
  data=$out/data-$rows
  rm -rf "$data"
  "$focal" --data "$data" init --asn "$ipdb/asn-ipv4.csv" --asn "$ipdb/asn-ipv6.csv" --country "$ipdb/geo-whois-asn-country.mmdb" >/dev/null
  "$focal" --data "$data" constituents import "$work/constituents.csv" >/dev/null
  sync
  /usr/bin/time -v -o "$out/time.txt" "$focal" --data "$data" ingest --no-group --feed "$here/bench/reference-feed.toml" "$work/feed.csv" >/dev/null 2>"$out/ingest.log"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/time.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time.txt")
  cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$out/time.txt")
  "$focal" --data "$data" stats --json > "$out/stats.json"
  exact=$(python3 - "$out/stats.json" "$work/expected.json" <<'PY'
import json, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
ok = (s["events"] == e["unique_events"] and s["quarantined"] == e["malformed_rows"]
      and s["unassigned"] == e["unassigned_events"] and s["per_constituent"] == e["per_constituent"])
print("exact" if ok else "MISMATCH")
PY
)
  printf 'run %s: %ss wall, %s MiB peak RSS, %s CPU, figures %s\n' "$i" "$wall" "$((rss / 1024))" "$cpu" "$exact"
  printf '%s\t%s\t%s\n' "$wall" "$rss" "$exact" >> "$results"
  [ "$exact" = exact ] || exit 1
done
python3 - "$results" "$rows" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
wall = statistics.median(float(r[0]) for r in rows)
rss = statistics.median(int(r[1]) for r in rows)
n = int(sys.argv[2])
print(f"median of {len(rows)}: {wall:.2f} s wall ({n / wall:,.0f} rows/s), {rss / 1024:.0f} MiB peak RSS")
PY
