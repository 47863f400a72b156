// The gates of `migrate mode set` (README.md "The four migration phases"): what
// must hold before each step, so that no switch makes a side authoritative
// while it may lack a row the other has.
//
//   -> src_first   every table of the migration ([[tables]] and every table a
//                  copy has touched) is fully copied (every shard of a sharded
//                  copy), none has deferred indexes left to rebuild, and the
//                  target has every unique index the source has (the
//                  double-writes' upserts need them).
//   -> dst_first, -> dst_only, and every rollback
//                  for every table, the last incremental validation pass
//                  (every shard of it, when sharded) had the right base --
//                  forward, the current phase's (source for -> dst_first,
//                  target for -> dst_only); back, the side that is base after
//                  the step --, continued the table's watermark (not
//                  --since), began in the current phase (after the switch
//                  into it), ended clean, ended within max_age, and began
//                  after the last counted second-side failure; and, when the
//                  fixers' consumer group is named, no event left unprocessed
//                  in it.
//
// Why a clean incremental pass is enough: the watermark never moves past a
// difference still found (validate/validation.h), so a clean pass means every
// row changed since the watermark chain began -- the first pass compares the
// whole table -- matches on both sides; a second-side failure counted after
// it began may not have been seen, hence "started after". And it must have
// begun in the current phase: a write in a single-write phase (src_only,
// dst_only) reaches one side and is no failure, so a pass begun before the
// switch out of such a phase may have compared a row before such a write
// changed it (found by the exhaustive model, tests/unit/protocol_model_test.cpp:
// a clean pass in src_only, a write, src_first, dst_first at once -- the target
// lacked the write). A clean pass is the
// same claim whichever side was base; the base is required anyway so that
// the evidence is the one the operator's validation for that phase produces.
//
// The gate is checked by switch_mode() while the switch holds the mode row
// exclusively (no writer in flight, none can start, so no failure can be
// counted between the check and the switch). A refused step lists every
// unmet precondition. `--force --reason` switches anyway and records who,
// when, why and what was unmet in the control table ("mode-forced" rows),
// in the switch's own transaction; `migrate status` shows them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/config.h"
#include "core/migration/migration_mode.h"
#include "migrate/mode_control.h"

namespace webook {

class Connection;

// What the control table (and, for src_first, the target) says about one
// table of the migration.
struct TableEvidence {
    std::string table;
    std::vector<CopyProgress> copies;          // its copy checkpoints (one per shard)
    std::vector<std::string> pending_indexes;  // deferred indexes not rebuilt yet ("copy-index" rows)
    std::vector<std::string> missing_unique;   // the source's unique indexes the target lacks, "(a, b)"
    std::optional<std::string> unreadable;     // why the index check could not be made, if it could not
    std::vector<PassRecord> passes;            // its incremental pass records (one per shard)
};

struct GateInput {
    Mode from = Mode::src_only;
    std::int64_t from_version = 0;  // the mode row's version before the step (the current phase)
    Mode to = Mode::src_only;
    std::vector<TableEvidence> tables;
    std::optional<std::int64_t> last_failure_us;  // when a second-side failure was last counted; none if never
    std::int64_t now_us = 0;                      // the control database's clock
    std::chrono::seconds max_age{600};            // default: 10 minutes
    // The fixers' backlog, when asked (--group/--from): events their consumer
    // group has not committed. Any left blocks the validation gates.
    std::optional<std::int64_t> fixer_lag;
    std::string fixer_group;  // its name, for the message
};

struct GateVerdict {
    std::vector<std::string> unmet;  // one line each: "interactives: last clean incremental pass 43m ago (max 10m)"
    bool ready() const { return unmet.empty(); }
};

// The gate of the step in.from -> in.to, decided from `in` alone (no I/O).
// A step that transition_allowed() refuses, or no step at all, has no gate
// (ready). This is the one place the preconditions are written.
GateVerdict check_gate(const GateInput& in);

// The tables of the migration: `configured` ([[tables]]) and every table a
// copy checkpoint names, in that order, without repeats.
std::vector<std::string> migration_tables(const std::vector<TableConfig>& configured,
                                          const std::vector<Checkpoint>& checkpoints);

// For the src_first gate: the source's unique indexes (other than the key)
// that the target lacks, per table. `source`/`target` may be null (not
// configured): every table is then marked unreadable.
struct IndexEvidence {
    std::vector<std::string> missing_unique;
    std::optional<std::string> unreadable;
};
IndexEvidence unique_index_evidence(Connection* source, Connection* target, const TableConfig& table);

// Everything check_gate() needs, read from the control database (and
// `indexes`, gathered beforehand: introspection is too slow to run while
// writers wait).
// `records` is the control database (checkpoints, pass records); `home` the
// session holding the mode row (second-side failures, the clock).
GateInput gather_gate_input(Connection& records, Connection& home, const ModeState& from, Mode to,
                            const std::vector<std::string>& tables,
                            const std::vector<std::pair<std::string, IndexEvidence>>& indexes,
                            std::chrono::seconds max_age);

struct SwitchRequest {
    Mode to = Mode::src_only;                    // required
    std::chrono::milliseconds lock_wait{30000};  // default: 30 s for writers in flight
    std::chrono::seconds max_age{600};           // default: 10 minutes
    DryRun dry_run = DryRun::no;                 // yes: decide, change nothing
    std::optional<std::string> force_reason;     // --force --reason TEXT: switch despite the gate
    std::string who;                             // recorded with a forced switch ("user@host")
    std::vector<TableConfig> tables;             // the configured [[tables]]
    // The fixers' Kafka consumer group and topic: when set, the validation
    // gates also need it to have no unprocessed events (read before the lock).
    std::string fixer_brokers, fixer_group, fixer_topic;
};

struct SwitchOutcome {
    ModeState before;
    ModeState after;  // == before in a dry run, or when already there
    bool changed = false;
    bool moved = false;     // the mode row moved to the other database (SetModeResult)
    bool confirmed = true;  // false: moved, not yet confirmed there (run it again)
    bool forced = false;    // switched although the gate was not met
    double waited_seconds = 0;
    GateVerdict verdict;  // the gate as checked (under the switch's lock, unless a dry run)
    // A step that changes the base: the tables whose id sequence on the new
    // base moved past its rows, and where to (tables already past: none).
    std::vector<std::pair<std::string, std::int64_t>> identities_moved;
};

// The operator's switch: checks the step (one at a time) and its gate, then
// switches (set_mode()). Throws Error(Code::usage) for an illegal step, or
// for an unmet gate without force_reason -- one line, every unmet
// precondition -- and changes nothing then; what set_mode() throws
// otherwise. `source`/`target` serve the src_first index check (may be null:
// the check then reports the tables unreadable) and, for a step that changes
// the base (src_first <-> dst_first), the new base, whose id sequences are
// moved past its rows under the switch's lock (Error(Code::usage) when that
// side is null; nothing is changed).
SwitchOutcome switch_mode(ControlRows& control, Connection* source, Connection* target, const SwitchRequest& request);
// The same with a row that does not move, in `control`.
SwitchOutcome switch_mode(Connection& control, Connection* source, Connection* target, const SwitchRequest& request);

}  // namespace webook
