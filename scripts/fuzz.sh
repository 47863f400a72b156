#!/usr/bin/env bash
# Fuzzes the parsers of outside input (fuzz/, one libFuzzer target each).
#
#   scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]
#
# Builds build-fuzz/ if needed (clang, -DWEBOOK_FUZZ=ON; -j1 under nice), then
# runs each TARGET (default: all of fuzz/*_fuzz.cpp, one after the other) for
# SECONDS (default 30) on a scratch copy of its seed corpus fuzz/corpus/TARGET/,
# so git's copy changes only with --merge, which adds the inputs that found new
# coverage to it. Prints per target the executions, exec/s, the final corpus
# size and libFuzzer's coverage (cov: edges, ft: features). Exits 1 when any
# target found a crash, a hang (-timeout=10 s), a leak or ran out of memory
# (-rss_limit_mb=2048), keeping the input that did it under build-fuzz/findings/
# and printing its path; reproduce with build-fuzz/fuzz/TARGET_fuzz FILE.
# Environment: WEBOOK_FUZZ_BUILD_DIR (default build-fuzz), WEBOOK_FUZZ_ROUND_SECONDS
# (default 60: see below).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
cd "$ROOT"

merge=no
if [ "${1:-}" = "--merge" ]; then
    merge=yes
    shift
fi
seconds=30
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" _fuzz.cpp)"); done
fi
for t in "${targets[@]}"; do
    [ -f "fuzz/${t}_fuzz.cpp" ] || { echo "fuzz: no target '$t' (fuzz/${t}_fuzz.cpp)" >&2; exit 2; }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/webook-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
findings_dir="$BUILD/findings"
logs="$BUILD/fuzz-logs"

# Build: a directory of its own, with clang; only the libraries the targets
# fuzz. Runs started side by side build one at a time (flock).
command -v clang++ >/dev/null || { echo "fuzz: clang is not installed (scripts/setup.sh)" >&2; exit 1; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ nice -n 19 cmake -S "$ROOT" -B "$BUILD" -DWEBOOK_FUZZ=ON >/dev/null
fi
mkdir -p "$logs"
build_start=$SECONDS
flock "$BUILD/.fuzz-build.lock" nice -n 19 cmake --build "$BUILD" -j1 >"$scratch/build.log" 2>&1 || {
    cp "$scratch/build.log" "$logs/build.log"
    tail -n 40 "$logs/build.log" >&2
    echo "fuzz: build failed ($logs/build.log)" >&2
    exit 1
}
echo "fuzz: $BUILD built ($((SECONDS - build_start)) s)" >&2

# The value of "key: N" in libFuzzer's last status line, e.g. "cov: 412".
field() { sed -n "s/.* $1 \([0-9]*\).*/\1/p" <<<"$2"; }

# Each target runs in rounds of at most $round seconds, one process each,
# on the same corpus: state a parser keeps for the whole process would
# otherwise slow a long run down -- the secret registry (core/base/secrets.h)
# keeps the password of every DSN parsed, and registering and redacting take
# time linear in it (dsn: 2.4k instead of 22k exec/s after 2 minutes).
round=${WEBOOK_FUZZ_ROUND_SECONDS:-60}
printf 'fuzz: %-20s %12s %9s %7s %6s %6s  %s\n' target executions exec/s corpus cov ft result >&2
failed=0
for t in "${targets[@]}"; do
    bin="$BUILD/fuzz/${t}_fuzz"
    corpus="$scratch/$t"
    mkdir -p "$corpus" "$findings_dir/$t"
    cp -r "fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
    log="$logs/$t.log"
    : >"$log"
    rc=0
    left=$seconds
    started=$SECONDS
    while [ "$left" -gt 0 ] && [ $rc -eq 0 ]; do
        this=$((left < round ? left : round))
        nice -n 19 "$bin" -max_total_time="$this" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$findings_dir/$t/" "$corpus" >>"$log" 2>&1 || rc=$?
        left=$((left - this))
    done
    elapsed=$((SECONDS - started))
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | awk '{n += $1} END {print n + 0}')
    last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    result=ok
    if [ $rc -ne 0 ] || [ -n "$artifact" ]; then
        result="FOUND: ${artifact:-no input saved} (exit $rc; log $log)"
        failed=1
    fi
    printf 'fuzz: %-20s %12s %9s %7s %6s %6s  %s\n' "$t" "$runs" "$((runs / (elapsed > 0 ? elapsed : 1)))" \
        "$(field corp: "$last")" "$(field cov: "$last")" "$(field ft: "$last")" "$result" >&2
    if [ "$merge" = yes ] && [ "$result" = ok ]; then
        before=$(find "fuzz/corpus/$t" -type f | wc -l)
        nice -n 19 "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "fuzz/corpus/$t" "$corpus" >"$logs/$t.merge.log" 2>&1
        echo "fuzz: $t: merged $(($(find "fuzz/corpus/$t" -type f | wc -l) - before)) inputs into fuzz/corpus/$t" >&2
    fi
done
[ $failed -eq 0 ] && echo "fuzz: no findings (${#targets[@]} targets, ${seconds} s each)" >&2
exit $failed
