// Civil time: proleptic Gregorian dates as days since 1970-01-01 (H. Hinnant's
// algorithms) and the canonical text of dates, times of day and instants --
// the forms Value::canonical() and the checksums' SQL both produce. Pure;
// thread-safe. (The parsing of server text stays with Value::parse.)
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace webook {

inline constexpr std::int64_t k_micros_per_second = 1'000'000;
inline constexpr std::int64_t k_micros_per_day = 86'400 * k_micros_per_second;
// MySQL's "zero date" (0000-00-00) has no instant; it keeps its own marker.
inline constexpr std::int64_t k_zero_date = std::numeric_limits<std::int64_t>::min();

// Days since 1970-01-01 of year-month-day, and back.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d);

// "YYYY-MM-DD" (years outside 0..9999 as printed by fmt).
std::string format_date(std::int64_t days_since_epoch);
// "[-]HH:MM:SS.ffffff" (hours may exceed 99: MySQL TIME).
std::string format_time(std::int64_t micros);
// "YYYY-MM-DD HH:MM:SS.ffffff", UTC; the zero date as "0000-00-00 ...".
std::string format_datetime(std::int64_t micros_since_epoch);
// The one form of a time in JSON output and events: ISO 8601 UTC with
// microseconds, "2026-12-01T23:52:40.123456Z".
std::string format_iso_utc(std::int64_t micros_since_epoch);

}  // namespace webook
