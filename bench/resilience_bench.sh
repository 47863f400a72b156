#!/usr/bin/env bash
# Resilience benchmarks (issue 11), measured in the same run on the local servers:
#   * the cost of a PostgreSQL restart in the middle of a 1M-row `validate --full`
#     MySQL->PostgreSQL (the target stopped for OUTAGE seconds, then started): the run's
#     time minus the uninterrupted median, against the outage itself;
#   * the same validation through the fault proxy (tests/support/fault_proxy.h, as
#     webook-fault-proxy) on both sides vs direct, so nobody mistakes the proxy's cost
#     for the tool's.
# Prints a Markdown table to stdout; the results are recorded in bench/RESULTS.md.
#
# usage: bench/resilience_bench.sh [ROWS] [OUTAGE]   (default 1000000 rows, 5 s)
#   WEBOOK_BENCH_REPEAT=N runs each timed command N times (median; default 3).
# It stops and starts the PostgreSQL server of scripts/services.sh: run it alone.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
ROWS=${1:-1000000}
OUTAGE=${2:-5}
cd "$ROOT"

build_and_start
load_services_env
P=$BUILD/tests/webook-fault-proxy
require_built "$W" "$P"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
MY_SRC=$(my_dsn bench_src)
PG_DST=$(pg_dsn bench_dst)
SINK=file://$BENCH_TMP/events.jsonl

row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
now() { date +%s.%N; }

my_root -e "DROP DATABASE IF EXISTS bench_src; CREATE DATABASE bench_src;"
pg_root -d postgres -c "DROP DATABASE IF EXISTS bench_dst" -c "CREATE DATABASE bench_dst OWNER webook"
"$W" db init --dsn "$MY_SRC" >/dev/null
"$W" db init --dsn "$PG_DST" >/dev/null
"$W" db seed --dsn "$MY_SRC" --truncate --users 1000 --articles 2000 --interactives "$ROWS" --likes 1000 \
    --collects 100 --rewards 10 --base-time '2026-11-01 00:00:00' >/dev/null
"$W" migrate copy --table interactives --source "$MY_SRC" --target "$PG_DST" --truncate >/dev/null

validate() {  # [SOURCE TARGET] extra args...
    "$W" --output json validate --full --base src --table interactives --source "$1" --target "$2" --sink "$SINK" \
        "${@:3}"
}
validate_direct() { validate "$MY_SRC" "$PG_DST" >/dev/null; }

echo "| measure | webookctl | against |"
echo "|---|---|---|"

t_direct=$(median validate_direct)

# A restart in the middle: PostgreSQL stopped halfway through, down OUTAGE s, started.
restart_run() {
    local out=$BENCH_TMP/restart.json t0 t1 down up
    t0=$(now)
    validate "$MY_SRC" "$PG_DST" >"$out" &
    local pid=$!
    sleep "$(echo "$t_direct / 2" | bc -l)"
    down=$(now)
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN/pg/data" -m fast -w stop >/dev/null
    sleep "$OUTAGE"
    "$ROOT/scripts/services.sh" start >/dev/null 2>&1
    up=$(now)
    wait "$pid"
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc -l) $(echo "$up - $down" | bc -l) $(sed -n 's/.*"retries":\([0-9]*\).*/\1/p' "$out")"
}
costs=()
for _ in $(seq 1 "$REPEAT"); do
    read -r total outage retries < <(restart_run)
    costs+=("$(echo "$total - $t_direct - $outage" | bc -l)")
    row "validate --full, PostgreSQL restarted halfway (down $(printf '%.2f' "$outage") s)" \
        "$(fmt_s "$total"), $retries retries" \
        "uninterrupted $(fmt_s "$t_direct"): +$(fmt_s "$(echo "$total - $t_direct" | bc -l)") = the outage + $(fmt_s "$(echo "$total - $t_direct - $outage" | bc -l)")"
done

# The fault proxy's own cost: both sides through it, forwarding only.
"$P" 127.0.0.1 "$MYSQL_PORT" "$BENCH_TMP/my.port" & MY_PROXY=$!
"$P" 127.0.0.1 "$PG_PORT" "$BENCH_TMP/pg.port" & PG_PROXY=$!
trap 'kill $MY_PROXY $PG_PROXY 2>/dev/null || true; bench_cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$BENCH_TMP/my.port" ] && [ -s "$BENCH_TMP/pg.port" ] && break; sleep 0.1; done
MY_VIA="mysql://webook@127.0.0.1:$(cat "$BENCH_TMP/my.port")/bench_src"
PG_VIA="postgres://webook@127.0.0.1:$(cat "$BENCH_TMP/pg.port")/bench_dst"
validate_proxied() { validate "$MY_VIA" "$PG_VIA" >/dev/null; }
t_proxied=$(median validate_proxied)
t_direct2=$(median validate_direct)
row "validate --full through the fault proxy (both sides)" "$(fmt_s "$t_proxied")" \
    "direct $(fmt_s "$t_direct2"): $(ratio "$t_proxied" "$t_direct2")× (the proxy's cost, not the tool's)"
echo
echo "load average at the end: $(loadavg); $ROWS rows; outage $OUTAGE s"
