#!/usr/bin/env bash
# Migration benchmarks (issues 2 and 3), every figure and its peer measured in
# the same run on the local servers. Prints a Markdown table to stdout; the
# results are recorded in bench/RESULTS.md.
#
# usage: bench/migration_bench.sh [ROWS]      (default 1000000 interactives rows)
#   WEBOOK_BENCH_BIG=4000000 also measures peak RSS at that size.
#   WEBOOK_BENCH_REPEAT=N runs each timed command N times (median; default 3).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
ROWS=${1:-1000000}
BIG=${WEBOOK_BENCH_BIG:-0}
cd "$ROOT"

# The peers are Debian packages too; only the benchmark needs them.
ensure_packages pgloader percona-toolkit time libdbd-mysql-perl
# WEBOOK_BENCH_NO_BUILD=1 measures the binaries already in $WEBOOK_BUILD_DIR.
build_and_start
load_services_env
MY_SRC=$(my_dsn bench_src)
MY_DST=$(my_dsn bench_dst)
PG_DST=$(pg_dsn bench_dst)
SINK=file://$BENCH_TMP/events.jsonl   # validate's event sink

row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }

fresh_databases() {
    my_root -e "DROP DATABASE IF EXISTS bench_src; DROP DATABASE IF EXISTS bench_dst; DROP DATABASE IF EXISTS bench_dump;
                CREATE DATABASE bench_src; CREATE DATABASE bench_dst; CREATE DATABASE bench_dump;"
    for db in bench_dst bench_pgloader; do
        pg_root -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db OWNER webook"
    done
    "$W" db init --dsn "$MY_SRC" >/dev/null
    "$W" db init --dsn "$MY_DST" >/dev/null
    "$W" db init --dsn "$PG_DST" >/dev/null
    "$W" db init --dsn "$(pg_dsn bench_pgloader)" >/dev/null
    "$W" db init --dsn "$(my_dsn bench_dump)" >/dev/null
}

seed() {  # seed ROWS interactives (and a few of everything else) into bench_src
    "$W" --output json db seed --dsn "$MY_SRC" --truncate --users 10000 --articles 20000 \
        --interactives "$1" --likes 10000 --collects 1000 --rewards 100 --base-time '2026-11-01 00:00:00'
}

copy_pg() { "$W" migrate copy --table interactives --source "$MY_SRC" --target "$PG_DST" --truncate; }
copy_my() { "$W" migrate copy --table interactives --source "$MY_SRC" --target "$MY_DST" --truncate; }
pgloader_copy() {
    cat >"$BENCH_TMP/pgloader.load" <<PGLOADER
LOAD DATABASE
  FROM mysql://webook:$PW@127.0.0.1:$MYSQL_PORT/bench_src
  INTO postgresql://webook:$PW@127.0.0.1:$PG_PORT/bench_pgloader
  WITH data only, truncate, workers = 2, concurrency = 1
  INCLUDING ONLY TABLE NAMES MATCHING 'interactives'
  ALTER SCHEMA 'bench_src' RENAME TO 'public';
PGLOADER
    pgloader --quiet "$BENCH_TMP/pgloader.load"
}
dump_copy() {
    mariadb-dump --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uwebook -p"$PW" --no-create-info --skip-triggers \
        bench_src interactives | my_client bench_dump
}
truncate_dump() { my_root -e "TRUNCATE TABLE bench_dump.interactives"; }

# The stream limit: both tables read in key order at once by the servers' own clients.
stream_limit() {
    my_client --quick -N -e "SELECT * FROM interactives ORDER BY id" bench_src >/dev/null &
    local a=$!
    pg_client -d bench_dst -qAt -c "COPY (SELECT * FROM interactives ORDER BY id) TO STDOUT" >/dev/null &
    local b=$!
    wait $a $b
}
stream_limit_my() {
    for db in bench_src bench_dst; do
        my_client --quick -N -e "SELECT * FROM interactives ORDER BY id" $db >/dev/null &
    done
    wait
}

# The hash limit (issue 13): a plain whole-table hash aggregate -- COUNT(*) and BIT_XOR of a
# 64-bit slice of MD5(CONCAT_WS of the columns) -- run directly in both databases at once.
COLS="id, biz, biz_id, read_cnt, like_cnt, collect_cnt, ctime, utime"
MY_PLAIN="SELECT COUNT(*), BIT_XOR(CAST(CONV(SUBSTR(MD5(CONCAT_WS('#', $COLS)), 1, 16), 16, 10) AS UNSIGNED)) FROM interactives"
PG_PLAIN="SELECT COUNT(*), bit_xor(('x' || substr(md5(concat_ws('#', $COLS)), 1, 16))::bit(64)::bigint) FROM interactives"
both_at_once() {  # $1: MariaDB query, $2: PostgreSQL query
    my_client -N -e "$1" bench_src >/dev/null &
    local a=$!
    pg_client -d bench_dst -qAt -c "$2" >/dev/null &
    local b=$!
    wait $a $b
}
hash_limit() { both_at_once "$MY_PLAIN" "$PG_PLAIN"; }
# validate --checksum's own per-chunk query, unbounded (MY_HASH/PG_HASH): how much of the gap
# to the limit is the canonical form, and how much the chunking.
own_hash() { both_at_once "$MY_HASH" "$PG_HASH"; }

# validate exits 1 when it finds inconsistencies: that is a result here, not a failure.
validate_pg_diff() { "$W" validate --full --base src --table interactives --source "$MY_SRC" --target "$PG_DST" --sink "$SINK" "$@" || [ $? -eq 1 ]; }
validate_pg() { "$W" validate --full --base src --table interactives --source "$MY_SRC" --target "$PG_DST" --sink "$SINK" "$@"; }
validate_my() { "$W" validate --full --base src --table interactives --source "$MY_SRC" --target "$MY_DST" --sink "$SINK" "$@"; }
pt_sync() {
    pt-table-sync --print --no-check-triggers "h=127.0.0.1,P=$MYSQL_PORT,u=webook,p=$PW,D=bench_src,t=interactives" \
        "h=127.0.0.1,P=$MYSQL_PORT,u=webook,p=$PW,D=bench_dst,t=interactives"
}

echo "# webookctl migration benchmark, $(date -u +%Y-%m-%d), $ROWS interactives rows, $(nproc) cores, median of $REPEAT"
echo
echo "| measurement | result | comparison |"
echo "|---|---|---|"
if [ -z "${WEBOOK_BENCH_TAIL_ONLY:-}" ]; then
fresh_databases
seed_json=$(seed "$ROWS")
seed_rate=$(echo "$seed_json" | sed -n 's/.*"rows_per_second":\([0-9.]*\).*/\1/p')
seed_secs=$(echo "$seed_json" | sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p')
row "db seed (MariaDB, all tables, $ROWS interactives)" "$(printf '%.1f s, %.0f rows/s' "$seed_secs" "$seed_rate")" "target: 1M interactives well under a minute"

t_copy_pg=$(median copy_pg)
t_pgloader=$(median pgloader_copy)
n_pgl=$(pg_root -d bench_pgloader -c "SELECT count(*) FROM interactives")
[ "$n_pgl" = "$ROWS" ] || { echo "bench: pgloader loaded $n_pgl of $ROWS rows" >&2; exit 1; }
row "migrate copy MySQL→PostgreSQL" "$t_copy_pg s ($(echo "$ROWS / $t_copy_pg" | bc) rows/s)" "pgloader $t_pgloader s: $(ratio "$t_pgloader" "$t_copy_pg")× faster (target ≥ 2×)"
t_copy_my=$(median copy_my)
dump_cycle() { truncate_dump; dump_copy; }
t_dump=$(median dump_cycle)
n_dump=$(my_root -N -e "SELECT count(*) FROM bench_dump.interactives")
[ "$n_dump" = "$ROWS" ] || { echo "bench: mariadb-dump loaded $n_dump of $ROWS rows" >&2; exit 1; }
row "migrate copy MySQL→MySQL" "$t_copy_my s ($(echo "$ROWS / $t_copy_my" | bc) rows/s)" "mariadb-dump | mariadb $t_dump s (incl. truncate): $(ratio "$t_dump" "$t_copy_my")× faster (target ≥ 2×)"

t_limit=$(median stream_limit)
t_validate=$(median validate_pg --method rows)
row "validate --full MySQL→PostgreSQL (identical)" "$t_validate s" "stream limit $t_limit s: $(ratio "$t_validate" "$t_limit")× (target ≤ 1.3×)"
MY_HASH=$("$S" --checksum-sql "$MY_SRC" interactives)
PG_HASH=$("$S" --checksum-sql "$PG_DST" interactives)
t_hash=$(median hash_limit)
t_own=$(median own_hash)
t_checksum=$(median validate_pg --checksum)
row "validate --full --checksum (identical)" "$t_checksum s" "hash limit $t_hash s: $(ratio "$t_checksum" "$t_hash")× (target ≤ 1.25×); its own query on the whole table $t_own s: $(ratio "$t_own" "$t_hash")×"

t_limit_my=$(median stream_limit_my)
t_validate_my=$(median validate_my --method rows)
t_pt=$(median pt_sync)
row "validate --full MySQL→MySQL (identical)" "$t_validate_my s" "stream limit $t_limit_my s: $(ratio "$t_validate_my" "$t_limit_my")×; pt-table-sync --print $t_pt s: $(ratio "$t_pt" "$t_validate_my")× faster"

else  # WEBOOK_BENCH_TAIL_ONLY: the earlier part's figures come in from the environment
    t_limit=$WEBOOK_BENCH_STREAM_LIMIT; t_checksum=$WEBOOK_BENCH_CHECKSUM_IDENTICAL
fi

# 1,000 differences spread over the key range.
step=$(( ROWS / 1000 ))
# (The seed's ids are snowflakes: about 1,000 rows, counted.)
planted=$(pg_client -d bench_dst -qAt -c "WITH u AS (UPDATE interactives SET like_cnt = like_cnt + 1 WHERE id % $step = 0 RETURNING 1) SELECT count(*) FROM u")
t_validate_d=$(median validate_pg_diff --method rows)
t_checksum_d=$(median validate_pg_diff --checksum)
found=$(validate_pg_diff --method rows --output json | sed -n 's/.*"inconsistencies":\([0-9]*\).*/\1/p')
row "validate --full with 1,000 spread differences" "$t_validate_d s, $found of $planted found" "stream limit $t_limit s: $(ratio "$t_validate_d" "$t_limit")× (target ≤ 1.3×)"
row "validate --full --checksum with 1,000 spread differences" "$t_checksum_d s" "$(ratio "$t_checksum_d" "$t_checksum")× its identical-table time"

# (/usr/bin/time runs programs, not shell functions: the command is spelled out. The
# command's own exit status is not the point, validate exits 1 on findings: `anystatus`.)
VALIDATE_PG=("$W" validate --full --base src --table interactives --source "$MY_SRC" --target "$PG_DST" --sink "$SINK" --method rows)
rss_validate=$(rss_mb anystatus "${VALIDATE_PG[@]}")
rss_stream=$(rss_mb anystatus "$S" "$PG_DST" interactives)
row "peak RSS at $ROWS rows" "validate $rss_validate MB; stream read $rss_stream MB" ""

if [ "$BIG" -gt 0 ]; then
    seed "$BIG" >/dev/null
    copy_pg >/dev/null 2>&1
    rss_validate_big=$(rss_mb anystatus "${VALIDATE_PG[@]}")
    rss_stream_big=$(rss_mb anystatus "$S" "$PG_DST" interactives)
    rss_stream_my_big=$(rss_mb anystatus "$S" "$MY_SRC" interactives)
    row "peak RSS at $BIG rows" "validate $rss_validate_big MB; stream read PG $rss_stream_big MB, MariaDB $rss_stream_my_big MB" "$(ratio "$rss_validate_big" "$rss_validate")× the $ROWS-row RSS (target ≤ 1.2×, < 150 MB)"
fi
