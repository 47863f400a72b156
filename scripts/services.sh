#!/usr/bin/env bash
# Throwaway servers for tests and the demo, on loopback, data under .run/:
#   MariaDB     port $WEBOOK_MYSQL_PORT (default 13306)
#   PostgreSQL  port $WEBOOK_PG_PORT    (default 15432)
#   Kafka       librdkafka's mock cluster (ports chosen by librdkafka)
# and, for the DSN TLS options, one more small instance of each server with
# TLS on (the main ones have none), certificates from a throwaway CA in .run/tls/:
#   MariaDB     port $WEBOOK_MYSQL_TLS_PORT (default $WEBOOK_MYSQL_PORT+1, 13307)
#   PostgreSQL  port $WEBOOK_PG_TLS_PORT    (default $WEBOOK_PG_PORT+1, 15433)
# Each server gets databases `webook` and `webook_target` and a user `webook`
# with a password. `start` is idempotent and writes .run/services.env
# (source it); `stop` leaves no process behind.
#
# The TLS instances: the server certificate (CN localhost, SAN IP:127.0.0.1 and
# DNS:localhost) and a client certificate (CN webook) are signed by ca.pem;
# wrong-ca.pem is an unrelated CA (verification against it must fail). `webook`
# logs in with its password, over TLS or not, with or without a client
# certificate (one presented must be signed by ca.pem); `webook_cert` (same
# password) only over TLS with the client certificate (PostgreSQL: `cert`
# authentication, the certificate replaces the password; MariaDB: REQUIRE
# SUBJECT '/CN=webook' AND ISSUER, plus the password).
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
# shellcheck disable=SC2012 # the version directories are plain numbers
PG_BIN=${WEBOOK_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
DB_CERT_USER=webook_cert

MY_DIR=$RUN/mysql
MY_SOCK=$MY_DIR/mysqld.sock
PG_DIR=$RUN/pg
KAFKA_DIR=$RUN/kafka
TLS_DIR=$RUN/tls
MYT_DIR=$RUN/mysql-tls
MYT_SOCK=$MYT_DIR/mysqld.sock
PGT_DIR=$RUN/pg-tls
TLS_CA_CN="webook throwaway CA"
TLS_CLIENT_CN=webook

say() { printf 'services: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

is_port() { case $1 in '' | *[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$MYSQL_PORT" || die "WEBOOK_MYSQL_PORT is not a port: $MYSQL_PORT"
is_port "$PG_PORT" || die "WEBOOK_PG_PORT is not a port: $PG_PORT"
MYSQL_TLS_PORT=${WEBOOK_MYSQL_TLS_PORT:-$((MYSQL_PORT + 1))}
PG_TLS_PORT=${WEBOOK_PG_TLS_PORT:-$((PG_PORT + 1))}
is_port "$MYSQL_TLS_PORT" || die "WEBOOK_MYSQL_TLS_PORT is not a port: $MYSQL_TLS_PORT"
is_port "$PG_TLS_PORT" || die "WEBOOK_PG_TLS_PORT is not a port: $PG_TLS_PORT"

# The databases and the test user every MariaDB of ours has (SQL on stdout).
mysql_setup_sql() {
    cat <<SQL
CREATE DATABASE IF NOT EXISTS webook CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS webook_target CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
SQL
}

mysql_running() { [ -S "$MY_SOCK" ] && mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot ping >/dev/null 2>&1; }
pg_running() { [ -f "$PG_DIR/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }
mysql_tls_running() { [ -S "$MYT_SOCK" ] && mariadb-admin --no-defaults --socket="$MYT_SOCK" -uroot ping >/dev/null 2>&1; }
pg_tls_running() { [ -f "$PGT_DIR/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGT_DIR/data" status >/dev/null 2>&1; }
kafka_running() { [ -f "$KAFKA_DIR/pid" ] && kill -0 "$(cat "$KAFKA_DIR/pid")" 2>/dev/null; }

start_mysql() {
    if mysql_running; then say "MariaDB already running on 127.0.0.1:$MYSQL_PORT"; return; fi
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || die "mariadbd not found (run scripts/setup.sh)"
    # Its own tmpdir, for mariadb-install-db's bootstrap server too: a
    # mariadbd starting with the default one (/tmp) deletes every #sql* file
    # there -- another server's temporary tables included (an install on a
    # machine running other MariaDB servers failed so: "Unknown table
    # mysql.tmp_user_sys").
    mkdir -p "$MY_DIR/tmp"
    if [ ! -d "$MY_DIR/data/mysql" ]; then
        mariadb-install-db --no-defaults --user=root --datadir="$MY_DIR/data" --tmpdir="$MY_DIR/tmp" \
            --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 \
            || { cat "$MY_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    # setsid: the server outlives the shell (and process group) that started it.
    setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$MY_DIR/data" --socket="$MY_SOCK" \
        --pid-file="$MY_DIR/mysqld.pid" --port="$MYSQL_PORT" --bind-address=127.0.0.1 --tmpdir="$MY_DIR/tmp" \
        --skip-log-bin --skip-name-resolve --innodb-flush-log-at-trx-commit=0 \
        --innodb-buffer-pool-size=1G --innodb-log-file-size=512M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --local-infile=1 --max-allowed-packet=64M --log-error="$MY_DIR/error.log" >/dev/null 2>&1 &
    for _ in $(seq 1 100); do mysql_running && break; sleep 0.2; done
    mysql_running || { tail -n 20 "$MY_DIR/error.log" >&2; die "MariaDB did not start on port $MYSQL_PORT"; }
    { mysql_setup_sql; echo "FLUSH PRIVILEGES;"; } | mariadb --no-defaults --socket="$MY_SOCK" -uroot
    say "MariaDB ready on 127.0.0.1:$MYSQL_PORT"
}

# A PostgreSQL cluster in DIR/data, made by initdb unless it is there:
# initdb refuses root, so the cluster belongs to the postgres user, who must
# be able to traverse the path to it. WHAT names the instance in errors.
pg_init_cluster() {
    local dir=$1 what=$2
    mkdir -p "$dir"
    chown postgres: "$dir"
    local p=$dir
    while [ "$p" != "/" ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
    [ -f "$dir/data/PG_VERSION" ] && return
    printf '%s\n' "$DB_PASSWORD" >"$dir/pwfile"
    chown postgres: "$dir/pwfile"; chmod 600 "$dir/pwfile"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed$what"; }
    rm -f "$dir/pwfile"
}

start_pg() {
    if pg_running; then say "PostgreSQL already running on 127.0.0.1:$PG_PORT"; return; fi
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found (run scripts/setup.sh)"
    pg_init_cluster "$PG_DIR" ""
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

# The throwaway CA and certificates of the TLS instances, in $TLS_DIR: kept
# while they verify and stay valid for a day more, else all made anew (EC P-256,
# which both servers and both clients accept; about 0.1 s). Keys 0600, root's;
# PostgreSQL gets a copy of the server key of its own (it refuses a key it does
# not own or that others can read). Sets TLS_NEW=1 when it made them.
TLS_NEW=0
tls_valid() {
    local f day
    for f in ca.pem ca.key server.pem server.key client.pem client.key wrong-ca.pem; do
        [ -s "$TLS_DIR/$f" ] || return 1
    done
    day=$(($(date +%s) + 86400))
    openssl verify -attime "$day" -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" "$TLS_DIR/client.pem" >/dev/null 2>&1 &&
        openssl verify -attime "$day" -CAfile "$TLS_DIR/wrong-ca.pem" "$TLS_DIR/wrong-ca.pem" >/dev/null 2>&1
}

ensure_tls() {
    if tls_valid; then return; fi
    command -v openssl >/dev/null || die "openssl not found (run scripts/setup.sh)"
    local tmp=$TLS_DIR.new
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # errexit would be ignored in a subshell that is tested (`( ... ) || die`)
    local rc=0
    set +e
    (
        set -e
        umask 077
        cd "$tmp"
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        serial() { printf '0x%s' "$(openssl rand -hex 16)"; }
        openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 -subj "/CN=$TLS_CA_CN"
        openssl req -x509 "${ec[@]}" -keyout wrong-ca.key -out wrong-ca.pem -days 3650 \
            -subj "/CN=webook unrelated CA"
        printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
            'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >server.ext
        printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
            'extendedKeyUsage=clientAuth' >client.ext
        openssl req -new "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=localhost"
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "$(serial)" -days 3650 \
            -extfile server.ext -out server.pem
        openssl req -new "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=$TLS_CLIENT_CN"
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial "$(serial)" -days 3650 \
            -extfile client.ext -out client.pem
        rm -f ./*.csr ./*.ext
        chmod 644 ./*.pem
        chmod 600 ./*.key
    ) >"$RUN/tls.log" 2>&1
    rc=$?
    set -e
    [ "$rc" = 0 ] || { cat "$RUN/tls.log" >&2; die "cannot make the TLS certificates"; }
    rm -rf "$TLS_DIR"
    mv "$tmp" "$TLS_DIR"
    chmod 755 "$TLS_DIR" # PostgreSQL (user postgres) reads the certificates
    rm -f "$RUN/tls.log"
    tls_valid || die "the TLS certificates made in $TLS_DIR do not verify"
    TLS_NEW=1
    say "made a throwaway CA and certificates in $TLS_DIR"
}

# Settings of the TLS instances: small (they serve connection tests); MariaDB's
# redo log and buffer pool are made small at install time too.
MYT_SMALL=(--innodb-buffer-pool-size=32M --innodb-log-file-size=16M)

start_mysql_tls() {
    if mysql_tls_running; then
        if [ "$TLS_NEW" = 1 ]; then
            mariadb --no-defaults --socket="$MYT_SOCK" -uroot -e 'FLUSH SSL' || die "MariaDB (TLS): FLUSH SSL failed"
        fi
        say "MariaDB (TLS) already running on 127.0.0.1:$MYSQL_TLS_PORT"
        return
    fi
    mkdir -p "$MYT_DIR/tmp"
    if [ ! -d "$MYT_DIR/data/mysql" ]; then
        mariadb-install-db --no-defaults --user=root --datadir="$MYT_DIR/data" --tmpdir="$MYT_DIR/tmp" "${MYT_SMALL[@]}" \
            --auth-root-authentication-method=normal --skip-test-db >"$MYT_DIR/install.log" 2>&1 \
            || { cat "$MYT_DIR/install.log" >&2; die "mariadb-install-db failed (TLS instance)"; }
    fi
    # setsid: the server outlives the shell (and process group) that started it.
    setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$MYT_DIR/data" --socket="$MYT_SOCK" \
        --pid-file="$MYT_DIR/mysqld.pid" --port="$MYSQL_TLS_PORT" --bind-address=127.0.0.1 --tmpdir="$MYT_DIR/tmp" \
        --skip-log-bin --skip-name-resolve --innodb-flush-log-at-trx-commit=0 "${MYT_SMALL[@]}" --max-connections=100 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --local-infile=1 --max-allowed-packet=64M --log-error="$MYT_DIR/error.log" \
        --ssl-ca="$TLS_DIR/ca.pem" --ssl-cert="$TLS_DIR/server.pem" --ssl-key="$TLS_DIR/server.key" >/dev/null 2>&1 &
    for _ in $(seq 1 100); do mysql_tls_running && break; sleep 0.1; done
    mysql_tls_running || { tail -n 20 "$MYT_DIR/error.log" >&2; die "MariaDB (TLS) did not start on port $MYSQL_TLS_PORT"; }
    local have_ssl
    have_ssl=$({ mysql_setup_sql; cat; } <<SQL | mariadb --no-defaults --socket="$MYT_SOCK" -uroot -N -B
CREATE USER IF NOT EXISTS '$DB_CERT_USER'@'%' IDENTIFIED BY '$DB_PASSWORD'
    REQUIRE SUBJECT '/CN=$TLS_CLIENT_CN' AND ISSUER '/CN=$TLS_CA_CN';
GRANT ALL PRIVILEGES ON *.* TO '$DB_CERT_USER'@'%';
FLUSH PRIVILEGES;
SELECT @@have_ssl;
SQL
    ) || die "MariaDB (TLS): creating the databases and users failed"
    [ "$have_ssl" = YES ] || { tail -n 20 "$MYT_DIR/error.log" >&2; die "MariaDB (TLS) runs without TLS (have_ssl: $have_ssl)"; }
    say "MariaDB (TLS) ready on 127.0.0.1:$MYSQL_TLS_PORT"
}

# Its configuration is written anew at every start: TLS settings in an included
# file, pg_hba.conf (webook_cert: TLS and certificate only), pg_ident.conf.
pg_tls_config() {
    local d=$PGT_DIR/data
    install -o postgres -g postgres -m 600 "$TLS_DIR/server.key" "$PGT_DIR/server.key"
    grep -qx "include 'webook-tls.conf'" "$d/postgresql.conf" || echo "include 'webook-tls.conf'" >>"$d/postgresql.conf"
    local q="'"
    cat >"$d/webook-tls.conf" <<CONF
# Written by scripts/services.sh at every start.
ssl = on
ssl_cert_file = '${TLS_DIR//$q/$q$q}/server.pem'
ssl_key_file = '${PGT_DIR//$q/$q$q}/server.key'
ssl_ca_file = '${TLS_DIR//$q/$q$q}/ca.pem'
CONF
    cat >"$d/pg_hba.conf" <<CONF
# Written by scripts/services.sh at every start.
local   all  all                     trust
hostssl all  $DB_CERT_USER 127.0.0.1/32 cert map=certs
host    all  $DB_CERT_USER 127.0.0.1/32 reject
host    all  $DB_CERT_USER ::1/128      reject
host    all  all         127.0.0.1/32 scram-sha-256
host    all  all         ::1/128      scram-sha-256
CONF
    printf '# Written by scripts/services.sh at every start.\ncerts %s %s\n' "$TLS_CLIENT_CN" "$DB_CERT_USER" >"$d/pg_ident.conf"
    chown postgres: "$d/webook-tls.conf" "$d/pg_hba.conf" "$d/pg_ident.conf"
}

start_pg_tls() {
    if pg_tls_running; then
        if [ "$TLS_NEW" = 1 ]; then
            # new certificates: reload, and wait until new sessions have them
            local loaded=(runuser -u postgres -- "$PG_BIN/psql" -X -h "$PGT_DIR" -p "$PG_TLS_PORT" -U postgres -d postgres
                -tAc "SELECT pg_conf_load_time()") before
            before=$("${loaded[@]}") || die "PostgreSQL (TLS): cannot connect"
            pg_tls_config
            runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGT_DIR/data" reload >/dev/null || die "PostgreSQL (TLS): reload failed"
            for _ in $(seq 1 50); do [ "$("${loaded[@]}")" != "$before" ] && break; sleep 0.1; done
        fi
        say "PostgreSQL (TLS) already running on 127.0.0.1:$PG_TLS_PORT"
        return
    fi
    pg_init_cluster "$PGT_DIR" " (TLS instance)"
    pg_tls_config
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGT_DIR/data" -l "$PGT_DIR/server.log" -w -t 60 \
        -o "-p $PG_TLS_PORT -k $PGT_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB" \
        start >/dev/null || { tail -n 20 "$PGT_DIR/server.log" >&2; die "PostgreSQL (TLS) did not start on port $PG_TLS_PORT"; }
    # One psql: roles, the databases missing (\gexec: CREATE DATABASE cannot
    # run in a DO block), and whether TLS is on.
    local ssl
    ssl=$(runuser -u postgres -- "$PG_BIN/psql" -X -h "$PGT_DIR" -p "$PG_TLS_PORT" -U postgres -v ON_ERROR_STOP=1 \
        -q -t -A -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_CERT_USER') THEN
    CREATE ROLE $DB_CERT_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD' IN ROLE $DB_USER;
  END IF;
END \$\$;
SELECT format('CREATE DATABASE %I OWNER %I', d, '$DB_USER') FROM unnest(ARRAY['webook', 'webook_target']) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \\gexec
SHOW ssl;
SQL
    ) || die "PostgreSQL (TLS): creating the roles and databases failed"
    [ "$ssl" = on ] || { tail -n 20 "$PGT_DIR/server.log" >&2; die "PostgreSQL (TLS) runs without TLS (ssl: $ssl)"; }
    say "PostgreSQL (TLS) ready on 127.0.0.1:$PG_TLS_PORT"
}

start_kafka() {
    if kafka_running; then say "Kafka mock already running at $(cat "$KAFKA_DIR/bootstrap")"; return; fi
    local bin=${WEBOOK_KAFKA_MOCK:-$BUILD/tests/webook-kafka-mock}
    if [ ! -x "$bin" ]; then
        say "building the Kafka mock helper"
        { cmake -S "$ROOT" -B "$BUILD" >/dev/null && cmake --build "$BUILD" --target webook-kafka-mock -j2 >/dev/null; } \
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
export WEBOOK_MYSQL_TLS_PORT=$MYSQL_TLS_PORT
export WEBOOK_PG_TLS_PORT=$PG_TLS_PORT
export WEBOOK_MYSQL_TLS_DSN=mysql://$DB_USER@127.0.0.1:$MYSQL_TLS_PORT/webook
export WEBOOK_PG_TLS_DSN=postgres://$DB_USER@127.0.0.1:$PG_TLS_PORT/webook
export WEBOOK_MYSQL_TLS_SOCKET=$MYT_SOCK
export WEBOOK_PG_TLS_SOCKET_DIR=$PGT_DIR
export WEBOOK_TLS_DIR=$TLS_DIR
export WEBOOK_TLS_CA=$TLS_DIR/ca.pem
export WEBOOK_TLS_WRONG_CA=$TLS_DIR/wrong-ca.pem
export WEBOOK_TLS_CLIENT_CERT=$TLS_DIR/client.pem
export WEBOOK_TLS_CLIENT_KEY=$TLS_DIR/client.key
export WEBOOK_TLS_CERT_USER=$DB_CERT_USER
export WEBOOKCTL_SOURCE_PASSWORD='$DB_PASSWORD'
export WEBOOKCTL_TARGET_PASSWORD='$DB_PASSWORD'
export WEBOOKCTL_PASSWORD='$DB_PASSWORD'
ENV
    mv "$f.tmp" "$f"
    say "wrote $f"
}

# Whether a process is alive: gone or a zombie is not. A server started here
# outlives this script, so once it exits it waits as a zombie for PID 1 to reap
# it (up to 2 s on some machines) -- holding no port, file or lock by then.
alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

stop_mysqld() { # pid-file socket
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1")
    # SHUTDOWN returns at once (mariadb-admin shutdown polls the pid file once a second)
    mariadb --no-defaults --socket="$2" -uroot -e SHUTDOWN >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop_all() {
    if kafka_running; then kill "$(cat "$KAFKA_DIR/pid")" 2>/dev/null || true; fi
    if [ -f "$KAFKA_DIR/pid" ]; then
        for _ in $(seq 1 50); do alive "$(cat "$KAFKA_DIR/pid")" || break; sleep 0.1; done
        kill -9 "$(cat "$KAFKA_DIR/pid")" 2>/dev/null || true
        rm -f "$KAFKA_DIR/pid" "$KAFKA_DIR/bootstrap"
    fi
    if pg_running; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true; fi
    if pg_tls_running; then runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGT_DIR/data" -m fast -w stop >/dev/null || true; fi
    stop_mysqld "$MY_DIR/mysqld.pid" "$MY_SOCK"
    stop_mysqld "$MYT_DIR/mysqld.pid" "$MYT_SOCK"
    rm -f "$RUN/services.env"
    say "stopped"
}

status() {
    local rc=0
    if mysql_running; then echo "mariadb:    running on 127.0.0.1:$MYSQL_PORT"; else echo "mariadb:    stopped"; rc=1; fi
    if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT"; else echo "postgresql: stopped"; rc=1; fi
    if mysql_tls_running; then echo "mariadb-tls:    running on 127.0.0.1:$MYSQL_TLS_PORT (TLS)"; else echo "mariadb-tls:    stopped"; rc=1; fi
    if pg_tls_running; then echo "postgresql-tls: running on 127.0.0.1:$PG_TLS_PORT (TLS)"; else echo "postgresql-tls: stopped"; rc=1; fi
    if kafka_running; then echo "kafka-mock: running at $(cat "$KAFKA_DIR/bootstrap")"; else echo "kafka-mock: stopped"; rc=1; fi
    return $rc
}

case "${1:-}" in
start)
    [ "$(id -u)" = 0 ] || die "run as root (PostgreSQL's cluster is run as the postgres user)"
    [ "$(printf '%s\n' "$MYSQL_PORT" "$PG_PORT" "$MYSQL_TLS_PORT" "$PG_TLS_PORT" | sort -u | wc -l)" = 4 ] \
        || die "ports must differ: MariaDB $MYSQL_PORT, PostgreSQL $PG_PORT, TLS $MYSQL_TLS_PORT and $PG_TLS_PORT"
    mkdir -p "$RUN"
    # The TLS instances start in the background, next to the main ones (on a
    # fresh machine their install/initdb would add about 2 s in sequence).
    ensure_tls
    start_mysql_tls &
    tls_mysql_pid=$!
    start_pg_tls &
    tls_pg_pid=$!
    start_mysql
    start_pg
    start_kafka
    wait "$tls_mysql_pid" || die "the MariaDB TLS instance did not start"
    wait "$tls_pg_pid" || die "the PostgreSQL TLS instance did not start"
    write_env
    ;;
stop) stop_all ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
