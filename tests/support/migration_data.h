// Data and plumbing shared by the migration tests (library-level and
// whole-CLI): the engine pairs, a source and a target database of a test's
// own, tables with every column kind the validator normalises, planted
// differences with the findings they must produce, and events read back
// from a JSONL sink.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "core/db/dsn.h"
#include "core/migration/event.h"
#include "core/migration/migration_mode.h"
#include "tests/support/scratch_db.h"

namespace webook::testing {

// Which engines a migration goes between.
struct EnginePair {
    Engine source;
    Engine target;
    const char* name;  // for test names: "MysqlToMysql", ...
};

// MySQL->MySQL, PostgreSQL->PostgreSQL, MySQL->PostgreSQL.
std::vector<EnginePair> engine_pairs();
void PrintTo(const EnginePair& pair, std::ostream* os);

// A source and a target database of the test's own (on one MariaDB for
// MySQL->MySQL), dropped at the end.
struct MigrationDatabases {
    explicit MigrationDatabases(const EnginePair& pair, const std::string& tag)
        : source(pair.source, tag + "src"), target(pair.target, tag + "dst") {}
    ScratchDatabase source;
    ScratchDatabase target;
};

// Moves the migration's mode (its control table in `control`, created if
// missing) to `to` one step at a time, forward or back: the fenced switch
// itself, without the gates an operator's `mode set` passes.
void step_mode(Connection& control, Mode to);

// -- Tables -----------------------------------------------------------------

// A table with a bigint key and one column of every kind compared across
// engines: name VARCHAR (case, trailing space, 4-byte unicode), note VARCHAR
// NULL (NULL vs ''), amount DECIMAL (scale `decimal_scale`), at DATETIME(6) /
// timestamp(6), flag TINYINT(1) / boolean, data BLOB / bytea, and utime
// DATETIME(6) with an index. MariaDB tables use the server default collation
// (utf8mb4_unicode_ci: case- and trailing-space-insensitive).
void create_types_table(Connection& conn, const std::string& table, int decimal_scale = 2);
// `rows` rows with ids 2, 4, ..., 2*rows; the same data on every engine.
// Ids 10..28 carry the values plant_type_differences() changes.
void insert_types_rows(Connection& conn, const std::string& table, int rows);

// What a validation reports: the key (values joined by "|"), the type
// ("target_missing", "neq", "base_missing") and the base ("src", "dst").
struct Finding {
    std::string key;
    std::string type;
    std::string base;
    auto operator<=>(const Finding&) const = default;
};
void PrintTo(const Finding& finding, std::ostream* os);
using Findings = std::set<Finding>;

// Changes the target of a types table made by insert_types_rows(rows=150)
// and returns the findings a validation with base src must report exactly:
// one neq per column kind (case-only, trailing space, 4-byte unicode, NFC vs
// NFD, NULL->'', ''->NULL, decimal, one microsecond, boolean, one byte of a
// blob), deleted target rows (the first, one inside, the last) and extra
// target rows (before the first, inside a gap, right after the last and far
// past the last base key).
Findings plant_type_differences(Connection& target, const std::string& table);
// The same differences seen with the other side as base.
Findings with_base_dst(const Findings& base_src);

// A table keyed by (k VARCHAR(32), n BIGINT) with a value column, in the
// database's default collation, and rows whose keys sort differently under
// MariaDB's case-insensitive collation than byte-wise.
void create_composite_table(Connection& conn, const std::string& table);
void insert_composite_rows(Connection& conn, const std::string& table);
// Deletes, changes, adds and re-cases keys on the target; the findings base src.
Findings plant_composite_differences(Connection& target, const std::string& table);

// -- Events -------------------------------------------------------------------

// Every event of a JSONL file (parsed with InconsistencyEvent::parse).
std::vector<InconsistencyEvent> read_events(const std::string& path);
Findings findings_of(const std::vector<InconsistencyEvent>& events);
std::string key_text(const Row& key);

// -- Small SQL helpers ----------------------------------------------------------

std::int64_t row_count(Connection& conn, const std::string& table);
// Every row of the table in key order, as canonical text (NULL as "NULL"):
// for comparing two sides in a failure message.
std::vector<std::string> dump_rows(Connection& conn, const std::string& table, const std::string& order_by);

}  // namespace webook::testing
