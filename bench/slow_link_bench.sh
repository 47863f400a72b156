#!/usr/bin/env bash
# Full validation over a slow link (issue 13 part 2): MariaDB, PostgreSQL and webookctl run in a
# network namespace of their own whose loopback is limited to RATE (default 100mbit) with tc's
# token bucket (netem is not in this kernel: bandwidth only, no added delay). On ROWS identical
# interactives rows (MySQL→PostgreSQL), then with 1,000 spread differences, it times the row merge,
# checksums and --method auto, median of $WEBOOK_BENCH_REPEAT, and the same on the namespace's
# unlimited loopback. Prints a Markdown table; results go in bench/RESULTS.md.
#
# usage: bench/slow_link_bench.sh [ROWS] [RATE]     (as root; default 1000000 100mbit)
#   WEBOOK_BENCH_NO_BUILD=1 measures the binaries already built.
set -euo pipefail
ROWS=${1:-1000000}
RATE=${2:-100mbit}
NS=webook-slow-$$

if [ -z "${WEBOOK_SLOW_INNER:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "bench: a network namespace needs root" >&2; exit 1; }
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    command -v tc >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
    [ -n "${WEBOOK_BENCH_NO_BUILD:-}" ] || "$ROOT/scripts/build.sh" >/dev/null
    RUN_DIR=$ROOT/.run-slow
    # shellcheck disable=SC2317  # run by the EXIT trap
    cleanup() {
        ip netns exec "$NS" env WEBOOK_RUN_DIR="$RUN_DIR" "$ROOT/scripts/services.sh" stop >/dev/null 2>&1 || true
        ip netns del "$NS" 2>/dev/null || true
    }
    trap cleanup EXIT
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
    # The servers (their own, in $RUN_DIR, on the default ports inside the namespace) and the tool.
    ip netns exec "$NS" env WEBOOK_SLOW_INNER=1 WEBOOK_RUN_DIR="$RUN_DIR" WEBOOK_BENCH_NO_BUILD=1 \
        bash "$0" "$ROWS" "$RATE"
    exit 0
fi

# --- inside the namespace ----------------------------------------------------------------------
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
build_and_start
load_services_env
MY_SRC=$(my_dsn bench_src)
PG_DST=$(pg_dsn bench_dst)
SINK=file://$BENCH_TMP/events.jsonl
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
limit_link() { tc qdisc replace dev lo root tbf rate "$RATE" burst 256kb latency 50ms; }
unlimit_link() { tc qdisc del dev lo root 2>/dev/null || true; }

# Seeded and copied at full speed; only the measurements run on the slow link.
unlimit_link
my_root -e "DROP DATABASE IF EXISTS bench_src; CREATE DATABASE bench_src"
pg_root -d postgres -c "DROP DATABASE IF EXISTS bench_dst" -c "CREATE DATABASE bench_dst OWNER webook"
"$W" db init --dsn "$MY_SRC" >/dev/null
"$W" db init --dsn "$PG_DST" >/dev/null
"$W" db seed --dsn "$MY_SRC" --truncate --users 1000 --articles 1000 --interactives "$ROWS" --likes 10 \
    --collects 10 --rewards 10 --base-time '2026-11-01 00:00:00' >/dev/null
"$W" migrate copy --table interactives --source "$MY_SRC" --target "$PG_DST" --truncate >/dev/null

validate() { "$W" validate --full --base src --table interactives --source "$MY_SRC" --target "$PG_DST" --sink "$SINK" "$@"; }
method_of() { validate --output json "$@" | sed -n 's/.*"method":"\([a-z]*\)".*/\1/p' || true; }

measure() {  # $1: link label; prints the rows for identical tables, then with differences
    local t_rows t_sum t_auto
    t_rows=$(median findings validate --method rows)
    t_sum=$(median findings validate --method checksum)
    t_auto=$(median findings validate --method auto)
    echo "$t_rows $t_sum $t_auto $(method_of --method auto)"
}

echo "# webookctl validation over a slow link, $(date -u +%Y-%m-%d), $ROWS interactives rows (MySQL→PostgreSQL), $(nproc) cores, median of $REPEAT"
echo
echo "| link, tables | rows | checksum | auto (its choice) |"
echo "|---|---|---|---|"
step=$(( ROWS / 1000 ))
for link in fast slow; do
    if [ $link = slow ]; then limit_link; label="$RATE loopback"; else unlimit_link; label="loopback"; fi
    pg_client -d bench_dst -qAt -c "UPDATE interactives SET like_cnt = like_cnt - 1 WHERE like_cnt < 0" >/dev/null
    read -r r s a m <<<"$(measure)"
    printf '| %s, identical | %s | %s: %s× faster | %s (%s): %s× the better |\n' "$label" "$(fmt_s "$r")" \
        "$(fmt_s "$s")" "$(ratio "$r" "$s")" "$(fmt_s "$a")" "$m" "$(ratio "$a" "$(printf '%s\n%s\n' "$r" "$s" | sort -n | head -n1)")"
    # 1,000 differences spread over the key range (the seed's ids are snowflakes: about 1,000).
    pg_client -d bench_dst -qAt -c "UPDATE interactives SET like_cnt = -1 - like_cnt WHERE id % $step = 0" >/dev/null
    read -r r s a m <<<"$(measure)"
    printf '| %s, 1,000 spread differences | %s | %s: %s× faster | %s (%s): %s× the better |\n' "$label" "$(fmt_s "$r")" \
        "$(fmt_s "$s")" "$(ratio "$r" "$s")" "$(fmt_s "$a")" "$m" "$(ratio "$a" "$(printf '%s\n%s\n' "$r" "$s" | sort -n | head -n1)")"
    pg_client -d bench_dst -qAt -c "UPDATE interactives SET like_cnt = -1 - like_cnt WHERE like_cnt < 0" >/dev/null
done
unlimit_link
