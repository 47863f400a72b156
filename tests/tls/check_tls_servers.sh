#!/usr/bin/env bash
# Checks, with the stock clients (psql, mariadb), that the TLS instances of
# scripts/services.sh do what the DSN TLS tests rely on:
#   - PostgreSQL: sslmode=verify-full against ca.pem connects over TLS; against
#     the unrelated CA it fails; sslmode=require against the MAIN server fails
#     (it has no TLS); a client-certificate login (webook_cert) works, and is
#     refused without the certificate.
#   - MariaDB: --ssl-ca + --ssl-verify-server-cert connects over TLS
#     (Ssl_version set); the unrelated CA fails; requiring TLS against the MAIN
#     server fails; a client-certificate login (webook_cert) works, and is
#     refused without the certificate.
# Each check prints "ok: ..." or "FAIL: ..." (with the client's output); the
# exit status is 1 if any check failed, 2 if it cannot run at all.
#
# usage: tests/tls/check_tls_servers.sh   (after scripts/services.sh start)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ENV_FILE=${WEBOOK_RUN_DIR:-$ROOT/.run}/services.env

cannot_run() {
    printf 'FAIL: cannot run: %s\n' "$*" >&2
    exit 2
}

[ -f "$ENV_FILE" ] || cannot_run "no $ENV_FILE: the servers are not started (scripts/services.sh start)"
# shellcheck source=/dev/null  # written by scripts/services.sh start
source "$ENV_FILE"
for v in WEBOOK_PG_DSN WEBOOK_MYSQL_DSN WEBOOK_PG_TLS_DSN WEBOOK_MYSQL_TLS_DSN WEBOOK_TLS_CA \
    WEBOOK_TLS_WRONG_CA WEBOOK_TLS_CLIENT_CERT WEBOOK_TLS_CLIENT_KEY WEBOOK_TLS_CERT_USER WEBOOKCTL_PASSWORD; do
    [ -n "${!v:-}" ] || cannot_run "$v is not set in $ENV_FILE (an older scripts/services.sh started the servers?)"
done
for f in "$WEBOOK_TLS_CA" "$WEBOOK_TLS_WRONG_CA" "$WEBOOK_TLS_CLIENT_CERT" "$WEBOOK_TLS_CLIENT_KEY"; do
    [ -r "$f" ] || cannot_run "cannot read $f"
done
command -v psql >/dev/null || cannot_run "psql not found (scripts/setup.sh)"
command -v mariadb >/dev/null || cannot_run "mariadb not found (scripts/setup.sh)"
# Nothing from the caller's environment or home directory may change what the
# clients do (PGSSLMODE, ~/.postgresql/postgresql.crt, ~/.my.cnf, ...).
unset "${!PG@}" "${!MYSQL@}" "${!MARIADB@}"
HOME=$(mktemp -d) || cannot_run "mktemp failed"
export HOME
trap 'rm -rf "$HOME"' EXIT
export PGCONNECT_TIMEOUT=10

# scheme://user@host:port/db, as services.sh writes them.
parse_dsn() { # name dsn -> sets <name>_USER/_HOST/_PORT/_DB
    [[ $2 =~ ^[a-z]+://([^@/]+)@([^:/]+):([0-9]+)/([^/?]+)$ ]] || cannot_run "unexpected DSN form: $2"
    printf -v "$1_USER" %s "${BASH_REMATCH[1]}"
    printf -v "$1_HOST" %s "${BASH_REMATCH[2]}"
    printf -v "$1_PORT" %s "${BASH_REMATCH[3]}"
    printf -v "$1_DB" %s "${BASH_REMATCH[4]}"
}
parse_dsn PGT "$WEBOOK_PG_TLS_DSN"
parse_dsn PGM "$WEBOOK_PG_DSN"
parse_dsn MYT "$WEBOOK_MYSQL_TLS_DSN"
parse_dsn MYM "$WEBOOK_MYSQL_DSN"
CERT_USER=$WEBOOK_TLS_CERT_USER

failures=0
ok() { printf 'ok: %s\n' "$1"; }
fail() { # what output
    printf 'FAIL: %s\n' "$1"
    [ -z "$2" ] || printf '%s\n' "$2" | sed 's/^/    | /'
    failures=$((failures + 1))
}

# expect_ok WHAT REGEX CMD...: CMD succeeds and its output matches REGEX.
expect_ok() {
    local what=$1 re=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [[ $out =~ $re ]]; then
        ok "$what"
    else
        fail "$what (exit $rc, wanted output matching /$re/)" "$out"
    fi
}

# expect_fail WHAT REGEX CMD...: CMD fails with an error matching REGEX (so a
# server that is down does not pass for a refusal).
expect_fail() {
    local what=$1 re=$2 out rc
    shift 2
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" != 0 ] && [[ $out =~ $re ]]; then
        ok "$what"
    else
        fail "$what (exit $rc, wanted a failure matching /$re/)" "$out"
    fi
}

# A conninfo value in single quotes.
cq() {
    local v=${1//\\/\\\\}
    printf "'%s'" "${v//\'/\\\'}"
}

# pg PREFIX USER [key=value...]: psql on the server of PREFIX (PGT/PGM),
# printing user|ssl|version|client_dn of its own connection.
pg() {
    local host=${1}_HOST port=${1}_PORT db=${1}_DB user=$2
    shift 2
    PGPASSWORD=$WEBOOKCTL_PASSWORD psql -X -A -t -q -v ON_ERROR_STOP=1 \
        -d "host=$(cq "${!host}") port=${!port} dbname=$(cq "${!db}") user=$(cq "$user") $*" \
        -c "SELECT current_user, ssl, version, coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
}

# my PREFIX USER [option...]: mariadb on the server of PREFIX (MYT/MYM),
# printing the user and Ssl_version of its own connection.
my() {
    local host=${1}_HOST port=${1}_PORT db=${1}_DB user=$2
    shift 2
    MYSQL_PWD=$WEBOOKCTL_PASSWORD mariadb --no-defaults --protocol=tcp --connect-timeout=10 -N -B \
        -h "${!host}" -P "${!port}" -u "$user" -D "${!db}" "$@" \
        -e "SELECT current_user(), (SELECT variable_value FROM information_schema.session_status WHERE variable_name = 'Ssl_version')"
}

CA=$(cq "$WEBOOK_TLS_CA")
WRONG_CA=$(cq "$WEBOOK_TLS_WRONG_CA")
CERT=$(cq "$WEBOOK_TLS_CLIENT_CERT")
KEY=$(cq "$WEBOOK_TLS_CLIENT_KEY")

echo "PostgreSQL TLS instance $PGT_HOST:$PGT_PORT, main $PGM_HOST:$PGM_PORT"
expect_ok "pg: sslmode=verify-full with ca.pem connects over TLS" \
    "^$PGT_USER\|t\|TLSv" pg PGT "$PGT_USER" sslmode=verify-full sslrootcert="$CA"
expect_ok "pg: sslmode=verify-full with ca.pem, host localhost (DNS SAN)" \
    "^$PGT_USER\|t\|TLSv" pg PGT "$PGT_USER" host=localhost sslmode=verify-full sslrootcert="$CA"
expect_ok "pg: sslmode=require connects over TLS" \
    "^$PGT_USER\|t\|TLSv" pg PGT "$PGT_USER" sslmode=require
expect_fail "pg: sslmode=verify-full with the wrong CA fails" \
    "certificate verify failed" pg PGT "$PGT_USER" sslmode=verify-full sslrootcert="$WRONG_CA"
expect_ok "pg: main server accepts the same login without TLS" \
    "^$PGM_USER\|f\|" pg PGM "$PGM_USER" sslmode=disable
expect_fail "pg: sslmode=require against the main server fails" \
    "server does not support SSL" pg PGM "$PGM_USER" sslmode=require
expect_ok "pg: client-certificate login ($CERT_USER, CN webook)" \
    "^$CERT_USER\|t\|TLSv[^|]*\|/CN=webook$" pg PGT "$CERT_USER" sslmode=verify-full sslrootcert="$CA" \
    sslcert="$CERT" sslkey="$KEY"
expect_fail "pg: $CERT_USER without a client certificate is refused" \
    "requires a valid client certificate" pg PGT "$CERT_USER" sslmode=verify-full sslrootcert="$CA"
expect_fail "pg: $CERT_USER without TLS is refused" \
    "rejects connection" pg PGT "$CERT_USER" sslmode=disable

echo "MariaDB TLS instance $MYT_HOST:$MYT_PORT, main $MYM_HOST:$MYM_PORT"
expect_ok "mariadb: --ssl-ca ca.pem --ssl-verify-server-cert connects, Ssl_version set" \
    "^$MYT_USER@[^[:space:]]+[[:space:]]+TLSv" my MYT "$MYT_USER" --ssl-ca="$WEBOOK_TLS_CA" --ssl-verify-server-cert
expect_ok "mariadb: the same with host localhost (DNS SAN)" \
    "^$MYT_USER@[^[:space:]]+[[:space:]]+TLSv" my MYT "$MYT_USER" -h localhost --ssl-ca="$WEBOOK_TLS_CA" \
    --ssl-verify-server-cert
expect_fail "mariadb: --ssl-ca wrong-ca.pem --ssl-verify-server-cert fails" \
    "TLS/SSL error" my MYT "$MYT_USER" --ssl-ca="$WEBOOK_TLS_WRONG_CA" --ssl-verify-server-cert
expect_ok "mariadb: main server accepts the same login without TLS" \
    "^$MYM_USER@[^[:space:]]+[[:space:]]*$" my MYM "$MYM_USER" --skip-ssl
expect_fail "mariadb: requiring TLS (--ssl-verify-server-cert) against the main server fails" \
    "SSL is required, but the server does not support it" my MYM "$MYM_USER" --ssl --ssl-ca="$WEBOOK_TLS_CA" \
    --ssl-verify-server-cert
expect_ok "mariadb: client-certificate login ($CERT_USER, CN webook)" \
    "^$CERT_USER@[^[:space:]]+[[:space:]]+TLSv" my MYT "$CERT_USER" --ssl-ca="$WEBOOK_TLS_CA" \
    --ssl-verify-server-cert --ssl-cert="$WEBOOK_TLS_CLIENT_CERT" --ssl-key="$WEBOOK_TLS_CLIENT_KEY"
expect_fail "mariadb: $CERT_USER without a client certificate is refused" \
    "Access denied" my MYT "$CERT_USER" --ssl-ca="$WEBOOK_TLS_CA" --ssl-verify-server-cert

if [ "$failures" != 0 ]; then
    echo "FAIL: $failures TLS server check(s) failed"
    exit 1
fi
echo "ok: all TLS server checks passed"
