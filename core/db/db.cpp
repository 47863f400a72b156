#include "core/db/db.h"

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "core/db/engines.h"

namespace webook {

std::optional<std::size_t> bulk_load_line(const Error& e) {
    const std::string_view text = e.what();
    const auto at = text.find("(COPY line ");
    if (at == std::string_view::npos) return std::nullopt;
    std::size_t n = 0, i = at + 11;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
        n = n * 10 + static_cast<std::size_t>(text[i] - '0');
    if (i == at + 11 || n == 0) return std::nullopt;
    return n;
}

namespace {

std::vector<Row> drain(RowCursor& cursor) {
    std::vector<Row> rows, batch;
    while (cursor.next_batch(batch, 4096))
        for (auto& row : batch) rows.push_back(std::move(row));
    return rows;
}

std::optional<Row> first(std::vector<Row> rows) {
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
}

}  // namespace

std::vector<Row> Connection::query(std::string_view sql, Params params) {
    return drain(*stream(sql, params));
}

std::optional<Row> Connection::query_one(std::string_view sql, Params params) {
    return first(query(sql, params));
}

ExecResult Connection::execute(const PortableSql& sql, Params params) {
    return execute(std::string_view(sql.render(dialect())), params);
}

std::unique_ptr<RowCursor> Connection::stream(const PortableSql& sql, Params params) {
    return stream(std::string_view(sql.render(dialect())), params);
}

std::vector<Row> Connection::query(const PortableSql& sql, Params params) {
    return drain(*stream(sql, params));
}

std::optional<Row> Connection::query_one(const PortableSql& sql, Params params) {
    return first(query(sql, params));
}

bool Connection::table_exists(std::string_view table) {
    try {
        columns(table);
        return true;
    } catch (const Error& e) {
        if (e.code() == Code::config) return false;
        throw;
    }
}

std::optional<std::uint64_t> Connection::estimated_rows(std::string_view table) {
    const Value name[] = {Value::text(std::string(table))};
    std::optional<Row> row;
    try {
        row = query_one(dialect().row_estimate_sql(), name);
    } catch (const Error& e) {  // best effort: the work that follows says what is wrong
        log::get("db")->debug("no row estimate for {} on {}: {}", table, describe(), e.what());
        return std::nullopt;
    }
    if (!row || (*row)[0].is_null()) return std::nullopt;
    const std::int64_t n = (*row)[0].as_int();
    if (n <= 0) return std::nullopt;
    return static_cast<std::uint64_t>(n);
}

Transaction::Transaction(Connection& conn) : m_conn(conn) {
    m_conn.begin();
}

Transaction::~Transaction() {
    if (m_done) return;
    try {
        m_conn.rollback();
    } catch (const std::exception& e) {
        // The connection is likely gone; the server rolls back on its own.
        log::get("db")->debug("rollback on {} failed: {}", m_conn.describe(), e.what());
    }
}

void Transaction::commit() {
    m_conn.commit();
    m_done = true;
}

std::unique_ptr<Connection> connect(const Dsn& dsn, const ConnectOptions& options) {
    if (dsn.engine == Engine::mysql) return connect_mysql(dsn, options);
    return connect_postgres(dsn, options);
}

namespace {

// connect_resumable(): a pass-through to the current session, which
// reset_session() drops and the next call replaces.
class ResumableConnection final : public Connection {
public:
    ResumableConnection(const Dsn& dsn, const ConnectOptions& options)
        : m_dsn(dsn), m_options(options), m_session(connect(dsn, options)), m_describe(m_session->describe()) {}

    const Dialect& dialect() const override { return dialect_for(m_dsn.engine); }
    const std::string& describe() const override { return m_describe; }
    ExecResult execute(std::string_view sql, Params params) override { return session().execute(sql, params); }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params params) override {
        return session().stream(sql, params);
    }
    ExecResult execute(const PortableSql& sql, Params params) override { return session().execute(sql, params); }
    std::unique_ptr<RowCursor> stream(const PortableSql& sql, Params params) override {
        return session().stream(sql, params);
    }
    void begin() override { session().begin(); }
    void commit() override { session().commit(); }
    void rollback() override { session().rollback(); }
    std::vector<ColumnInfo> columns(std::string_view table) override { return session().columns(table); }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view table, const std::vector<std::string>& columns) override {
        return session().bulk_insert(table, columns);
    }
    bool reset_session() override {
        m_session.reset();
        return true;
    }

private:
    Connection& session() {
        if (!m_session) m_session = connect(m_dsn, m_options);
        return *m_session;
    }

    Dsn m_dsn;
    ConnectOptions m_options;
    std::unique_ptr<Connection> m_session;
    std::string m_describe;
};

}  // namespace

std::unique_ptr<Connection> connect_resumable(const Dsn& dsn, const ConnectOptions& options) {
    return std::make_unique<ResumableConnection>(dsn, options);
}

bool reset_sessions(std::initializer_list<Connection*> connections) {
    bool all = true;
    for (Connection* c : connections)
        if (c && !c->reset_session()) all = false;
    return all;
}

}  // namespace webook
