// Internal to core/: the engine factories behind connect(). The concrete
// connection classes live in mysql_connection.cpp and pg_connection.cpp.
#pragma once

#include <memory>

#include "core/db.h"

namespace webook {

std::unique_ptr<Connection> connect_mysql(const Dsn& dsn, const ConnectOptions& options);
std::unique_ptr<Connection> connect_postgres(const Dsn& dsn, const ConnectOptions& options);

}  // namespace webook
