#!/usr/bin/env bash
# Sets everything up and runs the demo: installs packages, builds, starts the
# local servers, creates the webook schema on MariaDB and PostgreSQL, seeds
# the MariaDB side, prints per-table counts from both, then runs a short
# migration drill (examples/migration-drill.sh) and prints each phase's outcome.
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

step() { printf '\n== %s\n' "$*"; }

step "create the webook schema on both servers"
"$W" db init --dsn "$WEBOOK_MYSQL_DSN"
"$W" db init --dsn "$WEBOOK_PG_TARGET_DSN" --side target

step "seed MariaDB (the migration source)"
"$W" db seed --dsn "$WEBOOK_MYSQL_DSN" --truncate --users 2000 --articles 20000 --interactives 100000 \
    --likes 50000 --collects 10000 --rewards 2000

step "row counts"
"$W" db counts --dsn "$WEBOOK_MYSQL_DSN"
echo
"$W" db counts --dsn "$WEBOOK_PG_TARGET_DSN" --side target

step "a short live-traffic migration drill, MariaDB -> PostgreSQL, every phase"
WEBOOK_DRILL_SECONDS=${WEBOOK_DRILL_SECONDS:-3} examples/migration-drill.sh mysql-pg
