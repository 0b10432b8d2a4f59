#!/usr/bin/env bash
# Load benchmark of the web application with wrk (Debian package `wrk`): the REST API (bearer
# token) and the dashboard (session cookie) of `focal serve`, each for DURATION seconds, while an
# ingest of ROWS generated rows runs into the same store.
#
#   bench/web.sh [ROWS] [DURATION] [CONNECTIONS]   # default: 1000000 rows, 20 s, 8 connections
#   PRELOAD=DIR bench/web.sh ...                   # first ingest DIR/feed.csv (a make-workload.py
#                                                  # output; --no-group), e.g. for 10M events
#
# The store starts as `focal demo --no-serve` (about 23,000 events, 500 incidents), then the
# ROWS-row reference workload (../shared/bench/make-workload.py, seed 2) is ingested in the
# background while wrk runs; wrk reports p50/p99 latency and requests/s per endpoint.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-1000000}
duration=${2:-20}
conns=${3:-8}
shared=${SHARED:-$here/../shared}
out=$here/bench/out/web
mkdir -p "$out"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
focal=$here/target/release/focal
work=$out/w$rows
if [ ! -f "$work/feed.csv" ]; then
  echo "making the ${rows}-row workload..." >&2
  python3 "$shared/bench/make-workload.py" --rows "$rows" --seed 2 --out "$work" >/dev/null
fi
data=$out/data
rm -rf "$data"
"$focal" --data "$data" demo --no-serve >/dev/null
"$focal" --data "$data" constituents import "$work/constituents.csv" >/dev/null
if [ -n "${PRELOAD:-}" ]; then
  echo "preloading $PRELOAD/feed.csv..." >&2
  "$focal" --data "$data" constituents import "$PRELOAD/constituents.csv" >/dev/null
  "$focal" --data "$data" ingest --no-group --feed "$here/bench/reference-feed.toml" "$PRELOAD/feed.csv" > "$out/preload.out" 2>&1
  "$focal" --data "$data" stats --json | python3 -c 'import json,sys; print("events in the store before the runs:", json.load(sys.stdin)["events"])' | tee "$out/preload-events.txt"
fi
token=$("$focal" --data "$data" --json users token add admin --scope read | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$focal" --data "$data" --json serve --listen 127.0.0.1:0 > "$out/serve.out" &
spid=$!
ipid=
trap 'kill $spid $ipid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/serve.out" ] && break; sleep 0.1; done
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"].rstrip("/"))' "$out/serve.out")
# A session for the dashboard: the login form's CSRF cookie and field, then the session cookie.
jar=$out/cookies
rm -f "$jar"
csrf=$(curl -s -c "$jar" "$base/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n1)
curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" --data "username=admin&password=focal-demo-admin" "$base/login"
session=$(awk '$6 == "focal_session" {print $7}' "$jar")
[ -n "$session" ] || { echo "could not sign in" >&2; exit 1; }

# The server fills its search index in the background (minutes after a large preload); start
# measuring once it has caught up, and say how long that took.
started=$(date +%s)
while :; do
  lag=$(curl -s -b "focal_session=$session" "$base/metrics" | awk '$1 == "focal_search_index_lag_events" {print $2}')
  [ "${lag:-1}" = 0 ] && break
  sleep 1
done
echo "search index complete $(( $(date +%s) - started )) s after signing in" | tee "$out/index.txt"
"$focal" --data "$data" ingest --feed "$here/bench/reference-feed.toml" "$work/feed.csv" > "$out/ingest.out" 2>&1 &
ipid=$!
sleep 2
run() {
  local name=$1 path=$2 header=$3
  echo "== $name: $path" | tee -a "$out/results.txt"
  wrk -t2 -c"$conns" -d"${duration}s" --latency -H "$header" "$base$path" | tee -a "$out/results.txt"
}
: > "$out/results.txt"
run "events (first page)" "/api/v1/events?limit=100" "Authorization: Bearer $token"
run "events by country" "/api/v1/events?country=NL&limit=100" "Authorization: Bearer $token"
run "events by address" "/api/v1/events?ip=198.51.100.7&limit=100" "Authorization: Bearer $token"
run "incidents" "/api/v1/incidents?limit=100" "Authorization: Bearer $token"
run "incident detail" "/api/v1/incidents/1" "Authorization: Bearer $token"
run "dashboard (HTML)" "/" "Cookie: focal_session=$session"
if kill -0 "$ipid" 2>/dev/null; then
  echo "(the ingest was still running at the end)" | tee -a "$out/results.txt"
else
  echo "(the ingest finished during the runs)" | tee -a "$out/results.txt"
fi
"$focal" --data "$data" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("events in the store at the end:", s["events"])' | tee -a "$out/results.txt"
