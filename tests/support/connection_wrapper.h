// A pass-through Connection for tests: forwards every call to a real
// connection and lets a test step in before a statement runs (to change the
// data at an exact point of an algorithm, or to inject a fault), without
// waiting on timers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/db/db.h"

namespace webook::testing {

class ConnectionWrapper final : public Connection {
public:
    // Called with the SQL text before each execute() and stream(), with
    // "BULK INSERT <table>" before each bulk_insert() and "COLUMNS <table>"
    // before each columns() (introspection); may throw.
    using Hook = std::function<void(std::string_view sql)>;

    ConnectionWrapper(std::unique_ptr<Connection> inner, Hook before_statement)
        : m_inner(std::move(inner)), m_hook(std::move(before_statement)) {}

    // Called before each commit(); may throw (the commit is then not made).
    void before_commit(Hook hook) { m_before_commit = std::move(hook); }

    const Dialect& dialect() const override { return m_inner->dialect(); }
    const std::string& describe() const override { return m_inner->describe(); }
    ExecResult execute(std::string_view sql, Params params = {}) override {
        if (m_hook) m_hook(sql);
        return m_inner->execute(sql, params);
    }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params params = {}) override {
        if (m_hook) m_hook(sql);
        return m_inner->stream(sql, params);
    }
    void begin() override { m_inner->begin(); }
    void commit() override {
        if (m_before_commit) m_before_commit("COMMIT");
        m_inner->commit();
    }
    void rollback() override { m_inner->rollback(); }
    std::vector<ColumnInfo> columns(std::string_view table) override {
        if (m_hook) m_hook("COLUMNS " + std::string(table));
        return m_inner->columns(table);
    }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view table, const std::vector<std::string>& columns) override {
        if (m_hook) m_hook("BULK INSERT " + std::string(table));
        return m_inner->bulk_insert(table, columns);
    }
    bool reset_session() override { return m_inner->reset_session(); }

private:
    std::unique_ptr<Connection> m_inner;
    Hook m_hook;
    Hook m_before_commit;
};

}  // namespace webook::testing
