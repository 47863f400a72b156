#include "core/db.h"

#include "core/engines.h"
#include "core/error.h"
#include "core/log.h"

namespace webook {

std::vector<Row> Connection::query(std::string_view sql, Params params) {
    std::vector<Row> rows, batch;
    auto cursor = stream(sql, params);
    while (cursor->next_batch(batch, 4096))
        for (auto& row : batch) rows.push_back(std::move(row));
    return rows;
}

std::optional<Row> Connection::query_one(std::string_view sql, Params params) {
    auto rows = query(sql, params);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
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

}  // namespace webook
