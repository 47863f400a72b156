// A database of a test's own on the servers scripts/services.sh started, so
// tests can run in parallel (ctest -j) without sharing tables.
//
// ScratchDatabase creates a uniquely named database next to the one
// WEBOOK_MYSQL_DSN / WEBOOK_PG_DSN names (MariaDB with the server's default
// utf8mb4_unicode_ci collation, i.e. case- and trailing-space-insensitive;
// PostgreSQL from template0 with C.UTF-8), and drops it when it goes away.
// Databases left behind by a test process that was killed are dropped by the
// next process that creates one (their names carry the creator's pid).
//
// A missing server throws: the test fails, it is never skipped.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/db/db.h"
#include "core/db/dsn.h"

namespace webook::testing {

class ScratchDatabase {
public:
    // `tag` goes into the name, to tell a test's databases apart in logs.
    ScratchDatabase(Engine engine, std::string_view tag);
    ~ScratchDatabase();
    ScratchDatabase(const ScratchDatabase&) = delete;
    ScratchDatabase& operator=(const ScratchDatabase&) = delete;

    Engine engine() const { return m_dsn.engine; }
    // With the password resolved, for connect().
    const Dsn& dsn() const { return m_dsn; }
    // "mysql://user@host:port/db" without the password: for the CLI, which
    // reads the password from WEBOOKCTL_*_PASSWORD as services.env sets it.
    std::string url() const { return m_dsn.redacted(); }
    const std::string& name() const { return m_dsn.database; }

    std::unique_ptr<Connection> connect() const;

private:
    Dsn m_admin;  // the server's standing database, to create and drop from
    Dsn m_dsn;
};

}  // namespace webook::testing
