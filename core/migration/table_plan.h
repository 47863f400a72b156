// Which rows and columns of one table a copy, a validation or a fix works on.
//
// A TablePlan is built once per table from the config (or flags) and the
// introspected columns of both sides:
//   - the key: configured `key`, else the primary key; every key column must
//     exist on both sides with comparable kinds (integer vs text is refused);
//   - the compared columns: those present on both sides (after the column
//     map), minus the ignored ones, key columns first;
//   - the columns on one side only (not mapped, not ignored): never dropped
//     without a word -- validation reports them as findings, copy and fix
//     refuse the table (column_problems);
//   - the update-time column, when the table has one;
//   - each side's other unique indexes (the fixer clears rows that hold a
//     unique value under another key before it upserts).
// Names are kept per side, so a column map is applied in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/db.h"
#include "core/migration/config.h"
#include "core/migration/event.h"

namespace webook {

struct SidePlan {
    std::string table;
    std::vector<std::string> columns;    // key columns first, then the rest; this side's names
    std::vector<ValueKind> kinds;        // per column, as this side reads it
    std::vector<std::string> key;        // this side's key column names (a prefix of columns)
    std::string update_column;           // "" when none
    std::vector<int> decimal_scales;     // per column: DECIMAL scale, -1 when not a decimal
    std::vector<bool> binary_collation;  // per column: text compared byte-wise by the server already
    std::vector<bool> nullable;          // per column: may hold NULL
    std::vector<std::string> sql_types;  // per column: the server's type text, e.g. "datetime(6)"
    // Per column: computed by this side's server (GENERATED ALWAYS AS):
    // compared, never written -- the server refuses a value for it. Empty
    // (as a hand-built plan has it) when none is.
    std::vector<bool> generated;
    // Per column: the MySQL character set of a text column whose set is not
    // Unicode ("gbk", "latin1", ...), "" for the others; empty when none is.
    // The utf8mb4 connection would turn a character the set has no Unicode
    // for into '?' on every read, so such a column is read either as its
    // bytes (its kind is then bytes: the other side is MySQL with the same
    // set) or checked (column_expr marks text without a Unicode form, and
    // require_carried refuses it).
    std::vector<std::string> charsets;
    // This side's unique indexes other than the key, as positions in
    // `columns`; indexes with a column outside `columns` are left out.
    std::vector<std::vector<std::size_t>> unique_keys;
};

// The columns `side`'s writes set: every one but the generated ones.
std::vector<std::string> written_columns(const SidePlan& side);
// `row` (in `side`'s column order) without the generated columns' values;
// `row` itself when there are none.
Row written_values(const SidePlan& side, const Row& row);
bool has_generated(const SidePlan& side);

// How a checked column (SidePlan::charsets) reads a value its character
// set has no Unicode form for: this prefix (U+FFFF, which no MySQL
// character set maps to), then the stored bytes in hex.
inline constexpr std::string_view k_no_unicode_mark = "\xEF\xBF\xBF";

// Throws Error(Code::data) naming the column, its character set and the
// bytes when `row` (read from `side` by the keyset queries) holds such a
// value: copy and fix cannot carry it exactly, and refuse it rather than
// write '?'. Nothing to check (and no cost) without checked columns.
void require_carried(const SidePlan& side, const Row& row);

struct TablePlan {
    std::string name;  // the configured (source) table name
    SidePlan source;
    SidePlan target;

    // Positions in the sides' columns compared as JSON documents
    // (core/db/json_text.h), not as text: where a side's type is json or
    // jsonb and the other side's is not that very type on the same engine
    // (MySQL's `{"k":1}` is PostgreSQL jsonb's `{"k": 1}`).
    std::vector<std::size_t> json_columns;
    // Positions compared as durations: where one side's value is a time
    // (MySQL's TIME) and the other's type is PostgreSQL's interval, read as
    // text ("838:59:59", "-00:00:01.5", or "1 day ..." which no TIME is).
    std::vector<std::size_t> duration_columns;
    // Columns neither compared nor ignored: on this side only.
    std::vector<std::string> source_only;
    std::vector<std::string> target_only;

    std::size_t key_size() const { return source.key.size(); }
    std::size_t column_count() const { return source.columns.size(); }

    // The side the given role reads: base or the other one.
    const SidePlan& side(BaseSide s) const { return s == BaseSide::dst ? target : source; }
};

// What a plan does with the table's ignore_columns: leave them out (the
// validators), or check them and carry them anyway (copy and fix write whole
// rows).
enum class IgnoredColumns { left_out, carried };

// Builds the plan by introspecting both connections. Throws Error(Code::config)
// for an unknown table or column, a table without primary key and no `key`
// configured, key kinds that differ, or a configured column missing on a side
// (ignored columns are checked either way: a typo there is an error).
// One line per column on one side only, e.g. "column 'circuitId' is in the
// source only"; empty when every column is matched, mapped or ignored.
std::vector<std::string> column_findings(const TablePlan& plan);

// Throws Error(Code::config) naming the columns on one side only, and the
// ways out, for a command that writes whole rows (`what`: "copy", "fix").
void require_matched_columns(const TablePlan& plan, std::string_view what);

TablePlan plan_table(Connection& source, Connection& target, const TableConfig& table,
                     IgnoredColumns ignored = IgnoredColumns::left_out);

// Moves this side's id generator past the rows it holds when its key is
// one integer column (Dialect::sync_identity: a PostgreSQL serial or
// identity sequence; forward only). Rows written with explicit ids -- by a
// copy, a fix, a double-write's second write -- leave a sequence behind,
// and the first insert taking a default id would hit a duplicate key.
// Returns the sequence's new value when it moved.
std::optional<std::int64_t> move_identity_past_rows(Connection& conn, const SidePlan& side);

// The same for `table` of `conn`, keyed by its primary key: the side plan
// identity_plan() reads (one introspection, kept apart from the move so a
// caller can make it before taking a lock); nullopt when the table has no
// single integer key column (nothing to move).
std::optional<SidePlan> identity_plan(Connection& conn, const std::string& table);

// The key part of a row (the first key_size() values).
Row key_of(const Row& row, std::size_t key_size);

}  // namespace webook
