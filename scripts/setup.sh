#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent and non-interactive; skips apt entirely when all are present.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git procps
    mariadb-server mariadb-client postgresql postgresql-client
    libmysqlcppconn-dev libpqxx-dev librdkafka-dev
    libcli11-dev libspdlog-dev libfmt-dev libgtest-dev
    nlohmann-json3-dev libtomlplusplus-dev
    python3 python3-pymysql python3-psycopg2 clang-format
    clang libclang-rt-14-dev
    help2man man-db file zsh bash-completion jq shellcheck python3-prometheus-client bsdutils openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all packages present" >&2
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "setup: installing ${missing[*]} needs root" >&2; exit 1; }
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's packages start nothing here (no systemd), but on a machine where
# they do, our servers use their own ports and data directories anyway.
echo "setup: done" >&2
