#!/usr/bin/env bash
# Fails (exit 1, naming the files) when a tracked C++ file is not formatted as
# .clang-format says. Fix with: git ls-files '*.cpp' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed (scripts/setup.sh)" >&2; exit 1; }
bad=()
while IFS= read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.cpp' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
    echo "check-format: not formatted ($(clang-format --version | head -n1)): ${bad[*]}" >&2
    echo "check-format: run: git ls-files '*.cpp' '*.h' | xargs clang-format -i" >&2
    exit 1
fi
echo "check-format: $(git ls-files '*.cpp' '*.h' | wc -l) files formatted" >&2
