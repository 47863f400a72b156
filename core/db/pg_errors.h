// Internal to core/db/: what the PostgreSQL engine makes of libpq's and
// libpqxx's messages -- failures as Errors with one-line, redacted messages,
// notices as log lines.
#pragma once

#include <string>
#include <string_view>

#include <pqxx/connection_base>
#include <pqxx/errorhandler>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/secrets.h"

namespace webook::pg_detail {

// Whether `text` starts with `prefix` (lower case), ignoring ASCII case.
bool starts_with_nocase(std::string_view text, std::string_view prefix);
// `s` without leading and trailing whitespace.
std::string_view trim(std::string_view s);

// A server message on one line: the primary message and its DETAIL; the
// LINE/caret/HINT lines libpq adds are dropped, and of a CONTEXT only where a
// COPY failed stays: "(COPY line 7, column word)" (bulk_load_line() reads it
// back).
std::string server_message(std::string_view text);

// libpq's connection failure, one reason per attempted address, e.g.
//   connection to server at "127.0.0.1", port 1 failed: Connection refused
//   \tIs the server running on that host and accepting TCP/IP connections?
// becomes "connection refused".
std::string connect_reason(std::string_view text);

// The exception in flight as an Error about `where` (a redacted DSN). Call
// from a catch block only.
Error translate_current(const std::string& where);

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

}  // namespace webook::pg_detail
