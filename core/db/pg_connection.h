// Internal to core/db/: the PostgreSQL Connection (pg_connection.cpp) and what
// its cursors and bulk writer (pg_cursors.cpp) share with it. The design is
// described at the top of pg_connection.cpp.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/pg_errors.h"
#include "core/db/value.h"

namespace webook::pg_detail {

class PostgresConnection final : public Connection {
public:
    PostgresConnection(const Dsn& dsn, const ConnectOptions& options);
    ~PostgresConnection() override;

    const Dialect& dialect() const override { return dialect_for(Engine::postgres); }
    const std::string& describe() const override { return m_describe; }

    ExecResult execute(std::string_view sql, Params params) override;
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params params) override;

    void begin() override;
    void commit() override;
    void rollback() override;

    std::vector<ColumnInfo> columns(std::string_view table) override;
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view table, const std::vector<std::string>& columns) override;

    // The exception in flight as an Error. A failure from the server inside
    // begin()..commit() dooms the transaction (PostgreSQL ignores everything
    // after it, and COMMIT quietly rolls back); commit() then says so.
    // Call from a catch block only.
    Error failure();
    // The open transaction can no longer commit (see failure()).
    void doom_transaction() {
        if (m_work) m_work_failed = true;
    }

    // For cursors and writers.
    pqxx::connection& raw() { return *m_conn; }
    bool& busy_flag() { return m_busy; }
    pqxx::work* open_transaction() { return m_work.get(); }
    std::string next_cursor_name() { return fmt::format("webook_cursor_{}", ++m_cursor_count); }

private:
    void check_idle(std::string_view what) const;
    const std::string& prepared_name(const std::string& sql);

    // Runs fn(transaction) in the open transaction, else in a nontransaction.
    template <typename Fn>
    auto run(Fn&& fn) {
        if (m_work) return fn(static_cast<pqxx::transaction_base&>(*m_work));
        pqxx::nontransaction tx(*m_conn);
        return fn(static_cast<pqxx::transaction_base&>(tx));
    }

    std::string m_describe;
    std::unique_ptr<pqxx::connection> m_conn;
    std::unique_ptr<NoticeToLog> m_notices;  // after m_conn: unregisters before it closes
    std::unique_ptr<pqxx::work> m_work;      // between begin() and commit()/rollback()
    bool m_work_failed = false;              // a statement in m_work failed
    bool m_busy = false;
    int m_cursor_count = 0;
    // execute() with parameters runs prepared statements, keyed by SQL text:
    // a 500-row upsert is parsed and planned once instead of per call
    // (measured 1.2-3x more rows/s than exec_params). Oldest dropped first.
    std::unordered_map<std::string, std::string> m_prepared;  // SQL -> statement name
    std::deque<std::string> m_prepared_order;                 // SQL, oldest first
    int m_prepared_count = 0;
};

// How the values of a column of this type (OID) are read.
ValueKind kind_for_type(pqxx::oid type);

// The statement without trailing semicolons, to be wrapped in parentheses.
std::string_view strip_terminator(std::string_view sql);

// Runs `sql` with text parameters (NULL as nullopt); without parameters
// through the simple protocol, which also takes several statements at once.
pqxx::result exec_with(pqxx::transaction_base& tx, const std::string& sql,
                       const std::vector<std::optional<std::string>>& params);

// The cursors and the bulk writer (pg_cursors.cpp). Those given `conn` refer
// to it, which must outlive them, and keep it busy while open.

// COPY (sql) TO STDOUT, parsed line by line; for plain queries without
// parameters.
std::unique_ptr<RowCursor> copy_cursor(PostgresConnection& conn, std::string_view sql);
// A server-side cursor (DECLARE ... NO SCROLL CURSOR with bound parameters),
// fetched in batches.
std::unique_ptr<RowCursor> declared_cursor(PostgresConnection& conn, std::string_view sql,
                                           const std::vector<std::optional<std::string>>& params);
// A result already read whole: the connection is free (not busy).
std::unique_ptr<RowCursor> buffered_cursor(pqxx::result result, const std::string& where);
// COPY table (columns) FROM STDIN; the table and column names are quoted
// already.
std::unique_ptr<BulkWriter> copy_writer(PostgresConnection& conn, const std::string& table,
                                        const std::vector<std::string>& quoted_columns);

}  // namespace webook::pg_detail
