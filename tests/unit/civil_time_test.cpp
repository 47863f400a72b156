#include "core/db/civil_time.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace webook {
namespace {

TEST(CivilTime, KnownDatesHaveTheirDayNumbers) {
    EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
    EXPECT_EQ(days_from_civil(2026, 12, 1), 20788);
    EXPECT_EQ(days_from_civil(1, 1, 1), -719162);
    EXPECT_EQ(days_from_civil(2024, 2, 29) + 1, days_from_civil(2024, 3, 1));  // a leap day
    EXPECT_EQ(days_from_civil(2100, 2, 28) + 1, days_from_civil(2100, 3, 1));  // a century is not
}

TEST(CivilTime, DayNumbersRoundTripFromYearOneToNineThousandNineHundredNinetyNine) {
    const std::int64_t first = days_from_civil(1, 1, 1), last = days_from_civil(9999, 12, 31);
    std::int64_t y = 0;
    unsigned m = 0, d = 0, previous_d = 31;
    for (std::int64_t z = first; z <= last; ++z) {
        civil_from_days(z, y, m, d);
        ASSERT_EQ(days_from_civil(y, m, d), z) << y << "-" << m << "-" << d;
        ASSERT_TRUE(d == previous_d + 1 || d == 1) << "days follow each other";
        previous_d = d;
    }
}

TEST(CivilTime, CanonicalTextOfDatesTimesAndInstants) {
    EXPECT_EQ(format_date(0), "1970-01-01");
    EXPECT_EQ(format_date(-1), "1969-12-31");
    EXPECT_EQ(format_time(0), "00:00:00.000000");
    EXPECT_EQ(format_time(-1), "-00:00:00.000001");
    EXPECT_EQ(format_time(838LL * 3600 * k_micros_per_second + 59 * 60 * k_micros_per_second), "838:59:00.000000");
    EXPECT_EQ(format_datetime(1'780'000'000'123'456), "2026-05-28 20:26:40.123456");
    EXPECT_EQ(format_datetime(-1), "1969-12-31 23:59:59.999999");
    EXPECT_EQ(format_datetime(k_zero_date), "0000-00-00 00:00:00.000000");
    EXPECT_EQ(format_iso_utc(1'780'000'000'123'456), "2026-05-28T20:26:40.123456Z");
}

}  // namespace
}  // namespace webook
