#!/usr/bin/env bash
# Throwaway servers for tests and the demo, on loopback, data under .run/:
#   MariaDB     port $WEBOOK_MYSQL_PORT (default 13306)
#   PostgreSQL  port $WEBOOK_PG_PORT    (default 15432)
#   Kafka       librdkafka's mock cluster (ports chosen by librdkafka)
# Each server gets databases `webook` and `webook_target` and a user `webook`
# with a password. `start` is idempotent and writes .run/services.env
# (source it); `stop` leaves no process behind.
#
# usage: scripts/services.sh start|stop|status
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${WEBOOK_RUN_DIR:-$ROOT/.run}
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
MYSQL_PORT=${WEBOOK_MYSQL_PORT:-13306}
PG_PORT=${WEBOOK_PG_PORT:-15432}
KAFKA_BROKERS=${WEBOOK_KAFKA_BROKERS:-3}
DB_USER=webook
DB_PASSWORD=${WEBOOK_DB_PASSWORD:-webook-Pw-7f3a}
PG_BIN=${WEBOOK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}

MY_DIR=$RUN/mysql
MY_SOCK=$MY_DIR/mysqld.sock
PG_DIR=$RUN/pg
KAFKA_DIR=$RUN/kafka

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

mysql_running() { [ -S "$MY_SOCK" ] && mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot ping >/dev/null 2>&1; }
pg_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }
kafka_running() { [ -f "$KAFKA_DIR/pid" ] && kill -0 "$(cat "$KAFKA_DIR/pid")" 2>/dev/null; }

start_mysql() {
    if mysql_running; then say "MariaDB already running on 127.0.0.1:$MYSQL_PORT"; return; fi
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || die "mariadbd not found (run scripts/setup.sh)"
    # Its own tmpdir: a mariadbd starting with the default one (/tmp) deletes
    # every #sql* file there -- another server's temporary tables included.
    mkdir -p "$MY_DIR/tmp"
    if [ ! -d "$MY_DIR/data/mysql" ]; then
        mariadb-install-db --no-defaults --user=root --datadir="$MY_DIR/data" \
            --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 \
            || { cat "$MY_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    /usr/sbin/mariadbd --no-defaults --user=root --datadir="$MY_DIR/data" --socket="$MY_SOCK" \
        --pid-file="$MY_DIR/mysqld.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 --tmpdir="$MY_DIR/tmp" \
        --skip-log-bin --skip-name-resolve --innodb-flush-log-at-trx-commit=0 \
        --innodb-buffer-pool-size=1G --innodb-log-file-size=512M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --local-infile=1 --max-allowed-packet=64M --log-error="$MY_DIR/error.log" >/dev/null 2>&1 &
    for _ in $(seq 1 100); do mysql_running && break; sleep 0.2; done
    mysql_running || { tail -n 20 "$MY_DIR/error.log" >&2; die "MariaDB did not start on port $MYSQL_PORT"; }
    mariadb --no-defaults --socket="$MY_SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS webook CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS webook_target CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
    say "MariaDB ready on 127.0.0.1:$MYSQL_PORT"
}

start_pg() {
    if pg_running; then say "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return; fi
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found (run scripts/setup.sh)"
    # initdb refuses root: the cluster belongs to the postgres user, who must
    # be able to traverse the path to it.
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR"
    local p=$PG_DIR
    while [ "$p" != "/" ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        printf '%s\n' "$DB_PASSWORD" >"$PG_DIR/pwfile"
        chown postgres: "$PG_DIR/pwfile"; chmod 600 "$PG_DIR/pwfile"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 --pwfile="$PG_DIR/pwfile" -E UTF8 --locale=C.UTF-8 --no-sync \
            >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
        rm -f "$PG_DIR/pwfile"
    fi
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=512MB -c max_wal_size=4GB" \
        start >/dev/null || { tail -n 20 "$PG_DIR/server.log" >&2; die "PostgreSQL did not start on port $PG_PORT"; }
    local psql=("$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q)
    runuser -u postgres -- "${psql[@]}" -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  END IF;
END \$\$;
SQL
    for db in webook webook_target; do
        if ! runuser -u postgres -- "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
            runuser -u postgres -- "${psql[@]}" -d postgres -c "CREATE DATABASE $db OWNER $DB_USER"
        fi
    done
    say "PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

start_kafka() {
    if kafka_running; then say "Kafka mock already running at $(cat "$KAFKA_DIR/bootstrap")"; return; fi
    local bin=${WEBOOK_KAFKA_MOCK:-$BUILD/tests/webook-kafka-mock}
    if [ ! -x "$bin" ]; then
        say "building the Kafka mock helper"
        cmake -S "$ROOT" -B "$BUILD" >/dev/null && cmake --build "$BUILD" --target webook-kafka-mock -j2 >/dev/null \
            || die "cannot build webook-kafka-mock"
    fi
    mkdir -p "$KAFKA_DIR"
    rm -f "$KAFKA_DIR/bootstrap"
    setsid "$bin" --brokers "$KAFKA_BROKERS" --bootstrap-file "$KAFKA_DIR/bootstrap" \
        >"$KAFKA_DIR/kafka.log" 2>&1 </dev/null &
    echo $! >"$KAFKA_DIR/pid"
    for _ in $(seq 1 100); do [ -s "$KAFKA_DIR/bootstrap" ] && break; sleep 0.1; done
    [ -s "$KAFKA_DIR/bootstrap" ] || { cat "$KAFKA_DIR/kafka.log" >&2; die "Kafka mock did not start"; }
    say "Kafka mock ready at $(cat "$KAFKA_DIR/bootstrap")"
}

write_env() {
    local f=$RUN/services.env
    cat >"$f.tmp" <<ENV
# Written by scripts/services.sh start; source it.
export WEBOOK_MYSQL_DSN=mysql://$DB_USER@127.0.0.1:$MYSQL_PORT/webook
export WEBOOK_MYSQL_TARGET_DSN=mysql://$DB_USER@127.0.0.1:$MYSQL_PORT/webook_target
export WEBOOK_PG_DSN=postgres://$DB_USER@127.0.0.1:$PG_PORT/webook
export WEBOOK_PG_TARGET_DSN=postgres://$DB_USER@127.0.0.1:$PG_PORT/webook_target
export WEBOOK_KAFKA_BOOTSTRAP=$(cat "$KAFKA_DIR/bootstrap")
export WEBOOK_MYSQL_SOCKET=$MY_SOCK
export WEBOOK_PG_SOCKET_DIR=$PG_DIR
export WEBOOKCTL_SOURCE_PASSWORD='$DB_PASSWORD'
export WEBOOKCTL_TARGET_PASSWORD='$DB_PASSWORD'
export WEBOOKCTL_PASSWORD='$DB_PASSWORD'
ENV
    mv "$f.tmp" "$f"
    say "wrote $f"
}

stop_all() {
    if kafka_running; then kill "$(cat "$KAFKA_DIR/pid")" 2>/dev/null || true; fi
    if [ -f "$KAFKA_DIR/pid" ]; then
        for _ in $(seq 1 50); do kill -0 "$(cat "$KAFKA_DIR/pid")" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$(cat "$KAFKA_DIR/pid")" 2>/dev/null || true
        rm -f "$KAFKA_DIR/pid" "$KAFKA_DIR/bootstrap"
    fi
    if pg_running; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true; fi
    if [ -f "$MY_DIR/mysqld.pid" ]; then
        local pid; pid=$(cat "$MY_DIR/mysqld.pid")
        mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/services.env"
    say "stopped"
}

status() {
    local rc=0
    if mysql_running; then echo "mariadb:    running on 127.0.0.1:$MYSQL_PORT"; else echo "mariadb:    stopped"; rc=1; fi
    if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT"; else echo "postgresql: stopped"; rc=1; fi
    if kafka_running; then echo "kafka-mock: running at $(cat "$KAFKA_DIR/bootstrap")"; else echo "kafka-mock: stopped"; rc=1; fi
    return $rc
}

case "${1:-}" in
start)
    [ "$(id -u)" = 0 ] || die "run as root (PostgreSQL's cluster is run as the postgres user)"
    mkdir -p "$RUN"
    start_mysql
    start_pg
    start_kafka
    write_env
    ;;
stop) stop_all ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
