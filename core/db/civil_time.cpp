#include "core/db/civil_time.h"

#include <string>

#include <fmt/format.h>

namespace webook {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

namespace {

// `width` decimal digits of v, zero-padded, written backwards from `end`.
// Hand-rolled: format specs cost more than the rest of a bulk copy's
// per-value work (these run once per date/time value copied or compared).
void put_digits(char* end, std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) {
        *--end = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

// "HH:MM:SS.ffffff" of a non-negative time of day (hours may exceed 99).
void append_clock(std::string& out, std::uint64_t micros) {
    const std::uint64_t secs = micros / 1'000'000, frac = micros % 1'000'000;
    const std::uint64_t hours = secs / 3600;
    if (hours > 99) out += std::to_string(hours / 100);
    char buf[15];
    put_digits(buf + 2, hours % 100, 2);
    buf[2] = ':';
    put_digits(buf + 5, secs / 60 % 60, 2);
    buf[5] = ':';
    put_digits(buf + 8, secs % 60, 2);
    buf[8] = '.';
    put_digits(buf + 15, frac, 6);
    out.append(buf, sizeof buf);
}

// "YYYY-MM-DD" of a year, month and day as given (0..9999 in 4 digits).
void append_ymd(std::string& out, std::int64_t y, unsigned m, unsigned d) {
    if (y < 0 || y > 9999) {
        out += fmt::format("{:04}-{:02}-{:02}", y, m, d);
        return;
    }
    char buf[10];
    put_digits(buf + 4, static_cast<std::uint64_t>(y), 4);
    buf[4] = '-';
    put_digits(buf + 7, m, 2);
    buf[7] = '-';
    put_digits(buf + 10, d, 2);
    out.append(buf, sizeof buf);
}

// The date of `days`; true when its year is before 1, printed as the year
// BC (1 - y), for the caller to add " BC" last.
bool append_date(std::string& out, std::int64_t days) {
    std::int64_t y = 0;
    unsigned m = 0, d = 0;
    civil_from_days(days, y, m, d);
    append_ymd(out, y > 0 ? y : 1 - y, m, d);
    return y <= 0;
}

// A zero-part date's marker back into its fields and time of day.
void split_zero_part(std::int64_t micros, std::int64_t& y, unsigned& m, unsigned& d, std::int64_t& clock) {
    const std::int64_t offset = micros - k_zero_date;
    const std::int64_t index = offset / k_micros_per_day;
    clock = offset % k_micros_per_day;
    d = static_cast<unsigned>(index % 32);
    m = static_cast<unsigned>(index / 32 % 13);
    y = index / 32 / 13;
}

// An instant into its day since 1970 and time of that day.
void split_instant(std::int64_t micros, std::int64_t& days, std::int64_t& clock) {
    days = micros / k_micros_per_day;
    clock = micros % k_micros_per_day;
    if (clock < 0) {
        clock += k_micros_per_day;
        --days;
    }
}

void append_time(std::string& out, std::int64_t micros) {
    if (micros < 0) out += '-';
    append_clock(out, micros < 0 ? static_cast<std::uint64_t>(-(micros + 1)) + 1 : static_cast<std::uint64_t>(micros));
}

}  // namespace

std::string format_zero_part_date(std::int64_t micros, bool with_clock) {
    std::int64_t y = 0, clock = 0;
    unsigned m = 0, d = 0;
    split_zero_part(micros, y, m, d, clock);
    std::string out;
    append_ymd(out, y, m, d);
    if (with_clock) {
        out += ' ';
        out += format_time(clock);
    }
    return out;
}

std::string format_date(std::int64_t days) {
    std::string out;
    if (append_date(out, days)) out += " BC";
    return out;
}

std::string format_time(std::int64_t micros) {
    std::string out;
    append_time(out, micros);
    return out;
}

std::string format_datetime(std::int64_t micros) {
    if (zero_part_date(micros)) return format_zero_part_date(micros, true);
    std::int64_t days = 0, rest = 0;
    split_instant(micros, days, rest);
    std::string out;
    out.reserve(26);
    const bool bc = append_date(out, days);
    out += ' ';
    append_time(out, rest);
    if (bc) out += " BC";
    return out;
}

std::string format_iso_utc(std::int64_t micros) {
    if (!zero_part_date(micros) && micros < 0) {
        std::int64_t days = 0, rest = 0, y = 0;
        split_instant(micros, days, rest);
        unsigned m = 0, d = 0;
        civil_from_days(days, y, m, d);
        if (y <= 0) {
            std::string out = y < 0 ? "-" : "";
            append_ymd(out, y < 0 ? -y : 0, m, d);
            out += 'T';
            append_time(out, rest);
            return out + "Z";
        }
    }
    std::string s = format_datetime(micros);
    if (s.size() > 10 && s[10] == ' ') s[10] = 'T';
    return s + "Z";
}

}  // namespace webook
