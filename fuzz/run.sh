#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for N seconds each, one libFuzzer process at a time,
# starting from the hand-written seeds in fuzz/seeds/<target>/ plus whatever corpus earlier runs left
# in fuzz/corpus/<target>/ (git-ignored). Exits non-zero if any target crashes, times out or
# violates an invariant; the input is then in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh                 # every target, 60 s each
#   fuzz/run.sh 300             # every target, 5 min each
#   fuzz/run.sh 600 csv_records # one target, 10 min
#   fuzz/run.sh regressions     # replay fuzz/regressions/<target>/* once each (no fuzzing)
#
# Environment: FUZZ_SANITIZER=address|none (default address; "none" is about twice as fast and
# builds without RUSTC_BOOTSTRAP), FUZZ_MAX_LEN (libFuzzer -max_len, default 16384: four times
# the 4096-byte field limit, so the field_too_long paths are reachable),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang, default 10).
# Needs `cargo install cargo-fuzz`. Stable Rust is enough: RUSTC_BOOTSTRAP=1 lets it accept the
# -Zsanitizer flag that cargo-fuzz passes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"

seconds="${1:-60}"
shift || true
targets=("$@")
mode=fuzz
if [ "$seconds" = regressions ]; then
    mode=regressions
fi
if [ ${#targets[@]} -eq 0 ]; then
    targets=(csv_records list_records jsonl_records feed_definition file_inputs)
fi
sanitizer="${FUZZ_SANITIZER:-address}"
max_len="${FUZZ_MAX_LEN:-16384}"
timeout="${FUZZ_TIMEOUT:-10}"
logs="$here/target/logs"
mkdir -p "$logs"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

echo "Building ${targets[*]} (sanitizer: $sanitizer)..."
for t in "${targets[@]}"; do
    cargo fuzz build -a -s "$sanitizer" "$t"
done

failed=()
if [ "$mode" = regressions ]; then
    # Each saved input is run once; a target fails if any of them still panics.
    for t in "${targets[@]}"; do
        inputs=("$here/regressions/$t"/*)
        [ -e "${inputs[0]}" ] || continue
        log="$logs/$t.regressions.log"
        if cargo fuzz run -a -s "$sanitizer" "$t" "${inputs[@]}" >"$log" 2>&1; then
            echo "$t: ${#inputs[@]} regression input(s) pass"
        else
            echo "$t: FAILED on a regression input (log $log)"
            grep -E "panicked at|^Running: " "$log" | head -4 || true
            failed+=("$t")
        fi
    done
    [ ${#failed[@]} -eq 0 ] || exit 1
    exit 0
fi

printf '%-16s %8s %12s %8s %8s %-14s %s\n' target seconds execs cov ft library result
for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    mkdir -p "$corpus"
    cp -n "$here/seeds/$t/"* "$corpus/" 2>/dev/null || true
    log="$logs/$t.log"
    # Which library the target is built from, for the results table.
    rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git -C "$root" status --porcelain -- crates 2>/dev/null)" ]; then
        rev="$rev+dirty"
    fi
    dict=()
    if [ -f "$here/$t.dict" ]; then
        dict=(-dict="$here/$t.dict")
    fi
    status=0
    # One process, one job: -jobs/-workers are deliberately not used.
    cargo fuzz run -a -s "$sanitizer" "$t" "$corpus" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout" \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    # (A crashed run may lack these lines: `|| true` keeps set -e/pipefail from ending the script.)
    execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="FAILED (exit $status, log $log)"
        failed+=("$t")
    fi
    printf '%-16s %8s %12s %8s %8s %-14s %s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$rev" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "Failing targets: ${failed[*]}. Inputs are in fuzz/artifacts/<target>/; see the logs above." >&2
    for t in "${failed[@]}"; do
        grep -E "panicked at|^thread '|SUMMARY|Test unit written" "$logs/$t.log" | head -5 >&2 || true
    done
    exit 1
fi
