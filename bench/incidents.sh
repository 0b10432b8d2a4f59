#!/usr/bin/env bash
# Incident grouping and notification rendering on the reference workload (issue 4's figures).
#
#   bench/incidents.sh [ROWS] [RUNS]      # default: 4000000 rows, 3 runs
#
# Makes the workload with ../shared/bench/make-workload.py (seed 1) once into bench/out/ (or uses
# $WORKLOAD if it points to one), then per run: a fresh data folder, `init` with the real ASN data,
# `constituents import`, `ingest --no-group` (not measured here: bench/ingest.sh does that), and
# then, each as a whole process under /usr/bin/time -v:
#   1. `incidents group`      every event after the cursor into incidents, 50,000 per transaction;
#   2. `notify --dry-run`     the claim computed (and rolled back) plus every digest rendered:
#                             template, TLP, events.csv and IntelMQ JSON lines, for all events.
# Checks: incident event counts sum to `assigned_events`; the dry run lists
# `constituents_with_events` constituents with exactly `per_constituent` events each.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-4000000}
runs=${2:-3}
shared=${SHARED:-$here/../shared}
ipdb=$shared/data/ipdb
out=$here/bench/out
work=${WORKLOAD:-$out/w$rows}
mkdir -p "$out"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
focal=$here/target/release/focal
if [ ! -f "$work/expected.json" ]; then
  echo "making the ${rows}-row workload..." >&2
  python3 "$shared/bench/make-workload.py" --rows "$rows" --seed 1 --out "$work" >/dev/null
fi
measure() { # label, then the command; prints "seconds<TAB>KiB"
  local label=$1; shift
  /usr/bin/time -v -o "$out/time-$label.txt" "$@"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out/time-$label.txt" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time-$label.txt")
  printf '%s\t%s\n' "$wall" "$rss" > "$out/m-$label.tsv"
}
results=$out/incidents-$rows.tsv
: > "$results"
for i in $(seq 1 "$runs"); do
  data=$out/data-incidents-$rows
  rm -rf "$data"
  "$focal" --data "$data" init --asn "$ipdb/asn-ipv4.csv" --asn "$ipdb/asn-ipv6.csv" >/dev/null
  "$focal" --data "$data" constituents import "$work/constituents.csv" >/dev/null
  "$focal" --data "$data" ingest --no-group --feed "$here/bench/reference-feed.toml" "$work/feed.csv" >/dev/null 2>"$out/ingest.log"
  sync
  measure group "$focal" --data "$data" --json incidents group > "$out/group.json"
  "$focal" --data "$data" --json incidents list --limit 0 > "$out/incidents.json"
  measure render "$focal" --data "$data" notify --dry-run > "$out/dry-run.txt"
  check=$(python3 - "$out/group.json" "$out/incidents.json" "$out/dry-run.txt" "$work/expected.json" <<'PY'
import collections, json, re, sys
group, incidents, dry, expected = sys.argv[1:5]
g, inc, e = json.load(open(group)), json.load(open(incidents)), json.load(open(expected))
per = collections.Counter()
for line in open(dry):
    m = re.match(r"new → \S+ \((\S+)\): (\d+) events", line)
    if m:
        per[m.group(1)] += int(m.group(2))
ok = (sum(i["event_count"] for i in inc) == e["assigned_events"] == g["events_grouped"]
      and len(per) == e["constituents_with_events"] and dict(per) == e["per_constituent"])
messages = sum(1 for l in open(dry) if l.startswith("new → "))
print(("exact" if ok else "MISMATCH") + f"\t{len(inc)}\t{messages}")
PY
)
  read -r gw grss < "$out/m-group.tsv"
  read -r rw rrss < "$out/m-render.tsv"
  IFS=$'\t' read -r exact nincidents nmessages <<< "$check"
  printf 'run %s: group %ss (%s MiB) -> %s incidents; render %ss (%s MiB) -> %s messages; figures %s\n' \
    "$i" "$gw" "$((grss / 1024))" "$nincidents" "$rw" "$((rrss / 1024))" "$nmessages" "$exact"
  printf '%s\t%s\t%s\t%s\t%s\n' "$gw" "$grss" "$rw" "$rrss" "$exact" >> "$results"
  [ "$exact" = exact ] || exit 1
done
python3 - "$results" "$rows" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"median of {len(rows)}: grouping {med(0):.2f} s ({med(1) / 1024:.0f} MiB peak RSS), "
      f"rendering {med(2):.2f} s ({med(3) / 1024:.0f} MiB peak RSS)")
PY
