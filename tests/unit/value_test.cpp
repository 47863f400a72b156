#include "core/db/value.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <utility>

#include "core/base/error.h"
#include "core/db/civil_time.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

TEST(Value, BooleanAndTinyintOneAreTheSameData) {
    EXPECT_TRUE(same_data(Value::boolean(true), Value::integer(1)));
    EXPECT_TRUE(same_data(Value::parse(ValueKind::boolean, "t"), Value::integer(1)));
    EXPECT_FALSE(same_data(Value::boolean(false), Value::integer(1)));
}

TEST(Value, DecimalsCompareByValueNotByScale) {
    EXPECT_TRUE(same_data(Value::decimal("1.50"), Value::decimal("1.5")));
    EXPECT_TRUE(same_data(Value::decimal("007.000"), Value::integer(7)));
    EXPECT_TRUE(same_data(Value::decimal("-0.00"), Value::decimal("0")));
    EXPECT_FALSE(same_data(Value::decimal("1.25"), Value::decimal("1.26")));
    EXPECT_FALSE(same_data(Value::decimal("12.34"), Value::decimal("1.234")));
    EXPECT_EQ(Value::decimal("-0012.3400").canonical(), "-12.34");
    EXPECT_THROW(Value::decimal("12a"), Error);
    EXPECT_THROW(Value::decimal("."), Error);
}

// PostgreSQL's numeric NaN and infinities are values, kept and ordered as
// PostgreSQL orders them; MariaDB gets them as quoted text, which it refuses.
TEST(Value, NumericSpecialsAreValuesInPostgresOrder) {
    EXPECT_EQ(Value::decimal("NaN").canonical(), "NaN");
    EXPECT_EQ(Value::decimal("+Infinity").canonical(), "Infinity");
    EXPECT_FALSE(same_data(Value::decimal("NaN"), Value::decimal("Infinity")));
    EXPECT_TRUE(same_data(Value::decimal("-Infinity"), Value::decimal("-Infinity")));
    EXPECT_LT(compare_key(Value::decimal("-Infinity"), Value::decimal("-99999")), 0);
    EXPECT_LT(compare_key(Value::decimal("99999"), Value::decimal("Infinity")), 0);
    EXPECT_LT(compare_key(Value::decimal("Infinity"), Value::decimal("NaN")), 0);
    EXPECT_EQ(compare_key(Value::decimal("NaN"), Value::decimal("NaN")), 0);
    EXPECT_THROW(Value::decimal("nan"), Error);
    EXPECT_EQ(dialect_for(Engine::mysql).literal(Value::decimal("NaN")), "'NaN'");
    EXPECT_EQ(dialect_for(Engine::mysql).literal(Value::decimal("-1.5")), "-1.5");
}

TEST(Value, NullIsNotEmptyText) {
    EXPECT_FALSE(same_data(Value::null(), Value::text("")));
    EXPECT_TRUE(same_data(Value::null(), Value::null()));
    EXPECT_TRUE(same_data(Value::text(""), Value::text("")));
}

TEST(Value, TextIsComparedByteForByte) {
    EXPECT_FALSE(same_data(Value::text("a"), Value::text("A")));
    EXPECT_FALSE(same_data(Value::text("x "), Value::text("x")));
    EXPECT_TRUE(same_data(Value::text("\xF0\x9F\x98\x80"), Value::text("\xF0\x9F\x98\x80")));
}

TEST(Value, TimestampsIgnoreTrailingFractionZerosButNotMicroseconds) {
    auto mysql = Value::parse(ValueKind::datetime, "2024-03-05 07:08:09.120000");
    auto pg = Value::parse(ValueKind::datetime, "2024-03-05 07:08:09.12");
    EXPECT_TRUE(same_data(mysql, pg));
    EXPECT_EQ(mysql.canonical(), "2024-03-05 07:08:09.120000");
    auto other = Value::parse(ValueKind::datetime, "2024-03-05 07:08:09.120001");
    EXPECT_FALSE(same_data(mysql, other));
}

TEST(Value, TimestampsWithZonesAreConvertedToUtc) {
    auto utc = Value::parse(ValueKind::datetime, "2024-03-05 07:08:09");
    EXPECT_TRUE(same_data(utc, Value::parse(ValueKind::datetime, "2024-03-05 09:08:09+02")));
    EXPECT_TRUE(same_data(utc, Value::parse(ValueKind::datetime, "2024-03-05 01:38:09-05:30")));
}

TEST(Value, DatesBeforeEpochAndZeroDatesRoundTrip) {
    EXPECT_EQ(Value::parse(ValueKind::datetime, "1969-12-31 23:59:59.5").canonical(), "1969-12-31 23:59:59.500000");
    EXPECT_EQ(Value::parse(ValueKind::date, "1900-02-28").canonical(), "1900-02-28");
    EXPECT_EQ(Value::parse(ValueKind::datetime, "0000-00-00 00:00:00").canonical(), "0000-00-00 00:00:00.000000");
    EXPECT_THROW(Value::parse(ValueKind::datetime, "2024-13-01 00:00:00"), Error);
    EXPECT_THROW(Value::parse(ValueKind::datetime, "yesterday"), Error);
}

// MySQL lets dates with a zero month or day in without NO_ZERO_IN_DATE:
// they read, print back as they were, differ from each other, and sort as
// MySQL sorts them -- before every real date.
TEST(Value, DatesWithAZeroPartReadAndPrintAsMySqlHasThem) {
    for (const char* text : {"2020-00-00", "2020-05-00", "2020-00-07", "0000-00-00", "9999-12-00"}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(Value::parse(ValueKind::date, text).canonical(), text);
        EXPECT_TRUE(zero_part_date(Value::parse(ValueKind::date, text).micros()));
        EXPECT_EQ(Value::parse(ValueKind::datetime, std::string(text) + " 10:11:12.5").canonical(),
                  std::string(text) + " 10:11:12.500000");
    }
    const Value y2020 = Value::parse(ValueKind::date, "2020-00-00"), may = Value::parse(ValueKind::date, "2020-05-00");
    EXPECT_FALSE(same_data(y2020, may));
    EXPECT_LT(Value::parse(ValueKind::date, "0000-00-00").micros(), y2020.micros());
    EXPECT_LT(y2020.micros(), may.micros());
    EXPECT_LT(may.micros(), Value::parse(ValueKind::date, "2019-01-01").micros());
    EXPECT_LT(Value::parse(ValueKind::datetime, "2020-05-00 23:59:59.999999").micros(),
              Value::parse(ValueKind::datetime, "2020-05-01 00:00:00").micros() + 0);
    EXPECT_EQ(Value::parse(ValueKind::datetime, "0000-00-00 00:00:00").micros(), k_zero_date);
    // A clock past its day would be the next date's marker.
    EXPECT_THROW(Value::parse(ValueKind::datetime, "2020-05-00 24:00:00"), Error);
    EXPECT_THROW(Value::parse(ValueKind::date, "2020-13-00"), Error);
    EXPECT_THROW(Value::parse(ValueKind::date, "2020-00-32"), Error);
}

// PostgreSQL prints years before 1 as "0044-03-15 BC"; they read as the
// astronomical year (1 BC is year 0), print back the same, and ISO 8601
// output signs them.
TEST(Value, DatesBeforeChristReadAndPrintAsPostgreSqlHasThem) {
    const Value ides = Value::parse(ValueKind::date, "0044-03-15 BC");
    EXPECT_EQ(ides.canonical(), "0044-03-15 BC");
    EXPECT_FALSE(same_data(ides, Value::parse(ValueKind::date, "0044-03-15")));
    EXPECT_EQ(ides.micros(), days_from_civil(-43, 3, 15) * k_micros_per_day);
    EXPECT_EQ(Value::parse(ValueKind::date, "0001-12-31 BC").canonical(), "0001-12-31 BC");
    EXPECT_EQ(Value::parse(ValueKind::date, "0001-12-31 BC").micros() + k_micros_per_day,
              Value::parse(ValueKind::date, "0001-01-01").micros());
    const Value at = Value::parse(ValueKind::datetime, "4713-01-01 10:00:00.25 BC");
    EXPECT_EQ(at.canonical(), "4713-01-01 10:00:00.250000 BC");
    EXPECT_EQ(Value::parse(ValueKind::datetime, "0044-03-15 12:00:00+02 BC").canonical(),
              "0044-03-15 10:00:00.000000 BC");
    EXPECT_EQ(format_iso_utc(ides.micros()), "-0043-03-15T00:00:00.000000Z");
    EXPECT_EQ(format_iso_utc(Value::parse(ValueKind::date, "0001-06-01 BC").micros()), "0000-06-01T00:00:00.000000Z");
    EXPECT_EQ(Value::parse(ValueKind::datetime, "-0043-03-15T00:00:00Z").micros(), ides.micros());
    // So far back an instant would be a zero-part date's marker (a fuzz finding).
    EXPECT_THROW(Value::parse(ValueKind::datetime, "-288384-01-01 03:04:05"), Error);
    EXPECT_THROW(Value::parse(ValueKind::date, "288384-01-01 BC"), Error);
    EXPECT_EQ(Value::parse(ValueKind::date, "100000-01-01 BC").canonical(), "100000-01-01 BC");
    EXPECT_THROW(Value::parse(ValueKind::date, "0000-03-15 BC"), Error);  // there is no year 0 BC
    EXPECT_THROW(Value::parse(ValueKind::date, "0044-03-15 AD"), Error);
}

// Plain "YYYY-MM-DD HH:MM:SS[.f]" text takes a fast path; every form must
// read as the general parser reads the same instant written another way.
TEST(Value, PlainTimestampsReadAsTheGeneralParserReadsThem) {
    const std::pair<const char*, const char*> same[] = {
        {"2026-11-01 12:34:56", "2026-11-01T12:34:56Z"},
        {"2026-11-01 12:34:56.5", "2026-11-01T12:34:56.500000Z"},
        {"2026-11-01 12:34:56.000001", "2026-11-01T12:34:56.000001+00"},
        {"2024-02-29 23:59:59.123456", "2024-03-01 00:59:59.123456+01"},
        {"1969-12-31 23:59:59.99", "1969-12-31T23:59:59.990Z"},
        {"0001-01-01 00:00:00", "0001-01-01T00:00:00Z"},
        {"9999-12-31 23:59:59.999999", "9999-12-31T23:59:59.999999Z"},
        {"2026-01-01 00:00:00.1234567", "2026-01-01T00:00:00.123456Z"},  // 7 digits: the general path
    };
    for (const auto& [plain, general] : same) {
        SCOPED_TRACE(plain);
        EXPECT_EQ(Value::parse(ValueKind::datetime, plain).micros(),
                  Value::parse(ValueKind::datetime, general).micros());
        EXPECT_EQ(Value::parse(ValueKind::datetime, plain).canonical().substr(0, 19), std::string(plain).substr(0, 19));
    }
    // What the fast path must not take: zero dates, a bad month or day, a
    // non-digit, stray characters.
    EXPECT_EQ(Value::parse(ValueKind::datetime, "0000-00-00 00:00:00").canonical(),
              Value::parse(ValueKind::datetime, "0000-00-00").canonical());
    for (const char* bad : {"2026-00-32 00:00:00", "2026-13-01 00:00:00", "2026-01-32 00:00:00", "2026-01-01 0a:00:00",
                            "2026-01-01 00:00:0x", "2026-01-01 00:00:00 "})
        EXPECT_THROW(Value::parse(ValueKind::datetime, bad), Error) << bad;
}

TEST(Value, TimesAndDatesFormatWithFixedWidthsAtTheEdges) {
    EXPECT_EQ(format_time(0), "00:00:00.000000");
    EXPECT_EQ(format_time(-1), "-00:00:00.000001");
    EXPECT_EQ(format_time(-(838LL * 3600 + 59 * 60 + 59) * 1'000'000), "-838:59:59.000000");  // MySQL TIME range
    EXPECT_EQ(format_time((100LL * 3600 + 1) * 1'000'000 + 7), "100:00:01.000007");
    EXPECT_EQ(format_date(0), "1970-01-01");
    EXPECT_EQ(Value::parse(ValueKind::date, "0001-01-01").canonical(), "0001-01-01");
    EXPECT_EQ(Value::parse(ValueKind::date, "9999-12-31").canonical(), "9999-12-31");
    EXPECT_EQ(Value::parse(ValueKind::datetime, "0999-06-07 08:09:10.000123").canonical(),
              "0999-06-07 08:09:10.000123");
    EXPECT_EQ(format_datetime(-1), "1969-12-31 23:59:59.999999");
}

// Found by fuzz/time_value_fuzz and fuzz/pg_copy_text_fuzz: the digits of a
// year or an hour count were multiplied past int64 (undefined behaviour, a
// wrapped value in practice). Times int64 microseconds cannot hold are data
// errors; the last ones they hold still read.
TEST(Value, TimesPastWhatMicrosecondsHoldAreRefusedNotWrapped) {
    for (const char* bad :
         {"99999999999999999999-01-01", "294247-01-11", "294248-01-01", "9223372036854775807-01-01"}) {
        EXPECT_THROW(Value::parse(ValueKind::date, bad), Error) << bad;
        EXPECT_THROW(Value::parse(ValueKind::datetime, bad), Error) << bad;
    }
    for (const char* bad :
         {"11111111115111111115:05:00", "2562047788:00:54.775808", "2562047789:00:00", "-99999999999999999999:00:00"})
        EXPECT_THROW(Value::parse(ValueKind::time, bad), Error) << bad;
    EXPECT_THROW(Value::parse(ValueKind::datetime, "294247-01-10 04:00:54.775808"), Error);
    EXPECT_THROW(Value::parse(ValueKind::datetime, "294247-01-10 04:00:54.775807-01"),
                 Error);  // the zone pushes it over
    EXPECT_THROW(Value::parse(ValueKind::datetime, "2024-01-01 99999999999999999999:00:00"), Error);

    constexpr std::int64_t k_last = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(Value::parse(ValueKind::date, "294247-01-10").canonical(), "294247-01-10");
    EXPECT_EQ(Value::parse(ValueKind::datetime, "294247-01-10 04:00:54.775807").micros(), k_last);
    EXPECT_EQ(Value::parse(ValueKind::time, "2562047788:00:54.775807").micros(), k_last);
    EXPECT_EQ(Value::parse(ValueKind::time, "-2562047788:00:54.775807").canonical(), "-2562047788:00:54.775807");
}

TEST(Value, ByteaHexAndRawBlobAreTheSameBytes) {
    auto pg = Value::parse(ValueKind::bytes, "\\x00ff41");
    auto mysql =
        Value::bytes(std::string("\0\xff"
                                 "A",
                                 3));
    EXPECT_TRUE(same_data(pg, mysql));
    EXPECT_EQ(pg.display(), "\\x00ff41");
    EXPECT_FALSE(same_data(pg, Value::bytes(std::string("\0\xff"
                                                        "B",
                                                        3))));
}

TEST(Value, RealsCompareByShortestRepresentation) {
    EXPECT_TRUE(same_data(Value::parse(ValueKind::real, "0.1"), Value::real(0.1)));
    EXPECT_TRUE(same_data(Value::real(-0.0), Value::real(0.0)));
    EXPECT_FALSE(same_data(Value::real(0.1), Value::real(0.10000000000000002)));
}

TEST(Value, UnsignedAboveInt64Range) {
    auto v = Value::parse(ValueKind::unsigned_integer, "18446744073709551615");
    EXPECT_EQ(v.canonical(), "18446744073709551615");
    EXPECT_TRUE(same_data(v, Value::decimal("18446744073709551615")));
    EXPECT_GT(compare_key(v, Value::integer(5)), 0);
}

TEST(Value, KeysOrderLikeABinaryCollation) {
    EXPECT_LT(compare_key(Value::text("B"), Value::text("a")), 0);  // 'B' (0x42) < 'a' (0x61)
    EXPECT_LT(compare_key(Value::text("a"), Value::text("a ")), 0);
    EXPECT_LT(compare_key(Value::text("z"), Value::text("\xC3\xA9")), 0);  // UTF-8 bytes unsigned
    EXPECT_LT(compare_key(Value::integer(9), Value::integer(10)), 0);
    EXPECT_LT(compare_key(Value::decimal("9.5"), Value::decimal("10")), 0);
    EXPECT_LT(compare_key(Value::decimal("-10"), Value::decimal("-9.5")), 0);
    EXPECT_EQ(compare_key(Row{Value::integer(1), Value::text("x")}, Row{Value::integer(1), Value::text("x")}), 0);
    EXPECT_LT(compare_key(Row{Value::integer(1), Value::text("x")}, Row{Value::integer(1), Value::text("y")}), 0);
}

}  // namespace
}  // namespace webook
