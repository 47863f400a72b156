// Which dates and times have a canonical text Value::parse reads back, for the
// round-trip checks of the fuzz targets that read times.
#pragma once

#include <cstdint>

#include "core/db/civil_time.h"
#include "core/db/value.h"

namespace webook::fuzz {

// Years 0000-9999 (a zone offset can move a time of year 0 into year -1,
// printed "-001-..."; neither server prints such years), and MySQL zero
// dates with a clock within one day. Values of other kinds: true.
inline bool printable(const Value& v) {
    if (v.kind() != ValueKind::date && v.kind() != ValueKind::datetime) return true;
    const std::int64_t m = v.micros();
    if (m >= k_zero_date && m < k_zero_date + k_micros_per_day) return true;
    constexpr std::int64_t k_year_0 = -719'528LL * k_micros_per_day;       // 0000-01-01
    constexpr std::int64_t k_year_10000 = 2'932'897LL * k_micros_per_day;  // 10000-01-01
    return m >= k_year_0 && m < k_year_10000;
}

}  // namespace webook::fuzz
