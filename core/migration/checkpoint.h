// Checkpoints of long-running work, in the tool's control table.
//
// A checkpoint is (kind, table, shard) -> position: "copy" stores the last key
// copied, "validate-incremental" the update-time watermark, "validate-full"
// the last verdict. Positions are saved only after the work before them is
// durable (the target batch committed; the events delivered), so a killed run
// resumes without losing anything; at worst it redoes one batch, which is
// harmless because copies upsert and validations only read.
//
// The control tables live in the control database (default: the source) and
// are created on first use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/value.h"
#include "core/migration/event.h"

namespace webook {

class Connection;
struct TableDef;

// The tool's own tables, in the control database: the migration mode and
// counters (name -> value, version, utime) and the checkpoints.
inline constexpr const char* k_control_table = "webookctl_control";         // migration mode etc.
inline constexpr const char* k_checkpoint_table = "webookctl_checkpoints";  // copy/validate positions
const std::vector<TableDef>& control_tables();

// What a checkpoint row is; stored as its name (checkpoint_kind_name).
enum class CheckpointKind {
    copy,                  // "copy": the last key copied; result: copy_done_result() when finished
    copy_index,            // "copy-index": a secondary index deferred until the copy ends (its definition)
    validate_incremental,  // "validate-incremental": the update-time watermark
    shard_plan,            // "shard-plan": the kept split of a table for --shard i/n
    fix,                   // "fix": rows the fixers repaired (CheckpointStore::add_fixed)
    mode_forced,           // "mode-forced": a switch forced past its gate (who, when, why)
    pass_incremental,      // "validate-pass-incremental": a PassRecord
    pass_full,             // "validate-pass-full": a PassRecord
};
std::string_view checkpoint_kind_name(CheckpointKind kind);
// nullopt for a name this version does not know (a newer tool's row).
std::optional<CheckpointKind> parse_checkpoint_kind(std::string_view name);

struct Checkpoint {
    CheckpointKind kind = CheckpointKind::copy;
    std::string table;
    std::string shard = "all";            // "all", or "i/n"
    std::optional<std::string> position;  // encoded key or time; empty = from the start
    std::int64_t rows_done = 0;
    std::string result;      // free-form JSON summary of the last run
    std::string updated_at;  // filled by load()
};

class CheckpointStore {
public:
    explicit CheckpointStore(Connection& control);

    // Creates the control tables if missing.
    void ensure_tables();
    std::optional<Checkpoint> load(CheckpointKind kind, const std::string& table, const std::string& shard);
    // Every row whose kind this version knows (others are skipped, logged once).
    std::vector<Checkpoint> load_all();
    void save(const Checkpoint& checkpoint);
    // Saves `checkpoint` unless one with its (kind, table, shard) exists;
    // true when this call saved it.
    bool save_if_absent(const Checkpoint& checkpoint);
    void clear(CheckpointKind kind, const std::string& table, const std::string& shard);
    // Adds `rows` to the table's count of rows the fixers repaired (kind
    // "fix", shard "all"), atomically, however many fixers add at once.
    void add_fixed(const std::string& table, std::int64_t rows);
    // That count; 0 before the first fix.
    std::int64_t fixed(const std::string& table);

private:
    Connection& m_conn;
};

// Whether a "copy" checkpoint says its copy finished (its result's "state" is
// "done"); false for a copy still running, killed or never finished.
bool copy_finished(const Checkpoint& copy);
// The result a finished copy leaves in its checkpoint.
std::string copy_done_result(std::uint64_t rows, double seconds);

// The control database's clock, in microseconds: the one clock that pass
// records, second-side failure counts and the gates all read, whichever host
// they run on.
std::int64_t control_clock_us(Connection& control);

// What a validation pass leaves for the switch gates (migrate/gates.h), per
// (table, kind, shard), replaced by the next pass: when it ran, with which
// base and in which mode, and what it found. Times are control_clock_us().
enum class PassKind { incremental, full };
std::string_view pass_kind_name(PassKind kind);  // "incremental", "full"

struct PassRecord {
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
void save_pass(CheckpointStore& store, const PassRecord& pass);
// The pass records among `all` (CheckpointStore::load_all()); malformed ones
// are skipped.
std::vector<PassRecord> passes_of(const std::vector<Checkpoint>& all);

// A key row <-> its checkpoint text (a JSON array of canonical strings).
std::string encode_key(const Row& key);
Row decode_key(const std::string& text, const std::vector<ValueKind>& kinds);

}  // namespace webook
