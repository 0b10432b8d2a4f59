#!/usr/bin/env bash
# The 4M-row reference workload on PostgreSQL: the embedded ingest, and the distributed pipeline
# with 1 and 2 workers (issue 3's figures). Compare with bench/ingest.sh (embedded, SQLite).
#
#   bench/distributed.sh [ROWS] [WORKER COUNTS...]     # default: 4000000 rows, workers "1 2"
#
# Needs PostgreSQL on 127.0.0.1:5432 (database test) and NATS JetStream on 127.0.0.1:4222.
# Each configuration gets a fresh schema and a fresh stream. The distributed wall time is the
# job's own (from `created_at` to `finished_at`, both written by the database's clients), so the
# workers' idle wait before exiting is not counted; every process runs under /usr/bin/time -v
# for its peak memory. After each run `stats --json` is compared with expected.json.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-4000000}
shift || true
counts=${*:-1 2}
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
export FOCAL_LOG=warn

seconds() { awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$1" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
rss_mib() { awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' "$1"; }
check() {
  "$focal" --data "$1" stats --json > "$out/stats.json"
  python3 - "$out/stats.json" "$work/expected.json" <<'PY'
import json, sys
s, e = (json.load(open(p)) for p in sys.argv[1:3])
ok = (s["events"] == e["unique_events"] and s["quarantined"] == e["malformed_rows"]
      and s["unassigned"] == e["unassigned_events"] and s["per_constituent"] == e["per_constituent"])
print("exact" if ok else "MISMATCH")
PY
}
fresh() {  # fresh data folder $1 on schema $2
  psql -h 127.0.0.1 -U postgres -d test -q -c "DROP SCHEMA IF EXISTS $2 CASCADE" 2>/dev/null
  rm -rf "$1"
  "$focal" --data "$1" init --asn "$ipdb/asn-ipv4.csv" --asn "$ipdb/asn-ipv6.csv" \
    --country "$ipdb/geo-whois-asn-country.mmdb" \
    --postgres "postgres://postgres@127.0.0.1:5432/test?schema=$2" >/dev/null
  "$focal" --data "$1" constituents import "$work/constituents.csv" >/dev/null
}

data=$out/data-pg
echo "== embedded ingest on PostgreSQL"
fresh "$data" bench_pg
/usr/bin/time -v -o "$out/time-pg.txt" "$focal" --data "$data" ingest --feed "$here/bench/reference-feed.toml" "$work/feed.csv" >/dev/null
printf 'embedded/PostgreSQL: %ss wall, %s MiB peak RSS, figures %s\n' "$(seconds "$out/time-pg.txt")" "$(rss_mib "$out/time-pg.txt")" "$(check "$data")"

for n in $counts; do
  echo "== distributed, $n worker(s)"
  fresh "$data" bench_pg
  stream="BENCH_$(date +%s)"
  pids=()
  for i in $(seq 1 "$n"); do
    FOCAL_STREAM=$stream /usr/bin/time -v -o "$out/time-w$i.txt" "$focal" --data "$data" worker \
      --name "w$i" --exit-when-idle 5 >/dev/null 2>"$out/worker-$i.log" &
    pids+=($!)
  done
  FOCAL_STREAM=$stream /usr/bin/time -v -o "$out/time-submit.txt" "$focal" --data "$data" --json submit \
    --feed "$here/bench/reference-feed.toml" --wait "$work/feed.csv" > "$out/submit.json"
  wait "${pids[@]}"
  python3 - "$out/submit.json" "$rows" "$n" <<'PY'
import json, sys
from datetime import datetime
job = json.load(open(sys.argv[1]))["files"][0]["finished"]
def t(s):
    whole, _, frac = s.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole) .replace(microsecond=int((frac + "000000")[:6]))
wall = (t(job["finished_at"]) - t(job["created_at"])).total_seconds()
print(f"job wall {wall:.2f} s ({int(sys.argv[2]) / wall:,.0f} rows/s, {job['events_stored'] / wall:,.0f} events/s) "
      f"with {sys.argv[3]} worker(s), {job['chunks_total']} chunks")
PY
  printf 'submitter: %ss, %s MiB peak RSS\n' "$(seconds "$out/time-submit.txt")" "$(rss_mib "$out/time-submit.txt")"
  for i in $(seq 1 "$n"); do
    printf 'worker %s: %s MiB peak RSS, %s CPU\n' "$i" "$(rss_mib "$out/time-w$i.txt")" "$(awk -F': ' '/Percent of CPU/ {print $2}' "$out/time-w$i.txt")"
  done
  echo "figures $(check "$data")"
done
psql -h 127.0.0.1 -U postgres -d test -q -c "DROP SCHEMA IF EXISTS bench_pg CASCADE" 2>/dev/null
