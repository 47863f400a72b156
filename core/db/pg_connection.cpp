// The PostgreSQL engine: Connection, RowCursor and BulkWriter over libpqxx 6.4.
//
// Session. TimeZone=UTC, DateStyle=ISO, bytea_output=hex, extra_float_digits=1
// (shortest exact floats) and client_encoding=UTF8 travel in the conninfo
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
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <deque>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <pqxx/connection>
#include <pqxx/errorhandler>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/prepared_statement>
#include <pqxx/result>
#include <pqxx/stream_from>
#include <pqxx/stream_to>
#include <pqxx/transaction>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/secrets.h"
#include "core/db/dialect.h"
#include "core/db/engines.h"

namespace webook {
namespace {

// One COPY text line, already escaped, without its newline.
struct CopyLine {
    const std::string* text;
};

}  // namespace
}  // namespace webook

// pqxx::stream_to escapes every field of the tuple it is given; a CopyLine is a
// whole line escaped by us and goes through unchanged. (6.4 keeps its raw line
// writer private; this is the one public way in.)
template <>
inline std::string pqxx::internal::TypedCopyEscaper::operator()<webook::CopyLine>(const webook::CopyLine* line) const {
    return *line->text;
}

namespace webook {
namespace {

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

constexpr std::size_t k_max_fetch_rows = 100'000;
// Prepared statements kept per connection (execute() with parameters).
constexpr std::size_t k_max_prepared = 64;

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

// ---------------------------------------------------------------------------
// Messages

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string_view strip_severity(std::string_view line) {
    for (std::string_view prefix : {"ERROR:", "FATAL:", "PANIC:", "WARNING:", "NOTICE:"})
        if (line.substr(0, prefix.size()) == prefix) return trim(line.substr(prefix.size()));
    return line;
}

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return lines;
}

std::string shorten(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    return std::string(text.substr(0, max)) + "...";
}

// A server message on one line: the primary message and its DETAIL; the
// LINE/caret/HINT/CONTEXT lines libpq adds are dropped.
std::string server_message(std::string_view text) {
    std::string primary, detail;
    for (std::string_view line : split_lines(text)) {
        if (line.substr(0, 7) == "DETAIL:") {
            if (detail.empty()) detail = shorten(trim(line.substr(7)), 200);
        } else if (primary.empty() && !trim(line).empty()) {
            primary = shorten(strip_severity(trim(line)), 400);
        }
    }
    if (primary.empty()) primary = "unknown error";
    if (!detail.empty()) primary += " (" + detail + ")";
    return redact(primary);
}

// libpq's connection failure, one reason per attempted address, e.g.
//   connection to server at "127.0.0.1", port 1 failed: Connection refused
//   \tIs the server running on that host and accepting TCP/IP connections?
// becomes "connection refused".
std::string connect_reason(std::string_view text) {
    std::vector<std::string> reasons;
    for (std::string_view line : split_lines(text)) {
        if (line.empty() || line[0] == '\t') continue;  // hints
        line = trim(line);
        if (auto at = line.find(" failed: "); at != std::string_view::npos && line.substr(0, 13) == "connection to")
            line = line.substr(at + 9);
        for (std::string_view prefix : {"could not connect to server: ", "connection failed: "})
            if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
        line = strip_severity(line);
        if (line.empty()) continue;
        std::string reason(line);
        if (reason.size() > 1 && std::isupper(static_cast<unsigned char>(reason[0])) &&
            std::islower(static_cast<unsigned char>(reason[1])))
            reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
        if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) reasons.push_back(std::move(reason));
    }
    std::string out;
    for (const auto& r : reasons) out += (out.empty() ? "" : "; ") + r;
    return redact(out.empty() ? std::string("unknown error") : out);
}

Error statement_error(const std::string& where, std::string_view text, const std::string& state) {
    const std::string message = server_message(text);
    if (state == "42P01") {
        // relation "x" does not exist
        std::string table = "?";
        if (auto open = message.find('"'); open != std::string::npos) {
            auto close = message.find('"', open + 1);
            if (close != std::string::npos) table = message.substr(open + 1, close - open - 1);
        }
        return Error(Code::config, fmt::format("table '{}' not found in {}", table, where));
    }
    const bool lost = state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03";
    if (lost)
        return Error(Code::connection, fmt::format("lost connection to {}: {} (SQLSTATE {})", where, message, state),
                     Temporary::yes);
    const bool temporary = state.substr(0, 2) == "40" || state == "55P03" || state == "57014" || state == "53300";
    return Error(
        Code::server,
        fmt::format("statement failed on {}: {} (SQLSTATE {})", where, message, state.empty() ? "unknown" : state),
        temporary ? Temporary::yes : Temporary::no);
}

// The exception in flight as an Error about `where` (a redacted DSN). Call
// from a catch block only.
Error translate_current(const std::string& where) {
    try {
        throw;
    } catch (const Error& e) {
        return e;
    } catch (const pqxx::broken_connection& e) {
        return Error(Code::connection, fmt::format("lost connection to {}: {}", where, connect_reason(e.what())),
                     Temporary::yes);
    } catch (const pqxx::sql_error& e) {
        return statement_error(where, e.what(), e.sqlstate());
    } catch (const pqxx::serialization_failure& e) {
        return statement_error(where, e.what(), "40001");
    } catch (const pqxx::deadlock_detected& e) {
        return statement_error(where, e.what(), "40P01");
    } catch (const pqxx::statement_completion_unknown& e) {
        return statement_error(where, e.what(), "40003");
    } catch (const pqxx::transaction_rollback& e) {
        return statement_error(where, e.what(), "40000");
    } catch (const pqxx::in_doubt_error& e) {
        return Error(Code::connection,
                     fmt::format("commit on {} may or may not have happened: {}", where, server_message(e.what())));
    } catch (const pqxx::conversion_error& e) {
        return Error(Code::data, fmt::format("cannot read a value from {}: {}", where, server_message(e.what())));
    } catch (const std::bad_alloc&) {
        return Error(Code::internal, fmt::format("out of memory reading from {}", where));
    } catch (const std::exception& e) {
        return Error(Code::internal, fmt::format("postgres client error on {}: {}", where, server_message(e.what())));
    } catch (...) {
        return Error(Code::internal, fmt::format("unknown failure on {}", where));
    }
}

// libpq notices and libpqxx's own warnings go to the log, not raw to stderr.
class NoticeToLog final : public pqxx::errorhandler {
public:
    explicit NoticeToLog(pqxx::connection_base& conn) : pqxx::errorhandler(conn) {}

    bool operator()(const char message[]) noexcept override {
        try {
            log::get("db")->debug("postgres: {}", redact(trim(message)));
        } catch (...) {
        }
        return false;  // handled; no further handlers
    }
};

// ---------------------------------------------------------------------------
// Values out: parameters and COPY text

void append_hex(std::string& out, std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    const std::size_t start = out.size();
    out.resize(start + bytes.size() * 2);
    char* p = out.data() + start;
    for (unsigned char c : bytes) {
        *p++ = k_digits[c >> 4];
        *p++ = k_digits[c & 15];
    }
}

std::string real_text(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact
    (void)ec;
    return std::string(buf, end);
}

// The text form PostgreSQL's input functions accept; bytes as bytea hex.
std::optional<std::string> param_text(const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: return std::nullopt;
    case ValueKind::boolean: return std::string(v.as_bool() ? "t" : "f");
    case ValueKind::real: return real_text(v.as_double());
    case ValueKind::text:
    case ValueKind::decimal: return std::string(v.as_string());
    case ValueKind::bytes: {
        std::string out = "\\x";
        append_hex(out, v.as_string());
        return out;
    }
    default: return v.canonical();  // integers, date, time, datetime
    }
}

// COPY text escaping: backslash, tab, newline and carriage return.
void append_copy_text(std::string& line, std::string_view text) {
    std::size_t done = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const char* escaped = c == '\\' ? "\\\\" : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : nullptr;
        if (escaped == nullptr) continue;
        line.append(text.data() + done, i - done);
        line += escaped;
        done = i + 1;
    }
    line.append(text.data() + done, text.size() - done);
}

void append_copy_field(std::string& line, const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: line += "\\N"; break;
    case ValueKind::text: append_copy_text(line, v.as_string()); break;
    case ValueKind::bytes:
        line += "\\\\x";  // bytea hex input, its backslash escaped for COPY
        append_hex(line, v.as_string());
        break;
    default: append_copy_text(line, *param_text(v)); break;
    }
}

// ---------------------------------------------------------------------------
// Values in: COPY text lines and result fields

// COPY TO escapes \b \f \n \r \t \v and the backslash; "\N" alone is NULL.
void unescape_copy(std::string_view field, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < field.size(); ++i) {
        char c = field[i];
        if (c == '\\' && i + 1 < field.size()) {
            switch (field[++i]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = '\v'; break;
            default: c = field[i]; break;  // "\\" and anything else: the character itself
            }
        }
        out += c;
    }
}

Value read_value(ValueKind kind, std::string_view text, const std::string& column) {
    try {
        if (kind == ValueKind::text) return Value::text(std::string(text));
        return Value::parse(kind, text);
    } catch (const Error& e) {
        throw e.context(fmt::format("column '{}'", column));
    }
}

// Fills `row` from one COPY text line: fields separated by tabs (tabs in data
// arrive escaped), "\N" for NULL, backslash escapes.
void parse_copy_line(std::string_view line, const std::vector<ValueKind>& kinds, const std::vector<std::string>& names,
                     Row& row, std::string& scratch) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    row.resize(kinds.size());
    std::size_t pos = 0;
    for (std::size_t c = 0; c < kinds.size(); ++c) {
        if (pos > line.size())
            throw Error(Code::internal, fmt::format("COPY line has {} fields, expected {}", c, kinds.size()));
        std::size_t end = line.find('\t', pos);
        if (end == std::string_view::npos) end = line.size();
        const std::string_view field = line.substr(pos, end - pos);
        pos = end + 1;
        if (field.find('\\') == std::string_view::npos) {
            row[c] = read_value(kinds[c], field, names[c]);
        } else if (field == "\\N") {
            row[c] = Value();
        } else {
            unescape_copy(field, scratch);
            row[c] = read_value(kinds[c], scratch, names[c]);
        }
    }
    if (!kinds.empty() && pos <= line.size())
        throw Error(Code::internal, fmt::format("COPY line has more fields than the {} expected", kinds.size()));
}

void read_result_row(const pqxx::row& in, const std::vector<ValueKind>& kinds, const std::vector<std::string>& names,
                     Row& row) {
    row.resize(kinds.size());
    for (std::size_t c = 0; c < kinds.size(); ++c) {
        const pqxx::field f = in[static_cast<pqxx::row::size_type>(c)];
        if (f.is_null())
            row[c] = Value();
        else
            row[c] = read_value(kinds[c], std::string_view(f.c_str(), f.size()), names[c]);
    }
}

void describe_result(const pqxx::result& r, std::vector<std::string>& names, std::vector<ValueKind>& kinds) {
    names.clear();
    kinds.clear();
    for (pqxx::row::size_type c = 0; c < r.columns(); ++c) {
        names.emplace_back(r.column_name(c));
        kinds.push_back(kind_for_type(r.column_type(c)));
    }
}

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

// The statement without trailing semicolons, to be wrapped in parentheses.
std::string_view strip_terminator(std::string_view sql) {
    sql = trim(sql);
    while (!sql.empty() && sql.back() == ';') sql = trim(sql.substr(0, sql.size() - 1));
    return sql;
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

class PostgresConnection;

// Marks a connection busy for as long as a cursor or COPY is open on it.
class BusyLease {
public:
    explicit BusyLease(bool& busy) : m_busy(&busy) { *m_busy = true; }
    ~BusyLease() { release(); }
    BusyLease(const BusyLease&) = delete;
    BusyLease& operator=(const BusyLease&) = delete;

    void release() {
        if (m_busy != nullptr) *m_busy = false;
        m_busy = nullptr;
    }

private:
    bool* m_busy;
};

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

pqxx::result exec_with(pqxx::transaction_base& tx, const std::string& sql,
                       const std::vector<std::optional<std::string>>& params) {
    // The simple protocol (exec) also takes several statements at once;
    // exec_params takes exactly one.
    if (params.empty()) return tx.exec(sql);
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
}

// ---------------------------------------------------------------------------
// Cursors

// COPY (query) TO STDOUT, parsed line by line.
class CopyCursor final : public RowCursor {
public:
    CopyCursor(PostgresConnection& conn, std::string_view sql) : m_conn(conn), m_lease(conn.busy_flag()) {
        const std::string query(strip_terminator(sql));
        try {
            pqxx::transaction_base* tx = conn.open_transaction();
            if (tx == nullptr) {
                m_own_tx = std::make_unique<pqxx::nontransaction>(conn.raw());
                tx = m_own_tx.get();
            }
            // Newlines keep a trailing "-- comment" from swallowing the parenthesis.
            describe_result(tx->exec("SELECT * FROM (" + query + "\n) AS webook_describe LIMIT 0"), m_names, m_kinds);
            m_stream = std::make_unique<pqxx::stream_from>(*tx, "(" + query + "\n)");
        } catch (...) {
            Error e = conn.failure();
            close_early();
            throw e;
        }
    }

    ~CopyCursor() override { close_early(); }

    const std::vector<std::string>& column_names() const override { return m_names; }
    const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }

    bool next_batch(std::vector<Row>& out, std::size_t max_rows) override {
        max_rows = std::max<std::size_t>(max_rows, 1);
        std::size_t n = 0;
        try {
            while (m_stream && n < max_rows) {
                if (!m_stream->get_raw_line(m_line)) {
                    finish();
                    break;
                }
                if (n == out.size()) out.emplace_back();
                parse_copy_line(m_line, m_kinds, m_names, out[n], m_scratch);
                ++n;
            }
        } catch (const Error& e) {
            close_early();  // a value we cannot read: the COPY is still running
            throw e.context("reading a streamed result");
        } catch (...) {
            Error e = m_conn.failure();
            m_stream.reset();  // the server ended the COPY with this error
            close_early();
            throw e.context("reading a streamed result");
        }
        out.resize(n);
        return n > 0;
    }

private:
    void finish() {
        m_stream->complete();
        m_stream.reset();
        if (m_own_tx) m_own_tx->commit();
        m_own_tx.reset();
        m_lease.release();
    }

    // Leaves the connection ready for the next statement while the COPY is
    // still running. libpq must see its end first: in our own autocommit read
    // the server is told to stop (cancel); inside the caller's transaction the
    // rest is read and dropped, so the transaction stays usable.
    void close_early() noexcept {
        if (m_stream) {
            try {
                if (m_own_tx) m_conn.raw().cancel_query();
                while (m_stream->get_raw_line(m_line)) {
                }
            } catch (...) {
                // The cancellation's own error, or the connection is gone.
            }
        }
        m_stream.reset();
        m_own_tx.reset();
        m_lease.release();
    }

    PostgresConnection& m_conn;
    BusyLease m_lease;
    std::unique_ptr<pqxx::nontransaction> m_own_tx;  // when no transaction is open
    std::unique_ptr<pqxx::stream_from> m_stream;     // null once finished
    std::vector<std::string> m_names;
    std::vector<ValueKind> m_kinds;
    std::string m_line, m_scratch;
};

// A server-side cursor fetched in batches (queries with parameters), or a
// buffered result (other statements).
class ResultCursor final : public RowCursor {
public:
    // Buffered: the whole result is already here; the connection is free.
    ResultCursor(pqxx::result result, const std::string& where) : m_where(where), m_result(std::move(result)) {
        describe_result(m_result, m_names, m_kinds);
    }

    // DECLARE ... CURSOR with bound parameters, FETCH per batch.
    ResultCursor(PostgresConnection& conn, std::string_view sql, const std::vector<std::optional<std::string>>& params)
        : m_conn(&conn), m_where(conn.describe()), m_lease(std::in_place, conn.busy_flag()) {
        try {
            m_tx = conn.open_transaction();
            if (m_tx == nullptr) {
                m_own_tx = std::make_unique<pqxx::work>(conn.raw());  // DECLARE needs a transaction
                m_tx = m_own_tx.get();
            }
            m_cursor = conn.next_cursor_name();
            exec_with(*m_tx, "DECLARE " + m_cursor + " NO SCROLL CURSOR FOR " + std::string(strip_terminator(sql)),
                      params);
            // FETCH 0 returns no rows but describes the columns.
            describe_result(m_tx->exec("FETCH FORWARD 0 FROM " + m_cursor), m_names, m_kinds);
        } catch (...) {
            Error e = conn.failure();
            close_early();
            throw e;
        }
    }

    ~ResultCursor() override { close_early(); }

    const std::vector<std::string>& column_names() const override { return m_names; }
    const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }

    bool next_batch(std::vector<Row>& out, std::size_t max_rows) override {
        max_rows = std::max<std::size_t>(max_rows, 1);
        std::size_t n = 0;
        try {
            while (n < max_rows) {
                if (m_pos == m_result.size()) {
                    if (!fetch(max_rows - n)) break;
                }
                if (n == out.size()) out.emplace_back();
                read_result_row(m_result[static_cast<pqxx::result::size_type>(m_pos)], m_kinds, m_names, out[n]);
                ++m_pos;
                ++n;
            }
        } catch (...) {
            Error e = m_conn ? m_conn->failure() : translate_current(m_where);
            close_early();
            throw e.context("reading a streamed result");
        }
        out.resize(n);
        return n > 0;
    }

private:
    // Loads the next rows of the server-side cursor; false at the end.
    bool fetch(std::size_t wanted) {
        if (m_tx == nullptr) return false;  // buffered, or the cursor is done
        if (m_exhausted) {
            finish();
            return false;
        }
        const std::size_t count = std::min(wanted, k_max_fetch_rows);
        m_result = m_tx->exec(fmt::format("FETCH FORWARD {} FROM {}", count, m_cursor));
        m_pos = 0;
        // A short batch is the last one: no extra round trip to learn it.
        m_exhausted = m_result.size() < count;
        if (m_result.empty()) {
            finish();
            return false;
        }
        return true;
    }

    void finish() {
        if (m_own_tx) {
            m_own_tx->commit();  // also closes the cursor
            m_own_tx.reset();
        } else if (m_tx != nullptr) {
            m_tx->exec("CLOSE " + m_cursor);
        }
        m_tx = nullptr;
        if (m_lease) m_lease->release();
    }

    void close_early() noexcept {
        if (m_tx != nullptr && !m_own_tx && !m_cursor.empty()) {
            try {
                m_tx->exec("CLOSE " + m_cursor);
            } catch (...) {
                m_conn->doom_transaction();  // its rollback closes the cursor
            }
        }
        m_own_tx.reset();  // rolls back, which closes the cursor
        m_tx = nullptr;
        if (m_lease) m_lease->release();
    }

    PostgresConnection* m_conn = nullptr;  // null when buffered
    std::string m_where;
    std::optional<BusyLease> m_lease;
    std::unique_ptr<pqxx::work> m_own_tx;    // when no transaction was open
    pqxx::transaction_base* m_tx = nullptr;  // while the server-side cursor is open
    std::string m_cursor;
    bool m_exhausted = false;
    pqxx::result m_result;
    std::size_t m_pos = 0;
    std::vector<std::string> m_names;
    std::vector<ValueKind> m_kinds;
};

// ---------------------------------------------------------------------------
// Bulk writer

class CopyWriter final : public BulkWriter {
public:
    CopyWriter(PostgresConnection& conn, const std::string& table, const std::vector<std::string>& quoted_columns)
        : m_conn(conn), m_lease(conn.busy_flag()), m_columns(quoted_columns.size()) {
        try {
            pqxx::transaction_base* tx = conn.open_transaction();
            if (tx == nullptr) {
                m_own_tx = std::make_unique<pqxx::nontransaction>(conn.raw());
                tx = m_own_tx.get();
            }
            // 6.4 puts the table name into COPY as given: it is quoted already.
            m_stream = std::make_unique<pqxx::stream_to>(*tx, table, quoted_columns);
        } catch (...) {
            Error e = conn.failure();
            m_stream.reset();
            m_own_tx.reset();
            m_lease.release();
            throw e.context("starting COPY");
        }
    }

    ~CopyWriter() override { abandon(); }

    void write(const Row& row) override {
        if (!m_stream) throw Error(Code::internal, "write() on a finished or failed COPY to " + m_conn.describe());
        if (row.size() != m_columns)
            throw Error(Code::internal, fmt::format("COPY row has {} values for {} columns", row.size(), m_columns));
        m_line.clear();
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (i) m_line += '\t';
            append_copy_field(m_line, row[i]);
        }
        try {
            *m_stream << std::make_tuple(CopyLine{&m_line});
        } catch (...) {
            Error e = m_conn.failure();
            abandon();
            throw e.context("writing COPY data");
        }
    }

    void finish() override {
        if (!m_stream) throw Error(Code::internal, "finish() on a finished or failed COPY to " + m_conn.describe());
        try {
            m_stream->complete();
            m_stream.reset();
            if (m_own_tx) m_own_tx->commit();
            m_own_tx.reset();
            m_lease.release();
        } catch (...) {
            Error e = m_conn.failure();
            m_stream.reset();
            m_own_tx.reset();
            m_lease.release();
            throw e.context("finishing COPY");
        }
    }

private:
    // Makes the server reject the whole COPY: a line with one field too many.
    // (Destroying a 6.4 stream_to would complete it and keep the rows.)
    void abandon() noexcept {
        if (m_stream) {
            if (!m_own_tx) m_conn.doom_transaction();
            try {
                const std::string poison(m_columns, '\t');
                *m_stream << std::make_tuple(CopyLine{&poison});
                m_stream->complete();
            } catch (...) {
                // Expected: "extra data after last expected column".
            }
        }
        m_stream.reset();
        m_own_tx.reset();
        m_lease.release();
    }

    PostgresConnection& m_conn;
    BusyLease m_lease;
    std::size_t m_columns;
    std::unique_ptr<pqxx::nontransaction> m_own_tx;  // when no transaction is open
    std::unique_ptr<pqxx::stream_to> m_stream;       // null once finished or failed
    std::string m_line;
};

// ---------------------------------------------------------------------------
// The connection

PostgresConnection::PostgresConnection(const Dsn& dsn, const ConnectOptions& options) : m_describe(dsn.redacted()) {
    std::string session = "-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex -c extra_float_digits=1";
    if (options.read_timeout_seconds > 0)
        session += fmt::format(" -c statement_timeout={}", options.read_timeout_seconds * 1000);
    std::string conninfo = fmt::format(
        "host={} port={} dbname={} user={} connect_timeout={} client_encoding=UTF8 "
        "application_name=webookctl options={}",
        conninfo_value(dsn.host), dsn.port, conninfo_value(dsn.database), conninfo_value(dsn.user),
        std::max(options.connect_timeout_seconds, 1), conninfo_value(session));
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
        if (params.empty()) return std::make_unique<CopyCursor>(*this, sql);
        if (auto inlined = inline_for_copy(dialect(), sql, params))
            return std::make_unique<CopyCursor>(*this, *inlined);
        return std::make_unique<ResultCursor>(*this, sql, param_texts(params));
    }
    const auto texts = param_texts(params);
    try {
        return std::make_unique<ResultCursor>(
            run([&](pqxx::transaction_base& tx) { return exec_with(tx, std::string(sql), texts); }), m_describe);
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
    return std::make_unique<CopyWriter>(*this, quoted_table, quoted);
}

}  // namespace

std::optional<std::string> postgres_param_text(const Value& v) {
    return param_text(v);
}

std::unique_ptr<Connection> connect_postgres(const Dsn& dsn, const ConnectOptions& options) {
    return std::make_unique<PostgresConnection>(dsn, options);
}

}  // namespace webook
