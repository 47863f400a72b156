// Internal to core/db/: PostgreSQL's text forms of values -- bound parameters,
// COPY text fields written and COPY text lines read back -- for the
// PostgreSQL engine (pg_connection.cpp, pg_cursors.cpp). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/value.h"

namespace webook::pg_text {

// The text form PostgreSQL's input functions accept; bytes as bytea hex
// ("\x0aff"), booleans as "t"/"f", reals shortest exact (or "NaN",
// "Infinity", "-Infinity"); nullopt for NULL.
std::optional<std::string> param_text(const Value& v);

// Appends `v` to a COPY text line as one field (no separator): "\N" for NULL;
// backslash, tab, newline and carriage return escaped; bytes as bytea hex
// with its backslash escaped ("\\x0aff").
void append_copy_field(std::string& line, const Value& v);

// A field's text as a Value of `kind` (text as it is, anything else through
// Value::parse). Throws Error(Code::data) with the context "column '<column>'"
// when it does not parse.
Value read_value(ValueKind kind, std::string_view text, const std::string& column);

// Fills `row` from one COPY text line: fields separated by tabs (tabs in data
// arrive escaped), "\N" for NULL, backslash escapes. `scratch` is reused
// between calls for unescaping. Throws Error(Code::internal) when the line
// has more or fewer fields than `kinds`.
void parse_copy_line(std::string_view line, const std::vector<ValueKind>& kinds, const std::vector<std::string>& names,
                     Row& row, std::string& scratch);

}  // namespace webook::pg_text
