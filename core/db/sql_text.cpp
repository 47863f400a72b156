#include "core/db/sql_text.h"

#include <cctype>
#include <vector>

namespace webook {
namespace {

bool identifier_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// The end (one past the closing quote) of a quoted run starting at `i`.
// `quote` doubled inside is one character; with `escapes`, \ escapes the next.
std::size_t end_of_quoted(std::string_view sql, std::size_t i, char quote, bool escapes) {
    std::size_t j = i + 1;
    while (j < sql.size()) {
        if (escapes && sql[j] == '\\') {
            j += 2;
            continue;
        }
        if (sql[j] == quote) {
            if (j + 1 < sql.size() && sql[j + 1] == quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        ++j;
    }
    return sql.size();
}

// The end of a /* comment */ starting at `i` (nesting when `nested`).
std::size_t end_of_block_comment(std::string_view sql, std::size_t i, bool nested) {
    int depth = 1;
    std::size_t j = i + 2;
    while (j < sql.size()) {
        if (sql[j] == '*' && j + 1 < sql.size() && sql[j + 1] == '/') {
            j += 2;
            if (--depth == 0) return j;
            continue;
        }
        if (nested && sql[j] == '/' && j + 1 < sql.size() && sql[j + 1] == '*') {
            j += 2;
            ++depth;
            continue;
        }
        ++j;
    }
    return sql.size();
}

// A dollar quote's opening delimiter ("$$" or "$tag$") at `i`, or empty.
std::string_view dollar_tag(std::string_view sql, std::size_t i) {
    std::size_t j = i + 1;
    if (j < sql.size() && (std::isdigit(static_cast<unsigned char>(sql[j])))) return {};  // $1: a marker
    while (j < sql.size() && sql[j] != '$') {
        if (!(std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) return {};
        ++j;
    }
    if (j >= sql.size()) return {};
    return sql.substr(i, j - i + 1);
}

}  // namespace

std::optional<std::string> replace_markers(std::string_view sql, const SqlLexicon& lexicon,
                                           const std::function<std::optional<std::string>(std::size_t)>& replace,
                                           std::optional<std::size_t> parameters, Separate separate) {
    std::string out;
    out.reserve(sql.size() + 16);
    std::vector<bool> used(parameters.value_or(0), false);
    std::size_t ordinal = 0;
    const std::size_t n = sql.size();
    auto joins = [](char c) {
        return !std::isspace(static_cast<unsigned char>(c)) &&
               std::string_view("(),;=<>").find(c) == std::string_view::npos;
    };
    // The marker at [begin, end) of `sql`.
    auto marker = [&](std::size_t index, std::size_t begin, std::size_t end) -> bool {
        if (parameters) {
            if (index >= *parameters) return false;
            used[index] = true;
        }
        auto text = replace(index);
        if (!text) return false;
        const bool pad = separate == Separate::yes;
        if (pad && begin > 0 && joins(sql[begin - 1])) out += ' ';
        out += *text;
        if (pad && end < n && joins(sql[end])) out += ' ';
        return true;
    };
    // A "$n" marker is a token of its own, like PostgreSQL's lexer reads it:
    // its digits end no identifier ("$1E'...'" is a marker and an E string).
    std::size_t marker_end = 0;
    auto ends_identifier = [&](std::size_t at) { return at > 0 && at != marker_end && identifier_char(sql[at - 1]); };
    std::size_t i = 0;
    while (i < n) {
        const char c = sql[i];
        const char next = i + 1 < n ? sql[i + 1] : '\0';
        const bool after_identifier = ends_identifier(i);
        std::size_t end = i + 1;  // what to copy unchanged, [i, end)
        if (c == '\'') {
            // PostgreSQL's E'...' takes backslash escapes; its standard strings do not.
            const bool e_string = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && !ends_identifier(i - 1);
            end = end_of_quoted(sql, i, '\'', lexicon.backslash_escapes || e_string);
        } else if (c == '"') {
            end = end_of_quoted(sql, i, '"', lexicon.double_quoted_strings && lexicon.backslash_escapes);
        } else if (c == '`' && lexicon.backtick_identifiers) {
            end = end_of_quoted(sql, i, '`', false);
        } else if ((c == '-' && next == '-' &&
                    (!lexicon.dash_comment_needs_space || i + 2 >= n ||
                     std::isspace(static_cast<unsigned char>(sql[i + 2])) ||
                     std::iscntrl(static_cast<unsigned char>(sql[i + 2])))) ||
                   (c == '#' && lexicon.hash_comments)) {
            end = sql.find('\n', i);
            end = end == std::string_view::npos ? n : end + 1;
        } else if (c == '/' && next == '*') {
            if (lexicon.executable_comments && i + 2 < n &&
                (sql[i + 2] == '!' || (sql[i + 2] == 'M' && i + 3 < n && sql[i + 3] == '!')))
                return std::nullopt;
            end = end_of_block_comment(sql, i, lexicon.nested_comments);
        } else if (const std::string_view tag =
                       c == '$' && !after_identifier && lexicon.dollar_quotes ? dollar_tag(sql, i) : std::string_view();
                   !tag.empty()) {
            const std::size_t close = sql.find(tag, i + tag.size());
            end = close == std::string_view::npos ? n : close + tag.size();
        } else if (c == '$' && !after_identifier && lexicon.markers == MarkerStyle::dollar &&
                   std::isdigit(static_cast<unsigned char>(next))) {
            std::size_t j = i + 1, number = 0;
            while (j < n && std::isdigit(static_cast<unsigned char>(sql[j])) && number < 1'000'000)
                number = number * 10 + static_cast<std::size_t>(sql[j++] - '0');
            if (number == 0 || (j < n && std::isdigit(static_cast<unsigned char>(sql[j])))) return std::nullopt;
            if (!marker(number - 1, i, j)) return std::nullopt;
            i = marker_end = j;
            continue;
        } else if (c == '?' && lexicon.markers == MarkerStyle::question) {
            if (!marker(ordinal++, i, i + 1)) return std::nullopt;
            ++i;
            continue;
        }
        out.append(sql.substr(i, end - i));
        i = end;
    }
    for (bool u : used)
        if (!u) return std::nullopt;
    return out;
}

}  // namespace webook
