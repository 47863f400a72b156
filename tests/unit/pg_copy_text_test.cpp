// The PostgreSQL COPY text codec: fields written, lines read back, parameters.
#include "core/db/pg_copy_text.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/engines.h"
#include "core/db/value.h"

namespace webook {
namespace {

// One value as a COPY text field.
std::string field(const Value& v) {
    std::string line;
    pg_text::append_copy_field(line, v);
    return line;
}

// One COPY text line read as `kinds`; columns are named c0, c1, ...
Row parse(std::string_view line, const std::vector<ValueKind>& kinds) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < kinds.size(); ++i) names.push_back("c" + std::to_string(i));
    Row row;
    std::string scratch;
    pg_text::parse_copy_line(line, kinds, names, row, scratch);
    return row;
}

Value parse_one(std::string_view line, ValueKind kind) {
    const Row row = parse(line, {kind});
    EXPECT_EQ(row.size(), 1u);
    return row.empty() ? Value() : row[0];
}

const double k_nan = std::numeric_limits<double>::quiet_NaN();
const double k_inf = std::numeric_limits<double>::infinity();

// --- Values out ---------------------------------------------------------------

TEST(PgCopyText, EscapesBackslashTabNewlineAndCarriageReturn) {
    EXPECT_EQ(field(Value::text("a\\b\tc\nd\re")), "a\\\\b\\tc\\nd\\re");
    EXPECT_EQ(field(Value::text("\\\\")), "\\\\\\\\");
    EXPECT_EQ(field(Value::text("\t\n\r")), "\\t\\n\\r");
    EXPECT_EQ(field(Value::text("plain text")), "plain text");
    EXPECT_EQ(field(Value::text("")), "");
    // Nothing else is escaped: COPY reads other control characters and
    // UTF-8 as they are.
    EXPECT_EQ(field(Value::text("\b\f\v")), "\b\f\v");
    EXPECT_EQ(field(Value::text("caf\xC3\xA9")), "caf\xC3\xA9");
}

TEST(PgCopyText, NullIsBackslashNAndTheTextBackslashNIsEscaped) {
    EXPECT_EQ(field(Value()), "\\N");
    EXPECT_EQ(field(Value::text("\\N")), "\\\\N");
    EXPECT_EQ(field(Value::text("N")), "N");
}

TEST(PgCopyText, FieldsAreAppendedWithoutSeparator) {
    std::string line = "x";
    pg_text::append_copy_field(line, Value::integer(5));
    pg_text::append_copy_field(line, Value::text("\t"));
    pg_text::append_copy_field(line, Value());
    EXPECT_EQ(line, "x5\\t\\N");
}

TEST(PgCopyText, BytesAreByteaHexWithTheBackslashEscaped) {
    const Value bytes = Value::bytes(std::string("\x00\x0a\xff", 3));
    EXPECT_EQ(field(bytes), "\\\\x000aff");
    EXPECT_EQ(pg_text::param_text(bytes), "\\x000aff");
    EXPECT_EQ(field(Value::bytes("")), "\\\\x");
    EXPECT_EQ(pg_text::param_text(Value::bytes("")), "\\x");
    // Backslashes and tabs in bytes are hex digits, never raw.
    EXPECT_EQ(field(Value::bytes("\\\t\n")), "\\\\x5c090a");
    EXPECT_EQ(field(Value::bytes("AZaz")), "\\\\x415a617a");
}

TEST(PgCopyText, BooleansAreTAndF) {
    EXPECT_EQ(pg_text::param_text(Value::boolean(true)), "t");
    EXPECT_EQ(pg_text::param_text(Value::boolean(false)), "f");
    EXPECT_EQ(field(Value::boolean(true)), "t");
    EXPECT_EQ(field(Value::boolean(false)), "f");
}

TEST(PgCopyText, RealsAreShortestExact) {
    EXPECT_EQ(pg_text::param_text(Value::real(0.1)), "0.1");
    EXPECT_EQ(pg_text::param_text(Value::real(1.0)), "1");
    EXPECT_EQ(pg_text::param_text(Value::real(-2.5)), "-2.5");
    EXPECT_EQ(pg_text::param_text(Value::real(1.0 / 3)), "0.3333333333333333");
    EXPECT_EQ(pg_text::param_text(Value::real(1e300)), "1e+300");
    EXPECT_EQ(pg_text::param_text(Value::real(5e-324)), "5e-324");
    EXPECT_EQ(pg_text::param_text(Value::real(-0.0)), "-0");  // unlike canonical(), which says "0"
    EXPECT_EQ(field(Value::real(0.1)), "0.1");
}

TEST(PgCopyText, RealsNanAndInfinityArePostgresWords) {
    EXPECT_EQ(pg_text::param_text(Value::real(k_nan)), "NaN");
    EXPECT_EQ(pg_text::param_text(Value::real(k_inf)), "Infinity");
    EXPECT_EQ(pg_text::param_text(Value::real(-k_inf)), "-Infinity");
    EXPECT_EQ(field(Value::real(k_nan)), "NaN");
    EXPECT_EQ(field(Value::real(-k_inf)), "-Infinity");
}

TEST(PgCopyText, OtherKindsAreTheirCanonicalText) {
    EXPECT_EQ(pg_text::param_text(Value()), std::nullopt);
    EXPECT_EQ(pg_text::param_text(Value::integer(-42)), "-42");
    EXPECT_EQ(pg_text::param_text(Value::unsigned_integer(std::numeric_limits<std::uint64_t>::max())),
              "18446744073709551615");
    EXPECT_EQ(pg_text::param_text(Value::decimal("001.50")), "1.5");
    EXPECT_EQ(pg_text::param_text(Value::parse(ValueKind::date, "2024-02-29")), "2024-02-29");
    EXPECT_EQ(pg_text::param_text(Value::parse(ValueKind::time, "-12:00:00")), "-12:00:00.000000");
    EXPECT_EQ(pg_text::param_text(Value::parse(ValueKind::datetime, "2024-01-02 03:04:05.000001")),
              "2024-01-02 03:04:05.000001");
    EXPECT_EQ(field(Value::parse(ValueKind::datetime, "2024-01-02 03:04:05")), "2024-01-02 03:04:05.000000");
}

TEST(PgCopyText, ParameterTextIsNotCopyEscaped) {
    EXPECT_EQ(pg_text::param_text(Value::text("a\tb\\c\n")), "a\tb\\c\n");
    EXPECT_EQ(pg_text::param_text(Value::text("")), "");
}

TEST(PgCopyText, PostgresParamTextIsTheCodecsParameterText) {
    for (const Value& v : {Value(), Value::text("a\\b"), Value::bytes("\x01"), Value::boolean(true), Value::real(-0.0),
                           Value::integer(7)})
        EXPECT_EQ(postgres_param_text(v), pg_text::param_text(v)) << v.display();
}

// --- Values in ----------------------------------------------------------------

TEST(PgCopyText, ParsesTabSeparatedFields) {
    const Row row = parse("42\tt\t\\N\thello\t1.50", {ValueKind::integer, ValueKind::boolean, ValueKind::text,
                                                      ValueKind::text, ValueKind::decimal});
    ASSERT_EQ(row.size(), 5u);
    EXPECT_EQ(row[0].kind(), ValueKind::integer);
    EXPECT_EQ(row[0].as_int(), 42);
    EXPECT_EQ(row[1].kind(), ValueKind::boolean);
    EXPECT_TRUE(row[1].as_bool());
    EXPECT_TRUE(row[2].is_null());
    EXPECT_EQ(row[3].as_string(), "hello");
    EXPECT_EQ(row[4].kind(), ValueKind::decimal);
    EXPECT_EQ(row[4].as_string(), "1.5");
}

TEST(PgCopyText, UnescapesWhatCopyToEscapes) {
    EXPECT_EQ(parse_one("a\\\\b\\tc\\nd\\re", ValueKind::text).as_string(), "a\\b\tc\nd\re");
    EXPECT_EQ(parse_one("\\b\\f\\v", ValueKind::text).as_string(), "\b\f\v");
    // Any other escaped character is itself; a lone trailing backslash stays.
    EXPECT_EQ(parse_one("\\q\\'", ValueKind::text).as_string(), "q'");
    EXPECT_EQ(parse_one("a\\", ValueKind::text).as_string(), "a\\");
}

TEST(PgCopyText, OnlyABareBackslashNIsNull) {
    EXPECT_TRUE(parse_one("\\N", ValueKind::text).is_null());
    EXPECT_TRUE(parse_one("\\N", ValueKind::integer).is_null());
    EXPECT_EQ(parse_one("\\\\N", ValueKind::text).as_string(), "\\N");
    EXPECT_EQ(parse_one("\\Nx", ValueKind::text).as_string(), "Nx");
    EXPECT_EQ(parse_one("N", ValueKind::text).as_string(), "N");
    // An empty field is empty text, not NULL.
    const Value empty = parse_one("", ValueKind::text);
    EXPECT_FALSE(empty.is_null());
    EXPECT_EQ(empty.as_string(), "");
    const Row two = parse("\t", {ValueKind::text, ValueKind::text});
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].as_string(), "");
    EXPECT_EQ(two[1].as_string(), "");
}

TEST(PgCopyText, TextFieldsAreNotParsed) {
    // Text arrives as it is, even when it looks like bytea hex or NULL words.
    EXPECT_EQ(parse_one("\\\\x41", ValueKind::text).as_string(), "\\x41");
    EXPECT_EQ(pg_text::read_value(ValueKind::text, "\\x41", "c").as_string(), "\\x41");
    EXPECT_EQ(pg_text::read_value(ValueKind::text, "NULL", "c").as_string(), "NULL");
    // Bytes as bytea hex; without the \x prefix, the raw bytes.
    EXPECT_EQ(parse_one("\\\\x000aff", ValueKind::bytes).as_string(), std::string("\x00\x0a\xff", 3));
    EXPECT_EQ(pg_text::read_value(ValueKind::bytes, "\\x41", "c").as_string(), "A");
    EXPECT_EQ(pg_text::read_value(ValueKind::bytes, "abc", "c").as_string(), "abc");
}

TEST(PgCopyText, ReadsPostgresWordsForRealsAndBooleans) {
    EXPECT_TRUE(std::isnan(parse_one("NaN", ValueKind::real).as_double()));
    EXPECT_EQ(parse_one("Infinity", ValueKind::real).as_double(), k_inf);
    EXPECT_EQ(parse_one("-Infinity", ValueKind::real).as_double(), -k_inf);
    EXPECT_EQ(parse_one("0.1", ValueKind::real).as_double(), 0.1);
    EXPECT_TRUE(parse_one("t", ValueKind::boolean).as_bool());
    EXPECT_FALSE(parse_one("f", ValueKind::boolean).as_bool());
}

TEST(PgCopyText, DropsOneTrailingNewline) {
    EXPECT_EQ(parse_one("1\n", ValueKind::integer).as_int(), 1);
    EXPECT_EQ(parse_one("a\n", ValueKind::text).as_string(), "a");
    EXPECT_EQ(parse_one("a\\n\n", ValueKind::text).as_string(), "a\n");
}

TEST(PgCopyText, AWrongNumberOfFieldsIsAnInternalError) {
    auto code_of = [](std::string_view line, const std::vector<ValueKind>& kinds) {
        try {
            parse(line, kinds);
        } catch (const Error& e) {
            return std::optional<Code>(e.code());
        }
        return std::optional<Code>();
    };
    EXPECT_EQ(code_of("1", {ValueKind::integer, ValueKind::integer}), Code::internal);
    EXPECT_EQ(code_of("", {ValueKind::text, ValueKind::text}), Code::internal);
    EXPECT_EQ(code_of("1\t2", {ValueKind::integer}), Code::internal);
    EXPECT_EQ(code_of("1\t", {ValueKind::integer}), Code::internal);  // a trailing empty field
    EXPECT_EQ(code_of("1\t2", {ValueKind::integer, ValueKind::integer}), std::nullopt);
    EXPECT_TRUE(parse("", {}).empty());
}

TEST(PgCopyText, AValueThatDoesNotParseNamesItsColumn) {
    try {
        parse("1\tx", {ValueKind::integer, ValueKind::integer});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::data);
        EXPECT_NE(std::string(e.what()).find("column 'c1'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(pg_text::read_value(ValueKind::boolean, "yes", "flag"), Error);
}

TEST(PgCopyText, TheRowIsResizedToTheColumns) {
    Row row(5, Value::integer(9));
    std::string scratch;
    pg_text::parse_copy_line("a\\tb\tc", {ValueKind::text, ValueKind::text}, {"x", "y"}, row, scratch);
    ASSERT_EQ(row.size(), 2u);
    EXPECT_EQ(row[0].as_string(), "a\tb");
    EXPECT_EQ(row[1].as_string(), "c");
}

// --- Round trips ----------------------------------------------------------------

std::string all_bytes() {
    std::string out;
    for (int c = 0; c < 256; ++c) out += static_cast<char>(c);
    return out;
}

std::vector<Value> round_trip_values() {
    return {
        Value::text(""),
        Value::text("plain"),
        Value::text("a\\b\tc\nd\re"),
        Value::text("\\N"),
        Value::text("\\x41"),
        Value::text("\b\f\v"),
        Value::text("caf\xC3\xA9 \xF0\x9F\x98\x80"),
        Value::text(all_bytes().substr(1)),  // every byte but NUL
        Value::bytes(""),
        Value::bytes(all_bytes()),
        Value::bytes("\\N"),
        Value::boolean(true),
        Value::boolean(false),
        Value::integer(std::numeric_limits<std::int64_t>::min()),
        Value::integer(0),
        Value::integer(std::numeric_limits<std::int64_t>::max()),
        Value::unsigned_integer(std::numeric_limits<std::uint64_t>::max()),
        Value::real(0.1),
        Value::real(-2.5),
        Value::real(1.0 / 3),
        Value::real(1e300),
        Value::real(5e-324),
        Value::real(k_nan),
        Value::real(k_inf),
        Value::real(-k_inf),
        Value::decimal("-12.345"),
        Value::decimal("0"),
        Value::parse(ValueKind::date, "2024-02-29"),
        Value::parse(ValueKind::date, "1970-01-01"),
        Value::parse(ValueKind::time, "23:59:59.999999"),
        Value::parse(ValueKind::time, "-838:59:59"),
        Value::parse(ValueKind::datetime, "2024-01-02 03:04:05.000001"),
        Value::parse(ValueKind::datetime, "1969-12-31 23:59:59"),
    };
}

TEST(PgCopyText, EachValueSurvivesAFieldRoundTrip) {
    for (const Value& v : round_trip_values()) {
        const Value back = parse_one(field(v), v.kind());
        EXPECT_EQ(back.kind(), v.kind()) << v.display();
        EXPECT_TRUE(same_data(back, v)) << v.display() << " came back as " << back.display();
    }
}

TEST(PgCopyText, NullSurvivesARoundTripForEveryKind) {
    for (ValueKind kind :
         {ValueKind::integer, ValueKind::unsigned_integer, ValueKind::real, ValueKind::decimal, ValueKind::text,
          ValueKind::bytes, ValueKind::date, ValueKind::time, ValueKind::datetime, ValueKind::boolean})
        EXPECT_TRUE(parse_one(field(Value()), kind).is_null()) << kind_name(kind);
}

TEST(PgCopyText, AWholeRowSurvivesALineRoundTrip) {
    const std::vector<Value> values = round_trip_values();
    std::string line;
    std::vector<ValueKind> kinds;
    for (const Value& v : values) {
        if (!kinds.empty()) line += '\t';
        pg_text::append_copy_field(line, v);
        kinds.push_back(v.kind());
        line += '\t';
        pg_text::append_copy_field(line, Value());
        kinds.push_back(v.kind());
    }
    line += '\n';
    const Row row = parse(line, kinds);
    ASSERT_EQ(row.size(), 2 * values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        EXPECT_TRUE(same_data(row[2 * i], values[i])) << values[i].display();
        EXPECT_TRUE(row[2 * i + 1].is_null()) << values[i].display();
    }
}

}  // namespace
}  // namespace webook
