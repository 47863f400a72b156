#!/usr/bin/env bash
# Sets everything up and runs every test: installs the Debian packages,
# builds, starts MariaDB, PostgreSQL and the Kafka mock (if not running), and
# runs ctest. Extra arguments go to ctest (e.g. -R integration.Mysql).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
cd "$ROOT"
scripts/setup.sh
scripts/build.sh
scripts/services.sh start
# shellcheck disable=SC1091
source "${WEBOOK_RUN_DIR:-$ROOT/.run}/services.env"
ctest --test-dir "$BUILD" --output-on-failure -j"${WEBOOK_TEST_JOBS:-2}" "$@"
