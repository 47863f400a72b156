// Durations as operators type them: a number and a unit, "500ms", "30s",
// "1.5m", "36h", "7d" (also "us"). A bare number is refused -- "7" could mean
// seconds or days -- except 0. One parser for every flag and config key, and
// its inverse for help texts and summaries. Pure; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace webook {

// Throws Error(Code::usage) naming `what` (the flag or key) when `text` is not
// a non-negative duration with a unit.
std::chrono::microseconds parse_duration(std::string_view text, std::string_view what);

// The shortest exact spelling in the largest whole unit: 7d, 36h, 90m, 30s,
// 500ms, 250us, 0s.
std::string format_duration(std::chrono::microseconds d);

}  // namespace webook
