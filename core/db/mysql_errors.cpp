// What the MariaDB/MySQL engine makes of Connector/C++ exceptions: the error
// numbers it treats specially and the translation into webook::Error.
#include "core/db/mysql_errors.h"

#include <charconv>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

#include <cppconn/exception.h>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/secrets.h"
#include "core/db/dsn.h"

namespace webook::mysql_detail {
namespace {

// Server and client error numbers we treat specially (mysqld_error.h,
// errmsg.h; not included to keep the connector's C headers out).
constexpr int k_er_dbaccess_denied = 1044;
constexpr int k_er_access_denied = 1045;
constexpr int k_er_bad_db = 1049;
constexpr int k_er_too_many_connections = 1040;
constexpr int k_er_server_shutdown = 1053;
constexpr int k_er_lock_wait_timeout = 1205;
constexpr int k_er_lock_deadlock = 1213;
constexpr int k_er_no_such_table = 1146;
constexpr int k_er_connection_killed = 1927;  // MariaDB
constexpr int k_er_statement_timeout = 1969;  // MariaDB max_statement_time
constexpr int k_cr_connection_error = 2002;
constexpr int k_cr_conn_host_error = 2003;
constexpr int k_cr_unknown_host = 2005;
constexpr int k_cr_server_gone = 2006;
constexpr int k_cr_server_lost = 2013;
constexpr int k_cr_server_lost_extended = 2055;

}  // namespace

std::string sql_head(std::string_view sql) {
    std::string out;
    bool space = false;
    for (char c : sql) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
        if (out.size() >= 120) {
            out += "...";
            break;
        }
    }
    return out;
}

std::string table_from_message(std::string_view message) {
    auto open = message.find('\'');
    auto close = open == std::string_view::npos ? open : message.find('\'', open + 1);
    if (close == std::string_view::npos) return "?";
    std::string_view name = message.substr(open + 1, close - open - 1);
    if (auto dot = name.rfind('.'); dot != std::string_view::npos) name.remove_prefix(dot + 1);
    return std::string(name);
}

int trailing_errno(std::string_view message) {
    auto close = message.rfind(')');
    auto open = message.rfind('(');
    if (close == std::string_view::npos || open == std::string_view::npos || open > close) return 0;
    int v = 0;
    auto [p, ec] = std::from_chars(message.data() + open + 1, message.data() + close, v);
    return ec == std::errc() && p == message.data() + close ? v : 0;
}

std::string connector_reason(std::string_view message) {
    auto scope = message.rfind("::");
    if (scope == std::string_view::npos) return message.empty() ? "" : fmt::format(": {}", message);
    auto colon = message.find(": ", scope);
    if (colon == std::string_view::npos) return "";
    return fmt::format(": {}", message.substr(colon + 2));
}

[[noreturn]] void translate_error(const std::string& dsn, std::string_view what, std::string_view sql) {
    try {
        throw;
    } catch (const Error&) {
        throw;
    } catch (const sql::SQLException& e) {
        const int code = e.getErrorCode();
        const std::string message = redact(e.what());
        const std::string where = sql.empty() ? std::string() : "; statement: " + redact(sql_head(sql));
        switch (code) {
        case k_er_no_such_table:
            throw Error(Code::config,
                        fmt::format("table '{}' not found in {}{}", table_from_message(message), dsn, where));
        case k_er_lock_deadlock:
        case k_er_lock_wait_timeout:
        case k_er_statement_timeout:
            throw Error(Code::server,
                        fmt::format("{} failed on {}: {} (errno {}, SQLSTATE {}){}", what, dsn, message, code,
                                    e.getSQLState(), where),
                        Temporary::yes);
        case k_cr_server_gone:
        case k_cr_server_lost:
        case k_cr_server_lost_extended:
        case k_er_connection_killed:
        case k_er_server_shutdown:
            throw Error(
                Code::connection,
                fmt::format("{} failed on {}: lost connection: {} (errno {}){}", what, dsn, message, code, where),
                Temporary::yes);
        default: break;
        }
        if (code == 0) {
            // Raised by the connector itself (misuse, unsupported call): a bug here.
            throw Error(Code::internal, fmt::format("{} failed on {}: the MySQL connector refused "
                                                    "the call{}{}",
                                                    what, dsn, connector_reason(message), where));
        }
        throw Error(Code::server, fmt::format("{} failed on {}: {} (errno {}, SQLSTATE {}){}", what, dsn, message, code,
                                              e.getSQLState(), where));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(Code::internal, fmt::format("{} failed on {}: {}", what, dsn, redact(e.what())));
    }
}

[[noreturn]] void translate_connect_error(const Dsn& dsn) {
    const std::string where = fmt::format("cannot connect to {}", dsn.redacted());
    try {
        throw;
    } catch (const sql::SQLException& e) {
        const int code = e.getErrorCode();
        const std::string message = redact(e.what());
        switch (code) {
        case k_cr_connection_error:
        case k_cr_conn_host_error: {
            // libmariadb connects non-blocking and reports EINPROGRESS (115)
            // when the connection was refused.
            const int os = trailing_errno(message);
            if (os == 111 || os == 115) throw Error(Code::connection, where + ": connection refused");
            if (os == 110) throw Error(Code::connection, where + ": connection timed out", Temporary::yes);
            if (os == 113) throw Error(Code::connection, where + ": no route to host");
            throw Error(Code::connection, fmt::format("{}: server unreachable ({})", where, message));
        }
        case k_cr_unknown_host: throw Error(Code::connection, fmt::format("{}: unknown host '{}'", where, dsn.host));
        case k_cr_server_gone:
        case k_cr_server_lost:
        case k_cr_server_lost_extended:
            throw Error(Code::connection,
                        fmt::format("{}: connection lost during the handshake (timed out or not a "
                                    "MySQL server?)",
                                    where),
                        Temporary::yes);
        case k_er_access_denied:
            throw Error(Code::connection, fmt::format("{}: access denied for user '{}' (wrong password or user not "
                                                      "allowed from this host)",
                                                      where, dsn.user));
        case k_er_dbaccess_denied:
            throw Error(Code::connection,
                        fmt::format("{}: access denied for user '{}' to database '{}'", where, dsn.user, dsn.database));
        case k_er_bad_db: throw Error(Code::connection, fmt::format("{}: unknown database '{}'", where, dsn.database));
        case k_er_too_many_connections: throw Error(Code::connection, where + ": too many connections", Temporary::yes);
        default: throw Error(Code::connection, fmt::format("{}: {} (errno {})", where, message, code));
        }
    } catch (const Error&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(Code::connection, fmt::format("{}: {}", where, redact(e.what())));
    }
}

}  // namespace webook::mysql_detail
