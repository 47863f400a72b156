#!/usr/bin/env bash
# Hot-ranking benchmark (issue 5): `webookctl ops rank recompute` over N
# published articles against the same top N computed by ONE SQL query inside
# each database (the floor: the server scans, joins, scores and sorts without
# shipping a row), and webookctl's peak RSS at two sizes (it keeps only the
# top N and one batch, so it must stay flat). Prints a Markdown section to
# stdout; the results are recorded in bench/RESULTS.md.
#
# usage: bench/rank_bench.sh [SMALL [BIG]]     (default 250000 1000000 articles)
#   WEBOOK_BUILD_DIR   where webookctl is built (default: build)
#   WEBOOK_BENCH_REPEAT  runs per timing, the median is reported (default 3)
#   WEBOOK_BENCH_ENGINES "mysql postgres" (default: both)
#   WEBOOK_BENCH_KEEP=1  keep the bench_rank databases afterwards (default: dropped)
#
# Data. `db seed` writes long, varied content and takes minutes per million
# articles, and its content sizes are fixed; the ranking reads none of the
# content. So the rows are generated inside each database with one
# INSERT ... SELECT from a number series (MariaDB's seq_1_to_N table,
# PostgreSQL's generate_series), the same formulas on both engines:
#   published_articles  id 1..N, status 2 (published), ~300 bytes of content,
#                       ctime spread over the 7 days before NOW (so every
#                       article is in the window and is scored: the worst case)
#   interactives        one 'article' row per article, skewed like counts
# Both the tool and the SQL query score as of the same fixed NOW (--now), so
# their top N must be identical; the script checks it.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
SMALL=${1:-250000}
BIG=${2:-1000000}
ENGINES=${WEBOOK_BENCH_ENGINES:-"mysql postgres"}
TOP=100
NOW='2026-11-01 00:00:00'
cd "$ROOT"

load_services_env
require_built "$W"
DB=bench_rank   # the scratch database of lib.sh's dsn, sql, label, fresh_database, drop_database

# Articles FROM..TO (ids), all published in the 7 days before NOW.
load() {
    local engine=$1 from=$2 to=$3
    if [ "$engine" = mysql ]; then
        my_root "$DB" -e "
          INSERT INTO published_articles (id, title, content, author_id, status, ctime, utime)
          SELECT seq, CONCAT('article ', seq), RPAD(CONCAT('content of article ', seq, ': '), 300, 'lorem ipsum dolor '),
                 seq % 10000 + 1, 2,
                 TIMESTAMP'$NOW' - INTERVAL ((seq * 2654435761) % 604800000000) MICROSECOND,
                 TIMESTAMP'$NOW' - INTERVAL ((seq * 2654435761) % 604800000000) MICROSECOND
            FROM seq_${from}_to_${to};
          INSERT INTO interactives (id, biz, biz_id, read_cnt, like_cnt, collect_cnt, ctime, utime)
          SELECT seq, 'article', seq, (seq * 48271) % 100000,
                 FLOOR(((seq * 48271) % 100000) / (1 + (seq * 16807) % 97)), (seq * 31) % 50,
                 TIMESTAMP'$NOW', TIMESTAMP'$NOW'
            FROM seq_${from}_to_${to};
          ANALYZE TABLE published_articles, interactives;" >/dev/null
    else
        pg_root -d "$DB" -c "
          INSERT INTO published_articles (id, title, content, author_id, status, ctime, utime)
          SELECT seq, 'article ' || seq, RPAD('content of article ' || seq || ': ', 300, 'lorem ipsum dolor '),
                 seq % 10000 + 1, 2,
                 TIMESTAMP '$NOW' - ((seq * 2654435761) % 604800000000) * INTERVAL '1 microsecond',
                 TIMESTAMP '$NOW' - ((seq * 2654435761) % 604800000000) * INTERVAL '1 microsecond'
            FROM generate_series($from::bigint, $to::bigint) AS seq;
          INSERT INTO interactives (id, biz, biz_id, read_cnt, like_cnt, collect_cnt, ctime, utime)
          SELECT seq, 'article', seq, (seq * 48271) % 100000,
                 FLOOR(((seq * 48271) % 100000) / (1 + (seq * 16807) % 97)), (seq * 31) % 50,
                 TIMESTAMP '$NOW', TIMESTAMP '$NOW'
            FROM generate_series($from::bigint, $to::bigint) AS seq;" \
            -c "VACUUM ANALYZE published_articles" -c "VACUUM ANALYZE interactives" >/dev/null
    fi
}

# The same top N by one query inside the database: ids, best first. $2 =
# "scan" forces the plan that reads both tables whole (MariaDB otherwise
# walks idx_ctime and fetches every row by primary key, several times
# slower when the whole table is in the window); the ratio uses the faster.
top_sql() {
    if [ "$1" = mysql ]; then
        local hint=""; [ "${2:-}" = scan ] && hint="IGNORE INDEX (idx_ctime)"
        echo "SELECT p.id FROM published_articles p $hint
              LEFT JOIN interactives i ON i.biz = 'article' AND i.biz_id = p.id
              WHERE p.status = 2 AND p.ctime >= TIMESTAMP'$NOW' - INTERVAL 7 DAY AND p.ctime <= TIMESTAMP'$NOW'
              ORDER BY (COALESCE(i.like_cnt, 0) - 1)
                       / POWER(TIMESTAMPDIFF(MICROSECOND, p.ctime, TIMESTAMP'$NOW') / 3600000000e0 + 2, 1.5) DESC, p.id
              LIMIT $TOP"
    else
        [ "${2:-}" = scan ] && echo "SET enable_indexscan = off; SET enable_bitmapscan = off;"
        echo "SELECT p.id FROM published_articles p LEFT JOIN interactives i ON i.biz = 'article' AND i.biz_id = p.id
              WHERE p.status = 2 AND p.ctime >= TIMESTAMP '$NOW' - INTERVAL '7 days' AND p.ctime <= TIMESTAMP '$NOW'
              ORDER BY (COALESCE(i.like_cnt, 0) - 1)
                       / POWER(EXTRACT(EPOCH FROM (TIMESTAMP '$NOW' - p.ctime))::float8 / 3600 + 2, 1.5) DESC, p.id
              LIMIT $TOP"
    fi
}

recompute() { "$W" ops rank recompute --dsn "$(dsn "$1")" --now "$NOW" --top "$TOP" "${@:2}"; }
peer() { sql "$1" "$(top_sql "$1" "${2:-}")"; }

# The tool's stored top N equals the SQL one, id for id.
check_same() {
    local engine=$1 tool sqlids scanids
    tool=$("$W" --output json ops rank show --dsn "$(dsn "$engine")" |
           python3 -c 'import json,sys; print("\n".join(str(i["article_id"]) for i in json.load(sys.stdin)["items"]))')
    sqlids=$(peer "$engine")
    scanids=$(peer "$engine" scan)
    if [ "$tool" != "$sqlids" ] || [ "$tool" != "$scanids" ]; then
        echo "bench: $engine: webookctl's top $TOP differs from the SQL query's" >&2
        diff <(echo "$tool") <(echo "$sqlids") | head >&2
        exit 1
    fi
}

echo "## ops rank recompute ($(date -u +%Y-%m-%d))"
echo
echo "\`bench/rank_bench.sh $SMALL $BIG\`: top $TOP by \`(likes - 1) / (hours + 2) ^ 1.5\` over N published"
echo "articles, all inside the 7-day window (every one scored), rows generated in the database (see the"
echo "script). webookctl: keyset batches of 2000 articles on one connection while a second fetches each"
echo "batch's like counts in one query, bounded heap, atomic publish, under the rank-hot lease. Peer: the"
echo "same top $TOP by ONE SQL query in the same database (join + score + sort inside the server), with"
echo "the planner's plan and with a forced full-scan plan. Median of $REPEAT runs; all three top-$TOP"
echo "lists checked identical."
echo "Machine: $(nproc) cores; load average before: $(loadavg)."
echo
echo "| engine | articles | webookctl | one SQL query, planner's plan | one SQL query, full-scan plan | ratio to the faster (target ≤ 2×) | webookctl peak RSS |"
echo "|---|---|---|---|---|---|---|"
for engine in $ENGINES; do
    fresh_database "$engine"
    loaded=0
    for n in $SMALL $BIG; do
        [ "$n" -gt "$loaded" ] && load "$engine" $((loaded + 1)) "$n"
        loaded=$n
        recompute "$engine" >/dev/null   # warm the caches once
        check_same "$engine"
        t_tool=$(median recompute "$engine")
        t_sql=$(median peer "$engine")
        t_scan=$(median peer "$engine" scan)
        best=$(printf '%s\n%s\n' "$t_sql" "$t_scan" | sort -n | head -n1)
        rss=$(rss_mb "$W" ops rank recompute --dsn "$(dsn "$engine")" --now "$NOW" --top "$TOP")
        echo "| $(label "$engine") | $n | $(fmt_s "$t_tool") | $(fmt_s "$t_sql") | $(fmt_s "$t_scan") | $(ratio "$t_tool" "$best")× | $rss MB |"
    done
done
echo
echo "Load average after: $(loadavg)."

# The scratch databases hold ~1 GB at 1M articles; WEBOOK_BENCH_KEEP=1 keeps them.
if [ "${WEBOOK_BENCH_KEEP:-0}" != 1 ]; then
    for engine in $ENGINES; do drop_database "$engine"; done
fi
