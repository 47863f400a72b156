# shellcheck shell=bash
# bench/lib.sh: the pieces the benchmark scripts in bench/ share. Source it right after
# `set -euo pipefail` (it sets no shell options itself):  source "$(dirname "$0")/lib.sh"
#
# Sourcing it sets
#   ROOT        the repository (the parent of bench/)
#   BUILD       $WEBOOK_BUILD_DIR, default $ROOT/build
#   W, S        webookctl and webook-bench-stream in $BUILD
#   RUN         $WEBOOK_RUN_DIR, default $ROOT/.run (named as scripts/services.sh names it)
#   MYSQL_PORT  $WEBOOK_MYSQL_PORT, default 13306
#   PG_PORT     $WEBOOK_PG_PORT, default 15432
#   REPEAT      $WEBOOK_BENCH_REPEAT, default 3: the runs of each `median`
#   BENCH_TMP   a private work directory (mktemp -d), removed on exit by an EXIT trap
#               (a script that sets its own EXIT trap must call bench_cleanup from it)
# exports WEBOOKCTL_LOG_LEVEL=warn, and defines
#   setup      ensure_packages, build_and_start, require_built, load_services_env (sets PW)
#   clients    my_root, pg_root, my_client, pg_client, my_dsn, pg_dsn, and, for the
#              script's scratch database $DB (set by the script) on an ENGINE
#              (mysql|postgres): my_sql, pg_sql, sql, dsn, label, fresh_database,
#              drop_database
#   measuring  median, rss_mb, ratio, fmt_s, loadavg
# Nothing here starts a server or builds anything until a script calls build_and_start.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
W=$BUILD/cli/webookctl
# shellcheck disable=SC2034  # used by the scripts
S=$BUILD/bench/webook-bench-stream
RUN=${WEBOOK_RUN_DIR:-$ROOT/.run}
MYSQL_PORT=${WEBOOK_MYSQL_PORT:-13306}
PG_PORT=${WEBOOK_PG_PORT:-15432}
REPEAT=${WEBOOK_BENCH_REPEAT:-3}
export WEBOOKCTL_LOG_LEVEL=warn

BENCH_TMP=$(mktemp -d -t webook-bench.XXXXXX)
# Removes the work directory $BENCH_TMP (run by the EXIT trap).
bench_cleanup() { rm -rf -- "$BENCH_TMP"; }
trap bench_cleanup EXIT

# --- setup ---------------------------------------------------------------------------------

# Installs those of the Debian packages PKG... that are not installed yet, quietly.
ensure_packages() {
    local need=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

# Builds (scripts/build.sh) unless WEBOOK_BENCH_NO_BUILD is set, then starts or reuses the servers.
build_and_start() {
    [ -n "${WEBOOK_BENCH_NO_BUILD:-}" ] || "$ROOT/scripts/build.sh" >/dev/null
    "$ROOT/scripts/services.sh" start 2>/dev/null
}

# Exits with "bench: A or B not built" unless every PROGRAM given is executable.
require_built() {
    local p list
    for p in "$@"; do
        if [ ! -x "$p" ]; then
            list=$(printf ' or %s' "$@")
            echo "bench: ${list# or } not built" >&2
            exit 1
        fi
    done
}

# Sources $RUN/services.env (DSNs, sockets, passwords of the servers) and sets PW, webook's password.
load_services_env() {
    # shellcheck source=/dev/null  # written by scripts/services.sh start
    source "$RUN/services.env"
    PW=$WEBOOKCTL_PASSWORD
}

# --- clients -------------------------------------------------------------------------------

# mariadb as root over the socket; the arguments are mariadb's.
my_root() { mariadb --no-defaults --socket="$WEBOOK_MYSQL_SOCKET" -uroot "$@"; }
# psql as postgres over the socket (quiet, unaligned, tuples only, stops on error); the arguments are psql's.
pg_root() { runuser -u postgres -- psql -h "$WEBOOK_PG_SOCKET_DIR" -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
# mariadb as webook over TCP (needs PW); the arguments are mariadb's.
my_client() { mariadb --no-defaults -h127.0.0.1 -P"$MYSQL_PORT" -uwebook -p"$PW" "$@"; }
# psql as webook over TCP (needs PW); the arguments are psql's.
pg_client() { PGPASSWORD=$PW psql -h 127.0.0.1 -p "$PG_PORT" -U webook "$@"; }
# webookctl's DSN of MariaDB database DATABASE (the password comes from the environment).
my_dsn() { echo "mysql://webook@127.0.0.1:$MYSQL_PORT/$1"; }
# webookctl's DSN of PostgreSQL database DATABASE (the password comes from the environment).
pg_dsn() { echo "postgres://webook@127.0.0.1:$PG_PORT/$1"; }

# Runs SQL in MariaDB's $DB as webook, no column names.
my_sql() { my_client -N "$DB" -e "$1"; }
# Runs SQL in PostgreSQL's $DB as webook (unaligned, tuples only, stops on error).
pg_sql() { pg_client -d "$DB" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
# Runs SQL (argument 2) in $DB on ENGINE (argument 1).
sql() { if [ "$1" = mysql ]; then my_sql "$2"; else pg_sql "$2"; fi; }
# webookctl's DSN of $DB on ENGINE.
dsn() { if [ "$1" = mysql ]; then my_dsn "$DB"; else pg_dsn "$DB"; fi; }
# ENGINE's server and version for a table row, e.g. "MariaDB 10.11.6" or "PostgreSQL 15.8".
label() { if [ "$1" = mysql ]; then echo "MariaDB $(my_sql 'SELECT VERSION()' | cut -d- -f1)"; else echo "PostgreSQL $(pg_sql 'SHOW server_version' | cut -d' ' -f1)"; fi; }

# Recreates $DB on ENGINE (utf8mb4 / UTF-8 with C collation) and creates the tool's schema in it (db init).
fresh_database() {
    if [ "$1" = mysql ]; then
        my_root -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    else
        pg_root -d postgres -c "SET client_min_messages TO warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
            -c "CREATE DATABASE $DB OWNER webook TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
    fi
    "$W" db init --dsn "$(dsn "$1")" >/dev/null
}

# Drops $DB on ENGINE if it exists.
drop_database() {
    if [ "$1" = mysql ]; then my_root -e "DROP DATABASE IF EXISTS $DB"; else pg_root -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; fi
}

# --- measuring -----------------------------------------------------------------------------

# Median wall seconds of $REPEAT runs of COMMAND (output to $BENCH_TMP, shown on failure); a leading `findings` accepts exit 1.
median() {
    local ok=0
    [ "$1" = findings ] && { ok=1; shift; }
    local times=() out=$BENCH_TMP/median.out
    for _ in $(seq 1 "$REPEAT"); do
        local t0 t1 status=0
        t0=$(date +%s.%N)
        "$@" >"$out" 2>&1 || status=$?
        t1=$(date +%s.%N)
        if [ "$status" -ne 0 ] && ! { [ "$ok" = 1 ] && [ "$status" = 1 ]; }; then
            echo "bench: '$*' failed (exit $status):" >&2; tail -n 5 "$out" >&2; exit 1
        fi
        times+=("$(echo "$t1 - $t0" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p"
}

# Peak RSS in MB (1 decimal) of one run of a PROGRAM (not a shell function); fails if it fails, unless preceded by `anystatus`.
rss_mb() {
    if [ "$1" = anystatus ]; then
        shift
        { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null || true; } | tail -n1 | awk '{printf "%.1f", $1/1024}'
    else
        /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1 | awk '{printf "%.1f", $1/1024}'
    fi
}

# A / B rounded (half away from zero, exactly in decimal) to 2 decimals, always printed with 2: 2.11, 0.50.
ratio() { printf '%.2f' "$(echo "scale=10; r = $1 / $2; h = 0.005; if (r < 0) h = -0.005; scale = 2; (r + h) / 1" | bc)"; }

# Seconds as "N.NN s".
fmt_s() { printf '%.2f s' "$1"; }

# The 1-, 5- and 15-minute load averages, e.g. "0.52 0.61 0.58".
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
