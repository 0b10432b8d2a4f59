#!/usr/bin/env bash
# Latency of event searches by filter through the REST API (`GET /api/v1/events`), against an
# existing data folder: the filters a CSIRT analyst types, from ones that match most events to
# ones that match a handful among millions. wrk (Debian package) measures each for DURATION
# seconds with 2 connections; --timeout 60s so a slow scan is measured, not dropped.
#
#   bench/filters.sh DATA [DURATION]
#
# DATA is a Focal data folder, e.g. the one bench/web.sh leaves in bench/out/web/data after a
# `PRELOAD=` run (about 10M events), or one made by hand:
#   focal --data D demo --no-serve
#   focal --data D constituents import W/constituents.csv
#   focal --data D ingest --no-group --feed bench/reference-feed.toml W/feed.csv
# Filter values (an address, a rare ASN, a rare country, ...) are picked from the store first, so
# every filter matches something. The runs start once `focal serve` has filled its search index
# (the time it took is reported).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data=${1:?usage: bench/filters.sh DATA [DURATION]}
duration=${2:-10}
out=$here/bench/out/filters
mkdir -p "$out"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
focal=${FOCAL:-$here/target/release/focal}
[ -n "${FOCAL:-}" ] || cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal

# Values to search for, read straight from the database (read-only).
eval "$(python3 - "$data/focal.db" <<'PY'
import ipaddress, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
one = lambda sql: db.execute(sql).fetchone()
mid = one("SELECT MAX(seq) FROM events")[0] // 2
ip = ipaddress.ip_address(bytes(one(f"SELECT source_ip FROM events WHERE seq >= {mid} AND source_ip IS NOT NULL LIMIT 1")[0]))
ip = ip.ipv4_mapped or ip
net = ipaddress.ip_network(f"{ip}/24", strict=False)
asn = one("SELECT source_asn FROM events WHERE source_asn IS NOT NULL GROUP BY source_asn HAVING COUNT(*) BETWEEN 1 AND 50 LIMIT 1")[0]
cc = one("SELECT source_cc FROM events WHERE source_cc IS NOT NULL GROUP BY source_cc HAVING COUNT(*) BETWEEN 1 AND 50 LIMIT 1")[0]
kind = one("SELECT classification_type FROM events GROUP BY 1 ORDER BY COUNT(*) LIMIT 1")[0]
t = one(f"SELECT time_event FROM events WHERE seq = {mid}")[0] // 1_000_000
constituent = one(f"SELECT constituent FROM events WHERE seq >= {mid} AND constituent IS NOT NULL LIMIT 1")[0]
import datetime
iso = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"ip={ip} net={net} asn={asn} cc={cc} kind={kind} since={iso(t)} until={iso(t + 3600)} constituent={constituent}")
PY
)"
echo "picked: ip=$ip net=$net asn=$asn cc=$cc type=$kind since=$since until=$until constituent=$constituent"

token=$("$focal" --data "$data" --json users token add admin --scope read | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$focal" --data "$data" --json serve ${SERVE_FLAGS---no-workers} --listen 127.0.0.1:0 > "$out/serve.out" 2>/dev/null &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$out/serve.out" ] && break; sleep 0.1; done
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"].rstrip("/"))' "$out/serve.out")
# focal serve fills the search index in the background; measure with it complete, and say how
# long that took.
started=$(date +%s)
while :; do
  lag=$(curl -s -H "Authorization: Bearer $token" "$base/metrics" | awk '$1 == "focal_search_index_lag_events" {print $2}')
  [ "${lag:-1}" = 0 ] && break
  sleep 1
done
echo "search index complete $(( $(date +%s) - started )) s after the server started" | tee "$out/index.txt"
events=$("$focal" --data "$data" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
echo "events in the store: $events" | tee "$out/results.txt"
cat "$out/index.txt" >> "$out/results.txt"
run() {
  local name=$1 query=$2
  local n
  n=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/events?$query&limit=100" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')
  echo "== $name: ?$query (first page: $n events)" | tee -a "$out/results.txt"
  wrk -t1 -c2 -d"${duration}s" --timeout 60s --latency -H "Authorization: Bearer $token" \
    "$base/api/v1/events?$query&limit=100" | grep -E "50%|99%|Requests/sec|requests in|timeout" | tee -a "$out/results.txt"
}
run "no filter" ""
run "one address" "ip=$ip"
run "a /24" "ip=$net"
run "a rare ASN" "asn=$asn"
run "a rare country" "country=$cc"
run "the rarest type" "type=$kind"
run "one hour" "since=$since&until=$until"
run "a constituent" "constituent=$constituent"
run "a rare country and one hour" "country=$cc&since=$since&until=$until"
run "a /8 (wide: scanned)" "ip=${ip%%.*}.0.0.0/8"
