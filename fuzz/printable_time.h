// Which dates and times have a canonical text Value::parse reads back, for the
// round-trip checks of the fuzz targets that read times.
#pragma once

#include <cstdint>

#include "core/db/civil_time.h"
#include "core/db/value.h"

namespace webook::fuzz {

// Years 9999 BC to 9999 AD (a zone offset can move a time past either end,
// which neither server prints), and MySQL's dates with a zero part with a
// clock within their day. Values of other kinds: true.
inline bool printable(const Value& v) {
    if (v.kind() != ValueKind::date && v.kind() != ValueKind::datetime) return true;
    const std::int64_t m = v.micros();
    if (zero_part_date(m)) return true;
    static const std::int64_t k_first = days_from_civil(-9998, 1, 1) * k_micros_per_day;  // 9999 BC
    static const std::int64_t k_end = days_from_civil(10'000, 1, 1) * k_micros_per_day;   // 10000-01-01
    return m >= k_first && m < k_end;
}

}  // namespace webook::fuzz
