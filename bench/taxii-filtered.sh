#!/usr/bin/env bash
# Full pages for a filtered reader (issue 12, benchmark 6): a peer cleared for TLP:GREEN pages,
# with the OASIS taxii2-client's `as_pages`, a collection of N indicators of which AMBER_PERCENT
# are TLP:AMBER (withheld from it). Every page but the last must hold PER_REQUEST objects, so the
# client needs ceil(visible / PER_REQUEST) requests (+1 for the empty last answer at most);
# before, a page held only the visible objects among the next PER_REQUEST stored, and the
# client's paging helper shrank its requests to match.
#
#   bench/taxii-filtered.sh [N] [PER_REQUEST] [AMBER_PERCENT]   # default: 100000 1000 90
#   FOCAL=path/to/focal bench/taxii-filtered.sh ...               # a binary instead of release
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
per=${2:-1000}
amber=${3:-90}
out=$here/bench/out/taxii-filtered-$n-$amber
py=$here/target/pytools/bin/python
bash "$here/scripts/pytools.sh" >/dev/null
if [ -z "${FOCAL:-}" ]; then
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
  FOCAL=$here/target/release/focal
fi
mkdir -p "$out"
if [ ! -f "$out/focal-0000.json" ]; then
  echo "generating $n indicators, $amber % AMBER..." >&2
  "$py" "$here/bench/taxii_gen.py" "$n" "$out" "http://127.0.0.1:1" focal "$amber"
fi
data=$out/focal-data
if [ ! -f "$data/done" ]; then
  rm -rf "$data"
  "$FOCAL" --data "$data" init >/dev/null
  # A peer with read rights on the shared collection and the default policy (TLP:GREEN).
  "$FOCAL" --data "$data" users add bench --role peer --password bench-password --read shared >/dev/null
  echo "importing..." >&2
  for f in "$out"/focal-*.json; do "$FOCAL" --data "$data" share import "$f" >/dev/null; done
  touch "$data/done"
fi
"$FOCAL" --data "$data" --json serve --listen 127.0.0.1:0 --no-workers > "$out/serve.out" &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/serve.out" ] && break; sleep 0.1; done
addr=$("$py" -c "import json; print(json.load(open('$out/serve.out'))['listening'])")
result=$("$py" "$here/bench/taxii_page.py" "http://$addr/taxii2/root/" shared bench bench-password "$per")
echo "paged: $result"
"$py" - "$result" "$n" "$per" "$amber" <<'PY'
import json, math, sys
r = json.loads(sys.argv[1]); n, per, amber = map(int, sys.argv[2:5])
visible = sum(1 for i in range(n) if i % 100 >= amber)
best = math.ceil(visible / per)
print(f"visible {visible} of {n}; requests {r['pages']} (ceil(visible/limit) = {best}); {r['seconds']} s")
assert r["objects"] == visible, (r, visible)
assert r["pages"] <= best + 1, (r, best)
PY
