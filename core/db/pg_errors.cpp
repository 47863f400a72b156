// What the PostgreSQL engine makes of libpq's and libpqxx's failures: Errors
// with one-line, redacted messages.
#include "core/db/pg_errors.h"

#include <algorithm>
#include <cctype>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <pqxx/except>

#include "core/base/error.h"
#include "core/base/secrets.h"

namespace webook::pg_detail {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

namespace {

std::string_view strip_severity(std::string_view line) {
    for (std::string_view prefix : {"ERROR:", "FATAL:", "PANIC:", "WARNING:", "NOTICE:"})
        if (line.substr(0, prefix.size()) == prefix) return trim(line.substr(prefix.size()));
    return line;
}

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    return lines;
}

std::string shorten(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    return std::string(text.substr(0, max)) + "...";
}

Error statement_error(const std::string& where, std::string_view text, const std::string& state) {
    const std::string message = server_message(text);
    if (state == "42P01") {
        // relation "x" does not exist
        std::string table = "?";
        if (auto open = message.find('"'); open != std::string::npos) {
            auto close = message.find('"', open + 1);
            if (close != std::string::npos) table = message.substr(open + 1, close - open - 1);
        }
        return Error(Code::config, fmt::format("table '{}' not found in {}", table, where));
    }
    const bool lost = state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03";
    if (lost)
        return Error(Code::connection, fmt::format("lost connection to {}: {} (SQLSTATE {})", where, message, state),
                     Temporary::yes);
    const bool temporary = state.substr(0, 2) == "40" || state == "55P03" || state == "57014" || state == "53300";
    return Error(
        Code::server,
        fmt::format("statement failed on {}: {} (SQLSTATE {})", where, message, state.empty() ? "unknown" : state),
        temporary ? Temporary::yes : Temporary::no);
}

}  // namespace

std::string server_message(std::string_view text) {
    std::string primary, detail, copy_at;
    for (std::string_view line : split_lines(text)) {
        if (line.substr(0, 7) == "DETAIL:") {
            if (detail.empty()) detail = shorten(trim(line.substr(7)), 200);
        } else if (line.substr(0, 8) == "CONTEXT:") {
            // "COPY words, line 7, column word: "far too long"": the row and
            // column, not the value (the primary message shows what it may).
            std::string_view c = trim(line.substr(8));
            if (c.substr(0, 5) != "COPY " || !copy_at.empty()) continue;
            const auto at_line = c.find(", line ");
            if (at_line == std::string_view::npos) continue;
            c.remove_prefix(at_line + 2);  // "line 7, column word: ..."
            const auto colon = c.find(": ");
            copy_at = std::string(shorten(c.substr(0, colon), 200));
        } else if (primary.empty() && !trim(line).empty()) {
            primary = shorten(strip_severity(trim(line)), 400);
        }
    }
    if (primary.empty()) primary = "unknown error";
    if (!detail.empty()) primary += " (" + detail + ")";
    if (!copy_at.empty()) primary += " (COPY " + copy_at + ")";
    return redact(primary);
}

std::string connect_reason(std::string_view text) {
    std::vector<std::string> reasons;
    for (std::string_view line : split_lines(text)) {
        if (line.empty() || line[0] == '\t') continue;  // hints
        line = trim(line);
        if (auto at = line.find(" failed: "); at != std::string_view::npos && line.substr(0, 13) == "connection to")
            line = line.substr(at + 9);
        for (std::string_view prefix : {"could not connect to server: ", "connection failed: "})
            if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
        line = strip_severity(line);
        if (line.empty()) continue;
        std::string reason(line);
        if (reason.size() > 1 && std::isupper(static_cast<unsigned char>(reason[0])) &&
            std::islower(static_cast<unsigned char>(reason[1])))
            reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
        if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end()) reasons.push_back(std::move(reason));
    }
    std::string out;
    for (const auto& r : reasons) out += (out.empty() ? "" : "; ") + r;
    return redact(out.empty() ? std::string("unknown error") : out);
}

Error translate_current(const std::string& where) {
    try {
        throw;
    } catch (const Error& e) {
        return e;
    } catch (const pqxx::broken_connection& e) {
        return Error(Code::connection, fmt::format("lost connection to {}: {}", where, connect_reason(e.what())),
                     Temporary::yes);
    } catch (const pqxx::sql_error& e) {
        return statement_error(where, e.what(), e.sqlstate());
    } catch (const pqxx::serialization_failure& e) {
        return statement_error(where, e.what(), "40001");
    } catch (const pqxx::deadlock_detected& e) {
        return statement_error(where, e.what(), "40P01");
    } catch (const pqxx::statement_completion_unknown& e) {
        return statement_error(where, e.what(), "40003");
    } catch (const pqxx::transaction_rollback& e) {
        return statement_error(where, e.what(), "40000");
    } catch (const pqxx::in_doubt_error& e) {
        return Error(Code::connection,
                     fmt::format("commit on {} may or may not have happened: {}", where, server_message(e.what())));
    } catch (const pqxx::conversion_error& e) {
        return Error(Code::data, fmt::format("cannot read a value from {}: {}", where, server_message(e.what())));
    } catch (const std::bad_alloc&) {
        return Error(Code::internal, fmt::format("out of memory reading from {}", where));
    } catch (const std::exception& e) {
        return Error(Code::internal, fmt::format("postgres client error on {}: {}", where, server_message(e.what())));
    } catch (...) {
        return Error(Code::internal, fmt::format("unknown failure on {}", where));
    }
}

}  // namespace webook::pg_detail
