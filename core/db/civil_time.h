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
// MySQL's dates with a zero part -- the zero date 0000-00-00, and 2020-00-00
// or 2020-05-00 where the sql_mode lets them in -- name no day. Each keeps a
// marker below every instant: k_zero_date + ((y * 13 + m) * 32 + d) days,
// plus the time of day. The zero date's is k_zero_date itself, and they
// order among themselves as MySQL orders them (all before any real date).
inline constexpr std::int64_t k_zero_date = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t k_zero_part_dates_end = k_zero_date + 10'000LL * 13 * 32 * k_micros_per_day;
inline bool zero_part_date(std::int64_t micros) {
    return micros < k_zero_part_dates_end;
}
// The marker of y-m-d 00:00:00, a date with a zero part (y in 0..9999).
inline std::int64_t zero_part_marker(std::int64_t y, unsigned m, unsigned d) {
    return k_zero_date + ((y * 13 + m) * 32 + d) * k_micros_per_day;
}

// Days since 1970-01-01 of year-month-day, and back.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d);

// "YYYY-MM-DD"; years before 1 as PostgreSQL prints them, "0044-03-15 BC"
// (astronomical year 0 is 1 BC).
std::string format_date(std::int64_t days_since_epoch);
// "[-]HH:MM:SS.ffffff" (hours may exceed 99: MySQL TIME).
std::string format_time(std::int64_t micros);
// "YYYY-MM-DD HH:MM:SS.ffffff", UTC; a date with a zero part as MySQL
// prints it ("2020-00-00 ..."), one before year 1 with " BC" last.
std::string format_datetime(std::int64_t micros_since_epoch);
// A zero-part date's "YYYY-MM-DD", with " HH:MM:SS.ffffff" when with_clock.
std::string format_zero_part_date(std::int64_t marker, bool with_clock);
// The one form of a time in JSON output and events: ISO 8601 UTC with
// microseconds, "2026-12-01T23:52:40.123456Z" (years before 1 astronomical
// and signed: "-0043-03-15T...Z" is 44 BC).
std::string format_iso_utc(std::int64_t micros_since_epoch);

}  // namespace webook
