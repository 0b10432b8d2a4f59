#!/usr/bin/env bash
# Linear redaction (issue 12, benchmark 7): `focal share export --peer P` with a pseudonymising
# policy against the same export without it, on the reference workload.
#
#   bench/redaction.sh [ROWS] [PROFILE]   # default: 100000 rows (about 100k events), release
#   bench/redaction.sh 2000 debug         # a quick check that the script works (no figures)
#   FOCAL=path/to/focal bench/redaction.sh ...   # a binary instead of building one
#
# Makes the workload with ../shared/bench/make-workload.py (seed 1) once into bench/out/ (or uses
# $WORKLOAD if it points to one), ingests it into a fresh data folder (`ingest --no-group`, not
# measured), makes two sharing policies cleared for AMBER (the workload's TLP): `plain`, with no
# redaction, and `pseudo`, which pseudonymises source.ip, source.fqdn and destination.ip (every
# address and host name the workload has), then times each export as a whole process with
# /usr/bin/time and prints both times, the objects exported and the ratio pseudo / plain (the
# issue asks for at most 2).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rows=${1:-100000}
profile=${2:-release}
shared=${SHARED:-$here/../shared}
ipdb=$shared/data/ipdb
out=$here/bench/out
work=${WORKLOAD:-$out/w$rows}
mkdir -p "$out"
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
case $profile in
  release|debug) ;;
  *) echo "PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
if [ -n "${FOCAL:-}" ]; then
  focal=$FOCAL
else
  if [ "$profile" = release ]; then
    cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p focal
  else
    cargo build --quiet --manifest-path "$here/Cargo.toml" -p focal
  fi
  focal=$here/target/$profile/focal
fi
if [ ! -f "$work/expected.json" ]; then
  echo "making the ${rows}-row workload..." >&2
  python3 "$shared/bench/make-workload.py" --rows "$rows" --seed 1 --out "$work" >/dev/null
fi
data=$out/redaction-data-$rows-$profile
rm -rf "$data"
"$focal" --data "$data" init --asn "$ipdb/asn-ipv4.csv" --asn "$ipdb/asn-ipv6.csv" >/dev/null
"$focal" --data "$data" constituents import "$work/constituents.csv" >/dev/null
echo "ingesting..." >&2
"$focal" --data "$data" ingest --no-group --feed "$here/bench/reference-feed.toml" "$work/feed.csv" >/dev/null 2>"$out/redaction-ingest.log"
"$focal" --data "$data" share policy plain --max-tlp AMBER >/dev/null
"$focal" --data "$data" share policy pseudo --max-tlp AMBER \
  --redact source.ip=pseudonymise --redact source.fqdn=pseudonymise \
  --redact destination.ip=pseudonymise >/dev/null
measure() { # peer; prints "seconds<TAB>the export's summary line"
  local peer=$1
  /usr/bin/time -f "%e" -o "$out/redaction-time-$peer.txt" \
    "$focal" --data "$data" share export --peer "$peer" \
    >"$out/redaction-$peer.json" 2>"$out/redaction-$peer.log"
  printf '%s\t%s\n' "$(tail -1 "$out/redaction-time-$peer.txt")" "$(tail -1 "$out/redaction-$peer.log")"
}
echo "exporting..." >&2
plain=$(measure plain)
pseudo=$(measure pseudo)
# The pseudonymised export must really be pseudonymised: no source address of the plain export
# may appear in it (checked on the values, not on timing).
python3 - "$out/redaction-plain.json" "$out/redaction-pseudo.json" "$plain" "$pseudo" "$profile" <<'PY'
import json, sys
plain, pseudo = (json.load(open(p)) for p in sys.argv[1:3])
values = {o["value"] for o in plain["objects"] if o["type"] in ("ipv4-addr", "ipv6-addr")}
text = json.dumps(pseudo)
# Every string in the pseudonymised export, and every address inside a pattern, once: a search
# of the whole text per address would be quadratic (hours at 100k events).
import re
seen = set(re.findall(r"[0-9a-fA-F:.]{3,}", text))
leaked = [v for v in values if v in seen]
assert not leaked, f"{len(leaked)} addresses left in the pseudonymised export, e.g. {leaked[:3]}"
assert ".pseudonym.invalid" in text, "the pseudonymised export holds no pseudonym"
(tp, sp), (tq, sq) = (x.split("\t", 1) for x in sys.argv[3:5])
print(f"profile {sys.argv[5]}")
print(f"without pseudonymisation: {float(tp):.2f} s  ({sp})")
print(f"with pseudonymisation:    {float(tq):.2f} s  ({sq})")
print(f"ratio with / without:     {float(tq) / max(float(tp), 0.01):.2f}")
PY
