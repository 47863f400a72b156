// JSON documents compared as JSON, not as text: MySQL prints `{"k":1}`,
// PostgreSQL's jsonb `{"k": 1}`, and key order differs between servers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace webook {

// The canonical text of a JSON document: no insignificant whitespace; object
// members sorted by key (byte order; a key given twice keeps its last value,
// as PostgreSQL's jsonb does); strings re-escaped the one way (UTF-8 kept,
// only what must be escaped is); numbers in plain decimal without a
// trailing fractional zero or a leading zero ("1.0", "1e0", "10E-1" and "1"
// are "1"; "-0" is "0"), so only numbers that differ in value differ; a
// number and a string never compare equal ("1" vs 1). std::nullopt when
// `text` is not one JSON document (invalid UTF-8 included), and for a
// number beyond a double's range (1e400: the parser refuses it), whose
// document is then compared as the text it is.
std::optional<std::string> canonical_json(std::string_view text);

}  // namespace webook
