#!/usr/bin/env bash
# Configures and builds into build/ (kept between runs). Used by test.sh and demo.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD" -j"${WEBOOK_JOBS:-2}"
