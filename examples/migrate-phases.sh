#!/usr/bin/env bash
# examples/migrate-phases.sh -- one migration, step by step, each mode switch
# through its gate (README.md "The four migration phases"):
#
#   src_only:  target schema (db init --side target) -> migrate copy of each
#              table (resumed where a copy stopped, skipped when done) ->
#              validate --full + fix until consistent -> gate of src_first
#   src_first: [soak] -> incremental validate + fix until the gate of
#              dst_first opens (a clean pass, base: the source) -> dst_first
#   dst_first: [soak] -> incremental validate + fix until the gate of
#              dst_only opens (a clean pass, base: the target) -> dst_only
#   dst_only:  nothing left to do
#
# Resumable and idempotent: every run reads the current mode first
# (`migrate mode get`) and goes on from there, so a run that stopped -- a gate
# refused, a server went away, Ctrl-C -- is continued by running it again, and
# a run after the end changes nothing. Copies only happen in src_only (the
# tool refuses them later anyway), never with --truncate: a copy that stopped
# goes on with --resume, a finished one is not repeated, and a target table
# with rows but no copy checkpoint stops the script (the tool's refusal) so an
# operator decides -- it may be the wrong database.
#
# When a gate refuses, the script stops there with the gate's reasons and
# exit 2 (`migrate mode set`'s refusal) and changes nothing: the migration stays
# in its current mode. It never rolls back by itself. Staying is safe in every
# mode (README "What each phase allows"): writers go on double-writing,
# second-side failures are counted, found by incremental validation and
# repaired by the fixers, and running this script again continues. A rollback
# is gated too -- it needs a clean pass with the side that becomes base,
# which is the very pass that is missing when src_first -> dst_first or
# dst_first -> dst_only refuses -- and the reason to roll back (the
# application misbehaves on the new base) is an operator's call, not this
# script's: `webookctl migrate mode set src_first` (or src_only) by hand.
#
# usage: migrate-phases.sh --table T [--table T]... [options]
#   --config FILE      webookctl's config (default: $WEBOOKCTL_CONFIG, else the
#                      tool's environment: WEBOOKCTL_SOURCE_DSN, ...)
#   --table T          a table of the migration, repeatable (or
#                      MIGRATE_TABLES="t1 t2"); list every [[tables]] entry of
#                      the config: the gates check all of them
#   --tool PATH        the webookctl binary (default: $WEBOOKCTL, else
#                      webookctl on PATH)
#   --soak D           time to stay in src_first and in dst_first before asking
#                      the next gate, counted from the switch (so a rerun only
#                      waits what is left): 30s, 10m, 2h, 1d (default: 0;
#                      MIGRATE_SOAK)
#   --until MODE       stop once the migration is in MODE (default: dst_only;
#                      MIGRATE_UNTIL), e.g. src_first to watch it for a day;
#                      src_only: copy and validate, stop before the first switch
#   --passes N         incremental passes per gate before giving up (default:
#                      10; MIGRATE_PASSES)
#   --full-passes N    full validation passes in src_only (default: 3;
#                      MIGRATE_FULL_PASSES; 0 skips them -- a table's first
#                      incremental pass compares every row anyway)
#   --pass-wait D      pause after a pass that did not open the gate (default:
#                      5s; MIGRATE_PASS_WAIT)
#   --recheck-after D  incremental validation's --recheck-after (default: 2s)
#   --sink URL         where validation's events go: file://PATH.jsonl or
#                      kafka://HOST:PORT/TOPIC (default: a file of this run;
#                      MIGRATE_SINK)
#   --group G          with a kafka:// sink: the fixers' consumer group; the
#                      script's own fixes use it, and the gates then also wait
#                      until the group has processed every event
#                      (MIGRATE_GROUP)
#   --no-fix           validate only, never run `fix` (MIGRATE_FIX=no): the
#                      fixers run elsewhere (webookctl-fix@GROUP.service on the
#                      --sink topic); the passes wait for them
#   --no-schema        do not run `db init --side target` (the target's schema
#                      is made by other means)
# Output: what it does, step by step, each webookctl command as it runs it.
# Needs jq. Run one at a time per migration.
#
# Exit status: 0 when the migration is in the --until mode (dst_only); 2 when
# a gate refused (its reasons printed) or for bad arguments; 1 when full
# validation still found differences after --full-passes; any other status is
# the failing webookctl command's (3: a server unreachable or failing,
# 130: interrupted -- run again to continue).
set -euo pipefail

PROG=migrate-phases

TOOL=${WEBOOKCTL:-webookctl}
CONFIG=${WEBOOKCTL_CONFIG:-}
read -r -a TABLES <<<"${MIGRATE_TABLES:-}"
SOAK=${MIGRATE_SOAK:-0}
UNTIL=${MIGRATE_UNTIL:-dst_only}
PASSES=${MIGRATE_PASSES:-10}
FULL_PASSES=${MIGRATE_FULL_PASSES:-3}
PASS_WAIT=${MIGRATE_PASS_WAIT:-5s}
RECHECK_AFTER=${MIGRATE_RECHECK_AFTER:-2s}
SINK=${MIGRATE_SINK:-}
GROUP=${MIGRATE_GROUP:-}
FIX=${MIGRATE_FIX:-yes}
SCHEMA=yes

usage() {  # $1: exit status (0: asked for, to stdout)
    if [ "$1" -eq 0 ]; then
        sed -n '/^# usage:/,/^# Needs jq/s/^# \{0,1\}//p' "$0"
    else
        sed -n '/^# usage:/,/^# Needs jq/s/^# \{0,1\}//p' "$0" >&2
    fi
    exit "$1"
}
die() {  # $1: exit status, then the message
    local rc=$1
    shift
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit "$rc"
}
needs_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die 2 "$1 needs a value"; fi; }

while [ "$#" -gt 0 ]; do
    case "$1" in
    --config) needs_value "$@"; CONFIG=$2; shift 2 ;;
    --table) needs_value "$@"; TABLES+=("$2"); shift 2 ;;
    --tool) needs_value "$@"; TOOL=$2; shift 2 ;;
    --soak) needs_value "$@"; SOAK=$2; shift 2 ;;
    --until) needs_value "$@"; UNTIL=$2; shift 2 ;;
    --passes) needs_value "$@"; PASSES=$2; shift 2 ;;
    --full-passes) needs_value "$@"; FULL_PASSES=$2; shift 2 ;;
    --pass-wait) needs_value "$@"; PASS_WAIT=$2; shift 2 ;;
    --recheck-after) needs_value "$@"; RECHECK_AFTER=$2; shift 2 ;;
    --sink) needs_value "$@"; SINK=$2; shift 2 ;;
    --group) needs_value "$@"; GROUP=$2; shift 2 ;;
    --no-fix) FIX=no; shift ;;
    --no-schema) SCHEMA=no; shift ;;
    -h | --help) usage 0 ;;
    *) die 2 "unknown argument '$1' (--help for usage)" ;;
    esac
done

# --- arguments -------------------------------------------------------------

MODES=(src_only src_first dst_first dst_only)
mode_index() {  # $1: a mode; prints 0..3, fails for anything else
    local i
    for i in "${!MODES[@]}"; do
        [ "${MODES[$i]}" = "$1" ] && { echo "$i"; return 0; }
    done
    return 1
}
# Seconds in a duration: N, Ns, Nm, Nh or Nd.
seconds_of() {  # $1: the option, $2: the value
    case "$2" in
    *[!0-9smhd]* | '' | [smhd]*) die 2 "$1 '$2': expected N, Ns, Nm, Nh or Nd" ;;
    *s) echo "${2%s}" ;;
    *m) echo $((${2%m} * 60)) ;;
    *h) echo $((${2%h} * 3600)) ;;
    *d) echo $((${2%d} * 86400)) ;;
    *) echo "$2" ;;
    esac
}
is_count() { case "$2" in '' | *[!0-9]*) die 2 "$1 '$2': expected a number" ;; esac; }

[ "${#TABLES[@]}" -gt 0 ] || die 2 "no table: pass --table T (repeatable) or MIGRATE_TABLES"
mode_index "$UNTIL" >/dev/null || die 2 "--until '$UNTIL': expected one of ${MODES[*]}"
SOAK_SECONDS=$(seconds_of --soak "$SOAK")
PASS_WAIT_SECONDS=$(seconds_of --pass-wait "$PASS_WAIT")
is_count --passes "$PASSES"
is_count --full-passes "$FULL_PASSES"
[ "$PASSES" -ge 1 ] || die 2 "--passes must be at least 1"
case "$FIX" in yes | no) ;; *) die 2 "MIGRATE_FIX='$FIX': expected yes or no" ;; esac
case "$SINK" in
'' | file://*) [ -z "$GROUP" ] || die 2 "--group is for a kafka:// --sink" ;;
kafka://*) [ -n "$GROUP" ] || [ "$FIX" = no ] || die 2 "a kafka:// --sink needs --group (the consumer group this script's fixes use)" ;;
*) die 2 "--sink '$SINK': expected file://PATH.jsonl or kafka://HOST:PORT/TOPIC" ;;
esac
command -v jq >/dev/null || die 2 "needs jq (apt-get install jq)"
command -v "$TOOL" >/dev/null || die 2 "webookctl not found: '$TOOL' (--tool PATH or WEBOOKCTL)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/migrate-phases.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [ -z "$SINK" ]; then
    EVENTS=$WORK/events.jsonl
    SINK=file://$EVENTS
    [ "$FIX" = yes ] || printf '%s: warning: --no-fix without --sink: no fixer reads this run'"'"'s own event file, so what validation finds stays until fixed otherwise\n' "$PROG" >&2
elif [[ $SINK == file://* ]]; then
    EVENTS=${SINK#file://}
else
    EVENTS=
fi

GLOBAL=()
[ -z "$CONFIG" ] || GLOBAL=(--config "$CONFIG")
TABLE_ARGS=()
for t in "${TABLES[@]}"; do TABLE_ARGS+=(--table "$t"); done
# The gates of dst_first and dst_only also wait for the fixers' group to have
# processed every event of the topic, when we know the group.
GATE_ARGS=()
[ -z "$GROUP" ] || GATE_ARGS=(--from "$SINK" --group "$GROUP")

# --- helpers ---------------------------------------------------------------

# The narration goes to fd 3 (the script's stdout), so that it stays out of
# the command outputs the script captures.
exec 3>&1
MODE=
step() { printf '\n== [%s] %s\n' "${MODE:-start}" "$*" >&3; }
say() { printf '   %s\n' "$*" >&3; }
# Runs webookctl with the global options, printing the command first.
wctl() {
    printf '   + webookctl%s\n' "$(printf ' %q' "${GLOBAL[@]}" "$@")" >&3
    "$TOOL" "${GLOBAL[@]}" "$@"
}
# The same, quietly: for the reads the script decides on.
wctl_quiet() { "$TOOL" "${GLOBAL[@]}" "$@"; }
# Stops the script after a webookctl command failed with status $1.
failed() {  # $1: status, $2: what
    die "$1" "$2 failed (exit $1); nothing else was done -- run this script again once it is fixed"
}

# Sets MODE and CONFIRMED from `migrate mode get`. A source without the
# control table starts a migration there (`migrate mode set src_only`); any
# other error stops the script.
read_mode() {
    local rc=0
    wctl_quiet --output json migrate mode get >"$WORK/mode.json" 2>"$WORK/mode.err" || rc=$?
    if [ "$rc" -eq 2 ] && grep -q 'no migration mode' "$WORK/mode.err"; then
        step "no migration yet: starting one (its mode row goes into the source's control table)"
        wctl migrate mode set src_only || failed $? "starting the migration"
        rc=0
        wctl_quiet --output json migrate mode get >"$WORK/mode.json" 2>"$WORK/mode.err" || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        cat "$WORK/mode.err" >&2
        failed "$rc" "reading the migration mode (webookctl migrate mode get)"
    fi
    MODE=$(jq -r .mode "$WORK/mode.json")
    CONFIRMED=$(jq -r .confirmed "$WORK/mode.json")
    SINCE=$(jq -r .since "$WORK/mode.json")
    mode_index "$MODE" >/dev/null || die 4 "webookctl reported an unknown mode '$MODE'"
}

# Asks the gate of the step to $1 without switching. Returns 0 when ready;
# the reasons it refuses are in $WORK/gate.txt (one per line).
gate_ready() {  # $1: the mode
    local rc=0
    wctl_quiet --output json migrate mode set "$1" --dry-run "${GATE_ARGS[@]}" >"$WORK/gate.json" 2>"$WORK/gate.err" || rc=$?
    # Exit 0 ready, 2 refused -- or 2 for a usage/config error, with no verdict.
    if { [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; } && [ -s "$WORK/gate.json" ]; then
        jq -r '.gate.unmet[]' "$WORK/gate.json" >"$WORK/gate.txt"
        [ "$(jq -r .gate.ready "$WORK/gate.json")" = true ]
        return
    fi
    cat "$WORK/gate.err" >&2
    failed "$rc" "asking the gate of $1 (webookctl migrate mode set $1 --dry-run)"
}

# The switch to $1; its gate is checked again under the switch's lock, so a
# refusal here (exit 2) stops the script with the tool's one-line reason.
switch_to() {  # $1: the mode
    local rc=0
    wctl migrate mode set "$1" "${GATE_ARGS[@]}" 2>"$WORK/switch.err" || rc=$?
    cat "$WORK/switch.err" >&2
    [ "$rc" -ne 2 ] || refused "$1" "$(cat "$WORK/switch.err")"
    [ "$rc" -eq 0 ] || failed "$rc" "migrate mode set $1"
    read_mode
}

# Stops: the gate of the step to $1 refused. Nothing was changed.
refused() {  # $1: the mode, $2: the reasons
    printf '\n%s: the gate of %s refused; the migration stays in %s (nothing was changed):\n' "$PROG" "$1" "$MODE" >&2
    printf '%s\n' "$2" | sed 's/^/  /' >&2
    printf '%s: run this script again to continue from %s once the reasons above are dealt with\n' "$PROG" "$MODE" >&2
    exit 2
}

# Truncates the event file of a file:// sink before a pass, so each fix reads
# only that pass's events (a file sink appends).
reset_events() { [ -z "$EVENTS" ] || : >"$EVENTS"; }

# Repairs what the last pass found (unless --no-fix).
fix_found() {
    if [ "$FIX" = no ]; then
        say "not fixing (--no-fix): left to the fixers that consume $SINK"
        return 0
    fi
    local from=(--from "$SINK")
    [ -z "$GROUP" ] || from+=(--group "$GROUP")
    wctl --output json fix "${TABLE_ARGS[@]}" "${from[@]}" --until-idle >"$WORK/fix.json" || failed $? "fix"
    say "fixed: $(jq -c '{events, upserted, deleted, dead_letters, rebased}' "$WORK/fix.json")"
}

# One validation pass; sets FOUND to the inconsistencies it found.
validate_pass() {  # $1: full|incremental, further arguments to validate
    local kind=$1 rc=0
    shift
    reset_events
    wctl --output json validate --"$kind" "${TABLE_ARGS[@]}" --sink "$SINK" "$@" >"$WORK/validate.json" || rc=$?
    [ "$rc" -le 1 ] || failed "$rc" "validate --$kind"
    FOUND=$(jq -r .inconsistencies "$WORK/validate.json")
    say "validate --$kind (base $(jq -r .base "$WORK/validate.json")): $FOUND inconsistencies$(jq -r \
        '[.tables[] | select(.target_missing + .neq + .base_missing > 0)
          | "\(.table): \(.target_missing) target_missing, \(.neq) neq, \(.base_missing) base_missing"]
         | if length > 0 then " (" + join("; ") + ")" else "" end' "$WORK/validate.json")"
}

# Waits until the current mode has lasted --soak (counted from the switch, so
# a rerun waits only what is left).
soak() {
    [ "$SOAK_SECONDS" -gt 0 ] || return 0
    local since now left
    since=$(date -d "$SINCE" +%s 2>/dev/null) || since=0
    now=$(date +%s)
    left=$((since + SOAK_SECONDS - now))
    if [ "$left" -gt 0 ]; then
        step "soaking: $MODE since $SINCE, $left s left of --soak $SOAK"
        sleep "$left"
    else
        say "soak: $MODE since $SINCE, --soak $SOAK already over"
    fi
}

# --- the steps ---------------------------------------------------------------

# The status of each table's copy: done, partial (a checkpoint, not finished),
# sharded (copied with --shard: this script does not finish those) or none.
copy_state() {  # $1: the table
    jq -r --arg t "$1" '
        [.checkpoints[] | select(.table == $t)] as $rows
        | ([$rows[] | select(.kind == "copy")]) as $copy
        | if ($copy | length) == 0 then "none"
          elif any($copy[]; .shard != "all") then "sharded"
          elif any($rows[]; .kind == "copy-index") then "partial"
          elif any($copy[]; (.result | type) == "object" and .result.state == "done") then "done"
          else "partial" end' "$WORK/status.json"
}

phase_src_only() {
    if [ "$SCHEMA" = yes ]; then
        step "target schema: creates the webook tables and control tables that are missing (idempotent)"
        wctl db init --side target || failed $? "db init --side target"
    fi

    step "copy: each table once; a copy that stopped goes on from its checkpoint"
    wctl_quiet --output json migrate status >"$WORK/status.json" || failed $? "migrate status"
    local t state
    for t in "${TABLES[@]}"; do
        state=$(copy_state "$t")
        case "$state" in
        done) say "$t: copied already (checkpoint done): skipped" ;;
        partial) wctl migrate copy --table "$t" --resume || failed $? "migrate copy --table $t --resume" ;;
        none) wctl migrate copy --table "$t" || failed $? "migrate copy --table $t" ;;
        sharded) die 2 "$t was copied with --shard: finish every shard with its own 'migrate copy --shard i/n --resume', then run this again" ;;
        esac
    done

    if [ "$FULL_PASSES" -gt 0 ]; then
        step "full validation + fix until consistent (rows written while the copy ran)"
        local pass
        for ((pass = 1; pass <= FULL_PASSES; pass++)); do
            validate_pass full --resume
            [ "$FOUND" -gt 0 ] || break
            [ "$pass" -eq "$FULL_PASSES" ] && die 1 "full validation still finds $FOUND inconsistencies after $FULL_PASSES passes; nothing was switched (more --full-passes, or --full-passes 0: from src_first on, incremental validation compares every changed row and the gate of dst_first needs it clean)"
            fix_found
        done
    fi
}

# Incremental validation (+ fix) until the gate of the step to $1 opens, then
# the switch. After --passes passes, stops with the gate's reasons.
passes_until_gate() {  # $1: the mode
    local pass
    step "incremental validation + fix until the gate of $1 opens (up to $PASSES passes)"
    for ((pass = 1; pass <= PASSES; pass++)); do
        validate_pass incremental --recheck-after "$RECHECK_AFTER"
        if [ "$FOUND" -gt 0 ]; then
            # Not clean: the gate needs a pass that found nothing. Repair, and
            # the next pass checks those rows again (the watermark waited).
            fix_found
            [ "$FIX" = yes ] || [ "$pass" -eq "$PASSES" ] || sleep "$PASS_WAIT_SECONDS"
            continue
        fi
        if gate_ready "$1"; then
            step "switch to $1 (its gate is ready)"
            switch_to "$1"
            return 0
        fi
        sed 's/^/   gate: /' "$WORK/gate.txt" >&3
        [ "$pass" -eq "$PASSES" ] || sleep "$PASS_WAIT_SECONDS"
    done
    # The gate decides, not the count: a clean pass made meanwhile by another
    # validator (cron, a timer) opens it as well.
    if gate_ready "$1"; then
        step "switch to $1 (its gate is ready)"
        switch_to "$1"
        return 0
    fi
    refused "$1" "$(cat "$WORK/gate.txt")"
}

# --- main ----------------------------------------------------------------------

# Ends the run: the migration is as far as --until asks.
finish() {
    step "$*"
    wctl_quiet --output json migrate mode get >"$WORK/mode.json" || failed $? "migrate mode get"
    say "$(jq -r '"mode \(.mode) since \(if .since == "" then "the start" else .since end) (version \(.version); its row in the \(.mode_row)'"'"'s control table)"' "$WORK/mode.json")"
    exit 0
}

read_mode
step "migration mode $MODE (since ${SINCE:-the start}); going on to $UNTIL; tables: ${TABLES[*]}"
if [ "$CONFIRMED" != true ]; then
    # A switch that moved the mode row but could not confirm it in its new
    # home: running the same switch again confirms it (README "migrate mode").
    step "the switch to $MODE is not yet confirmed: confirming it"
    switch_to "$MODE"
fi

while :; do
    # --until src_only prepares (schema, copy, full validation) and stops
    # before the first switch; any other --until stops on reaching it.
    if [ "$MODE" != src_only ] && [ "$(mode_index "$MODE")" -ge "$(mode_index "$UNTIL")" ]; then
        finish "the migration is in $MODE: nothing more to do (--until $UNTIL)"
    fi
    case "$MODE" in
    src_only)
        phase_src_only
        [ "$UNTIL" != src_only ] || finish "ready for src_first; stopping before it (--until src_only)"
        step "switch to src_first: the platform writes the source, then the target"
        gate_ready src_first || refused src_first "$(cat "$WORK/gate.txt")"
        switch_to src_first
        ;;
    src_first)
        soak
        passes_until_gate dst_first
        ;;
    dst_first)
        soak
        passes_until_gate dst_only
        ;;
    esac
done
