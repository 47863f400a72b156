// Internal to core/: the engine factories behind connect(). The concrete
// connection classes live in mysql_connection.cpp and pg_connection.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/db/db.h"

namespace webook {

std::unique_ptr<Connection> connect_mysql(const Dsn& dsn, const ConnectOptions& options);
std::unique_ptr<Connection> connect_postgres(const Dsn& dsn, const ConnectOptions& options);

// The text form PostgreSQL's input functions accept for `v` (bytes as bytea
// hex); nullopt for NULL. What the PostgreSQL connection binds, and what its
// Dialect::literal quotes.
std::optional<std::string> postgres_param_text(const Value& v);

}  // namespace webook
