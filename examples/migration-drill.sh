#!/usr/bin/env bash
# The migration drill: a live-traffic, zero-downtime migration of the webook
# tables, phase by phase, on the local servers (scripts/services.sh).
#
#   seed the source -> traffic on (simulate, 8 writers, through the
#   double-write connection) -> target schema -> copy -> full validate + fix ->
#   src_first -> incremental validate + fix -> dst_first (the target is now the
#   base; the source is repaired) -> dst_only -> traffic off -> full validation
#   in both directions must find 0, and simulate must report 0 failed user
#   operations.
#
# usage: examples/migration-drill.sh [mysql-pg|mysql-mysql] [--outage]
#   --outage   stops the target server for several seconds during src_first:
#              user operations must still succeed, and once it is back,
#              incremental validation and fixing converge to 0.
# Environment: WEBOOK_DRILL_SECONDS (traffic per phase, default 6),
#              WEBOOK_DRILL_SCALE (seed size factor, default 1).
# Exit status 0 when the drill converged; non-zero with the failing phase.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
PAIR=${1:-mysql-pg}
OUTAGE=${2:-}
PHASE_SECONDS=${WEBOOK_DRILL_SECONDS:-6}
SCALE=${WEBOOK_DRILL_SCALE:-1}
W="$BUILD/cli/webookctl"
# shellcheck disable=SC1091
source "${WEBOOK_RUN_DIR:-$ROOT/.run}/services.env"
export WEBOOKCTL_LOG_LEVEL=${WEBOOKCTL_LOG_LEVEL:-warn}

# WEBOOK_DRILL_KEEP=1 keeps the work directory (simulate log, events) for a post-mortem.
WORK=$(mktemp -d /tmp/webook-drill.XXXXXX)
remove_work() { if [ -n "${WEBOOK_DRILL_KEEP:-}" ]; then echo "drill: work files kept in $WORK" >&2; else rm -rf "$WORK"; fi; }
trap 'kill $SIM_PID 2>/dev/null || true; remove_work' EXIT
SIM_PID=

DRILL_START=$(date +%s.%N)
step() { printf '\n== [%5.1fs] %s\n' "$(echo "$(date +%s.%N) - $DRILL_START" | bc)" "$*"; }
fail() { printf 'drill: FAILED: %s\n' "$*" >&2; exit 1; }

# Fresh databases for this run, so the drill can be repeated.
RUN_ID=$$
SRC_DB=drill_src_$RUN_ID
DST_DB=drill_dst_$RUN_ID
mysql_root() { mariadb --no-defaults --socket="$WEBOOK_MYSQL_SOCKET" -uroot "$@"; }
pg_root() { runuser -u postgres -- psql -h "$WEBOOK_PG_SOCKET_DIR" -p "${WEBOOK_PG_PORT:-15432}" -qAt -d postgres "$@"; }
MYSQL_BASE=${WEBOOK_MYSQL_DSN%/*}
PG_BASE=${WEBOOK_PG_DSN%/*}
mysql_root -e "CREATE DATABASE $SRC_DB"
export WEBOOKCTL_SOURCE_DSN=$MYSQL_BASE/$SRC_DB
case "$PAIR" in
mysql-pg)
    pg_root -c "CREATE DATABASE $DST_DB OWNER webook" >/dev/null
    export WEBOOKCTL_TARGET_DSN=$PG_BASE/$DST_DB ;;
mysql-mysql)
    mysql_root -e "CREATE DATABASE $DST_DB"
    export WEBOOKCTL_TARGET_DSN=$MYSQL_BASE/$DST_DB ;;
*) echo "usage: $0 [mysql-pg|mysql-mysql] [--outage]" >&2; exit 2 ;;
esac
cleanup_dbs() {
    mysql_root -e "DROP DATABASE IF EXISTS $SRC_DB; DROP DATABASE IF EXISTS $DST_DB" || true
    pg_root -c "DROP DATABASE IF EXISTS $DST_DB" >/dev/null 2>&1 || true
}
trap 'kill $SIM_PID 2>/dev/null || true; wait $SIM_PID 2>/dev/null || true; cleanup_dbs; remove_work' EXIT

TABLES="--table articles --table published_articles --table interactives --table user_like_bizs --table user_collection_bizs"
EVENTS=$WORK/events.jsonl

# Sets $found to the inconsistencies the validation found (all of them fixed).
validate_and_fix() {  # $1: full|incremental, further args to validate
    local kind=$1; shift
    local rc=0 t0 t1 t2
    : >"$EVENTS"
    t0=$(date +%s.%N)
    "$W" --output json validate --"$kind" $TABLES --sink "file://$EVENTS" "$@" >"$WORK/validate.json" || rc=$?
    [ $rc -le 1 ] || fail "validate --$kind exited $rc"
    t1=$(date +%s.%N)
    found=$(sed -n 's/.*"inconsistencies":\([0-9]*\).*/\1/p' "$WORK/validate.json")
    if [ "$found" -gt 0 ]; then
        "$W" --output json ${WEBOOK_DRILL_FIX_LOG:+--log-level debug} fix $TABLES --from "file://$EVENTS" --until-idle >"$WORK/fix.json" 2>>"${WEBOOK_DRILL_FIX_LOG:-/dev/stderr}" || fail "fix exited $?"
        t2=$(date +%s.%N)
        printf '   validate --%s: %s inconsistencies (%.1fs); fixed in %.1fs: %s\n' "$kind" "$found" \
            "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(cat "$WORK/fix.json")"
    else
        printf '   validate --%s: consistent (%.1fs)\n' "$kind" "$(echo "$t1 - $t0" | bc)"
    fi
}

# The gate before a switch of the authoritative side: incremental passes
# (each fixing what it found) until one finds nothing, so the side that
# becomes the base holds every row. Fails after 10 passes.
converge() {
    local pass
    for pass in 1 2 3 4 5 6 7 8 9 10; do
        validate_and_fix incremental --recheck-after 2s
        [ "$found" -gt 0 ] || return 0
    done
    fail "incremental validation did not converge in 10 passes ($found inconsistencies in the last)"
}

step "seed the source ($SRC_DB) and create its control table (mode src_only)"
"$W" db init >/dev/null
"$W" db seed --truncate --users $((500 * SCALE)) --articles $((2000 * SCALE)) --likes $((5000 * SCALE)) \
    --collects $((1000 * SCALE)) --rewards 0 | head -n 1

step "traffic on: simulate, 8 writers, through the double-write connection"
"$W" --output json simulate --writers 8 --duration 3600s --seed 7 >"$WORK/simulate.json" 2>"$WORK/simulate.log" &
SIM_PID=$!
sleep 2

step "create the target schema ($PAIR)"
"$W" db init --side target >/dev/null

step "migrate copy"
"$W" migrate copy $TABLES --truncate

step "full validation + fix while traffic runs (rows written during the copy)"
SINCE=$(date -u '+%Y-%m-%d %H:%M:%S')
validate_and_fix full

step "mode src_first: writes go to the source, then the target"
"$W" migrate mode set src_first
sleep "$PHASE_SECONDS"

if [ "$OUTAGE" = "--outage" ]; then
    step "outage: the target server stops for several seconds during src_first"
    if [ "$PAIR" = mysql-pg ]; then
        runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | tail -n1)/pg_ctl" -D "$WEBOOK_PG_SOCKET_DIR/data" -m fast -w stop >/dev/null
        sleep 5
        "$ROOT/scripts/services.sh" start >/dev/null 2>&1
    else
        fail "--outage is supported for mysql-pg (the target must be a different server than the control database)"
    fi
    sleep 2
fi

step "incremental validation + fix (base: source), re-checking differences in flight"
validate_and_fix incremental --since "$SINCE" --recheck-after 2s
converge

step "mode dst_first: the target is authoritative; validation repairs the source"
"$W" migrate mode set dst_first
sleep "$PHASE_SECONDS"
converge

step "mode dst_only"
"$W" migrate mode set dst_only
sleep "$PHASE_SECONDS"

step "traffic off"
kill -TERM $SIM_PID
wait $SIM_PID || true
SIM_PID=
cat "$WORK/simulate.json"
# The report's first "failed" is the total (later ones are per operation).
failed=$(grep -o '"failed":[0-9]*' "$WORK/simulate.json" | head -n1 | cut -d: -f2)
[ -n "$failed" ] || fail "simulate printed no report: $(tail -n 5 "$WORK/simulate.log")"
[ "$failed" -eq 0 ] || fail "simulate reports $failed failed user operations"

step "final full validation in both directions"
# Writes since dst_only reached only the target: repair the source from it
# first (the base is the target now), then both directions must be clean.
validate_and_fix full --base dst
for base in dst src; do
    rc=0
    "$W" validate --full $TABLES --base $base --sink "file://$WORK/final-$base.jsonl" || rc=$?
    [ $rc -eq 0 ] || fail "final full validation with base $base found inconsistencies (exit $rc)"
done
"$W" migrate status | head -n 2
echo
echo "drill ($PAIR${OUTAGE:+, $OUTAGE}): converged, 0 inconsistencies, 0 failed user operations"
