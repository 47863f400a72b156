// Internal to core/db/: what the MariaDB/MySQL engine makes of Connector/C++
// exceptions -- webook::Error with what failed, on which DSN, the server's
// message and errno/SQLSTATE; never the password or connector class names.
#pragma once

#include <string>
#include <string_view>

#include "core/db/dsn.h"

namespace webook::mysql_detail {

// A prepared statement's result columns changed since it was prepared (DDL).
inline constexpr int k_cr_new_stmt_metadata = 2057;

// The start of a statement for error messages: whitespace collapsed, cut short.
std::string sql_head(std::string_view sql);

// "Table 'webook.x' doesn't exist" -> "x".
std::string table_from_message(std::string_view message);

// The OS errno libmariadb appends to network errors: "... (111)".
int trailing_errno(std::string_view message);

// The connector's own messages start with its class and method names
// ("MySQL_Prepared_Statement::setInt64: invalid 'parameterIndex'"): keep
// only the reason, as ": invalid 'parameterIndex'", or nothing.
std::string connector_reason(std::string_view message);

// Translates the exception being handled into webook::Error and throws it.
// `what` names the operation ("query", "bulk insert into `t`"), `sql` the
// statement, if any.
[[noreturn]] void translate_error(const std::string& dsn, std::string_view what, std::string_view sql = {});

// Connection failures: say what went wrong in words, not libmariadb's.
[[noreturn]] void translate_connect_error(const Dsn& dsn);

}  // namespace webook::mysql_detail
