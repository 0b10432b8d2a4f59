#!/usr/bin/env bash
# Memory under read load (issue 11): wrk with CONNECTIONS connections for DURATION seconds against
# one `focal serve`, every connection cycling through a mix of the REST API, the web UI (session
# cookie), TAXII and the CSV export, while the server's resident memory is sampled from /proc
# every second. Reports wrk's latency percentiles, requests and errors (non-2xx/3xx answers,
# 503s from the server's concurrency limit among them), and the peak and per-minute RSS.
#
#   bench/web-load.sh [DURATION] [CONNECTIONS]   # default: 300 s, 64 connections
#   DATA=DIR bench/web-load.sh ...               # an existing data folder (e.g. 1M events, made
#                                                # with bench/web.sh PRELOAD=...), else a demo
#   FOCAL=path/to/focal bench/web-load.sh ...    # a binary instead of a release build
#
# The data folder must have the demo's `admin` account (password focal-demo-admin): a folder
# made by `focal demo`, with events ingested into it, is the intended input.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-300}
conns=${2:-64}
out=$here/bench/out/web-load
mkdir -p "$out"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -z "${FOCAL:-}" ]; then
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
  FOCAL=$here/target/release/focal
fi
data=${DATA:-$out/data}
if [ -z "${DATA:-}" ]; then
  "$FOCAL" --data "$data" demo --no-serve >/dev/null
fi
token=$("$FOCAL" --data "$data" --json users token add admin --scope read | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$FOCAL" --data "$data" --json serve --listen 127.0.0.1:0 --no-workers > "$out/serve.out" &
spid=$!
mpid=
trap 'kill $spid $mpid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/serve.out" ] && break; sleep 0.1; done
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"].rstrip("/"))' "$out/serve.out")
jar=$out/cookies
rm -f "$jar"
csrf=$(curl -s -c "$jar" "$base/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n1)
curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" --data "username=admin&password=focal-demo-admin" "$base/login"
session=$(awk '$6 == "focal_session" {print $7}' "$jar")
[ -n "$session" ] || { echo "could not sign in" >&2; exit 1; }
collection=$(curl -s -H "Authorization: Bearer $token" -H 'Accept: application/taxii+json;version=2.1' "$base/taxii2/root/collections/" \
  | python3 -c 'import json,sys; c=json.load(sys.stdin).get("collections",[]); print(c[0]["id"] if c else "none")')

# Each request takes the next route of the mix; API, TAXII and export with the bearer token,
# UI pages with the session cookie.
cat > "$out/mix.lua" <<EOF
local routes = {
  {"/api/v1/events?limit=100", "api"},
  {"/api/v1/events?country=NL&limit=100", "api"},
  {"/api/v1/incidents?limit=100", "api"},
  {"/api/v1/incidents/1", "api"},
  {"/", "ui"},
  {"/events", "ui"},
  {"/incidents", "ui"},
  {"/taxii2/root/collections/$collection/objects/?limit=100", "taxii"},
  {"/taxii2/root/collections/$collection/manifest/?limit=100", "taxii"},
  {"/api/v1/events/export?format=csv&limit=10000", "api"},
}
local n = 0
request = function()
  n = n + 1
  local r = routes[(n % #routes) + 1]
  local headers = {}
  if r[2] == "ui" then
    headers["Cookie"] = "focal_session=$session"
  else
    headers["Authorization"] = "Bearer $token"
  end
  if r[2] == "taxii" then
    headers["Accept"] = "application/taxii+json;version=2.1"
  end
  return wrk.format("GET", r[1], headers)
end
local errors = {}
response = function(status, headers, body)
  if status >= 400 then errors[status] = (errors[status] or 0) + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors: connect %d read %d write %d timeout %d status %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s %.1f ms\n", p, latency:percentile(p) / 1000))
  end
end
EOF

rss() { awk '/^VmRSS/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0; }
echo "before: $(( $(rss) / 1024 )) MiB RSS, $(ls /proc/$spid/task | wc -l) threads" | tee "$out/results.txt"
( t=0; while kill -0 "$spid" 2>/dev/null; do echo "$t $(rss) $(ls /proc/$spid/task 2>/dev/null | wc -l)"; sleep 1; t=$((t+1)); done ) > "$out/rss.txt" &
mpid=$!
wrk -t4 -c"$conns" -d"${duration}s" --timeout 30s --latency -s "$out/mix.lua" "$base" | tee -a "$out/results.txt"
sleep 2
python3 - "$out/rss.txt" <<'EOF' | tee -a "$out/results.txt"
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
if not rows:
    sys.exit("no RSS samples")
print(f"peak RSS {max(r[1] for r in rows) // 1024} MiB, peak threads {max(r[2] for r in rows)}")
for minute in range(0, rows[-1][0] // 60 + 1):
    m = [r[1] for r in rows if minute * 60 <= r[0] < (minute + 1) * 60]
    if m:
        print(f"minute {minute}: max RSS {max(m) // 1024} MiB, last {m[-1] // 1024} MiB")
EOF
echo "after: $(( $(rss) / 1024 )) MiB RSS" | tee -a "$out/results.txt"
