#!/usr/bin/env bash
# The fixer's throughput (issue 13 part 7): 100,000 `neq` and 100,000 `target_missing` events on
# a 1M-row `interactives` copied MySQL -> PostgreSQL and MySQL -> MySQL, fixed from a file
# (default batch and --batch-size 5000) and from Kafka (the services' mock cluster). The
# differences are planted in the target before every run, and the events come from
# `validate --full`, as in production. Goal: >= 50k events/s (100k events in <= 2 s).
# Prints a Markdown table; the results are recorded in bench/RESULTS.md.
#
# usage: bench/fix_bench.sh [ROWS]        (default 1000000)
#   WEBOOK_BENCH_REPEAT=N   runs per figure (median; default 3)
#   WEBOOK_BENCH_NO_BUILD=1 measures the binaries already built
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
ROWS=${1:-1000000}
cd "$ROOT"
ensure_packages time bc
build_and_start
load_services_env
require_built "$W"
SRC=$(my_dsn fixb_src)

DB=fixb_src fresh_database mysql
DB=fixb_dst fresh_database mysql
DB=fixb_dst fresh_database postgres
"$W" db seed --dsn "$SRC" --truncate --users 10000 --articles 20000 --interactives "$ROWS" --likes 1000 \
    --collects 100 --rewards 10 --base-time '2026-11-01 00:00:00' >/dev/null

# plant ENGINE KIND: one row in ten of the target differs (neq) or is missing (target_missing).
plant() {
    if [ "$2" = neq ]; then
        DB=fixb_dst sql "$1" "UPDATE interactives SET read_cnt = read_cnt + 1 WHERE id % 10 = 0"
    else
        DB=fixb_dst sql "$1" "DELETE FROM interactives WHERE id % 10 = 1"
    fi
}

echo "| target | events | input | batch | median | events/s | vs goal (2 s) |"
echo "|---|---|---|---|---|---|---|"
for engine in postgres mysql; do
    DST=$(DB=fixb_dst dsn "$engine")
    "$W" migrate copy --table interactives --source "$SRC" --target "$DST" --truncate >/dev/null
    for kind in neq target_missing; do
        events=$BENCH_TMP/$engine-$kind.jsonl
        topic=fixbench_${engine}_${kind}_$$
        plant "$engine" "$kind"
        "$W" validate --full --table interactives --source "$SRC" --target "$DST" --sink "file://$events" \
            >/dev/null || [ $? = 1 ]
        n=$(wc -l <"$events")
        plant "$engine" "$kind"
        "$W" validate --full --table interactives --source "$SRC" --target "$DST" \
            --sink "kafka://${WEBOOK_KAFKA_BOOTSTRAP%%,*}/$topic" >/dev/null || [ $? = 1 ]
        for input in file kafka; do
            for batch in 500 5000; do
                [ "$input" = kafka ] && [ "$batch" = 5000 ] && continue
                times=()
                for r in $(seq 1 "$REPEAT"); do
                    plant "$engine" "$kind"
                    if [ "$input" = file ]; then
                        from=(--from "file://$events")
                    else
                        from=(--from "kafka://${WEBOOK_KAFKA_BOOTSTRAP%%,*}/$topic" --group "fixbench-$r-$$")
                    fi
                    t0=$(date +%s.%N)
                    "$W" fix "${from[@]}" --until-idle --batch-size "$batch" --table interactives \
                        --source "$SRC" --target "$DST" >"$BENCH_TMP/fix.out" 2>&1 ||
                        { cat "$BENCH_TMP/fix.out" >&2; exit 1; }
                    t1=$(date +%s.%N)
                    times+=("$(echo "$t1 - $t0" | bc)")
                done
                t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((REPEAT + 1) / 2))p")
                printf '| %s | %s %s | %s | %s | %s | %.0f | %s |\n' "$(DB=fixb_dst label "$engine")" "$n" "$kind" "$input" \
                    "$batch" "$(fmt_s "$t")" "$(echo "$n / $t" | bc -l)" "$(ratio "$t" 2)x"
            done
        done
        # Consistent again after the last run.
        "$W" validate --full --table interactives --source "$SRC" --target "$DST" >/dev/null
    done
done
echo
echo "machine: $(nproc) cores, load $(loadavg); $(DB=fixb_src label mysql) source, $("$W" --version | head -1)"
