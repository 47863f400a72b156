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
#include <vector>

#include "core/value.h"

namespace webook {

class Connection;

struct Checkpoint {
    std::string kind;       // "copy", "validate-incremental", ...
    std::string table;
    std::string shard = "all";  // "all", or "i/n"
    std::optional<std::string> position;  // encoded key or time; empty = from the start
    std::int64_t rows_done = 0;
    std::string result;     // free-form JSON summary of the last run
    std::string updated_at; // filled by load()
};

class CheckpointStore {
public:
    explicit CheckpointStore(Connection& control);

    // Creates the control tables if missing.
    void ensure_tables();
    std::optional<Checkpoint> load(const std::string& kind, const std::string& table, const std::string& shard);
    std::vector<Checkpoint> load_all();
    void save(const Checkpoint& checkpoint);
    // Saves `checkpoint` unless one with its (kind, table, shard) exists;
    // true when this call saved it.
    bool save_if_absent(const Checkpoint& checkpoint);
    void clear(const std::string& kind, const std::string& table, const std::string& shard);

private:
    Connection& m_conn;
};

// A key row <-> its checkpoint text (a JSON array of canonical strings).
std::string encode_key(const Row& key);
Row decode_key(const std::string& text, const std::vector<ValueKind>& kinds);

}  // namespace webook
