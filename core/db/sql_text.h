// The one SQL scanner: finds the parameter markers in SQL text, skipping what
// is not code -- quoted strings, quoted identifiers, comments, dollar quotes --
// as each engine's lexer does, and rewrites them. Used to inline parameters as
// literals (so a query can stream: docs/library-notes.md) and to renumber the
// "?" of a portable fragment as PostgreSQL's $n. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace webook {

enum class MarkerStyle {
    question,  // "?", numbered by position (MySQL, PortableSql fragments)
    dollar,    // "$1", "$2", ... (PostgreSQL)
};

// What an engine's lexer treats as not code. The two values are
// k_mysql_lexicon and k_postgres_lexicon; Dialect::lexicon() returns one.
struct SqlLexicon {
    MarkerStyle markers = MarkerStyle::question;
    bool backslash_escapes = false;         // \ escapes in '...' and "..." (MySQL); PostgreSQL: only in E'...'
    bool double_quoted_strings = false;     // "..." is a string (MySQL) rather than an identifier: same skipping
    bool backtick_identifiers = false;      // `...` (MySQL)
    bool hash_comments = false;             // # to the end of the line (MySQL)
    bool dash_comment_needs_space = false;  // "--" starts a comment only before a space (MySQL: 1--1 is 2)
    bool nested_comments = false;           // /* /* */ */ nests (PostgreSQL)
    bool dollar_quotes = false;             // $$...$$ and $tag$...$tag$ (PostgreSQL)
    bool executable_comments = false;       // /*! ... */ holds code (MySQL): refused
};

inline constexpr SqlLexicon k_mysql_lexicon{.markers = MarkerStyle::question,
                                            .backslash_escapes = true,
                                            .double_quoted_strings = true,
                                            .backtick_identifiers = true,
                                            .hash_comments = true,
                                            .dash_comment_needs_space = true,
                                            .executable_comments = true};
inline constexpr SqlLexicon k_postgres_lexicon{
    .markers = MarkerStyle::dollar, .nested_comments = true, .dollar_quotes = true};

// `sql` with each marker outside quotes and comments replaced by
// replace(index), where index is the marker's parameter, 0-based (the
// position of a "?", n-1 of "$n"); everything else is copied unchanged.
// When `parameters` is given, every parameter must be used and no marker may
// name one beyond it. Returns nullopt -- the caller keeps the statement as it
// is and binds the parameters -- when replace returns nullopt, a "$" marker
// is malformed ("$0"), the parameters do not match, or the text holds a
// MySQL executable comment (/*! or /*M!: its markers would count). An unterminated quote
// or comment is copied as it is (the server reports it).
// With Separate::yes a replacement gets a space on each side where the
// statement has a character other than whitespace or ( ) , ; = < > next to
// the marker, so that what replaces it never joins a neighbouring token: a
// string literal followed by a quote would read as one string with it (and
// a negative number after a minus stays "- -5", never a "--").
enum class Separate { no, yes };
std::optional<std::string> replace_markers(std::string_view sql, const SqlLexicon& lexicon,
                                           const std::function<std::optional<std::string>(std::size_t)>& replace,
                                           std::optional<std::size_t> parameters = std::nullopt,
                                           Separate separate = Separate::no);

}  // namespace webook
