// The database layer: one small Connection interface, two engines.
//
// Everything above core/ talks to MariaDB/MySQL and PostgreSQL through
// Connection and Dialect only; no connector type appears in this header.
// Connector exceptions are translated into webook::Error inside the engine
// implementations (Code::connection for refused/unreachable/auth failures,
// Code::server for rejected statements, Temporary::yes for lost connections,
// deadlocks and lock wait timeouts) and never leak.
//
// SQL text uses the dialect's placeholders (Dialect::placeholder(n)); values
// are always bound, never concatenated. Identifiers from config or flags go
// through Dialect::quote(), which validates them.
//
// Thread safety: a Connection is used by one thread at a time. While a
// RowCursor from stream() is open, its connection runs nothing else (MySQL
// streams the result over the same socket): use a second connection.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/dsn.h"
#include "core/db/value.h"

namespace webook {

class Dialect;
class Error;

struct ColumnInfo {
    std::string name;
    ValueKind kind = ValueKind::text;  // how values of this column are read
    std::string sql_type;              // as the server describes it, e.g. "decimal(10,2)"
    bool nullable = true;
    int primary_key_position = 0;  // 1-based position in the primary key, 0 = not in it
    int decimal_scale = -1;        // DECIMAL/numeric scale, -1 when not a decimal
    // Text columns whose server-side order and equality are already byte-wise
    // (MySQL *_bin / binary collations, PostgreSQL "C"/"POSIX"/C.UTF-8).
    bool binary_collation = false;
};

struct ExecResult {
    std::uint64_t affected_rows = 0;
    std::uint64_t last_insert_id = 0;  // MySQL AUTO_INCREMENT; 0 on PostgreSQL (use RETURNING)
};

using Params = std::span<const Value>;

// A statement rendered for whichever dialect runs it. Platform code that may
// run through the double-write connection -- one statement, two engines --
// writes its SQL this way; everything else may pass plain text.
struct PortableSql {
    std::function<std::string(const Dialect&)> render;
    std::string what;  // "table key=..." for logs about this statement; may be empty
};

// A streamed result. next_batch() throws Error when the scan fails part-way;
// callers see a failure, never a silently short result.
class RowCursor {
public:
    virtual ~RowCursor() = default;
    virtual const std::vector<std::string>& column_names() const = 0;
    virtual const std::vector<ValueKind>& column_kinds() const = 0;
    // Replaces `out` with up to max_rows rows. Returns false once the result
    // is exhausted and `out` is empty.
    virtual bool next_batch(std::vector<Row>& out, std::size_t max_rows) = 0;
};

// The 1-based row of a bulk load that a server's error names ("COPY line 7"
// in PostgreSQL's), if it names one.
std::optional<std::size_t> bulk_load_line(const Error& e);

// Rows written in bulk: COPY on PostgreSQL, multi-row INSERT on MySQL.
// Nothing is guaranteed written before finish() returns. Destroying an
// unfinished writer abandons what was not yet flushed.
class BulkWriter {
public:
    virtual ~BulkWriter() = default;
    virtual void write(const Row& row) = 0;
    virtual void finish() = 0;
};

class Connection {
public:
    virtual ~Connection() = default;

    virtual const Dialect& dialect() const = 0;
    // "mysql://user@host:port/db": for messages; never contains a password.
    virtual const std::string& describe() const = 0;

    // Runs one statement with bound parameters.
    virtual ExecResult execute(std::string_view sql, Params params = {}) = 0;

    // Streams the result of a query in batches; memory stays bounded by the
    // batch size for queries without parameters. With parameters, MySQL's
    // prepared statements buffer the whole result: bound such queries
    // (keyset pagination with LIMIT).
    virtual std::unique_ptr<RowCursor> stream(std::string_view sql, Params params = {}) = 0;

    // Runs a query and returns every row (small results only).
    std::vector<Row> query(std::string_view sql, Params params = {});
    // The first row, if any.
    std::optional<Row> query_one(std::string_view sql, Params params = {});

    // The same for portable statements: rendered with dialect() by default;
    // a connection over several engines renders once per engine.
    virtual ExecResult execute(const PortableSql& sql, Params params = {});
    virtual std::unique_ptr<RowCursor> stream(const PortableSql& sql, Params params = {});
    std::vector<Row> query(const PortableSql& sql, Params params = {});
    std::optional<Row> query_one(const PortableSql& sql, Params params = {});

    virtual void begin() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;

    // The columns of `table` in ordinal order. Throws Error(Code::config)
    // "table 'x' not found in <dsn>" when it does not exist.
    virtual std::vector<ColumnInfo> columns(std::string_view table) = 0;
    bool table_exists(std::string_view table);
    // The server's estimate of the table's rows (its statistics, no scan),
    // for progress; nullopt when it has none (never analyzed, no table) or
    // the query fails (best effort: never throws Error).
    std::optional<std::uint64_t> estimated_rows(std::string_view table);

    // Starts a bulk load into `table` (columns in this order).
    virtual std::unique_ptr<BulkWriter> bulk_insert(std::string_view table,
                                                    const std::vector<std::string>& columns) = 0;

    // Drops the session after a failure, so that the next call opens a new
    // one: for long work that goes on from its last finished key on fresh
    // connections (core/base/retry.h run_resumable). Every cursor and writer
    // of the old session must be gone by then; an open transaction is lost.
    // Returns false when this connection cannot start over -- the engines'
    // own sessions; connect_resumable()'s can.
    virtual bool reset_session() { return false; }
};

// Rolls back unless commit() was called. Not copyable or movable.
class Transaction {
public:
    explicit Transaction(Connection& conn);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();

private:
    Connection& m_conn;
    bool m_done = false;
};

struct ConnectOptions {
    int connect_timeout_seconds = 10;  // default: 10
    // Statement/read timeout in seconds; 0 = none (default: 0).
    int read_timeout_seconds = 0;
};

// Opens connections on demand (extra writers, reconnects after a lost
// connection).
using ConnectionFactory = std::function<std::unique_ptr<Connection>()>;

// Opens a connection to dsn (password already resolved). Sessions are set to
// UTC, utf8mb4 / UTF8, and MySQL's strict mode, so that values read on both
// engines compare as the same data.
std::unique_ptr<Connection> connect(const Dsn& dsn, const ConnectOptions& options = {});

// The same, as a connection that can start over: its first session opens now
// (throwing what connect() throws: a server that is not there at the start
// is an error, not an outage), and after each reset_session() the next call
// opens a new one with the same DSN and options.
std::unique_ptr<Connection> connect_resumable(const Dsn& dsn, const ConnectOptions& options = {});

// reset_session() on each (null entries skipped); false when one cannot.
bool reset_sessions(std::initializer_list<Connection*> connections);

}  // namespace webook
