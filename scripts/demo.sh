#!/usr/bin/env bash
# The demo: installs packages, builds, starts the local servers, then
# migrates the webook database it seeds -- MariaDB `webook` -> PostgreSQL
# `webook_target` -- through every phase while live traffic runs, with the
# operator's script (examples/migrate-phases.sh), and ends with
# `migrate status` and the row counts of both sides.
#
#   scripts/demo.sh                 (as root on a fresh Debian 12 machine)
#   WEBOOK_DEMO_SOAK=30s scripts/demo.sh   (stay longer in each double-write phase)
#
# It owns the databases `webook` (MariaDB) and `webook_target` (PostgreSQL)
# of the local servers: every run starts them afresh, so it can be repeated.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
cd "$ROOT"
scripts/setup.sh
scripts/build.sh >/dev/null
scripts/services.sh start
# shellcheck disable=SC1091
source "${WEBOOK_RUN_DIR:-$ROOT/.run}/services.env"
W="$BUILD/cli/webookctl"
SOAK=${WEBOOK_DEMO_SOAK:-5s}

step() { printf '\n== %s\n' "$*"; }
mysql_root() { mariadb --no-defaults --socket="$WEBOOK_MYSQL_SOCKET" -uroot "$@"; }
pg_root() { runuser -u postgres -- psql -h "$WEBOOK_PG_SOCKET_DIR" -p "${WEBOOK_PG_PORT:-15432}" -qAt -d postgres "$@"; }

WORK=$(mktemp -d /tmp/webook-demo.XXXXXX)
SIM_PID=
trap 'if [ -n "$SIM_PID" ]; then kill -TERM "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

# The tables the seed fills, all of them migrated.
TABLES=(users articles published_articles interactives user_like_bizs user_collection_bizs
    rewards payments accounts account_activities outbox)
SOURCE_DSN=${WEBOOK_MYSQL_DSN%/*}/webook
TARGET_DSN=${WEBOOK_PG_DSN%/*}/webook_target
printf '%s\n' "$WEBOOKCTL_PASSWORD" >"$WORK/password"
chmod 0600 "$WORK/password"
CONFIG=$WORK/webookctl.toml
{
    printf '[source]\ndsn = "%s"\npassword_file = "%s"\n\n' "$SOURCE_DSN" "$WORK/password"
    printf '[target]\ndsn = "%s"\npassword_file = "%s"\n\n' "$TARGET_DSN" "$WORK/password"
    printf '[log]\nlevel = "warn"\n\n'
    for t in "${TABLES[@]}"; do printf '[[tables]]\nname = "%s"\n\n' "$t"; done
} >"$CONFIG"
unset WEBOOKCTL_PASSWORD WEBOOKCTL_SOURCE_PASSWORD WEBOOKCTL_TARGET_PASSWORD WEBOOKCTL_SOURCE_DSN \
    WEBOOKCTL_TARGET_DSN WEBOOKCTL_CONTROL_DSN
wk() { "$W" --config "$CONFIG" "$@"; }

step "fresh databases: webook on MariaDB (the source), webook_target on PostgreSQL (the target)"
mysql_root -e "DROP DATABASE IF EXISTS webook; CREATE DATABASE webook CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
pg_root -c "DROP DATABASE IF EXISTS webook_target" >/dev/null
pg_root -c "CREATE DATABASE webook_target OWNER webook" >/dev/null
wk db init

step "seed MariaDB"
wk db seed --users 2000 --articles 20000 --interactives 100000 --likes 50000 --collects 10000 --rewards 2000

step "row counts before: the source"
wk db counts --side source

step "live traffic on: simulate, 4 writers, through the double-write connection in whichever mode is current"
"$W" --config "$CONFIG" --output json simulate --writers 4 --duration 3600s --seed 11 >"$WORK/simulate.json" 2>"$WORK/simulate.log" &
SIM_PID=$!

step "the migration, every phase through its gate: examples/migrate-phases.sh"
# Under live traffic the source moves ahead of the target until writes are
# double-written, so full passes in src_only cannot come out clean: none are
# asked for (--full-passes 0); from src_first on, the first incremental pass of
# each table compares every row.
MIGRATE_TABLES="${TABLES[*]}" examples/migrate-phases.sh --config "$CONFIG" --tool "$W" --soak "$SOAK" --full-passes 0 \
    --pass-wait 1s

step "traffic off"
kill -TERM "$SIM_PID"
rc=0
wait "$SIM_PID" || rc=$?
SIM_PID=
jq -r '"simulate: \(.operations) operations in \(.seconds | floor)s, \(.failed) failed user operations, \(.second_side_failures) second-side failures"' \
    "$WORK/simulate.json"
[ "$rc" = 0 ] || [ "$rc" = 130 ] || { echo "demo: simulate reported failed operations (exit $rc)" >&2; exit 1; }

step "migrate status"
wk migrate status

step "row counts after: the source, then the target (authoritative now)"
wk db counts --side source
echo
wk db counts --side target
