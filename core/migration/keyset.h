// Keyset pagination and key lookups over a table side, in binary key order.
//
// Rows are read `WHERE key > last ORDER BY key LIMIT n` on a key tuple, never
// with OFFSET. Text key columns whose collation is not already byte-wise are
// compared and ordered through Dialect::binary(), so MariaDB (case- and
// trailing-space-insensitive collations) and PostgreSQL produce the same
// order, the one compare_key() implements. Composite keys are compared
// lexicographically: a row constructor on PostgreSQL, the expanded
// (a > ? OR (a = ? AND b > ?)) form on MariaDB, whose range optimizer uses the
// index for it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/migration/table_plan.h"
#include "core/migration/throttle.h"

namespace webook {

// The key interval (after, up_to]; an empty optional is unbounded.
struct KeyBounds {
    std::optional<Row> after;
    std::optional<Row> up_to;
};

struct BoundSql {
    std::string sql;
    std::vector<Value> params;
};

// The i-th column of `side` as the queries read it (no alias): the quoted
// name, or the expression a 4-byte float or a non-Unicode text column is
// read through. The checksums hash the same expression.
std::string column_expr(const Dialect& dialect, const SidePlan& side, std::size_t i);

// SELECT <columns> FROM <table> WHERE <bounds> ORDER BY <key> LIMIT <limit>
// (no LIMIT when limit is 0). With keys_only, only the key columns are
// selected.
BoundSql keyset_query(const Dialect& dialect, const SidePlan& side, const KeyBounds& bounds, std::size_t limit,
                      bool keys_only = false, std::string_view filter = {}, std::vector<Value> filter_params = {});

// The key `rows` keys into `bounds` (the last key of a chunk of that many),
// or no row when fewer are left: a chunk boundary found by walking the key's
// index on the server, with one key sent back instead of `rows`. (An offset
// inside a keyset range, never pagination: each chunk starts after the last
// one's boundary key.)
BoundSql chunk_end_query(const Dialect& dialect, const SidePlan& side, const KeyBounds& bounds, std::size_t rows,
                         std::string_view filter = {}, std::vector<Value> filter_params = {});

// SELECT <columns> FROM <table> WHERE key IN (<keys>) ORDER BY <key><suffix>.
// Matches key values exactly (byte-wise for text).
BoundSql key_lookup_query(const Dialect& dialect, const SidePlan& side, const std::vector<Row>& keys,
                          std::string_view suffix = {});

// DELETE FROM <table> WHERE key IN (<keys>), matching exactly.
BoundSql key_delete_query(const Dialect& dialect, const SidePlan& side, const std::vector<Row>& keys);

// SELECT <key> FROM <table> WHERE (<unique columns>) IN (<their values in
// rows>): the rows that hold one of those unique values. `unique` holds
// positions in side.columns, `rows` are full rows in that order. Rows with a
// NULL in the index are skipped (NULLs never conflict); the result's sql is
// empty when no row is left. Values match as the index does (collation
// included), since that is what a conflict is.
BoundSql unique_lookup_query(const Dialect& dialect, const SidePlan& side, const std::vector<std::size_t>& unique,
                             const std::vector<Row>& rows);

// A WHERE fragment selecting rows in bounds; appends its parameters.
std::string bounds_condition(const Dialect& dialect, const SidePlan& side, const KeyBounds& bounds,
                             std::vector<Value>& params);
// The one way a reader composes a caller's row filter (a shard's range, a
// --where) with key bounds: " WHERE (<filter>) AND <bounds>", " WHERE
// <filter>", " WHERE <bounds>" or "" when neither. `params` holds the
// filter's parameters already; the bounds' are appended.
std::string where_clause(const Dialect& dialect, const SidePlan& side, std::string_view filter, const KeyBounds& bounds,
                         std::vector<Value>& params);
// The ORDER BY list of the key, in binary order.
std::string key_order(const Dialect& dialect, const SidePlan& side);

// Batches of rows in key order, from a database or from a test.
class BatchSource {
public:
    virtual ~BatchSource() = default;
    // Replaces `out` with the next batch; false (and `out` empty) at the end.
    // What `out` held is the source's to reuse (its rows' storage may be
    // overwritten or kept for later batches). Throws Error on failure; a
    // failure is never a short read.
    virtual bool next(std::vector<Row>& out) = 0;
};

// How a KeysetReader queries.
//   batches: one query per batch (WHERE key > last ORDER BY key LIMIT n);
//     the connection is free between batches.
//   one_query_if_unindexed: the same, unless the key's byte order is not
//     what an index gives -- a text key in a case-insensitive MySQL collation
//     (CAST(k AS BINARY)) or a PostgreSQL one other than "C" (COLLATE "C"):
//     then every batch would scan and sort the whole table (quadratic), so
//     the whole range is read by one streamed query, sorted once. The
//     connection is then busy until the reader ends or is destroyed (which
//     reads the rest of a MySQL result): only for readers that own it.
enum class ScanMode { batches, one_query_if_unindexed };

// Whether `side`'s key order needs a sort that no index gives (see ScanMode).
bool key_order_unindexed(const SidePlan& side);

// Reads one side in key order, batch by batch, within bounds. An optional
// filter (a WHERE fragment whose placeholders are numbered from 1, with its
// parameters) narrows the rows, e.g. to an update-time window.
class KeysetReader final : public BatchSource {
public:
    KeysetReader(Connection& conn, const SidePlan& side, KeyBounds bounds, std::size_t batch_rows,
                 std::string filter = {}, std::vector<Value> filter_params = {}, ScanMode mode = ScanMode::batches);
    ~KeysetReader() override;

    bool next(std::vector<Row>& out) override;

    // True when this reader reads its range with one query (see ScanMode).
    bool one_query() const { return m_one_query; }

    // The key of the last row returned, if any.
    const std::optional<Row>& last_key() const { return m_bounds.after; }
    std::uint64_t rows_read() const { return m_rows; }

private:
    Connection& m_conn;
    const SidePlan& m_side;
    KeyBounds m_bounds;
    std::size_t m_batch_rows;
    std::string m_filter;
    std::vector<Value> m_filter_params;
    std::uint64_t m_rows = 0;
    bool m_done = false;
    bool m_one_query = false;
    std::unique_ptr<RowCursor> m_cursor;  // the open query in one-query mode
    std::vector<Row> m_more;              // rows past a cursor's first batch
};

// A KeysetReader paced by a Throttle (rows per second, pauses while the
// server is loaded), in the scan mode the throttle allows, counting the rows
// it returns into `progress` when given: the reader the copy and the full
// validation share.
class ThrottledKeysetReader final : public BatchSource {
public:
    ThrottledKeysetReader(Connection& conn, const SidePlan& side, KeyBounds bounds, std::size_t batch_rows,
                          const ThrottleOptions& throttle, std::string filter = {},
                          std::vector<Value> filter_params = {}, ProgressCounter* progress = nullptr)
        : m_conn(conn),
          m_reader(conn, side, std::move(bounds), batch_rows, std::move(filter), std::move(filter_params),
                   scan_mode(throttle)),
          m_throttle(throttle),
          m_progress(progress) {}

    bool next(std::vector<Row>& out) override {
        m_throttle.before_batch(m_conn);
        const bool more = m_reader.next(out);
        if (m_progress) m_progress->rows += out.size();
        m_throttle.after_rows(out.size());
        return more;
    }

private:
    Connection& m_conn;
    KeysetReader m_reader;
    Throttle m_throttle;
    ProgressCounter* m_progress;
};

}  // namespace webook
