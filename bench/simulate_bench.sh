#!/usr/bin/env bash
# The cost of double-writing: simulate's throughput and latency in src_only
# vs src_first, measured in the same run (MariaDB source, PostgreSQL target).
# Prints a Markdown table; results are recorded in bench/RESULTS.md.
#
# usage: bench/simulate_bench.sh [SECONDS] [WRITERS]     (default 15 s, 8 writers)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
SECONDS_PER_MODE=${1:-15}
WRITERS=${2:-8}
cd "$ROOT"
build_and_start
load_services_env
my_root -e "DROP DATABASE IF EXISTS simbench; CREATE DATABASE simbench"
pg_root -d postgres -c "DROP DATABASE IF EXISTS simbench" -c "CREATE DATABASE simbench OWNER webook" >/dev/null
export WEBOOKCTL_SOURCE_DSN=${WEBOOK_MYSQL_DSN%/*}/simbench
export WEBOOKCTL_TARGET_DSN=${WEBOOK_PG_DSN%/*}/simbench
"$W" db init >/dev/null
"$W" db init --side target >/dev/null
"$W" db seed --users 5000 --articles 20000 --likes 50000 --collects 10000 --rewards 0 >/dev/null
"$W" migrate copy --table articles --table published_articles --table interactives --table user_like_bizs \
    --table user_collection_bizs >/dev/null

run() { "$W" --output json simulate --writers "$WRITERS" --duration "${SECONDS_PER_MODE}s" --seed 11; }
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | head -n1; }
lat() { sed -n "s/.*\"latency_ms\":{[^}]*\"$1\":\([0-9.e+-]*\).*/\1/p"; }

single=$(run)
"$W" migrate mode set src_first >/dev/null
double=$(run)

echo "# simulate: double-write cost, $(date -u +%Y-%m-%d), $WRITERS writers, ${SECONDS_PER_MODE}s per mode, load $(loadavg)"
echo
echo "| mode | ops/s | mean ms | p50 ms | p95 ms | p99 ms | failed | second-side failures |"
echo "|---|---|---|---|---|---|---|---|"
for m in src_only src_first; do
    j=$single; [ $m = src_first ] && j=$double
    printf '| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n' $m "$(echo "$j" | field ops_per_second)" \
        "$(echo "$j" | lat mean)" "$(echo "$j" | lat p50)" "$(echo "$j" | lat p95)" "$(echo "$j" | lat p99)" \
        "$(echo "$j" | field failed)" "$(echo "$j" | field second_side_failures)"
done
m1=$(echo "$single" | lat mean); m2=$(echo "$double" | lat mean)
p1=$(echo "$single" | lat p50); p2=$(echo "$double" | lat p50)
echo
echo "src_first / src_only latency: mean $(ratio "$m2" "$m1")×, p50 $(ratio "$p2" "$p1")× (target ≤ 2.2×)"
