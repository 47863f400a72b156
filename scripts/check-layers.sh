#!/usr/bin/env bash
# Fails (exit 1, naming file and include) when a source file includes a header
# of a library its own library may not use. The arrows (ARCHITECTURE.md) are
# the target_link_libraries of each folder's CMakeLists.txt; this check keeps
# the includes to them, since a header-only use would otherwise slip through.
set -euo pipefail
cd "$(dirname "$0")/.."
# folder -> the folders its files may include (besides its own)
declare -A may=(
    [core/base]=""
    [core/db]="core/base"
    [core/messaging]="core/base"
    [core/migration]="core/base core/db core/messaging"
    [platform]="core/base core/db core/messaging core/migration"
    [validate]="core/base core/db core/messaging core/migration"
    [fixers]="core/base core/db core/messaging core/migration"
    [migrate]="core/base core/db core/messaging core/migration platform"
    [cli]="core/base core/db core/messaging core/migration platform migrate validate fixers"
)
bad=0
for dir in "${!may[@]}"; do
    allowed=" $dir ${may[$dir]} "
    while IFS= read -r f; do
        while IFS= read -r inc; do
            lib=$(dirname "$inc")
            [[ "$allowed" == *" $lib "* ]] && continue
            echo "check-layers: $f includes $inc ($dir may use: ${may[$dir]:-nothing of ours})" >&2
            bad=1
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done < <(git ls-files --cached --others --exclude-standard "$dir/*.cpp" "$dir/*.h")
done
# Every library folder is listed above.
for f in $(git ls-files '*CMakeLists.txt'); do
    grep -q 'add_library(webook_' "$f" || continue
    dir=$(dirname "$f")
    case "$dir" in . | tests | bench) continue ;; esac
    [[ -v may[$dir] ]] || { echo "check-layers: $dir builds a library but has no arrows here" >&2; bad=1; }
done
[ $bad -eq 0 ] && echo "check-layers: includes follow the library arrows" >&2
exit $bad
