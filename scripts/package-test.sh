#!/usr/bin/env bash
# The Debian package as an operator gets it: builds it (the `package` target),
# checks its control fields and contents, extracts it into a scratch root
# (dpkg -x; nothing is installed on this machine) and runs what it installed
# there -- webookctl --version, man -l on the page, the bash and zsh
# completion (tests/completion/completion_test.sh on the installed files, and
# bash-completion's own loader finding the file) -- and asks apt whether it
# would install (--simulate: its Depends are met here).
# Run by .ci/run after the tests. Exit 0 when all holds; 1 with the failure.
#
# usage: scripts/package-test.sh   (uses build/, or $WEBOOK_BUILD_DIR)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WEBOOK_BUILD_DIR:-$ROOT/build}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() {
    echo "package-test: FAIL: $*" >&2
    exit 1
}
step() { echo "package-test: $*" >&2; }

VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[ -n "$VERSION" ] || fail "no project version in $BUILD/CMakeCache.txt (run scripts/build.sh first)"
DEB=$BUILD/webookctl_${VERSION}_$(dpkg --print-architecture).deb

step "building $DEB"
rm -f "$DEB"
cmake --build "$BUILD" --target package -j"${WEBOOK_JOBS:-2}" >"$WORK/package.log" 2>&1 ||
    { cat "$WORK/package.log" >&2; fail "cmake --build $BUILD --target package failed"; }
[ -f "$DEB" ] || { cat "$WORK/package.log" >&2; fail "the package target made no $DEB"; }

step "control fields"
dpkg-deb -I "$DEB" >"$WORK/info"
field() { sed -n "s/^ $1: //p" "$WORK/info"; }
[ "$(field Package)" = webookctl ] || fail "Package is '$(field Package)', not webookctl"
[ "$(field Version)" = "$VERSION" ] || fail "Version is '$(field Version)', not $VERSION"
[ -n "$(field Maintainer)" ] || fail "no Maintainer field"
step "contents"
# Exactly these files: the binary, its page and completion, the documents;
# no test, fuzz target, benchmark or helper program.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' | sort >"$WORK/files"
{
    echo usr/bin/webookctl
    echo usr/share/man/man1/webookctl.1.gz
    echo usr/share/bash-completion/completions/webookctl
    echo usr/share/zsh/vendor-completions/_webookctl
    echo usr/share/doc/webookctl/README.md
    echo usr/share/doc/webookctl/docs/writer-protocol.md
    (cd "$ROOT/examples" && find . -type f | sed 's|^\./|usr/share/doc/webookctl/examples/|')
} | sort >"$WORK/expected"
diff -u "$WORK/expected" "$WORK/files" >&2 || fail "the package's files differ from the expected ones (- expected, + in the package)"

step "extracting into a scratch root"
SCRATCH=$WORK/root
dpkg -x "$DEB" "$SCRATCH"
BIN=$SCRATCH/usr/bin/webookctl
file -b "$BIN" | grep -q ', stripped' || fail "the packaged binary is not stripped: $(file -b "$BIN")"
[ "$("$BIN" --version)" = "webookctl $VERSION" ] || fail "installed webookctl --version printed '$("$BIN" --version)'"

step "Depends"
DEPENDS=$(field Depends)
# Every library the binary links comes from a package that Depends names --
# by its name or by a name it provides (libspdlog1.10 provides
# libspdlog1.10-fmt9, the name its shlibs file gives).
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
names_depends() {
    local name
    for name in "$@"; do
        [[ ", $DEPENDS," == *", $name "* || ", $DEPENDS," == *", $name,"* ]] && return 0
    done
    return 1
}
for lib in $(objdump -p "$BIN" | awk '$1 == "NEEDED" { print $2 }'); do
    owner=$(dpkg -S "/usr/lib/$triplet/$lib" 2>/dev/null || dpkg -S "/lib/$triplet/$lib" 2>/dev/null) ||
        fail "no Debian package holds $lib, which webookctl links"
    owner=${owner%%:*}
    provides=$(dpkg-query -W -f='${Provides}' "$owner" | sed 's/([^)]*)//g; s/,/ /g')
    # shellcheck disable=SC2086
    names_depends "$owner" $provides || fail "Depends ($DEPENDS) names neither $owner nor what it provides ($provides), and it holds $lib"
done

step "man -l on the installed page"
PAGE=$SCRATCH/usr/share/man/man1/webookctl.1.gz
MANPAGER=cat MANWIDTH=100 man -l "$PAGE" >"$WORK/man.txt" 2>"$WORK/man.err" || fail "man -l $PAGE failed: $(cat "$WORK/man.err")"
[ ! -s "$WORK/man.err" ] || fail "man -l $PAGE complained: $(cat "$WORK/man.err")"
grep -q '^NAME' "$WORK/man.txt" || fail "the page has no NAME section"
# Every command of the installed binary has its section, headed by its name.
commands() {
    "$BIN" "$@" --help | awk '/^Subcommands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [^ ]/ { print $1 }'
}
count=0
check_section() {
    local sub
    for sub in $(commands "$@"); do
        grep -qxF "   webookctl ${*:+$* }$sub" "$WORK/man.txt" || fail "the page has no section 'webookctl ${*:+$* }$sub'"
        count=$((count + 1))
        check_section "$@" "$sub"
    done
}
check_section
grep -q -- '--lock-wait' "$WORK/man.txt" || fail "the page does not show migrate mode set's options"

step "the installed completion"
bash "$ROOT/tests/completion/completion_test.sh" bash "$BIN" "$SCRATCH/usr/share/bash-completion/completions/webookctl"
bash "$ROOT/tests/completion/completion_test.sh" zsh "$BIN" "$SCRATCH/usr/share/zsh/vendor-completions/_webookctl"
# bash-completion loads a command's completion on first use, by its file name.
loaded=$(XDG_DATA_DIRS=$SCRATCH/usr/share bash -c \
    'source /usr/share/bash-completion/bash_completion && __load_completion webookctl && complete -p webookctl') ||
    fail "bash-completion's loader did not find the installed completion"
[[ $loaded == *"-F _webookctl webookctl"* ]] || fail "bash-completion loaded '$loaded'"

step "apt-get install --simulate"
apt-get install --simulate --no-install-recommends "$DEB" >"$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; fail "apt would not install $DEB"; }
grep -q '^Inst webookctl ' "$WORK/apt.log" || { cat "$WORK/apt.log" >&2; fail "apt would not install webookctl"; }

step "ok: $(basename "$DEB"), $count commands in webookctl(1); Depends: $DEPENDS"
