// The MariaDB/MySQL engine: Connection, RowCursor and BulkWriter over
// Connector/C++ 1.1 (its JDBC-like cppconn API; no Boost headers).
//
// Design:
// - A Session (the connector connection, a prepared-statement cache and the
//   "busy streaming" flag) is shared by the Connection and its open cursors
//   and bulk writers, so destruction order between them never matters.
// - stream() without parameters runs a forward-only plain Statement: the
//   connector then reads rows off the socket as they are fetched
//   (mysql_use_result), memory stays flat, and the socket is busy until the
//   result is exhausted or the cursor destroyed. Anything else run on the
//   connection meanwhile would fail with "Commands out of sync", so every
//   entry point checks the flag first and refuses with Code::internal.
// - With parameters, statements are prepared, cached by SQL text (saves a
//   round trip per call) and buffered by the connector. The binary protocol
//   prints DOUBLE with "%f" in getString, so reals are read with getDouble
//   there; everything else goes through the server's text form and
//   Value::parse.
// - begin/commit/rollback are SQL statements (START TRANSACTION / COMMIT /
//   ROLLBACK) under autocommit=1: one round trip each.
// - Every connector exception is translated in one place (translate_error,
//   mysql_errors.cpp) into webook::Error: what failed, on which DSN, the
//   server's message and errno/SQLSTATE; never the password, never connector
//   class names.
// - Values are bound and result columns read in mysql_values.cpp.
//
// Size: about 640 lines, over the ~600 the layout aims for, on purpose: the
// Session, its cursor and its bulk writer share the statement cache and the
// busy flag, and splitting them would put Session in a header for no reader's
// gain. Errors and values already live in their own files.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cppconn/connection.h>
#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/parameter_metadata.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/secrets.h"
#include "core/db/dialect.h"
#include "core/db/engines.h"
#include "core/db/mysql_errors.h"
#include "core/db/mysql_values.h"

namespace webook {
namespace {

using mysql_detail::Binder;
using mysql_detail::ColumnReader;
using mysql_detail::float_value;
using mysql_detail::k_cr_new_stmt_metadata;
using mysql_detail::kind_of_column;
using mysql_detail::Reader;
using mysql_detail::reader_for;
using mysql_detail::sql_head;
using mysql_detail::translate_connect_error;
using mysql_detail::translate_error;

// A multi-row INSERT flushes at this many rows or bytes, whichever first.
constexpr std::size_t k_bulk_rows = 1000;
constexpr std::size_t k_bulk_bytes = 4u << 20;
// Prepared statements allow at most 65535 placeholders.
constexpr std::size_t k_max_placeholders = 65535;
// Prepared statements kept per connection (the server's default global
// limit, max_prepared_stmt_count, is 16382).
constexpr std::size_t k_statement_cache_size = 64;

const log::Logger* logger() {
    static const log::Logger* l = log::get("db");
    return l;
}

// SQLString keeps its std::string private but hands out a mutable pointer:
// moving from it saves a copy of every text value read.
std::string take(sql::SQLString&& s) {
    return std::move(*s.operator->());
}

// True when the statement is an INSERT or REPLACE (the only ones that set
// LAST_INSERT_ID); leading blanks and comments are skipped.
bool is_insert(std::string_view sql) {
    std::size_t i = 0;
    while (i < sql.size()) {
        char c = sql[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '(') {
            ++i;
        } else if (sql.substr(i, 2) == "/*") {
            auto end = sql.find("*/", i + 2);
            if (end == std::string_view::npos) return false;
            i = end + 2;
        } else if (sql.substr(i, 2) == "--" || c == '#') {
            auto end = sql.find('\n', i);
            if (end == std::string_view::npos) return false;
            i = end + 1;
        } else {
            break;
        }
    }
    auto word_is = [&](std::string_view word) {
        if (sql.size() - i < word.size()) return false;
        for (std::size_t k = 0; k < word.size(); ++k) {
            char c = sql[i + k];
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            if (c != word[k]) return false;
        }
        return true;
    };
    return word_is("INSERT") || word_is("REPLACE");
}

// Prepared statements by SQL text, least recently used evicted.
class StatementCache {
public:
    struct Entry {
        std::unique_ptr<sql::PreparedStatement> statement;
        bool returns_rows = false;
        std::size_t param_count = 0;
        std::uint64_t last_used = 0;
    };

    // The cached entry for `sql`, prepared on first use.
    Entry& get(sql::Connection& conn, const std::string& sql) {
        auto it = m_entries.find(sql);
        if (it == m_entries.end()) {
            Entry entry = prepare(conn, sql);
            if (m_entries.size() >= k_statement_cache_size) evict_oldest();
            it = m_entries.emplace(sql, std::move(entry)).first;
        }
        it->second.last_used = ++m_clock;
        return it->second;
    }

    void drop(const std::string& sql) { m_entries.erase(sql); }
    void clear() { m_entries.clear(); }

    static Entry prepare(sql::Connection& conn, const std::string& sql) {
        Entry entry;
        entry.statement.reset(conn.prepareStatement(sql));
        sql::ResultSetMetaData* meta = entry.statement->getMetaData();
        entry.returns_rows = meta != nullptr && meta->getColumnCount() > 0;
        entry.param_count = entry.statement->getParameterMetaData()->getParameterCount();
        return entry;
    }

private:
    void evict_oldest() {
        auto oldest = m_entries.begin();
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            if (it->second.last_used < oldest->second.last_used) oldest = it;
        m_entries.erase(oldest);
    }

    std::unordered_map<std::string, Entry> m_entries;
    std::uint64_t m_clock = 0;
};

// What a Connection, its cursors and its bulk writers share.
struct Session {
    std::string describe;  // redacted DSN, for messages
    std::unique_ptr<sql::Connection> conn;
    StatementCache statements;              // destroyed before conn
    std::unique_ptr<sql::Statement> plain;  // for statements without parameters
    bool busy = false;                      // a cursor is reading a result off the socket
    bool in_transaction = false;

    ~Session() {
        try {
            plain.reset();
            statements.clear();
            if (conn) conn->close();
        } catch (const std::exception& e) {
            logger()->debug("closing {} failed: {}", describe, redact(e.what()));
        }
    }

    void check_idle() const {
        if (busy)
            throw Error(Code::internal, fmt::format("{}: connection busy streaming a result; read it to the end or "
                                                    "destroy the cursor first, or use a second connection",
                                                    describe));
    }

    sql::Statement& plain_statement() {
        if (!plain) plain.reset(conn->createStatement());
        return *plain;
    }

    // Runs a statement without parameters and results (session setup, transactions).
    void run(const std::string& sql) {
        check_idle();
        try {
            sql::Statement& st = plain_statement();
            if (st.execute(sql)) std::unique_ptr<sql::ResultSet> discard(st.getResultSet());
        } catch (...) {
            translate_error(describe, "statement", sql);
        }
    }
};

class MysqlCursor final : public RowCursor {
public:
    // Takes the result; `owned` is the statement it came from when the
    // cursor owns it (streaming plain statements), null for cached ones.
    MysqlCursor(std::shared_ptr<Session> session, std::unique_ptr<sql::Statement> owned,
                std::unique_ptr<sql::ResultSet> result, bool binary_protocol, std::string sql)
        : m_session(std::move(session)),
          m_statement(std::move(owned)),
          m_result(std::move(result)),
          m_sql(std::move(sql)) {
        sql::ResultSetMetaData* meta = m_result->getMetaData();
        const unsigned n = meta->getColumnCount();
        for (unsigned i = 1; i <= n; ++i) {
            m_names.push_back(meta->getColumnLabel(i));
            m_readers.push_back(reader_for(*meta, i, binary_protocol));
            m_kinds.push_back(m_readers.back().kind);
        }
        m_session->busy = true;
    }

    ~MysqlCursor() override { release(); }

    const std::vector<std::string>& column_names() const override { return m_names; }
    const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }

    bool next_batch(std::vector<Row>& out, std::size_t max_rows) override {
        if (!m_result) {
            out.clear();
            return false;
        }
        max_rows = std::max<std::size_t>(max_rows, 1);
        std::size_t n = 0;
        try {
            while (n < max_rows && m_result->next()) {
                if (n == out.size()) out.emplace_back();
                read_row(out[n]);
                ++n;
            }
        } catch (const Error& e) {  // a value the server sent that we cannot read
            out.clear();
            release();
            throw e.context(fmt::format("reading the result of '{}' on {}", sql_head(m_sql), m_session->describe));
        } catch (...) {
            out.clear();
            release();
            translate_error(m_session->describe, "reading query result", m_sql);
        }
        out.resize(n);
        if (n < max_rows) release();  // exhausted: free the socket now
        return n > 0;
    }

private:
    void read_row(Row& row) {
        const auto columns = m_readers.size();
        row.resize(columns);
        sql::ResultSet& rs = *m_result;
        for (std::size_t c = 0; c < columns; ++c) {
            const auto index = static_cast<std::uint32_t>(c + 1);
            const ColumnReader& r = m_readers[c];
            switch (r.reader) {
            case Reader::int64: {
                const std::int64_t v = rs.getInt64(index);
                row[c] = rs.wasNull() ? Value::null() : Value::integer(v);
                break;
            }
            case Reader::uint64: {
                const std::uint64_t v = rs.getUInt64(index);
                row[c] = rs.wasNull() ? Value::null() : Value::unsigned_integer(v);
                break;
            }
            case Reader::real_binary: {
                const long double v = rs.getDouble(index);
                row[c] = rs.wasNull() ? Value::null() : Value::real(static_cast<double>(v));
                break;
            }
            case Reader::float_binary: {
                const long double v = rs.getDouble(index);
                row[c] = rs.wasNull() ? Value::null() : float_value(v);
                break;
            }
            default: {
                sql::SQLString s = rs.getString(index);
                if (rs.wasNull()) {
                    row[c] = Value::null();
                } else if (r.reader == Reader::text) {
                    row[c] = Value::text(take(std::move(s)));
                } else if (r.reader == Reader::bytes) {
                    // Not Value::parse: raw bytes may start with "\x".
                    row[c] = Value::bytes(take(std::move(s)));
                } else if (r.reader == Reader::decimal) {
                    row[c] = Value::decimal(s.asStdString());
                } else {
                    row[c] = Value::parse(r.kind, s.asStdString());
                }
                break;
            }
            }
        }
    }

    // Frees the result (draining what is left of a streamed one) and the
    // connection with it.
    void release() noexcept {
        if (!m_result && !m_statement) return;
        try {
            m_result.reset();
            m_statement.reset();
        } catch (const std::exception& e) {
            logger()->debug("closing a result on {} failed: {}", m_session->describe, redact(e.what()));
        }
        m_result.reset();
        m_statement.reset();
        m_session->busy = false;
    }

    std::shared_ptr<Session> m_session;
    std::unique_ptr<sql::Statement> m_statement;  // destroyed after m_result
    std::unique_ptr<sql::ResultSet> m_result;
    std::string m_sql;
    std::vector<std::string> m_names;
    std::vector<ValueKind> m_kinds;
    std::vector<ColumnReader> m_readers;
};

// Multi-row INSERT ... VALUES (?, ...), (?, ...) with bound values; the
// statement for a full batch is prepared once and reused.
class MysqlBulkWriter final : public BulkWriter {
public:
    MysqlBulkWriter(std::shared_ptr<Session> session, std::string table, std::vector<std::string> columns)
        : m_session(std::move(session)), m_table(std::move(table)), m_columns(std::move(columns)) {
        const Dialect& d = dialect_for(Engine::mysql);
        m_what = fmt::format("bulk insert into {}", d.quote(m_table));  // validates the name
        d.quote_list(m_columns);                                        // and the columns
        if (m_columns.empty()) throw Error(Code::internal, fmt::format("{}: no columns given", m_what));
        m_batch_rows = std::max<std::size_t>(1, std::min(k_bulk_rows, k_max_placeholders / m_columns.size()));
        m_rows.reserve(m_batch_rows);
        m_full_sql = insert_sql(m_batch_rows);
    }

    void write(const Row& row) override {
        if (row.size() != m_columns.size())
            throw Error(Code::internal,
                        fmt::format("{}: row has {} values for {} columns", m_what, row.size(), m_columns.size()));
        for (const Value& v : row) {
            m_bytes += 16;
            if (v.kind() == ValueKind::text || v.kind() == ValueKind::bytes) m_bytes += v.as_string().size();
        }
        m_rows.push_back(row);
        if (m_rows.size() >= m_batch_rows || m_bytes >= k_bulk_bytes) flush();
    }

    void finish() override { flush(); }

private:
    void flush() {
        if (m_rows.empty()) return;
        m_session->check_idle();
        const bool full = m_rows.size() == m_batch_rows;
        const std::string insert = full ? m_full_sql : insert_sql(m_rows.size());
        try {
            // Full batches share one cached statement; a short one (the tail,
            // or a batch cut by size) is prepared once and thrown away.
            StatementCache::Entry one_off;
            StatementCache::Entry* entry = nullptr;
            if (full) {
                entry = &m_session->statements.get(*m_session->conn, insert);
            } else {
                one_off = StatementCache::prepare(*m_session->conn, insert);
                entry = &one_off;
            }
            m_binder.clear();
            unsigned first = 1;
            for (const Row& row : m_rows) {
                m_binder.bind(*entry->statement, row, first);
                first += static_cast<unsigned>(m_columns.size());
            }
            entry->statement->executeUpdate();
            if (full && m_binder.used_unsigned_flag()) m_session->statements.drop(insert);
        } catch (...) {
            m_rows.clear();
            m_bytes = 0;
            translate_error(m_session->describe, m_what, insert);
        }
        m_binder.clear();
        m_rows.clear();
        m_bytes = 0;
    }

    // INSERT INTO `t` (`a`, `b`) VALUES (?, ?), (?, ?): a bulk load fails on
    // duplicate keys rather than skipping them.
    std::string insert_sql(std::size_t rows) const {
        const Dialect& d = dialect_for(Engine::mysql);
        const int n = static_cast<int>(m_columns.size());
        std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", d.quote(m_table), d.quote_list(m_columns));
        for (std::size_t r = 0; r < rows; ++r) {
            if (r) sql += ", ";
            sql += d.placeholders(static_cast<int>(r) * n + 1, n);
        }
        return sql;
    }

    std::shared_ptr<Session> m_session;
    std::string m_table;
    std::vector<std::string> m_columns;
    std::string m_what;
    std::size_t m_batch_rows = k_bulk_rows;
    std::string m_full_sql;  // the statement for a full batch
    std::vector<Row> m_rows;
    std::size_t m_bytes = 0;
    Binder m_binder;
};

class MysqlConnection final : public Connection {
public:
    explicit MysqlConnection(std::shared_ptr<Session> session) : m_session(std::move(session)) {}

    const Dialect& dialect() const override { return dialect_for(Engine::mysql); }
    const std::string& describe() const override { return m_session->describe; }

    ExecResult execute(std::string_view sql_text, Params params) override {
        Session& s = *m_session;
        s.check_idle();
        std::string sql(sql_text);
        ExecResult result;
        try {
            if (params.empty()) {
                sql::Statement& st = s.plain_statement();
                if (st.execute(sql))
                    std::unique_ptr<sql::ResultSet> discard(st.getResultSet());
                else
                    result.affected_rows = st.getUpdateCount();
            } else {
                with_prepared(sql, params, [&](StatementCache::Entry& entry) {
                    if (entry.returns_rows) {
                        std::unique_ptr<sql::ResultSet> discard(entry.statement->executeQuery());
                    } else {
                        // executeUpdate() returns the count as int; it never comes near 2^31.
                        result.affected_rows = static_cast<std::uint32_t>(entry.statement->executeUpdate());
                    }
                    if (m_binder.used_unsigned_flag()) s.statements.drop(sql);
                });
            }
            if (result.affected_rows > 0 && is_insert(sql)) result.last_insert_id = last_insert_id();
        } catch (...) {
            m_binder.clear();
            translate_error(s.describe, "statement", sql);
        }
        return result;
    }

    std::unique_ptr<RowCursor> stream(std::string_view sql_text, Params params) override {
        Session& s = *m_session;
        s.check_idle();
        std::string sql(sql_text);
        try {
            std::optional<std::string> inlined;
            // Inlined (Dialect::inline_params), the query runs as a streaming,
            // text-protocol statement: a prepared statement's result is
            // always buffered whole (docs/library-notes.md), and its binary
            // protocol makes the connector print every DATETIME with snprintf.
            if (!params.empty()) inlined = dialect().inline_params(sql, params);
            if (params.empty() || inlined) {
                if (inlined) sql = std::move(*inlined);
                std::unique_ptr<sql::Statement> st(s.conn->createStatement());
                st->setResultSetType(sql::ResultSet::TYPE_FORWARD_ONLY);
                std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
                return std::make_unique<MysqlCursor>(m_session, std::move(st), std::move(rs),
                                                     /*binary_protocol=*/false, std::move(sql));
            }
            std::unique_ptr<sql::ResultSet> rs;
            std::unique_ptr<sql::Statement> owned;
            with_prepared(sql, params, [&](StatementCache::Entry& entry) {
                rs.reset(entry.statement->executeQuery());
                if (m_binder.used_unsigned_flag()) {
                    // Keep the statement alive for the result, out of the cache.
                    owned = std::move(entry.statement);
                    s.statements.drop(sql);
                }
            });
            return std::make_unique<MysqlCursor>(m_session, std::move(owned), std::move(rs),
                                                 /*binary_protocol=*/true, std::move(sql));
        } catch (...) {
            m_binder.clear();
            translate_error(s.describe, "query", sql);
        }
    }

    void begin() override {
        if (m_session->in_transaction)
            throw Error(Code::internal, fmt::format("{}: begin() inside an open transaction (MySQL would commit it "
                                                    "silently)",
                                                    describe()));
        m_session->run("START TRANSACTION");
        m_session->in_transaction = true;
    }

    void commit() override {
        m_session->run("COMMIT");
        m_session->in_transaction = false;
    }

    void rollback() override {
        m_session->in_transaction = false;
        m_session->run("ROLLBACK");
    }

    std::vector<ColumnInfo> columns(std::string_view table) override {
        if (!valid_identifier(table)) dialect().quote(table);  // throws Code::config naming it
        static const std::string k_sql =
            "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, k.ORDINAL_POSITION, "
            "c.NUMERIC_SCALE, c.COLLATION_NAME "
            "FROM information_schema.COLUMNS c "
            "LEFT JOIN information_schema.KEY_COLUMN_USAGE k "
            "  ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME "
            " AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY' "
            "WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ? "
            "ORDER BY c.ORDINAL_POSITION";
        const Value name = Value::text(std::string(table));
        std::vector<ColumnInfo> out;
        for (const Row& row : query(k_sql, Params(&name, 1))) {
            ColumnInfo info;
            info.name = std::string(row.at(0).as_string());
            const std::string data_type(row.at(1).as_string());
            info.sql_type = std::string(row.at(2).as_string());
            info.kind = kind_of_column(data_type, info.sql_type);
            info.nullable = row.at(3).as_string() == "YES";
            info.primary_key_position = row.at(4).is_null() ? 0 : static_cast<int>(row.at(4).as_uint());
            if (info.kind == ValueKind::decimal && !row.at(5).is_null())
                info.decimal_scale = static_cast<int>(row.at(5).as_int());
            // Byte-wise already: `binary` and MariaDB's *_nopad_bin. The plain
            // *_bin collations are PAD SPACE ('a' = 'a '), so they are not.
            if (!row.at(6).is_null()) {
                const std::string collation(row.at(6).as_string());
                info.binary_collation = collation == "binary" || collation.ends_with("_nopad_bin");
            }
            out.push_back(std::move(info));
        }
        if (out.empty()) throw Error(Code::config, fmt::format("table '{}' not found in {}", table, describe()));
        return out;
    }

    std::unique_ptr<BulkWriter> bulk_insert(std::string_view table, const std::vector<std::string>& columns) override {
        return std::make_unique<MysqlBulkWriter>(m_session, std::string(table), columns);
    }

private:
    // Binds `params` to the cached statement for `sql` and calls run(entry).
    // A statement whose result columns changed since it was prepared (a
    // table altered, here or elsewhere) fails with errno 2057: it is
    // prepared again and run once more.
    template <typename Run>
    void with_prepared(const std::string& sql, Params params, Run&& run) {
        Session& s = *m_session;
        for (int attempt = 0;; ++attempt) {
            StatementCache::Entry& entry = s.statements.get(*s.conn, sql);
            if (entry.param_count != params.size())
                throw Error(Code::internal, fmt::format("statement failed on {}: {} values given for {} parameter "
                                                        "markers; statement: {}",
                                                        s.describe, params.size(), entry.param_count, sql_head(sql)));
            m_binder.clear();
            m_binder.bind(*entry.statement, params);
            try {
                run(entry);
                m_binder.clear();
                return;
            } catch (const sql::SQLException& e) {
                if (attempt > 0 || e.getErrorCode() != k_cr_new_stmt_metadata) throw;
                logger()->debug("{}: result columns changed, preparing again: {}", s.describe, sql_head(sql));
                s.statements.drop(sql);
            }
        }
    }

    std::uint64_t last_insert_id() {
        sql::Statement& st = m_session->plain_statement();
        std::unique_ptr<sql::ResultSet> rs(st.executeQuery("SELECT LAST_INSERT_ID()"));
        return rs->next() ? rs->getUInt64(1) : 0;
    }

    std::shared_ptr<Session> m_session;
    Binder m_binder;
};

}  // namespace

std::unique_ptr<Connection> connect_mysql(const Dsn& dsn, const ConnectOptions& options) {
    register_secret(dsn.password);
    auto session = std::make_shared<Session>();
    session->describe = dsn.redacted();

    check_dsn_files(dsn);
    sql::ConnectOptionsMap props;
    const bool ipv6 = dsn.host.find(':') != std::string::npos;
    if (const auto socket = dsn.param("socket"))
        props["hostName"] = "unix://" + *socket;
    else
        props["hostName"] =
            ipv6 ? fmt::format("tcp://[{}]:{}", dsn.host, dsn.port) : fmt::format("tcp://{}:{}", dsn.host, dsn.port);
    props["userName"] = dsn.user;
    props["password"] = dsn.password;
    props["schema"] = dsn.database;
    props["OPT_CONNECT_TIMEOUT"] = dsn.connect_timeout_seconds().value_or(std::max(1, options.connect_timeout_seconds));
    // TLS. libmariadb, under the connector, has no ssl-mode of its own
    // (measured on Debian 12, tests/integration/tls_test.cpp): sslEnforce
    // asks for TLS but goes on without it when the server has none
    // (PREFERRED, then); sslVerify refuses such a server before the login
    // and verifies the certificate against the CA -- chain and host name at
    // once, so VERIFY_CA is as strict as VERIFY_IDENTITY here. REQUIRED is
    // sslEnforce plus a check, right after the handshake and before any
    // statement, that the session is encrypted (require_tls).
    const std::string ssl_mode = dsn.param("ssl-mode").value_or("");
    const bool require_tls = ssl_mode == "REQUIRED" || ssl_mode == "VERIFY_CA" || ssl_mode == "VERIFY_IDENTITY";
    if (ssl_mode != "DISABLED") {
        for (auto [param, prop] : {std::pair{"ssl-ca", "sslCA"}, {"ssl-cert", "sslCert"}, {"ssl-key", "sslKey"}})
            if (const auto v = dsn.param(param)) props[prop] = *v;
        if (require_tls || ssl_mode == "PREFERRED") props["sslEnforce"] = true;
        if (ssl_mode == "VERIFY_CA" || ssl_mode == "VERIFY_IDENTITY") props["sslVerify"] = true;
    }
    if (options.read_timeout_seconds > 0) {
        props["OPT_READ_TIMEOUT"] = options.read_timeout_seconds;
        props["OPT_WRITE_TIMEOUT"] = options.read_timeout_seconds;
    }
    props["OPT_CHARSET_NAME"] = std::string("utf8mb4");
    // Affected rows count matched rows, not only changed ones, as on PostgreSQL.
    props["CLIENT_FOUND_ROWS"] = true;

    try {
        // The driver singleton (and libmariadb's library init) is not safe to
        // create from two threads at once; a function-local static is.
        static sql::Driver* const driver = get_driver_instance();
        session->conn.reset(driver->connect(props));
    } catch (...) {
        translate_connect_error(dsn);
    }
    // Before any statement: nothing travels unencrypted but the handshake.
    if (require_tls) {
        bool encrypted = false;
        try {
            std::unique_ptr<sql::Statement> st(session->conn->createStatement());
            std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_version'"));
            encrypted = rs->next() && !rs->getString(2).asStdString().empty();
        } catch (const sql::SQLException& e) {
            throw Error(Code::connection, fmt::format("cannot connect to {}: reading the session's TLS status: {}",
                                                      dsn.redacted(), e.what()));
        }
        if (!encrypted)
            throw Error(Code::connection, fmt::format("cannot connect to {}: ssl-mode={} but the server did not "
                                                      "encrypt the session (TLS not enabled there?)",
                                                      dsn.redacted(), ssl_mode));
    }
    try {
        // UTC, 4-byte UTF-8 both ways, strict mode kept or added to the server's.
        session->run(
            "SET time_zone = '+00:00', NAMES utf8mb4, "
            "sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
            "'STRICT_TRANS_TABLES')");
    } catch (const Error& e) {
        throw e.context(fmt::format("cannot set up the session on {}", dsn.redacted()));
    }
    logger()->debug("connected to {}", session->describe);
    return std::make_unique<MysqlConnection>(std::move(session));
}

}  // namespace webook
