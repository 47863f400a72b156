// The PostgreSQL engine: Connection, RowCursor and BulkWriter over libpqxx 6.4.
//
// Session. TimeZone=UTC, DateStyle=ISO, IntervalStyle=postgres ("838:59:59",
// as MySQL prints a TIME), bytea_output=hex, extra_float_digits=1 (shortest
// exact floats) and client_encoding=UTF8 travel in the conninfo
// (`options='-c ...'`): they hold from the first statement and survive
// libpqxx 6.4 silently re-opening a broken connection between transactions.
//
// Transactions. libpqxx runs every statement through a transaction object and
// allows one at a time per connection. Between begin() and commit()/rollback()
// the connection holds a pqxx::work and everything (statements, cursors, COPY)
// runs in it; a pqxx::work also stops libpqxx from reconnecting in the middle
// of a transaction, which a nontransaction plus a hand-written BEGIN would not.
// Outside a transaction each call uses a short-lived pqxx::nontransaction
// (autocommit), and an open cursor or COPY keeps its own.
//
// stream(). Plain queries without parameters run as COPY (query) TO STDOUT
// through pqxx::stream_from: memory stays flat, and the lines are split and
// unescaped here (6.4 parses only into compile-time tuples). Column names and
// kinds come from running `SELECT * FROM (query) LIMIT 0` once. Plain queries
// with parameters open a server-side cursor (DECLARE ... NO SCROLL CURSOR with
// bound parameters, then FETCH FORWARD n per batch) in the open transaction or
// one of their own. Anything else (INSERT ... RETURNING, SHOW, WITH around a
// data-modifying statement) is buffered: callers keep such results small.
//
// bulk_insert(). COPY ... FROM STDIN through pqxx::stream_to, fed with COPY
// text lines escaped here (6.4's stream_to only takes tuples, and completes
// the COPY when destroyed). An abandoned writer sends a line with one field
// too many, so the server rejects the whole COPY and none of it lands.
//
// Busy. While a cursor or a COPY is open, the connection runs nothing else:
// other calls throw Error(Code::internal, "... connection busy ..."). Cursors
// and writers refer to their connection, which must outlive them.
//
// Files. This one holds the connection; pg_cursors.cpp its cursors and bulk
// writer, pg_copy_text.cpp the COPY text codec, pg_errors.cpp what libpq's
// messages become.
#include "core/db/pg_connection.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/prepared_statement>
#include <pqxx/result>
#include <pqxx/transaction>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "core/db/engines.h"
#include "core/db/pg_copy_text.h"
#include "core/db/pg_errors.h"

namespace webook::pg_detail {
namespace {

using pg_text::param_text;

// Type OIDs from pg_type.h.
constexpr pqxx::oid k_oid_bool = 16;
constexpr pqxx::oid k_oid_bytea = 17;
constexpr pqxx::oid k_oid_int8 = 20;
constexpr pqxx::oid k_oid_int2 = 21;
constexpr pqxx::oid k_oid_int4 = 23;
constexpr pqxx::oid k_oid_float4 = 700;
constexpr pqxx::oid k_oid_float8 = 701;
constexpr pqxx::oid k_oid_date = 1082;
constexpr pqxx::oid k_oid_time = 1083;
constexpr pqxx::oid k_oid_timestamp = 1114;
constexpr pqxx::oid k_oid_timestamptz = 1184;
constexpr pqxx::oid k_oid_numeric = 1700;

// Prepared statements kept per connection (execute() with parameters).
constexpr std::size_t k_max_prepared = 64;

// ---------------------------------------------------------------------------
// SQL shapes

// What stream() can do with a statement.
enum class QueryShape {
    plain,  // a SELECT/VALUES/TABLE/WITH query: COPY or a cursor can run it
    other,  // anything else: run it and buffer the result
};

// Skips whitespace and -- / /* */ comments.
std::string_view skip_space(std::string_view sql) {
    for (;;) {
        sql = trim(sql);
        if (sql.substr(0, 2) == "--") {
            auto nl = sql.find('\n');
            sql = nl == std::string_view::npos ? std::string_view() : sql.substr(nl + 1);
        } else if (sql.substr(0, 2) == "/*") {
            auto end = sql.find("*/");
            sql = end == std::string_view::npos ? std::string_view() : sql.substr(end + 2);
        } else {
            return sql;
        }
    }
}

bool has_word(std::string_view sql, std::string_view word) {
    auto is_word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (std::size_t i = 0; i + word.size() <= sql.size(); ++i) {
        if ((i > 0 && is_word_char(sql[i - 1])) || !starts_with_nocase(sql.substr(i), word)) continue;
        if (i + word.size() == sql.size() || !is_word_char(sql[i + word.size()])) return true;
    }
    return false;
}

QueryShape shape_of(std::string_view sql) {
    sql = skip_space(sql);
    auto first_is = [&](std::string_view word) {
        return starts_with_nocase(sql, word) &&
               (sql.size() == word.size() || !std::isalnum(static_cast<unsigned char>(sql[word.size()])));
    };
    if (first_is("select") || first_is("values") || first_is("table")) return QueryShape::plain;
    // WITH x AS (DELETE ... RETURNING ...) SELECT cannot be wrapped or declared;
    // a false alarm (the word inside a string) only costs buffering.
    if (first_is("with") && !has_word(sql, "insert") && !has_word(sql, "update") && !has_word(sql, "delete"))
        return QueryShape::plain;
    return QueryShape::other;
}

std::string conninfo_value(std::string_view value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    return out + "'";
}

// ---------------------------------------------------------------------------

// The bound parameters as libpq text values (NULL as nullopt).
std::vector<std::optional<std::string>> param_texts(Params params) {
    std::vector<std::optional<std::string>> out;
    out.reserve(params.size());
    for (const auto& v : params) out.push_back(param_text(v));
    return out;
}

// A parameterised query inlined (Dialect::inline_params: each $n as an
// untyped E'...' literal -- what exec_params sends, so the meaning is the
// same) can stream through COPY (SELECT ...) TO STDOUT: several times cheaper
// per field than FETCHing from a cursor into pqxx results. Not for locking
// queries: COPY cannot take row locks.
std::optional<std::string> inline_for_copy(const Dialect& d, std::string_view sql, Params params) {
    if (has_word(sql, "for")) return std::nullopt;  // FOR SHARE / FOR UPDATE (or a word in a string: harmless)
    return d.inline_params(sql, params);
}

}  // namespace

// ---------------------------------------------------------------------------
// Shared with pg_cursors.cpp (pg_connection.h)

ValueKind kind_for_type(pqxx::oid type) {
    switch (type) {
    case k_oid_int2:
    case k_oid_int4:
    case k_oid_int8: return ValueKind::integer;
    case k_oid_numeric: return ValueKind::decimal;
    case k_oid_float4:
    case k_oid_float8: return ValueKind::real;
    case k_oid_bool: return ValueKind::boolean;
    case k_oid_bytea: return ValueKind::bytes;
    case k_oid_timestamp:
    case k_oid_timestamptz: return ValueKind::datetime;
    case k_oid_date: return ValueKind::date;
    case k_oid_time: return ValueKind::time;
    default: return ValueKind::text;
    }
}

std::string_view strip_terminator(std::string_view sql) {
    sql = trim(sql);
    while (!sql.empty() && sql.back() == ';') sql = trim(sql.substr(0, sql.size() - 1));
    return sql;
}

pqxx::result exec_with(pqxx::transaction_base& tx, const std::string& sql,
                       const std::vector<std::optional<std::string>>& params) {
    // The simple protocol (exec) also takes several statements at once;
    // exec_params takes exactly one.
    if (params.empty()) return tx.exec(sql);
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
}

// ---------------------------------------------------------------------------
// The connection

PostgresConnection::PostgresConnection(const Dsn& dsn, const ConnectOptions& options) : m_describe(dsn.redacted()) {
    check_dsn_files(dsn);
    // The DSN's options first: ours, which the values' text forms rely on,
    // come after them and win.
    std::string session = dsn.param("options").value_or("");
    session += std::string(session.empty() ? "" : " ") +
               "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c bytea_output=hex -c extra_float_digits=1";
    if (options.read_timeout_seconds > 0)
        session += fmt::format(" -c statement_timeout={}", options.read_timeout_seconds * 1000);
    std::string conninfo = fmt::format(
        "host={} port={} dbname={} user={} connect_timeout={} client_encoding=UTF8 "
        "application_name={} options={}",
        conninfo_value(dsn.host), dsn.port, conninfo_value(dsn.database), conninfo_value(dsn.user),
        dsn.connect_timeout_seconds().value_or(std::max(options.connect_timeout_seconds, 1)),
        conninfo_value(dsn.param("application_name").value_or("webookctl")), conninfo_value(session));
    for (const char* name : {"sslmode", "sslrootcert", "sslcert", "sslkey"})
        if (const auto v = dsn.param(name)) conninfo += fmt::format(" {}={}", name, conninfo_value(*v));
    if (!dsn.password.empty()) conninfo += " password=" + conninfo_value(dsn.password);
    try {
        m_conn = std::make_unique<pqxx::connection>(conninfo);
    } catch (const std::exception& e) {
        throw Error(Code::connection, fmt::format("cannot connect to {}: {}", m_describe, connect_reason(e.what())));
    }
    m_notices = std::make_unique<NoticeToLog>(*m_conn);
    log::get("db")->debug("connected to {} (server version {})", m_describe, m_conn->server_version());
}

PostgresConnection::~PostgresConnection() {
    m_work.reset();  // rolls back an open transaction
    m_notices.reset();
}

void PostgresConnection::check_idle(std::string_view what) const {
    if (m_busy)
        throw Error(Code::internal, fmt::format("{} on {}: connection busy with an open cursor or COPY "
                                                "(finish it, or use a second connection)",
                                                what, m_describe));
}

const std::string& PostgresConnection::prepared_name(const std::string& sql) {
    if (auto it = m_prepared.find(sql); it != m_prepared.end()) return it->second;
    // DEALLOCATE is refused inside a failed transaction: evict between transactions only.
    while (m_prepared.size() >= k_max_prepared && !m_work) {
        const std::string oldest = std::move(m_prepared_order.front());
        m_prepared_order.pop_front();
        try {
            m_conn->unprepare(m_prepared.at(oldest));
        } catch (const std::exception& e) {
            log::get("db")->debug("dropping a prepared statement on {}: {}", m_describe, server_message(e.what()));
        }
        m_prepared.erase(oldest);
    }
    std::string name = fmt::format("webook_stmt_{}", ++m_prepared_count);
    m_conn->prepare(name, sql);  // libpqxx prepares it on first use
    m_prepared_order.push_back(sql);
    return m_prepared.emplace(sql, std::move(name)).first->second;
}

ExecResult PostgresConnection::execute(std::string_view sql, Params params) {
    check_idle("execute");
    const auto texts = param_texts(params);
    try {
        const std::string text(sql);
        const pqxx::result r = run([&](pqxx::transaction_base& tx) {
            // Without parameters: the simple protocol, which also takes several
            // statements at once.
            if (texts.empty()) return tx.exec(text);
            return tx.exec_prepared(prepared_name(text), pqxx::prepare::make_dynamic_params(texts));
        });
        return ExecResult{r.affected_rows(), 0};
    } catch (...) {
        throw failure();
    }
}

std::unique_ptr<RowCursor> PostgresConnection::stream(std::string_view sql, Params params) {
    check_idle("stream");
    if (shape_of(sql) == QueryShape::plain) {
        if (params.empty()) return copy_cursor(*this, sql);
        if (auto inlined = inline_for_copy(dialect(), sql, params)) return copy_cursor(*this, *inlined);
        return declared_cursor(*this, sql, param_texts(params));
    }
    const auto texts = param_texts(params);
    try {
        return buffered_cursor(run([&](pqxx::transaction_base& tx) { return exec_with(tx, std::string(sql), texts); }),
                               m_describe);
    } catch (...) {
        throw failure();
    }
}

Error PostgresConnection::failure() {
    try {
        throw;
    } catch (const Error& e) {
        return e;  // ours: nothing went wrong on the server
    } catch (...) {
        doom_transaction();
        return translate_current(m_describe);
    }
}

void PostgresConnection::begin() {
    check_idle("begin");
    if (m_work) throw Error(Code::internal, "begin() inside an open transaction on " + m_describe);
    try {
        m_work = std::make_unique<pqxx::work>(*m_conn);
        m_work_failed = false;
    } catch (...) {
        throw translate_current(m_describe).context("starting a transaction");
    }
}

void PostgresConnection::commit() {
    check_idle("commit");
    if (!m_work) throw Error(Code::internal, "commit() without begin() on " + m_describe);
    auto work = std::move(m_work);
    const Error rolled_back(Code::server,
                            "transaction on " + m_describe + " was rolled back: a statement in it failed");
    if (m_work_failed) {
        try {
            work->abort();
        } catch (...) {
            // The server has rolled back already.
        }
        throw rolled_back;
    }
    try {
        work->commit();
    } catch (const pqxx::usage_error&) {
        throw rolled_back;  // libpqxx noticed the failure too
    } catch (...) {
        throw translate_current(m_describe).context("committing");
    }
}

void PostgresConnection::rollback() {
    if (!m_work) return;  // nothing open (or commit() already failed and ended it)
    check_idle("rollback");
    auto work = std::move(m_work);
    try {
        work->abort();
    } catch (...) {
        throw translate_current(m_describe).context("rolling back");
    }
}

std::vector<ColumnInfo> PostgresConnection::columns(std::string_view table) {
    if (!valid_identifier(table)) dialect().quote(table);  // throws Error(Code::config)
    check_idle("columns");
    // to_regclass resolves the name through search_path, like the queries
    // that will use it; domains are read as their base type.
    static const std::string k_sql = R"(
        SELECT a.attname,
               CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,
               format_type(a.atttypid, a.atttypmod),
               NOT a.attnotnull,
               COALESCE((SELECT k.n
                           FROM pg_catalog.pg_index i,
                                unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                          WHERE i.indrelid = a.attrelid AND i.indisprimary
                            AND k.attnum = a.attnum), 0),
               CASE WHEN a.atttypid = 1700 AND a.atttypmod >= 4 THEN (a.atttypmod - 4) & 65535 ELSE -1 END,
               CASE WHEN a.attcollation = 0 THEN NULL
                    WHEN co.collname = 'default'
                      THEN (SELECT datcollate FROM pg_catalog.pg_database WHERE datname = current_database())
                    ELSE COALESCE(co.collcollate, co.collname) END
          FROM pg_catalog.pg_attribute a
          LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
          JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = to_regclass(quote_ident($1))
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum)";
    pqxx::result r;
    try {
        r = run([&](pqxx::transaction_base& tx) { return tx.exec_params(k_sql, std::string(table)); });
    } catch (...) {
        throw failure().context(fmt::format("reading the columns of '{}'", table));
    }
    if (r.empty()) throw Error(Code::config, fmt::format("table '{}' not found in {}", table, m_describe));
    std::vector<ColumnInfo> out;
    out.reserve(r.size());
    for (const auto& row : r) {
        ColumnInfo info;
        info.name = row[0].c_str();
        info.kind = kind_for_type(row[1].as<pqxx::oid>());
        info.sql_type = row[2].c_str();
        info.nullable = row[3].as<bool>();
        info.primary_key_position = row[4].as<int>();
        info.decimal_scale = row[5].as<int>();
        // C, POSIX and C.UTF-8 order by bytes (code points, for UTF-8).
        if (!row[6].is_null()) {
            const std::string collation = row[6].c_str();
            info.binary_collation = collation == "C" || collation == "POSIX" || collation == "C.UTF-8" ||
                                    collation == "C.utf8" || collation == "ucs_basic";
        }
        out.push_back(std::move(info));
    }
    return out;
}

std::unique_ptr<BulkWriter> PostgresConnection::bulk_insert(std::string_view table,
                                                            const std::vector<std::string>& columns) {
    const std::string quoted_table = dialect().quote(table);
    if (columns.empty()) throw Error(Code::internal, fmt::format("bulk insert into '{}' without columns", table));
    std::vector<std::string> quoted;
    quoted.reserve(columns.size());
    for (const auto& c : columns) quoted.push_back(dialect().quote(c));
    check_idle("bulk insert");
    return copy_writer(*this, quoted_table, quoted);
}

}  // namespace webook::pg_detail

namespace webook {

std::unique_ptr<Connection> connect_postgres(const Dsn& dsn, const ConnectOptions& options) {
    return std::make_unique<pg_detail::PostgresConnection>(dsn, options);
}

}  // namespace webook
