#!/usr/bin/env bash
# Reconciliation benchmark: `webookctl ops reconcile` over every reward of a
# window against the stream limit of its three tables -- the same three range
# queries (printed by `webook-bench-stream --reconcile-sql`, i.e. by the
# library itself) read at once through the same database layer by three
# `webook-bench-stream --query` processes, without merging or checking
# anything -- and webookctl's peak RSS at two sizes (it holds a few batches
# per stream and one reward's rows, so it must stay flat). Prints a Markdown
# section to stdout; the results are recorded in bench/RESULTS.md.
#
# usage: bench/reconcile_bench.sh [SMALL [BIG]]     (default 250000 1000000 rewards)
#   WEBOOK_BUILD_DIR     where webookctl is built (default: build)
#   WEBOOK_BENCH_REPEAT  runs per timing, the median is reported (default 3)
#   WEBOOK_BENCH_ENGINES "mysql postgres" (default: both)
#   WEBOOK_BENCH_KEEP=1  keep the bench_reconcile databases afterwards (default: dropped)
#
# Data. Generated inside each database with INSERT ... SELECT from a number
# series (MariaDB's seq_1_to_N table, PostgreSQL's generate_series), the same
# formulas on both engines; every reward consistent:
#   rewards             id = a snowflake of 2026-11-01 + n * 86 ms (so N = 1M
#                       spans 24 h), paid, 100..5099 cents, 5000 authors
#   payments            one per reward, success, same amount
#   account_activities  two per reward: the author's 90 % and the platform's rest
#   accounts            the platform and the authors
#   outbox              one sent event per reward
# After the timings at BIG, the platform entry of every 1000th reward is
# deleted and the run is timed again: 1,000 mismatches found (and re-read).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
SMALL=${1:-250000}
BIG=${2:-1000000}
ENGINES=${WEBOOK_BENCH_ENGINES:-"mysql postgres"}
BASE='2026-11-01 00:00:00'
BASE_MS=215654400000  # BASE in milliseconds since 2020-01-01, the snowflake epoch
FROM=$BASE
TO='2026-11-03 00:00:00'
cd "$ROOT"

# Only the benchmark needs GNU time (peak RSS).
ensure_packages time
load_services_env
require_built "$W" "$S"
DB=bench_reconcile   # the scratch database of lib.sh's dsn, sql, label, fresh_database, drop_database

# The platform's account (id 1) and the authors' (uid u -> id u + 1), in a fresh_database.
add_accounts() {
    if [ "$1" = mysql ]; then
        my_root "$DB" -e "INSERT INTO accounts (id, uid, type, balance, currency, ctime, utime)
            SELECT 1, 0, 2, 0, 'CNY', TIMESTAMP'$BASE', TIMESTAMP'$BASE'
            UNION ALL SELECT seq + 1, seq, 1, 0, 'CNY', TIMESTAMP'$BASE', TIMESTAMP'$BASE' FROM seq_1_to_5000"
    else
        pg_root -d "$DB" -c "INSERT INTO accounts (id, uid, type, balance, currency, ctime, utime)
            SELECT 1, 0, 2, 0, 'CNY', TIMESTAMP '$BASE', TIMESTAMP '$BASE'
            UNION ALL SELECT n + 1, n, 1, 0, 'CNY', TIMESTAMP '$BASE', TIMESTAMP '$BASE'
              FROM generate_series(1, 5000) AS n" >/dev/null
    fi
}

# Rewards FROM..TO (n), with their payments, bookings and sent events.
load() {
    local engine=$1 from=$2 to=$3
    if [ "$engine" = mysql ]; then
        local id="(($BASE_MS + seq * 86) * 4194304)"
        local t="(TIMESTAMP'$BASE' + INTERVAL (seq * 86000) MICROSECOND)"
        local amount="(100 + (seq * 7919) % 5000)"
        my_root "$DB" -e "
          INSERT INTO rewards (id, biz, biz_id, uid, target_uid, amount, status, ctime, utime)
          SELECT $id, 'article', seq % 20000 + 1, seq % 10000 + 1, seq % 5000 + 1, $amount, 1, $t, $t
            FROM seq_${from}_to_${to};
          INSERT INTO payments (id, trade_no, biz_trade_no, biz, biz_id, amount, currency, description, status, txn_id, ctime, utime)
          SELECT $id + 1, CONCAT('T', LPAD(HEX(seq), 16, '0')), CONCAT('reward-', $id), 'reward', $id, $amount,
                 'CNY', 'reward', 2, CONCAT('wx', seq), $t, $t
            FROM seq_${from}_to_${to};
          INSERT INTO account_activities (id, account_id, uid, amount, currency, biz, biz_id, ctime, utime)
          SELECT $id + 2 + k.k, IF(k.k = 0, seq % 5000 + 2, 1), IF(k.k = 0, seq % 5000 + 1, 0),
                 IF(k.k = 0, $amount * 90 DIV 100, $amount - $amount * 90 DIV 100), 'CNY', 'reward', $id, $t, $t
            FROM seq_${from}_to_${to} CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) AS k;
          INSERT INTO outbox (id, topic, msg_key, payload, status, attempts, next_attempt_at, last_error, ctime, utime)
          SELECT $id + 4, 'payment_events', CONCAT('reward-', $id),
                 CONCAT('{\"biz_trade_no\":\"reward-', $id, '\",\"status\":\"success\",\"amount\":', $amount, '}'),
                 1, 1, $t, NULL, $t, $t
            FROM seq_${from}_to_${to};
          ANALYZE TABLE rewards, payments, account_activities, outbox;" >/dev/null
    else
        local id="(($BASE_MS + n * 86) * 4194304)"
        local t="(TIMESTAMP '$BASE' + n * 86000 * INTERVAL '1 microsecond')"
        local amount="(100 + (n * 7919) % 5000)"
        pg_root -d "$DB" -c "
          INSERT INTO rewards (id, biz, biz_id, uid, target_uid, amount, status, ctime, utime)
          SELECT $id, 'article', n % 20000 + 1, n % 10000 + 1, n % 5000 + 1, $amount, 1, $t, $t
            FROM generate_series($from::bigint, $to::bigint) AS n;
          INSERT INTO payments (id, trade_no, biz_trade_no, biz, biz_id, amount, currency, description, status, txn_id, ctime, utime)
          SELECT $id + 1, 'T' || LPAD(TO_HEX(n), 16, '0'), 'reward-' || $id, 'reward', $id, $amount,
                 'CNY', 'reward', 2, 'wx' || n, $t, $t
            FROM generate_series($from::bigint, $to::bigint) AS n;
          INSERT INTO account_activities (id, account_id, uid, amount, currency, biz, biz_id, ctime, utime)
          SELECT $id + 2 + k, CASE WHEN k = 0 THEN n % 5000 + 2 ELSE 1 END, CASE WHEN k = 0 THEN n % 5000 + 1 ELSE 0 END,
                 CASE WHEN k = 0 THEN $amount * 90 / 100 ELSE $amount - $amount * 90 / 100 END, 'CNY', 'reward', $id, $t, $t
            FROM generate_series($from::bigint, $to::bigint) AS n CROSS JOIN (VALUES (0), (1)) AS k(k);
          INSERT INTO outbox (id, topic, msg_key, payload, status, attempts, next_attempt_at, last_error, ctime, utime)
          SELECT $id + 4, 'payment_events', 'reward-' || $id,
                 '{\"biz_trade_no\":\"reward-' || $id || '\",\"status\":\"success\",\"amount\":' || $amount || '}',
                 1, 1, $t, NULL, $t, $t
            FROM generate_series($from::bigint, $to::bigint) AS n;" \
            -c "VACUUM ANALYZE rewards" -c "VACUUM ANALYZE payments" \
            -c "VACUUM ANALYZE account_activities" -c "VACUUM ANALYZE outbox" >/dev/null
    fi
}

reconcile() { "$W" ops reconcile --dsn "$(dsn "$1")" --from "$FROM" --to "$TO" "${@:2}"; }

# The three queries at once, each streamed whole by its own process.
QUERIES=()
stream_limit() {
    local engine=$1 pids=()
    for q in "${QUERIES[@]}"; do
        "$S" --query "$(dsn "$engine")" "$q" >/dev/null &
        pids+=($!)
    done
    local status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    return $status
}

# The run found the N rewards and nothing wrong.
check_clean() {
    local engine=$1 n=$2 out
    out=$(reconcile "$engine" --output json) || { echo "bench: $engine: reconcile is not clean:" >&2; echo "$out" | tail -n 3 >&2; exit 1; }
    echo "$out" | grep -q "\"rewards\":$n," || { echo "bench: $engine: reconcile did not read $n rewards: $out" >&2; exit 1; }
}

echo "## ops reconcile ($(date -u +%Y-%m-%d))"
echo
echo "\`bench/reconcile_bench.sh $SMALL $BIG\`: every reward of a 24-hour window (N rewards, N payments,"
echo "2N ledger entries, N sent outbox rows, all consistent; generated in the database, see the script)."
echo "webookctl: three range queries in reward-id order, each streamed on its own connection and read"
echo "ahead by its own thread (batches of 5000), merged in one pass, suspicious rewards re-read before"
echo "reporting, then the outbox check. Stream limit: the same three queries (from the library) read at"
echo "once through the same database layer by three \`webook-bench-stream --query\` processes, nothing"
echo "merged or checked. Median of $REPEAT runs; every timed run exited 0 (clean), and one JSON run per"
echo "size was checked to have read N rewards."
echo "Machine: $(nproc) cores; load average before: $(loadavg) (\`uptime\`: $(uptime | sed 's/.*up/up/'))."
echo
echo "| engine | rewards | webookctl ops reconcile | stream limit (3 queries at once) | ratio (target ≤ 1.5×) | webookctl peak RSS | stream read peak RSS (entries) |"
echo "|---|---|---|---|---|---|---|"
for engine in $ENGINES; do
    fresh_database "$engine"
    add_accounts "$engine"
    mapfile -t QUERIES < <("$S" --reconcile-sql "$(dsn "$engine")" "$FROM" "$TO")
    loaded=0
    for n in $SMALL $BIG; do
        [ "$n" -gt "$loaded" ] && load "$engine" $((loaded + 1)) "$n"
        loaded=$n
        check_clean "$engine" "$n"   # also warms the caches
        t_tool=$(median reconcile "$engine")
        t_limit=$(median stream_limit "$engine")
        rss=$(rss_mb anystatus "$W" ops reconcile --dsn "$(dsn "$engine")" --from "$FROM" --to "$TO")
        rss_stream=$(rss_mb anystatus "$S" --query "$(dsn "$engine")" "${QUERIES[2]}")
        echo "| $(label "$engine") | $n | $(fmt_s "$t_tool") | $(fmt_s "$t_limit") | $(ratio "$t_tool" "$t_limit")× | $rss MB | $rss_stream MB |"
    done
    # 1,000 spread mismatches: the platform entry of every 1000th reward gone.
    step=$(( BIG / 1000 ))
    if [ "$engine" = mysql ]; then div=DIV; else div=/; fi
    sql "$engine" "DELETE FROM account_activities WHERE uid = 0 AND MOD(biz_id $div 4194304 - $BASE_MS, 86 * $step) = 0" >/dev/null
    found=$(reconcile "$engine" --output json | tail -n1 | sed -n 's/.*"payment_success_ledger_missing":\([0-9]*\).*/\1/p' || true)
    t_diff=$(median findings reconcile "$engine")   # exit 1 (mismatches found) is the result
    echo "| $(label "$engine"), $found mismatches spread | $BIG | $(fmt_s "$t_diff") | $(fmt_s "$t_limit") (clean data) | $(ratio "$t_diff" "$t_limit")× | | |"
done
echo
echo "Load average after: $(loadavg)."

# The scratch databases hold ~1 GB at 1M rewards; WEBOOK_BENCH_KEEP=1 keeps them.
if [ "${WEBOOK_BENCH_KEEP:-0}" != 1 ]; then
    for engine in $ENGINES; do drop_database "$engine"; done
fi
