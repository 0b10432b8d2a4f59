#!/usr/bin/env bash
# TAXII paging benchmark: N indicators paged through with the OASIS taxii2-client, from
# `focal serve` and from medallion (the OASIS reference server, memory backend) on the same data.
#
#   bench/taxii.sh [N] [PER_REQUEST] [SERVERS]   # default: 1000000 indicators, pages of 1000, "both"
#
# SERVERS=focal pages Focal only: medallion's memory backend matches every object against the
# whole manifest on the first page, so its time grows with the square of N (see BENCHMARKS.md).
#
# Both servers run on loopback; each is paged once, and the wall time of the client is reported
# with the ratio. Needs the Python tools (scripts/pytools.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000000}
per=${2:-1000}
servers=${3:-both}
out=$here/bench/out/taxii-$n
py=$here/target/pytools/bin/python
bash "$here/scripts/pytools.sh"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
focal=$here/target/release/focal
mkdir -p "$out"
mport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ ! -f "$out/focal-0000.json" ] || { [ "$servers" = both ] && [ ! -f "$out/medallion-data.json" ]; }; then
  echo "generating $n indicators..." >&2
  "$py" "$here/bench/taxii_gen.py" "$n" "$out" "http://127.0.0.1:$mport" "$servers"
fi
[ "$servers" = both ] && "$py" - "$out/medallion-data.json" "$mport" <<'PY'
import json, sys, re
p, port = sys.argv[1], sys.argv[2]
s = open(p).read()
s = re.sub(r'http://127\.0\.0\.1:\d+/', 'http://127.0.0.1:%s/' % port, s, count=3)
open(p, "w").write(s)
PY
data=$out/focal-data
if [ ! -f "$data/done" ]; then
  rm -rf "$data"
  "$focal" --data "$data" init >/dev/null
  "$focal" --data "$data" users add bench --role peer --password bench-password >/dev/null
  echo "importing into focal..." >&2
  /usr/bin/env time -f "import: %e s, %M KiB" bash -c "for f in '$out'/focal-*.json; do '$focal' --data '$data' share import \"\$f\" >/dev/null; done"
  touch "$data/done"
fi
cat > "$out/medallion-config.json" <<JSON
{"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
             "filename": "$out/medallion-data.json", "session_timeout": 36000, "check_interval": 3600},
 "users": {"bench": "bench-password"}, "taxii": {"max_page_size": $per}}
JSON
"$focal" --data "$data" --json serve --listen 127.0.0.1:0 > "$out/focal-serve.out" &
fpid=$!
mpid=
if [ "$servers" = both ]; then
  "$here/target/pytools/bin/medallion" --host 127.0.0.1 --port "$mport" --log-level WARN "$out/medallion-config.json" >/dev/null 2>&1 &
  mpid=$!
fi
trap 'kill $fpid $mpid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if [ -s "$out/focal-serve.out" ]; then
    [ "$servers" != both ] && break
    "$py" -c "import socket; socket.create_connection(('127.0.0.1', $mport), 1)" 2>/dev/null && break
  fi
  sleep 1
done
faddr=$("$py" -c "import json; print(json.load(open('$out/focal-serve.out'))['listening'])")
echo "paging focal..." >&2
focal_r=$("$py" "$here/bench/taxii_page.py" "http://$faddr/taxii2/root/" shared bench bench-password "$per")
echo "focal:     $focal_r"
if [ "$servers" != both ]; then
  "$py" -c "import json; f=json.loads('$focal_r'); assert f['objects'] == $n, f; print('%.0f objects/s' % ($n / f['seconds']))"
  exit 0
fi
echo "paging medallion..." >&2
med_r=$("$py" "$here/bench/taxii_page.py" "http://127.0.0.1:$mport/api1/" 472c94ae-3113-4e3e-a4dd-a9f4ac7471d4 bench bench-password "$per")
echo "medallion: $med_r"
"$py" -c "
import json; f=json.loads('$focal_r'); m=json.loads('$med_r')
assert f['objects'] == m['objects'] == $n, (f, m)
print('medallion/focal time ratio: %.2f' % (m['seconds'] / f['seconds']))"
