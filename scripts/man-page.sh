#!/usr/bin/env bash
# Writes webookctl(1) from the binary's own help, with help2man, so that the
# page never drifts from the binary: NAME to OPTIONS from `webookctl --help`
# and `--version`, then a COMMANDS section with the --help of every command,
# found by following the "Subcommands:" lists of --help down the tree. Run at
# build time by cli/CMakeLists.txt (which gzips the page for the package).
#
# usage: scripts/man-page.sh WEBOOKCTL OUTPUT.1 SUMMARY
#   SUMMARY: the NAME line's "webookctl - SUMMARY" (CMake's PROJECT_DESCRIPTION)
set -euo pipefail
BIN=$1
OUT=$2
NAME=$3
command -v help2man >/dev/null || { echo "man-page: help2man is not installed (scripts/setup.sh)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The page's date and text do not depend on who builds it, or where.
export LC_ALL=C.UTF-8 TZ=UTC

# The commands below path "$@", as its --help lists them.
subcommands() {
    "$BIN" "$@" --help | awk '/^Subcommands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [^ ]/ { print $1 }'
}
# Every command path, depth first in --help order, one per line.
command_paths() {
    local sub
    for sub in $(subcommands "$@"); do
        echo "$* $sub" | sed 's/^ //'
        command_paths "$@" "$sub"
    done
}

# One command's help2man page, cut down to a subsection of COMMANDS: its
# synopsis, description and the help's own headings ("Options:",
# "Example:") as bold paragraphs. A line starting with '[' or '/' would mean
# something to help2man's --include, so it gets a zero-width \& first.
command_section() {
    help2man --no-info --help-option="$1 --help" "$BIN" | awk -v path="$1" '
        /^\.\\"/ || /^\.TH / { next }
        /^\.SH NAME/ { skip = 1; next }
        /^\.SH SYNOPSIS/ { skip = 0; printf ".SS \"webookctl %s\"\n", path; next }
        skip { next }
        /^\.SH DESCRIPTION/ { print ".PP"; next }
        /^\.SH OPTIONS/ { print ".PP\n\\fBOptions:\\fR"; next }
        /^\.S[HS] / { sub(/^\.S[HS] "?/, ""); sub(/"$/, ""); printf ".PP\n\\fB%s\\fR\n", $0; next }
        /^[[\/]/ { $0 = "\\&" $0 }
        { print }'
}

{
    # .ad l, .nh: URLs and flags neither stretched nor hyphenated.
    cat <<'EOF'
[COMMANDS]
.ad l
.nh
Every command's own help, as \fBwebookctl\fR \fIcommand\fR \fB\-\-help\fR prints it.
EOF
    while IFS= read -r path; do command_section "$path"; done < <(command_paths)
    cat <<'EOF'
[SHELL COMPLETION]
\fBwebookctl completion bash\fR and \fBwebookctl completion zsh\fR print completion scripts made
from this binary's commands; the package installs them as
/usr/share/bash-completion/completions/webookctl and
/usr/share/zsh/vendor-completions/_webookctl.
[SEE ALSO]
README.md in /usr/share/doc/webookctl: the migration phases and their gates, every command
in depth, configuration and exit codes; the migration drill in
/usr/share/doc/webookctl/examples.
EOF
} >"$WORK/commands.h2m"

paths=$(command_paths | wc -l)
[ "$paths" -gt 0 ] || { echo "man-page: no commands found in '$BIN --help'" >&2; exit 1; }
help2man --no-info --section=1 --name="$NAME" --include="$WORK/commands.h2m" --output="$WORK/page.1" "$BIN"
mv "$WORK/page.1" "$OUT"
echo "man-page: $OUT ($paths commands)" >&2
