# Completes command lines the way zsh does at a terminal: an interactive zsh
# on a pseudo-terminal (zsh/zpty) with compinit and $fpath holding DIR, which
# has _webookctl; each LINE is typed and completed with TAB. Prints one line
# per LINE: the LINE, a tab, and the matches offered, space-separated.
#
# The matches are read by wrapping compadd, the builtin every completion
# function ends in: a call that adds matches (not the -O/-A/-D calls that
# only test them) prints them, and comppostfuncs prints a marker when the
# completion is over.
#
# usage: zsh -f tests/completion/zsh_complete.zsh DIR LINE...
zmodload zsh/zpty || { print -u2 'zsh_complete: no zsh/zpty module'; exit 2 }
dir=$1
shift

zpty session zsh -f -i
zpty -w session "PS1=''; PROMPT_EOL_MARK=''; unsetopt zle_bracketed_paste 2>/dev/null"
zpty -w session "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w session 'bindkey "^I" complete-word; zstyle ":completion:*" insert-tab false'
# The markers are quoted so that the terminal's echo of these lines never
# looks like them.
zpty -w session "__m=MAT''CH__; __d=DO''NE__"
zpty -w session 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __hits; builtin compadd -O __hits "$@"; print -rl -- ${(@)__hits/#/$__m}; }'
zpty -w session '__done() { print -r -- $__d }'
zpty -w session "print -r -- REA''DY__"
while zpty -r session out; do [[ $out == READY__* ]] && break; done

for line in "$@"; do
    zpty -w session 'comppostfuncs=(__done)'
    zpty -w -n session "$line"$'\t'
    matches=()
    # Each read returns at least one line; a completion is over at the marker.
    while zpty -r -t session out || { sleep 0.05; zpty -r session out }; do
        out=${out//$'\r'/}
        for part in ${(f)out}; do
            [[ $part == *MATCH__* ]] && matches+=(${part##*MATCH__})
        done
        [[ $out == *DONE__* ]] && break
    done
    print -r -- "$line"$'\t'"${matches[*]}"
    zpty -w -n session $'\C-u'
done
zpty -d session
