#!/usr/bin/env bash
# Peak memory and time of the migration's bulk work at two table sizes (issue 13 part 3: "peak
# RSS at 4M rows <= 1.2x at 1M, < 150 MB, for every pair and mode"; part 4: "a 10M-row run ...
# time <= 10.5x the 1M time, RSS flat"). For each size, `interactives` is seeded into MariaDB
# and every pair's copy (MySQL->MySQL, MySQL->PostgreSQL, PostgreSQL->PostgreSQL) and validation
# (rows and checksums, identical tables) runs once under GNU time. Memory does not depend on
# the machine's load, so the RSS columns may be measured beside other work; the time columns
# mean something only on a quiet machine. Prints a Markdown table to stdout; results go in
# bench/RESULTS.md.
#
# usage: bench/memory_bench.sh [SMALL [BIG]]   (default 1000000 and 4000000 rows)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
SMALL=${1:-1000000}
BIG=${2:-4000000}
cd "$ROOT"

ensure_packages time
build_and_start
load_services_env
MY_SRC=$(my_dsn bench_mem_src)
MY_DST=$(my_dsn bench_mem_dst)
PG_SRC=$(pg_dsn bench_mem_src)
PG_DST=$(pg_dsn bench_mem_dst)
SINK=file://$BENCH_TMP/events.jsonl

fresh() {
    for DB in bench_mem_src bench_mem_dst; do
        fresh_database mysql
        fresh_database postgres
    done
}

seed() {
    "$W" --output json db seed --dsn "$MY_SRC" --truncate --users 10000 --articles 20000 \
        --interactives "$1" --likes 10000 --collects 1000 --rewards 100 --base-time '2026-11-01 00:00:00' >/dev/null
}

copy() { echo "$W" migrate copy --table interactives --source "$1" --target "$2" --truncate; }
validate() { echo "$W" validate --full --table interactives --sink "$SINK" --source "$1" --target "$2" --method "${3:-rows}"; }

# The work, in the order it runs (each copy before the validations of its pair).
WORK=(
    "copy MySQL→MySQL|$(copy "$MY_SRC" "$MY_DST")"
    "copy MySQL→PostgreSQL|$(copy "$MY_SRC" "$PG_SRC")"
    "copy PostgreSQL→PostgreSQL|$(copy "$PG_SRC" "$PG_DST")"
    "validate MySQL→MySQL, rows|$(validate "$MY_SRC" "$MY_DST")"
    "validate MySQL→MySQL, --checksum|$(validate "$MY_SRC" "$MY_DST" checksum)"
    "validate MySQL→PostgreSQL, rows|$(validate "$MY_SRC" "$PG_SRC")"
    "validate MySQL→PostgreSQL, --checksum|$(validate "$MY_SRC" "$PG_SRC" checksum)"
    "validate PostgreSQL→PostgreSQL, rows|$(validate "$PG_SRC" "$PG_DST")"
    "validate PostgreSQL→PostgreSQL, --checksum|$(validate "$PG_SRC" "$PG_DST" checksum)"
)

declare -A RSS SECONDS_OF
fresh
for n in "$SMALL" "$BIG"; do
    seed "$n"
    for entry in "${WORK[@]}"; do
        name=${entry%%|*}
        # shellcheck disable=SC2086  # the command line is words
        read -r secs kb < <(/usr/bin/time -f '%e %M' ${entry#*|} 2>&1 >/dev/null | tail -n1)
        RSS["$name/$n"]=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
        SECONDS_OF["$name/$n"]=$secs
    done
done

echo "# webookctl peak RSS and time, $(date -u +%F), interactives at $SMALL and $BIG rows, load $(loadavg)"
echo
echo "| work | peak RSS at $SMALL rows | at $BIG rows | ratio | under 150 MB | time at $SMALL | at $BIG | ratio ($BIG / $SMALL rows = $(ratio "$BIG" "$SMALL")) |"
echo "|---|---|---|---|---|---|---|---|"
for entry in "${WORK[@]}"; do
    name=${entry%%|*}
    small=${RSS["$name/$SMALL"]}
    big=${RSS["$name/$BIG"]}
    under=$(echo "$big < 150" | bc)
    t_small=${SECONDS_OF["$name/$SMALL"]}
    t_big=${SECONDS_OF["$name/$BIG"]}
    printf '| %s | %s MB | %s MB | %s× | %s | %s s | %s s | %s× |\n' "$name" "$small" "$big" "$(ratio "$big" "$small")" \
        "$([ "$under" = 1 ] && echo yes || echo NO)" "$t_small" "$t_big" "$(ratio "$t_big" "$t_small")"
done
for DB in bench_mem_src bench_mem_dst; do
    drop_database mysql
    drop_database postgres
done
