#!/usr/bin/env bash
# The completion scripts of `webookctl completion bash|zsh`, loaded the way
# each shell loads them and asked to complete words:
#   bash: the script is sourced, `complete -p webookctl` names its function,
#         and the function is called with COMP_WORDS/COMP_CWORD as bash sets
#         them; besides a few fixed cases, every command and every option the
#         binary's --help lists, at every level, must be offered.
#   zsh:  `zsh -n` accepts it, and an interactive zsh on a pseudo-terminal
#         (zsh_complete.zsh) completes lines with TAB: a few fixed cases, and
#         every command and long option --help lists, at every level.
# Exit 0 when every case passes; otherwise 1, naming each failure.
#
# usage: tests/completion/completion_test.sh bash|zsh WEBOOKCTL [SCRIPT]
#   SCRIPT: the completion file to load (the package test passes the installed
#   one); default: what `WEBOOKCTL completion SHELL` prints.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHELL_NAME=$1
WEBOOKCTL=$2
SCRIPT=${3:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

fail() {
    echo "completion_test ($SHELL_NAME): FAIL: $*" >&2
    failures=$((failures + 1))
}

if [ -z "$SCRIPT" ]; then
    SCRIPT=$WORK/generated
    "$WEBOOKCTL" completion "$SHELL_NAME" >"$SCRIPT"
fi
[ -s "$SCRIPT" ] || { echo "completion_test: $SCRIPT is missing or empty" >&2; exit 1; }

# The commands below path "$@", as its --help lists them (CLI11's
# "Subcommands:" section).
subcommands() {
    "$WEBOOKCTL" "$@" --help | awk '/^Subcommands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [^ ]/ { print $1 }'
}
# The option names the --help of path "$@" lists ("-h,--help", "--force Needs: ...").
help_options() {
    "$WEBOOKCTL" "$@" --help | awk '/^Options:$/ { on = 1; next } on && /^$/ { exit }
        on && /^  -/ { n = split($1, names, ","); for (i = 1; i <= n; i++) print names[i] }'
}
# Every command path, depth first, one per line ("migrate mode set").
command_paths() {
    local sub
    for sub in $(subcommands "$@"); do
        echo "$* $sub" | sed 's/^ //'
        command_paths "$@" "$sub"
    done
}

# ---- bash --------------------------------------------------------------------

# The completions bash offers for the words "$@", the cursor at the end of
# the last one (pass '' to complete a new word), one per line.
bash_complete() {
    local function
    function=$(complete -p webookctl | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$function" webookctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}"
}

# expect WORDS... offers COMPLETIONS...: exactly these completions, in this order.
expect() {
    local words=() want got
    while [ "$1" != offers ]; do
        words+=("$1")
        shift
    done
    shift
    want="$*"
    got=$(bash_complete "${words[@]}" | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || fail "'${words[*]}<TAB>' offered '$got', expected '$want'"
}

# expect_offered WORDS... offers WORD: WORD among the completions.
expect_offered() {
    local words=()
    while [ "$1" != offers ]; do
        words+=("$1")
        shift
    done
    # Not piped into grep -q: an early exit of grep would fail the pipeline.
    local got
    got=$(bash_complete "${words[@]}")
    grep -qxF -- "$2" <<<"$got" || fail "'${words[*]}<TAB>' did not offer '$2'"
}

test_bash() {
    # shellcheck disable=SC1090
    source "$SCRIPT"
    complete -p webookctl >/dev/null 2>&1 || { fail "sourcing $SCRIPT registers no completion for webookctl"; return; }

    expect webookctl mi offers migrate
    expect webookctl migrate mode s offers set
    expect webookctl validate --inc offers --incremental
    expect_offered webookctl validate --in offers --incremental
    expect webookctl migrate shard-plan '' offers reset
    expect webookctl ops rank '' offers recompute show
    expect webookctl completion '' offers bash zsh
    expect webookctl db init --side '' offers source target
    expect webookctl db init --side = t offers target  # --side=t, split at '=' by bash
    expect webookctl db init --side=t offers --side=target
    expect webookctl validate --base s offers src
    # A value is not a command, and an ancestor's options are known below it.
    expect webookctl --output json mi offers migrate
    expect webookctl --config webook.toml migrate mode --log-level debug s offers set
    expect webookctl migrate copy --table t --re offers --resume --retry-for
    # bash splits words at ':' too: a DSN is one value, whatever its pieces.
    expect webookctl migrate copy --source mysql : //webook@db1 : 3306/webook --ta offers --target --table
    expect webookctl --config /etc/webook : db mi offers migrate
    # Nothing fixed to offer: bash falls back to file names (-o default).
    expect webookctl migrate copy --source '' offers

    # Every command and option --help lists, at every level.
    local path words
    local -a p
    while IFS= read -r path; do
        read -r -a p <<<"$path"
        words=("${p[@]:0:${#p[@]}-1}")
        expect_offered webookctl "${words[@]}" "${p[-1]:0:2}" offers "${p[-1]}"
        for option in $(help_options "${p[@]}"); do
            expect_offered webookctl "${p[@]}" "${option:0:3}" offers "$option"
        done
    done < <(command_paths)
    for option in $(help_options); do expect_offered webookctl "${option:0:3}" offers "$option"; done
    [ "$(command_paths | wc -l)" -gt 40 ] || fail "only $(command_paths | wc -l) commands found in --help"
}

# ---- zsh ---------------------------------------------------------------------

test_zsh() {
    command -v zsh >/dev/null || { fail "zsh is not installed (scripts/setup.sh)"; return; }
    head -n1 "$SCRIPT" | grep -qx '#compdef webookctl' || fail "$SCRIPT does not start with '#compdef webookctl'"
    zsh -n "$SCRIPT" || fail "zsh -n rejects $SCRIPT"
    # compinit finds completion functions by file name in $fpath.
    mkdir -p "$WORK/fpath"
    cp "$SCRIPT" "$WORK/fpath/_webookctl"
    local want=(
        $'webookctl mi\tmigrate'
        $'webookctl migrate mode s\tset'
        $'webookctl validate --inc\t--incremental'
        $'webookctl ops rank \trecompute show'
        $'webookctl completion \tbash zsh'
        $'webookctl db init --side \tsource target'
        $'webookctl --output json migrate c\tcopy'
        $'webookctl migrate copy --table t --re\t--resume --retry-for'
    )
    # And every command and long option --help lists, at every level: a
    # command among its parent's by the first two letters, the options among
    # those offered for '--'.
    local lines=() offered=() path p words
    for w in "${want[@]}"; do lines+=("${w%%$'\t'*}"); done
    while IFS= read -r path; do
        read -r -a p <<<"$path"
        words=("${p[@]:0:${#p[@]}-1}")
        lines+=("webookctl ${words[*]}${words[*]:+ }${p[-1]:0:2}")
        offered+=("webookctl ${words[*]}${words[*]:+ }${p[-1]:0:2}"$'\t'"${p[-1]}")
        lines+=("webookctl $path --")
        for option in $(help_options "${p[@]}"); do
            [[ $option == --* ]] && offered+=("webookctl $path --"$'\t'"$option")
        done
    done < <(command_paths)

    local got
    got=$(cd "$WORK" && timeout 60 zsh -f "$HERE/zsh_complete.zsh" "$WORK/fpath" "${lines[@]}") ||
        { fail "zsh_complete.zsh failed"; return; }
    # The offers for one line: the matches after its tab.
    offers() { awk -F '\t' -v line="$1" '$1 == line { print $2; exit }' <<<"$got"; }
    for w in "${want[@]}"; do
        [ "$(offers "${w%%$'\t'*}")" = "${w#*$'\t'}" ] ||
            fail "zsh: '${w%%$'\t'*}<TAB>' offered '$(offers "${w%%$'\t'*}")', expected '${w#*$'\t'}'"
    done
    for w in "${offered[@]}"; do
        [[ " $(offers "${w%%$'\t'*}") " == *" ${w#*$'\t'} "* ]] ||
            fail "zsh: '${w%%$'\t'*}<TAB>' did not offer '${w#*$'\t'}'"
    done
}

case $SHELL_NAME in
bash) test_bash ;;
zsh) test_zsh ;;
*)
    echo "usage: $0 bash|zsh WEBOOKCTL [SCRIPT]" >&2
    exit 2
    ;;
esac
if [ $failures -gt 0 ]; then
    echo "completion_test ($SHELL_NAME): $failures failure(s)" >&2
    exit 1
fi
echo "completion_test ($SHELL_NAME): ok ($SCRIPT)" >&2
