// The PostgreSQL engine's cursors -- COPY (query) TO STDOUT, a server-side
// cursor, a buffered result -- and its COPY FROM STDIN bulk writer.
#include "core/db/pg_connection.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/stream_from>
#include <pqxx/stream_to>
#include <pqxx/transaction>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/pg_copy_text.h"
#include "core/db/pg_errors.h"
#include "core/db/value.h"

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

namespace webook::pg_detail {
namespace {

using pg_text::append_copy_field;
using pg_text::parse_copy_line;
using pg_text::read_value;

constexpr std::size_t k_max_fetch_rows = 100'000;

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
        : m_conn(conn), m_lease(conn.busy_flag()), m_columns(quoted_columns.size()), m_names(quoted_columns) {
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
            try {
                append_copy_field(m_line, row[i]);
            } catch (const Error& e) {
                throw e.context("column " + m_names[i]);  // a value PostgreSQL has no form of
            }
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
    std::vector<std::string> m_names;                // quoted, for errors
    std::unique_ptr<pqxx::nontransaction> m_own_tx;  // when no transaction is open
    std::unique_ptr<pqxx::stream_to> m_stream;       // null once finished or failed
    std::string m_line;
};

}  // namespace

std::unique_ptr<RowCursor> copy_cursor(PostgresConnection& conn, std::string_view sql) {
    return std::make_unique<CopyCursor>(conn, sql);
}

std::unique_ptr<RowCursor> declared_cursor(PostgresConnection& conn, std::string_view sql,
                                           const std::vector<std::optional<std::string>>& params) {
    return std::make_unique<ResultCursor>(conn, sql, params);
}

std::unique_ptr<RowCursor> buffered_cursor(pqxx::result result, const std::string& where) {
    return std::make_unique<ResultCursor>(std::move(result), where);
}

std::unique_ptr<BulkWriter> copy_writer(PostgresConnection& conn, const std::string& table,
                                        const std::vector<std::string>& quoted_columns) {
    return std::make_unique<CopyWriter>(conn, table, quoted_columns);
}

}  // namespace webook::pg_detail
