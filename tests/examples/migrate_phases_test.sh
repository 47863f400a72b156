#!/usr/bin/env bash
# examples/migrate-phases.sh end to end on the local servers (ctest:
# examples.migrate-phases.PAIR), in throwaway databases, with the config file
# and password_file an operator uses (no password variable set):
#
#   1. straight through: a seeded source that never saw the tool (no control
#      table) -> the script runs to dst_only; both sides then hold the same
#      rows (full validation with either base finds 0, equal row counts); a
#      second run exits 0 and changes nothing (no copy, no switch).
#   2. gates that refuse: a copy interrupted by hand; --until src_only (the
#      copy resumed, the others made); the target's unique index dropped: the
#      gate of src_first refuses (exit 2, its reason, still src_only); index
#      back, --until src_first (no copy repeated); a difference planted in the target; a run with
#      --no-fix stops at the gate of dst_first with the gate's reason and exit
#      2, leaving the mode, the copy checkpoints and the planted row as they
#      were (nothing re-copied); the next run (fixing) continues from
#      src_first to dst_only without copying; a last run changes nothing.
#   3. the events through Kafka (--sink kafka://... --group G): the script's
#      fixes consume them in the group, and the gates wait for the group; a
#      planted difference is repaired on the way to dst_only.
#
# usage: migrate_phases_test.sh WEBOOKCTL_BINARY [mysql-pg|mysql-mysql]
# A missing server, binary or tool is a failure, never a skip.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${1:?usage: migrate_phases_test.sh WEBOOKCTL_BINARY [mysql-pg|mysql-mysql]}
PAIR=${2:-mysql-pg}
SCRIPT=$ROOT/examples/migrate-phases.sh

fail() { printf 'migrate_phases_test: FAILED: %s\n' "$*" >&2; exit 1; }
[ -x "$W" ] || fail "no webookctl binary at $W"
command -v jq >/dev/null || fail "jq is needed by examples/migrate-phases.sh (apt-get install jq)"
ENV_FILE=${WEBOOK_RUN_DIR:-$ROOT/.run}/services.env
[ -f "$ENV_FILE" ] || fail "no $ENV_FILE: the servers are not started (scripts/services.sh start)"
# shellcheck disable=SC1090
source "$ENV_FILE"

mysql_root() { mariadb --no-defaults --socket="$WEBOOK_MYSQL_SOCKET" -uroot "$@"; }
pg_root() { runuser -u postgres -- psql -h "$WEBOOK_PG_SOCKET_DIR" -p "${WEBOOK_PG_PORT:-15432}" -qAt -d postgres "$@"; }
mysql_root -e 'SELECT 1' >/dev/null || fail "MariaDB is not reachable at $WEBOOK_MYSQL_SOCKET"
if [ "$PAIR" = mysql-pg ]; then
    pg_root -c 'SELECT 1' >/dev/null || fail "PostgreSQL is not reachable at $WEBOOK_PG_SOCKET_DIR"
fi

# The test runs the tool as an operator's script does: config file only.
PASSWORD=$WEBOOKCTL_PASSWORD
unset WEBOOKCTL_PASSWORD WEBOOKCTL_SOURCE_PASSWORD WEBOOKCTL_TARGET_PASSWORD \
    WEBOOKCTL_SOURCE_DSN WEBOOKCTL_TARGET_DSN WEBOOKCTL_CONTROL_DSN WEBOOKCTL_CONFIG
export WEBOOKCTL_LOG_LEVEL=warn

WORK=$(mktemp -d /tmp/webook-phases-test.XXXXXX)
DATABASES=()
cleanup() {
    local db
    for db in "${DATABASES[@]}"; do
        mysql_root -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
        [ "$PAIR" != mysql-pg ] || pg_root -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

TABLES=(articles published_articles interactives user_like_bizs user_collection_bizs)
MYSQL_BASE=${WEBOOK_MYSQL_DSN%/*}
PG_BASE=${WEBOOK_PG_DSN%/*}

# A database pair NAME_src (MariaDB) -> NAME_dst ($PAIR's target engine), a
# config file for it ($WORK/NAME.toml), and the source seeded but without the
# tool's control tables, as a production source before its first migration.
make_pair() {  # $1: name
    local name=$1 src=${1}_src dst=${1}_dst target_dsn t
    mysql_root -e "CREATE DATABASE $src"
    DATABASES+=("$src")
    case "$PAIR" in
    mysql-pg) pg_root -c "CREATE DATABASE $dst OWNER webook" >/dev/null; target_dsn=$PG_BASE/$dst ;;
    mysql-mysql) mysql_root -e "CREATE DATABASE $dst"; target_dsn=$MYSQL_BASE/$dst ;;
    *) fail "unknown pair $PAIR" ;;
    esac
    DATABASES+=("$dst")
    printf '%s\n' "$PASSWORD" >"$WORK/$name.source.password"
    printf '%s\n' "$PASSWORD" >"$WORK/$name.target.password"
    chmod 0600 "$WORK/$name".*.password
    {
        printf '[source]\ndsn = "%s"\npassword_file = "%s"\n\n' "$MYSQL_BASE/$src" "$WORK/$name.source.password"
        printf '[target]\ndsn = "%s"\npassword_file = "%s"\n\n' "$target_dsn" "$WORK/$name.target.password"
        for t in "${TABLES[@]}"; do printf '[[tables]]\nname = "%s"\n\n' "$t"; done
    } >"$WORK/$name.toml"
    "$W" --config "$WORK/$name.toml" db init >/dev/null
    "$W" --config "$WORK/$name.toml" db seed --users 100 --articles 400 --likes 800 --collects 200 --rewards 0 \
        --seed 7 >/dev/null
    mysql_root "$src" -e "DROP TABLE webookctl_control, webookctl_checkpoints"
}

# Runs the script; its output is in $WORK/run.log (and printed), its exit
# status in $RC.
phases() {  # $1: the config, then arguments
    local config=$1
    shift
    printf '\n----- migrate-phases.sh --config %s %s\n' "${config##*/}" "$*"
    RC=0
    local t0=$SECONDS
    MIGRATE_TABLES="${TABLES[*]}" WEBOOKCTL=$W "$SCRIPT" --config "$config" --pass-wait 1s "$@" >"$WORK/run.log" 2>&1 || RC=$?
    sed 's/^/| /' "$WORK/run.log"
    printf -- '----- exit %s (%ss)\n' "$RC" "$((SECONDS - t0))"
}
expect_rc() { [ "$RC" -eq "$1" ] || fail "$2: expected exit $1, got $RC"; }
log_has() { grep -qF -- "$1" "$WORK/run.log" || fail "$2: the output lacks '$1'"; }
log_lacks() { ! grep -qF -- "$1" "$WORK/run.log" || fail "$2: the output has '$1'"; }

mode_of() { "$W" --config "$1" --output json migrate mode get | jq -r '"\(.mode) \(.version)"'; }
copy_checkpoints() { "$W" --config "$1" --output json migrate status | jq -c '[.checkpoints[] | select(.kind == "copy")]'; }

# Both sides hold the same rows: full validation finds nothing with either
# side as base, and every table has the same row count on both.
same_on_both_sides() {  # $1: the config
    local base t a b
    for base in dst src; do
        "$W" --config "$1" validate --full --base "$base" --sink "file://$WORK/final.jsonl" >/dev/null ||
            fail "full validation with base $base finds differences: $(head -c 500 "$WORK/final.jsonl")"
    done
    "$W" --config "$1" --output json db counts --side source >"$WORK/counts.source.json"
    "$W" --config "$1" --output json db counts --side target >"$WORK/counts.target.json"
    for t in "${TABLES[@]}"; do
        a=$(jq -r --arg t "$t" '.tables[$t]' "$WORK/counts.source.json")
        b=$(jq -r --arg t "$t" '.tables[$t]' "$WORK/counts.target.json")
        if [ "$a" = null ] || [ "$a" -eq 0 ] || [ "$a" != "$b" ]; then
            fail "$t: $a rows in the source, $b in the target"
        fi
    done
    echo "both sides hold the same rows (validation with either base: 0; counts equal)"
}

# SQL on the target database $DST.
planted() {  # $1: the statement
    if [ "$PAIR" = mysql-pg ]; then
        PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -p "${WEBOOK_PG_PORT:-15432}" -U webook -qAt -d "$DST" -c "$1"
    else
        mysql_root -N "$DST" -e "$1"
    fi
}
# Changes one interactives row of $DST, as a lost second-side write would.
plant() {
    local now="UTC_TIMESTAMP(6)"
    [ "$PAIR" != mysql-pg ] || now="(now() AT TIME ZONE 'utc')"
    # A seeded row (its id a snowflake, as the platform's): the 7th by id.
    PLANT_ID=${PLANT_ID:-$(planted "SELECT id FROM interactives ORDER BY id LIMIT 1 OFFSET 6")}
    [ -n "$PLANT_ID" ] || fail "no interactives row to plant a difference in"
    planted "UPDATE interactives SET like_cnt = like_cnt + 1000, utime = $now WHERE id = $PLANT_ID"
}

printf '== arguments\n'
RC=0; "$SCRIPT" --tool "$W" --table articles --until nowhere >/dev/null 2>&1 || RC=$?
expect_rc 2 "an unknown --until"
RC=0; "$SCRIPT" --tool "$W" >/dev/null 2>&1 || RC=$?
expect_rc 2 "no table"
"$SCRIPT" --help | grep -q -- '--soak' || fail "--help does not describe --soak"

printf '\n== 1. straight through (%s)\n' "$PAIR"
make_pair "phases_a_$$"
A=$WORK/phases_a_$$.toml
phases "$A" --soak 1s
expect_rc 0 "the run to dst_only"
log_has "migrate mode set src_only" "the start of the migration"
for t in "${TABLES[@]}"; do log_has "migrate copy --table $t" "the copy of $t"; done
log_has "validate --full" "full validation"
for m in src_first dst_first dst_only; do log_has "migrate mode set $m" "the switch to $m"; done
log_has "soak" "--soak"
[ "$(mode_of "$A")" = "dst_only 3" ] || fail "mode after the run: $(mode_of "$A"), expected dst_only at version 3"
same_on_both_sides "$A"
checkpoints=$(copy_checkpoints "$A")

phases "$A" --soak 1s
expect_rc 0 "a run after the end"
log_has "nothing more to do" "a run after the end"
log_lacks "migrate copy" "a run after the end"
log_lacks "migrate mode set" "a run after the end"
log_lacks "validate" "a run after the end"
[ "$(mode_of "$A")" = "dst_only 3" ] || fail "a run after the end changed the mode: $(mode_of "$A")"
[ "$(copy_checkpoints "$A")" = "$checkpoints" ] || fail "a run after the end touched the copy checkpoints"

printf '\n== 2. a gate that refuses (%s)\n' "$PAIR"
make_pair "phases_b_$$"
B=$WORK/phases_b_$$.toml
# A copy interrupted part-way (SIGTERM: exit 130, its checkpoint kept): the
# script must go on with --resume, not start over.
"$W" --config "$B" db init --side target >/dev/null
"$W" --config "$B" migrate copy --table user_like_bizs --batch-size 20 --writers 1 --rows-per-second 100 \
    >/dev/null 2>&1 &
copy_pid=$!
sleep 3
kill -TERM "$copy_pid"
RC=0; wait "$copy_pid" || RC=$?
expect_rc 130 "the interrupted copy"

phases "$B" --until src_only
expect_rc 0 "--until src_only"
log_has "migrate copy --table user_like_bizs --resume" "the interrupted copy resumed"
log_has "migrate copy --table articles" "the copy of articles"
log_has "stopping before it (--until src_only)" "--until src_only"
[ "$(mode_of "$B")" = "src_only 0" ] || fail "--until src_only switched: $(mode_of "$B")"
checkpoints=$(copy_checkpoints "$B")
[ "$(jq '[.[] | select(.result.state == "done")] | length' <<<"$checkpoints")" -eq "${#TABLES[@]}" ] ||
    fail "not every table copied: $checkpoints"

# The gate of src_first refuses while the target lacks a unique index of the
# source (double-writes' upserts need it): the script stops in src_only.
# --no-schema: an operator's own target schema that missed it (on PostgreSQL
# `db init --side target` would create the missing index again).
DST=phases_b_$$_dst
if [ "$PAIR" = mysql-pg ]; then
    planted "DROP INDEX interactives_uk_biz"
else
    planted "ALTER TABLE interactives DROP INDEX uk_biz"
fi
phases "$B" --until src_first --no-schema
expect_rc 2 "src_first without the target's unique index"
log_has "the gate of src_first refused; the migration stays in src_only" "the refusal of src_first"
log_has "interactives: the target lacks the source's unique index" "the gate's reason"
log_lacks "migrate mode set src_first" "the refused run"
[ "$(mode_of "$B")" = "src_only 0" ] || fail "the refused run switched: $(mode_of "$B")"
if [ "$PAIR" = mysql-pg ]; then
    planted "CREATE UNIQUE INDEX interactives_uk_biz ON interactives (biz, biz_id)"
else
    planted "ALTER TABLE interactives ADD UNIQUE KEY uk_biz (biz, biz_id)"
fi

phases "$B" --until src_first
expect_rc 0 "--until src_first"
log_lacks "migrate copy" "a run after the copy"
log_has "copied already" "a run after the copy"
[ "$(mode_of "$B")" = "src_first 1" ] || fail "--until src_first: $(mode_of "$B")"
[ "$(copy_checkpoints "$B")" = "$checkpoints" ] || fail "the copy was repeated"

# A difference in the target (non-base in src_first), newer than the
# validation's watermark: what a lost second-side write leaves behind.
plant
planted_value=$(planted "SELECT like_cnt FROM interactives WHERE id = $PLANT_ID")

phases "$B" --no-fix --passes 2 --pass-wait 0
expect_rc 2 "a run whose gate refuses"
log_has "the gate of dst_first refused; the migration stays in src_first" "the refusal"
log_has "interactives: last incremental pass found 1 difference" "the gate's reason"
log_has "1 neq" "the difference found"
log_lacks "migrate copy" "the refused run"
log_lacks "--truncate" "the refused run"
log_lacks "+ webookctl --output json fix" "the --no-fix run"
log_lacks "migrate mode set dst_first" "the refused run"
[ "$(mode_of "$B")" = "src_first 1" ] || fail "the refused run changed the mode: $(mode_of "$B")"
[ "$(copy_checkpoints "$B")" = "$checkpoints" ] || fail "the refused run touched the copy"
[ "$(planted "SELECT like_cnt FROM interactives WHERE id = $PLANT_ID")" = "$planted_value" ] ||
    fail "the refused run changed the target's row"

phases "$B"
expect_rc 0 "the run after the refusal"
log_has "migration mode src_first" "the run after the refusal starts from src_first"
log_lacks "migrate copy" "the run after the refusal"
log_lacks "db init" "the run after the refusal"
log_has "+ webookctl --config $B --output json fix" "the repair of the planted difference"
log_has '"upserted":1' "the repair of the planted difference"
for m in dst_first dst_only; do log_has "migrate mode set $m" "the switch to $m"; done
[ "$(mode_of "$B")" = "dst_only 3" ] || fail "after the run: $(mode_of "$B")"
[ "$(copy_checkpoints "$B")" = "$checkpoints" ] || fail "the run after the refusal touched the copy"
same_on_both_sides "$B"

phases "$B"
expect_rc 0 "a run after the end"
log_has "nothing more to do" "a run after the end"
[ "$(mode_of "$B")" = "dst_only 3" ] || fail "a run after the end changed the mode"

printf '\n== 3. validation events through Kafka, fixed by a consumer group (%s)\n' "$PAIR"
[ -n "${WEBOOK_KAFKA_BOOTSTRAP:-}" ] || fail "no WEBOOK_KAFKA_BOOTSTRAP in $ENV_FILE: the Kafka broker is not started"
make_pair "phases_c_$$"
C=$WORK/phases_c_$$.toml
KAFKA=(--sink "kafka://$WEBOOK_KAFKA_BOOTSTRAP/phases_events_$$" --group "phases_fixers_$$")
phases "$C" "${KAFKA[@]}" --until src_first
expect_rc 0 "--until src_first, Kafka sink"
DST=phases_c_$$_dst
plant
phases "$C" "${KAFKA[@]}"
expect_rc 0 "the run to dst_only, Kafka sink"
log_has "--group phases_fixers_$$ --until-idle" "the fix through the consumer group"
log_has '"upserted":1' "the repair of the planted difference"
log_has "migrate mode set dst_only --from kafka://" "the gate waiting for the fixers' group"
[ "$(mode_of "$C")" = "dst_only 3" ] || fail "after the run: $(mode_of "$C")"
same_on_both_sides "$C"

printf '\nmigrate_phases_test (%s): passed\n' "$PAIR"
