#!/usr/bin/env bash
# Prepares the Node.js tools the tests use as oracles: the BSI CSAF validator library
# (@secvisogram/csaf-validator-lib, pinned in scripts/npmtools/package-lock.json), which carries
# the official CSAF 2.0 JSON schema and the mandatory tests of CSAF 2.0 section 6.1.
#
# Usage: scripts/npmtools.sh          # creates or updates target/npmtools
# Tests find it at $FOCAL_NPMTOOLS (default: <workspace>/target/npmtools).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${FOCAL_NPMTOOLS:-$PWD/target/npmtools}"
stamp="$dir/.package-lock.json"
if [[ -d "$dir/node_modules/@secvisogram/csaf-validator-lib" ]] && cmp -s scripts/npmtools/package-lock.json "$stamp"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
mkdir -p "$dir"
cp scripts/npmtools/package.json scripts/npmtools/package-lock.json "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
cp scripts/npmtools/package-lock.json "$stamp"
echo "node tools ready in $dir"
