// The one way a command shows its result on stdout, and the values every
// command shows alike: times and rates (code: cli/render.cpp).
//
// A command builds both forms of its result -- a JSON document and text --
// and calls render() once; which form is printed (--output, Context::json())
// is decided there and nowhere else. Output that appears as it happens (a
// dry run's line per event, a mismatch as soon as it is found) calls
// render() once per item, each a whole JSON document of its own.
//
// Results go to stdout, diagnostics to stderr (core/base/log.h). Not thread
// safe: call from the command's thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace webook::cli {

struct Context;  // cli/cli.h

// What a JSON document does with a string that is not UTF-8: fail -- dump()
// throws nlohmann::json::type_error, reported as an internal error (exit 4)
// with nothing printed -- or replace the bad bytes with U+FFFD (for text the
// users wrote: articles).
enum class InvalidUtf8 { fail, replace };

// Prints `json` on one line (dump()) when ctx.json(), else `text`, as one
// line (it may hold newlines of its own); then flushes stdout.
void render(const Context& ctx, const nlohmann::ordered_json& json, const std::string& text,
            InvalidUtf8 invalid = InvalidUtf8::fail);
// The same with text of several lines, each printed on a line of its own
// (no lines: nothing is printed in text).
void render(const Context& ctx, const nlohmann::ordered_json& json, const std::vector<std::string>& lines,
            InvalidUtf8 invalid = InvalidUtf8::fail);

// The one rate shown for rows handled in `seconds`: rows / seconds, and 0
// when seconds <= 0 (nothing measured).
double rows_per_second(std::uint64_t rows, double seconds);

// The one way a time (UTC micros) is shown: in JSON ISO 8601
// ("2026-12-01T23:52:40.000000Z", core/db/civil_time.h format_iso_utc), in
// text "2026-12-01 23:52:40.000000". A stored datetime's canonical text (the
// control table's) is shown as stored in text, and in JSON as
// json_time_text() gives it: ISO 8601; "" stays ""; text that is not a
// datetime stays as it is.
std::string json_time(std::int64_t micros);
std::string text_time(std::int64_t micros);
std::string json_time_text(const std::string& canonical);

// Prints one line (the text, then a newline) to stdout, unflushed: for the
// text lines that appear as they happen while the JSON document is held for
// the end (migrate copy's line per table).
void print_line(const std::string& text);

}  // namespace webook::cli
