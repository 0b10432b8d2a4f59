#!/usr/bin/env bash
# Prepares the Python virtualenv holding the real third-party tools the tests talk to:
# OASIS stix2-validator, stix2-patterns, stix2-elevator (stix_stepper), taxii2-client, medallion (TAXII reference server) and aiosmtpd (SMTP).
#
# Usage: scripts/pytools.sh            # creates or updates target/pytools
# Tests find it at $FOCAL_PYTOOLS (default: <workspace>/target/pytools).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${FOCAL_PYTOOLS:-$PWD/target/pytools}"
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" ]] && cmp -s scripts/pytools-requirements.txt "$stamp"; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/pytools-requirements.txt
cp scripts/pytools-requirements.txt "$stamp"
echo "python tools ready in $venv"
