// Secrets (passwords) that must never be printed.
//
// Every password the tool learns is registered here; the log sink and the
// top-level error printer pass their text through redact(), which replaces
// each registered secret with "***". Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace webook {

void register_secret(std::string_view secret);
std::string redact(std::string_view text);

}  // namespace webook
