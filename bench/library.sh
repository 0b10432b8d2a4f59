#!/usr/bin/env bash
# Policy-library search latency over generated documents (crates/focal-store/benches/library_search.rs):
# SQLite FTS5 always, PostgreSQL tsvector + GIN when FOCAL_BENCH_POSTGRES is set.
#
#   bench/library.sh                      # 100,000 documents, SQLite and the local PostgreSQL
#   FOCAL_BENCH_DOCS=2000 bench/library.sh  # a quick check that it works
set -euo pipefail
cd "$(dirname "$0")/.."
export FOCAL_BENCH_DOCS="${FOCAL_BENCH_DOCS:-100000}"
export FOCAL_BENCH_POSTGRES="${FOCAL_BENCH_POSTGRES-postgres://postgres@127.0.0.1:5432/test}"
echo "FOCAL_BENCH_DOCS=$FOCAL_BENCH_DOCS FOCAL_BENCH_POSTGRES=$FOCAL_BENCH_POSTGRES cargo bench -p focal-store --bench library_search"
cargo bench -p focal-store --bench library_search
