// Typed checkpoint records: one struct per CheckpointKind, and the one codec
// between them and the control table's rows (checkpoint.h). Code that keeps
// or reads a position, a plan or a verdict uses these; only
// checkpoint_records.cpp knows how each is laid out in a row's position,
// rows_done and result columns -- and the layout is what older versions of
// the tool wrote, so a checkpoint survives an upgrade.
//
// Each record names its key (table, shard) and `k_kind`; a record that does
// not decode (written by another version, or damaged) reads as absent and is
// logged, never trusted as evidence.
//
//   CopyProgress           "copy"                  migrate copy: last key committed, rows, finished
//   DeferredIndex          "copy-index"            an index dropped for a load, until rebuilt
//   IncrementalWatermark   "validate-incremental"  validate --incremental: the window's end
//   ShardPlanRecord        "shard-plan"            the kept split of a table for --shard i/n
//   ForcedSwitch           "mode-forced"           a switch forced past its gate
//   PassRecord             "validate-pass-*"       what a validation pass found, for the gates
//   FullValidationProgress "validate-full"         validate --full: how far it got, for --resume
//   (the fixers' repaired-row counter, "fix", is CheckpointStore::add_fixed)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/migration/checkpoint.h"
#include "core/migration/event.h"
#include "core/migration/migration_mode.h"

namespace webook {

// migrate copy of one table (shard): saved after each committed batch, and
// once more, finished, at the end.
struct CopyProgress {
    static constexpr CheckpointKind k_kind = CheckpointKind::copy;
    std::string table;
    std::string shard = "all";
    std::optional<std::string> last_key;  // encode_key() of the last key committed; none: nothing yet
    std::int64_t rows = 0;                // rows copied, over every run of this copy
    bool finished = false;                // the copy reached the end of the table
    double seconds = 0;                   // when finished: the last run's duration
};

// A secondary index of a copy's target, dropped for the load and rebuilt
// after it; kept until rebuilt, so a killed copy's next run rebuilds it.
struct DeferredIndex {
    static constexpr CheckpointKind k_kind = CheckpointKind::copy_index;
    std::string table;
    std::string name;        // the index's name on the target
    std::string definition;  // what the dialect needs to create it again
};

// validate --incremental of one table (shard): the end of the last window
// whose events were delivered.
struct IncrementalWatermark {
    static constexpr CheckpointKind k_kind = CheckpointKind::validate_incremental;
    std::string table;
    std::string shard = "all";
    std::string watermark;  // canonical text of the update-time value
    std::int64_t rows = 0;  // base rows the window compared
    std::uint64_t target_missing = 0, neq = 0, base_missing = 0;
};

// The boundaries that split a table into `shards` key ranges, kept so that
// every host of a sharded run uses the same split.
struct ShardPlanRecord {
    static constexpr CheckpointKind k_kind = CheckpointKind::shard_plan;
    std::string table;
    int shards = 0;
    std::vector<std::string> boundaries;  // encode_key() of each boundary, shards - 1 at most
    std::string method;                   // "span" or "quantiles", for people
};
// The shard column of a table's plan for `shards` ways ("of 4").
std::string shard_plan_slot(int shards);

// A switch forced past its gate, as switch_mode() records it (in the
// switch's own transaction).
struct ForcedSwitch {
    static constexpr CheckpointKind k_kind = CheckpointKind::mode_forced;
    Mode from = Mode::src_only;
    Mode to = Mode::src_only;
    std::int64_t version = 0;  // the mode version the switch made
    std::string who;           // "user@host"
    std::int64_t at_us = 0;    // the control database's clock
    std::string reason;        // --reason
    std::vector<std::string> unmet;
};

// What a validation pass leaves for the switch gates (migrate/gates.h), per
// (table, kind, shard), replaced by the next pass: when it ran, with which
// base and in which mode, and what it found. Times are control_clock_us().
struct PassRecord {
    static constexpr CheckpointKind k_kind = CheckpointKind::pass_incremental;  // or pass_full: kind_of()
    std::string table;
    PassKind kind = PassKind::incremental;
    std::string shard = "all";
    BaseSide base = BaseSide::src;
    std::string mode;  // the migration mode it ran in (its name)
    std::int64_t mode_version = 0;
    std::int64_t started_us = 0;
    std::int64_t ended_us = 0;
    std::uint64_t found = 0;       // differences reported (after re-checks)
    std::int64_t fixed = 0;        // rows the fixers repaired in the table since the previous pass ended
    std::int64_t fixed_total = 0;  // the table's repaired-rows count when this pass ended
    bool continued = true;         // incremental: its window continued from the checkpoint (not --since)
};
CheckpointKind pass_checkpoint_kind(PassKind kind);

// validate --full of one table (shard): every key up to `after` compared and
// its events delivered, with the counts so far. Saved every few seconds
// while it runs, and `finished` at its end; the pass clears them all when
// every table is done. --resume goes on from it (a finished table is not
// read again) when it was made with the same base.
struct FullValidationProgress {
    static constexpr CheckpointKind k_kind = CheckpointKind::validate_full;
    std::string table;
    std::string shard = "all";
    BaseSide base = BaseSide::src;
    std::string method;                // "rows" or "checksum": the run's (either may go on from it)
    std::optional<std::string> after;  // encode_key() of the last key decided; none: nothing yet
    std::uint64_t base_rows = 0, other_rows = 0;
    std::uint64_t target_missing = 0, neq = 0, base_missing = 0;
    std::uint64_t chunks = 0, chunks_differing = 0;
    // Checksums: a chunk that differed is being merged row by row, up to
    // this key (none: to the end of the table).
    bool merging = false;
    std::optional<std::string> merging_up_to;
    bool finished = false;  // the table was compared to its end
};

// The codec: a record -> its row, and a row -> the record (nullopt when the
// row is of another kind or does not decode).
Checkpoint to_checkpoint(const CopyProgress& r);
Checkpoint to_checkpoint(const DeferredIndex& r);
Checkpoint to_checkpoint(const IncrementalWatermark& r);
Checkpoint to_checkpoint(const ShardPlanRecord& r);
Checkpoint to_checkpoint(const ForcedSwitch& r);
Checkpoint to_checkpoint(const PassRecord& r);
Checkpoint to_checkpoint(const FullValidationProgress& r);
template <typename Record>
std::optional<Record> from_checkpoint(const Checkpoint& row);
template <>
std::optional<CopyProgress> from_checkpoint(const Checkpoint& row);
template <>
std::optional<DeferredIndex> from_checkpoint(const Checkpoint& row);
template <>
std::optional<IncrementalWatermark> from_checkpoint(const Checkpoint& row);
template <>
std::optional<ShardPlanRecord> from_checkpoint(const Checkpoint& row);
template <>
std::optional<ForcedSwitch> from_checkpoint(const Checkpoint& row);
template <>
std::optional<PassRecord> from_checkpoint(const Checkpoint& row);
template <>
std::optional<FullValidationProgress> from_checkpoint(const Checkpoint& row);

// Saves (replaces) the record's row.
template <typename Record>
void save_record(CheckpointStore& store, const Record& record) {
    store.save(to_checkpoint(record));
}
// Saves it unless a row with its key exists; true when this call saved it.
template <typename Record>
bool save_record_if_absent(CheckpointStore& store, const Record& record) {
    return store.save_if_absent(to_checkpoint(record));
}
// Deletes the record's row (none: nothing happens).
template <typename Record>
void clear_record(CheckpointStore& store, const Record& record) {
    const Checkpoint row = to_checkpoint(record);
    store.clear(row.kind, row.table, row.shard);
}
// The record kept under (table, shard), if any and if it decodes.
template <typename Record>
std::optional<Record> load_record(CheckpointStore& store, const std::string& table, const std::string& shard,
                                  CheckpointKind kind = Record::k_kind) {
    auto row = store.load(kind, table, shard);
    return row ? from_checkpoint<Record>(*row) : std::nullopt;
}
// Every record of its kind among `rows` (CheckpointStore::load_all()), in
// their order; rows that do not decode are skipped.
template <typename Record>
std::vector<Record> records_of(const std::vector<Checkpoint>& rows) {
    std::vector<Record> out;
    for (const auto& row : rows)
        if (auto r = from_checkpoint<Record>(row)) out.push_back(std::move(*r));
    return out;
}

// The forced switches recorded so far, oldest first.
std::vector<ForcedSwitch> forced_switches(const std::vector<Checkpoint>& rows);

}  // namespace webook
