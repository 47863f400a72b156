// Checkpoints of long-running work, in the tool's control table.
//
// A checkpoint row is (kind, table, shard) -> (position, rows_done, result);
// what each kind keeps there is a typed record (checkpoint_records.h: the
// last key a copy committed, an incremental watermark, a pass verdict, ...).
// Positions are saved only after the work before them is durable (the target
// batch committed; the events delivered), so a killed run resumes without
// losing anything; at worst it redoes one batch, which is harmless because
// copies upsert and validations only read.
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

// What a checkpoint row is; stored as its name (checkpoint_kind_name). The
// record each holds: checkpoint_records.h.
enum class CheckpointKind {
    copy,                  // "copy": CopyProgress
    copy_index,            // "copy-index": DeferredIndex
    validate_incremental,  // "validate-incremental": IncrementalWatermark
    shard_plan,            // "shard-plan": ShardPlanRecord
    fix,                   // "fix": rows the fixers repaired (CheckpointStore::add_fixed)
    mode_forced,           // "mode-forced": ForcedSwitch
    pass_incremental,      // "validate-pass-incremental": PassRecord
    pass_full,             // "validate-pass-full": PassRecord
    validate_full,         // "validate-full": FullValidationProgress
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
    std::string result;      // the kind's payload (JSON or text): read and written by checkpoint_records.cpp only
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

    // The control database these checkpoints are in.
    Connection& connection() { return m_conn; }

private:
    Connection& m_conn;
};

// The control database's clock, in microseconds: the one clock that pass
// records, second-side failure counts and the gates all read, whichever host
// they run on.
std::int64_t control_clock_us(Connection& control);

// Which validation a pass record is of (checkpoint_records.h PassRecord).
enum class PassKind { incremental, full };
std::string_view pass_kind_name(PassKind kind);  // "incremental", "full"

// A key row <-> its checkpoint text (a JSON array of canonical strings).
std::string encode_key(const Row& key);
Row decode_key(const std::string& text, const std::vector<ValueKind>& kinds);

}  // namespace webook
