#!/usr/bin/env bash
# The migration drill: a live-traffic, zero-downtime migration of the webook
# tables, phase by phase, on the local servers (scripts/services.sh).
#
#   seed the source -> traffic on (simulate, 8 writers, through the
#   double-write connection) -> target schema -> copy -> full validate + fix ->
#   src_first -> incremental validate + fix until the gate opens -> dst_first
#   (the target is now the base; the source is repaired) -> validate + fix
#   until the gate opens -> dst_only -> traffic off -> full validation
#   in both directions must find 0, and simulate must report 0 failed user
#   operations.
#
# usage: examples/migration-drill.sh [mysql-pg|mysql-mysql] [--outage]
#   --outage   stops the target server for 10 seconds during src_first,
#              and the source server for 10 seconds during dst_first (the
#              mode row is in the target's control table by then): user
#              operations must still succeed, and once the server is back,
#              incremental validation and fixing converge to 0.
# Each switch goes through its gate (`migrate mode set --dry-run` until ready),
# and each phase tries one command it forbids, which must be refused.
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

# A switch through its gate (migrate mode set): incremental passes, each
# fixing what it found, until the gate of the step says ready -- a clean pass
# with the right base, newer than any second-side failure -- then the switch.
# Fails after 10 passes.
switch_to() {  # $1: the mode
    local pass
    for pass in 1 2 3 4 5 6 7 8 9 10; do
        validate_and_fix incremental --recheck-after 2s
        if "$W" migrate mode set "$1" --dry-run >"$WORK/gate.txt" 2>&1; then
            "$W" migrate mode set "$1"
            return 0
        fi
        sed 's/^/   gate: /' "$WORK/gate.txt"
    done
    fail "the gate of $1 stayed closed after 10 passes: $(cat "$WORK/gate.txt")"
}

# One command the phase forbids: it must be refused (exit 2) and say why.
expect_refused() {  # $1: what, then the command's arguments
    local what=$1 rc=0; shift
    "$W" "$@" >"$WORK/refused.out" 2>"$WORK/refused.err" || rc=$?
    [ $rc -eq 2 ] || fail "$what: expected a refusal (exit 2), got exit $rc: $(cat "$WORK/refused.err")"
    printf '   refused as it must be (%s): %s\n' "$what" "$(grep -m1 'error:' "$WORK/refused.err" | cut -c1-160)"
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

expect_refused "src_first before any copy" migrate mode set src_first

step "migrate copy"
"$W" migrate copy $TABLES --truncate

step "full validation + fix while traffic runs (rows written during the copy)"
SINCE=$(date -u '+%Y-%m-%d %H:%M:%S')
validate_and_fix full

step "mode src_first: writes go to the source, then the target"
"$W" migrate mode set src_first
expect_refused "a copy in src_first" migrate copy $TABLES --truncate
sleep "$PHASE_SECONDS"

if [ "$OUTAGE" = "--outage" ]; then
    step "outage: the target server stops for 10 s during src_first"
    if [ "$PAIR" = mysql-pg ]; then
        runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | tail -n1)/pg_ctl" -D "$WEBOOK_PG_SOCKET_DIR/data" -m fast -w stop >/dev/null
        sleep 10
        "$ROOT/scripts/services.sh" start >/dev/null 2>&1
    else
        fail "--outage is supported for mysql-pg (the target must be a different server than the control database)"
    fi
    sleep 2
fi

step "incremental validation + fix (base: source), re-checking differences in flight"
validate_and_fix incremental --since "$SINCE" --recheck-after 2s

step "mode dst_first through its gate: the target becomes authoritative; validation repairs the source"
switch_to dst_first
expect_refused "dst_only without a clean pass with the target as base" migrate mode set dst_only
expect_refused "a copy in dst_first" migrate copy $TABLES --resume
sleep "$PHASE_SECONDS"

if [ "$OUTAGE" = "--outage" ]; then
    step "outage: the source server stops for 10 s during dst_first (writers fence on the target's row)"
    "$W" --output json migrate mode get | grep -q '"mode_row":"target"' || fail "the mode row is not in the target"
    mariadb-admin --no-defaults --socket="$WEBOOK_MYSQL_SOCKET" -uroot shutdown
    sleep 10
    "$ROOT/scripts/services.sh" start >/dev/null 2>&1
    sleep 2
fi

step "mode dst_only through its gate"
switch_to dst_only
expect_refused "a copy in dst_only" migrate copy $TABLES --truncate
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
