// The type matrix (issue 14 part 2), in the style of data-diff's: for each
// pair and each type a platform uses, a table of the type's edge values and
// a NULL goes migrate schema -> migrate copy -> validate --full (rows, then
// checksums) with 0 differences; a different spelling of one value that the
// target's server stores as the same value is still 0; and a one-value
// change planted on the target is found as one neq naming the column, both
// ways of checking.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::Args;
using testing::CommandResult;
using testing::MigrationDatabases;

using testing::operator+;

// Each row of `sql`'s result, its values' display joined by tabs.
std::vector<std::string> query_lines(Connection& conn, const std::string& sql) {
    std::vector<std::string> out;
    for (const Row& r : conn.query(sql)) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) line += (i ? "\t" : "") + r[i].display();
        out.push_back(line);
    }
    return out;
}

struct TypeCase {
    const char* name;
    Engine source;
    const char* type;                  // the column's type on the source
    std::vector<const char*> values;   // SQL literals on the source, rows 1..n (row n+1 is NULL)
    const char* plant_mysql;           // row 1 changed to this on a MariaDB target
    const char* plant_pg;              // ... on a PostgreSQL target
    const char* same_mysql = nullptr;  // row 2 rewritten on the target as this, still equal
    const char* same_pg = nullptr;
    const char* setup = nullptr;  // run on the source (and a same-engine target) first
};

const std::vector<TypeCase>& cases() {
    static const std::vector<TypeCase> all = {
        // -- MariaDB sources: to MariaDB and to PostgreSQL ------------------------
        {"tinyint", Engine::mysql, "TINYINT", {"-128", "127", "0"}, "1", "1"},
        {"tinyint_unsigned", Engine::mysql, "TINYINT UNSIGNED", {"255", "0"}, "254", "254"},
        {"tinyint_1", Engine::mysql, "TINYINT(1)", {"2", "1", "0", "-1"}, "1", "1"},
        {"smallint", Engine::mysql, "SMALLINT", {"-32768", "32767"}, "0", "0"},
        {"smallint_unsigned", Engine::mysql, "SMALLINT UNSIGNED", {"65535", "0"}, "1", "1"},
        {"mediumint", Engine::mysql, "MEDIUMINT", {"-8388608", "8388607"}, "0", "0"},
        {"mediumint_unsigned", Engine::mysql, "MEDIUMINT UNSIGNED", {"16777215"}, "1", "1"},
        {"int", Engine::mysql, "INT", {"-2147483648", "2147483647"}, "-2147483647", "-2147483647"},
        {"int_unsigned", Engine::mysql, "INT UNSIGNED", {"4294967295", "0"}, "4294967294", "4294967294"},
        {"bigint",
         Engine::mysql,
         "BIGINT",
         {"-9223372036854775808", "9223372036854775807"},
         "-9223372036854775807",
         "-9223372036854775807"},
        {"bigint_unsigned",
         Engine::mysql,
         "BIGINT UNSIGNED",
         {"18446744073709551615", "9223372036854775808", "0"},
         "18446744073709551614",
         "18446744073709551614"},
        {"decimal_65_30",
         Engine::mysql,
         "DECIMAL(65,30)",
         {"99999999999999999999999999999999999.999999999999999999999999999999",
          "-99999999999999999999999999999999999.999999999999999999999999999999", "0.000000000000000000000000000001",
          "0"},
         "99999999999999999999999999999999999.999999999999999999999999999998",
         "99999999999999999999999999999999999.999999999999999999999999999998"},
        {"decimal_10_2",
         Engine::mysql,
         "DECIMAL(10,2)",
         {"-12345678.91", "0.10"},
         "-12345678.90",
         "-12345678.90",
         "0.1",
         "0.1"},
        // Floats are equal when their bits are: the planted value is the
        // next float (double) after the stored one.
        {"float",
         Engine::mysql,
         "FLOAT",
         {"0.1", "1.5", "0.123456789", "-3.40282e38", "1.17549e-38"},
         "0.10000001",
         "0.10000001",
         "1.50",
         "1.50"},
        {"double",
         Engine::mysql,
         "DOUBLE",
         {"0.1", "1.7976931348623157e308", "2.2250738585072014e-308", "-0.5"},
         "0.10000000000000002",
         "0.10000000000000002",
         "1.7976931348623157E308",
         "1.7976931348623157E308"},
        {"date",
         Engine::mysql,
         "DATE",
         {"'1000-01-01'", "'9999-12-31'", "'2024-02-29'"},
         "'1000-01-02'",
         "'1000-01-02'"},
        {"datetime_0",
         Engine::mysql,
         "DATETIME",
         {"'1000-01-01 00:00:00'", "'9999-12-31 23:59:59'"},
         "'1000-01-01 00:00:01'",
         "'1000-01-01 00:00:01'"},
        {"datetime_3",
         Engine::mysql,
         "DATETIME(3)",
         {"'2020-02-29 12:34:56.789'", "'9999-12-31 23:59:59.999'", "'2020-02-29 12:34:56.780'",
          "'2020-02-29 12:34:50.000'"},
         "'2020-02-29 12:34:56.788'",
         "'2020-02-29 12:34:56.788'"},
        {"datetime_6",
         Engine::mysql,
         "DATETIME(6)",
         {"'1000-01-01 00:00:00.000001'", "'9999-12-31 23:59:59.999999'", "'2020-01-01 10:00:00.500000'",
          "'2020-01-01 10:00:10.000000'", "'2020-01-01 10:00:00.000010'"},
         "'1000-01-01 00:00:00.000002'",
         "'1000-01-01 00:00:00.000002'"},
        // Dates with a zero month or day (sql_mode without NO_ZERO_IN_DATE,
        // MariaDB's default): carried between MariaDB tables; PostgreSQL has
        // no such dates (ZeroDates below).
        {"date_zero_parts",
         Engine::mysql,
         "DATE",
         {"'2020-00-00'", "'2020-05-00'", "'2020-00-07'", "'0000-00-00'", "'2020-05-01'"},
         "'2020-06-00'",
         nullptr},
        {"datetime_zero_parts",
         Engine::mysql,
         "DATETIME(6)",
         {"'2020-05-00 10:11:12.5'", "'2020-00-00 00:00:00'", "'2020-05-01 10:11:12.5'"},
         "'2020-05-00 10:11:12.500001'",
         nullptr},
        // Spatial values are their bytes between MariaDB tables (towards
        // PostgreSQL `migrate schema` refuses them: schema_test.cpp).
        {"point",
         Engine::mysql,
         "POINT",
         {"ST_GeomFromText('POINT(1.5 -2)')", "ST_GeomFromText('POINT(0 0)')"},
         "ST_GeomFromText('POINT(1.5 -2.5)')",
         nullptr},
        {"geometry",
         Engine::mysql,
         "GEOMETRY",
         {"ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)')", "ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))')",
          "ST_GeomFromText('POINT(1 2)', 4326)"},
         "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 1)')",
         nullptr},
        {"timestamp_6",
         Engine::mysql,
         "TIMESTAMP(6) NULL",
         {"'1970-01-01 00:00:01.000000'", "'2038-01-19 03:14:07.999999'", "'2000-01-01 00:00:00.120000'"},
         "'1970-01-01 00:00:01.000001'",
         "'1970-01-01 00:00:01.000001+00'"},
        {"time",
         Engine::mysql,
         "TIME(6)",
         {"'-838:59:59.000000'", "'838:59:59.000000'", "'25:00:00.5'", "'-00:00:01'", "'12:00:00'"},
         "'-838:59:58'",
         "'-838:59:58'"},
        {"year", Engine::mysql, "YEAR", {"1901", "2155", "0"}, "1902", "1902"},
        {"char", Engine::mysql, "CHAR(8)", {"'ab'", "'  x'", "''", "'\xF0\x9F\x98\x80'"}, "'ac'", "'ac'"},
        {"varchar",
         Engine::mysql,
         "VARCHAR(255)",
         {"'caf\xC3\xA9 \xF0\x9F\x98\x80'", "''", "'trailing '", "'tab\tnew\nline\\\\ back'"},
         "'cafe \xF0\x9F\x98\x80'",
         "'cafe \xF0\x9F\x98\x80'"},
        {"longtext",
         Engine::mysql,
         "LONGTEXT",
         {"REPEAT('\xF0\x9F\x98\x80 long ', 200000)", "''"},
         "CONCAT(REPEAT('\xF0\x9F\x98\x80 long ', 199999), '\xF0\x9F\x98\x80 lonG ')",
         "repeat('\xF0\x9F\x98\x80 long ', 199999) || '\xF0\x9F\x98\x80 lonG '"},
        {"binary", Engine::mysql, "BINARY(4)", {"X'00FF0001'", "X'00'"}, "X'00FF0002'", "'\\x00ff0002'"},
        {"varbinary", Engine::mysql, "VARBINARY(16)", {"X'00FF00'", "X''", "X'5C30'"}, "X'00FF01'", "'\\x00ff01'"},
        {"blob",
         Engine::mysql,
         "LONGBLOB",
         {"REPEAT(X'00FF0A0D5C', 100000)", "X''"},
         "CONCAT(REPEAT(X'00FF0A0D5C', 99999), X'00FF0A0D5D')",
         "decode(repeat('00ff0a0d5c', 99999) || '00ff0a0d5d', 'hex')"},
        {"bit_1", Engine::mysql, "BIT(1)", {"b'1'", "b'0'"}, "b'0'", "false"},
        {"bit_10", Engine::mysql, "BIT(10)", {"b'1111111111'", "b'0'", "b'101'"}, "b'1111111110'", "1022"},
        {"bit_64",
         Engine::mysql,
         "BIT(64)",
         {"b'1111111111111111111111111111111111111111111111111111111111111111'", "b'1'"},
         "b'1111111111111111111111111111111111111111111111111111111111111110'",
         "18446744073709551614"},
        {"enum", Engine::mysql, "ENUM('new','paid','it''s','')", {"'new'", "'it''s'", "''"}, "'paid'", "'paid'"},
        {"set", Engine::mysql, "SET('a','b','c')", {"'a,c'", "''", "'a,b,c'"}, "'a'", "'a'"},
        {"json",
         Engine::mysql,
         "JSON",
         {R"('{"b": 1, "a": [1, 2.5, "x", null, true]}')", "'{\"k\": \"\xC3\xA9\", \"n\": 1.0}'", "'null'", R"('"s"')"},
         R"('{"b": 1, "a": [1, 2.5, "x", null, false]}')",
         R"('{"b": 1, "a": [1, 2.5, "x", null, false]}')",
         nullptr,
         "'{\"n\": 1.0, \"k\": \"\xC3\xA9\"}'"},
        // -- PostgreSQL sources ---------------------------------------------------
        {"pg_smallint", Engine::postgres, "smallint", {"-32768", "32767"}, nullptr, "0"},
        {"pg_integer", Engine::postgres, "integer", {"-2147483648", "2147483647"}, nullptr, "0"},
        {"pg_bigint",
         Engine::postgres,
         "bigint",
         {"-9223372036854775808", "9223372036854775807"},
         nullptr,
         "-9223372036854775807"},
        {"pg_numeric",
         Engine::postgres,
         "numeric",
         {"123456789012345678901234567890.123456789012345678901234567890", "-0.000000000000000000000000000001", "'NaN'",
          "0"},
         nullptr,
         "123456789012345678901234567890.123456789012345678901234567891",
         nullptr,
         nullptr},
        {"pg_numeric_scaled",
         Engine::postgres,
         "numeric(12,4)",
         {"12345678.1234", "0.1"},
         nullptr,
         "12345678.1235",
         nullptr,
         "0.10"},
        {"pg_real",
         Engine::postgres,
         "real",
         {"0.1", "'Infinity'", "'-Infinity'", "'NaN'", "-3.4028235e38", "0.12345679"},
         nullptr,
         "0.10000001",
         nullptr,
         "'inf'"},
        {"pg_double",
         Engine::postgres,
         "double precision",
         {"0.1", "'Infinity'", "'NaN'", "1.7976931348623157e308", "5e-324"},
         nullptr,
         "0.10000000000000002"},
        {"pg_boolean", Engine::postgres, "boolean", {"true", "false"}, nullptr, "false", nullptr, "'f'"},
        {"pg_date",
         Engine::postgres,
         "date",
         {"'0001-01-01'", "'9999-12-31'", "'2024-02-29'"},
         nullptr,
         "'0001-01-02'"},
        // Years before Christ: PostgreSQL prints them "0044-03-15 BC"; the
        // same date AD is another value, found both ways of checking.
        {"pg_date_bc",
         Engine::postgres,
         "date",
         {"'0044-03-15 BC'", "'4713-01-01 BC'", "'0001-12-31 BC'"},
         nullptr,
         "'0044-03-15'"},
        {"pg_timestamp_bc",
         Engine::postgres,
         "timestamp(6)",
         {"'0001-12-31 23:59:59.999999 BC'", "'0044-03-15 12:00:00 BC'"},
         nullptr,
         "'0001-12-31 23:59:59.999999'"},
        {"pg_timestamptz_bc",
         Engine::postgres,
         "timestamptz",
         {"'0044-03-15 12:00:00+02 BC'", "'2000-01-01 00:00:00+00'"},
         nullptr,
         "'0044-03-15 12:00:01+02 BC'"},
        {"pg_timestamp_0",
         Engine::postgres,
         "timestamp(0)",
         {"'2020-01-01 00:00:00'", "'9999-12-31 23:59:59'"},
         nullptr,
         "'2020-01-01 00:00:01'"},
        {"pg_timestamp_6",
         Engine::postgres,
         "timestamp(6)",
         {"'0001-01-01 00:00:00.000001'", "'9999-12-31 23:59:59.999999'"},
         nullptr,
         "'0001-01-01 00:00:00.000002'"},
        {"pg_timestamptz",
         Engine::postgres,
         "timestamptz",
         {"'2020-01-01 00:00:00.5+02'", "'1970-01-01 00:00:00Z'"},
         nullptr,
         "'2020-01-01 00:00:00.5+03'",
         nullptr,
         "'1969-12-31 20:00:00-04'"},
        {"pg_time",
         Engine::postgres,
         "time(6)",
         {"'00:00:00'", "'23:59:59.999999'", "'24:00:00'"},
         nullptr,
         "'00:00:00.000001'"},
        {"pg_interval",
         Engine::postgres,
         "interval",
         {"'1 year 2 mons 3 days 04:05:06.789'", "'-1 day'", "'838:59:59'"},
         nullptr,
         "'1 year 2 mons 3 days 04:05:06.788'",
         nullptr,
         "'-1 days'"},
        {"pg_uuid",
         Engine::postgres,
         "uuid",
         {"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'"},
         nullptr,
         "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'",
         nullptr,
         "'{00000000-0000-0000-0000-000000000000}'"},
        {"pg_jsonb",
         Engine::postgres,
         "jsonb",
         {R"('{"b": 1, "a": [1, 2.5, "x", null]}')", R"('"s"')", "'null'"},
         nullptr,
         R"('{"b": 1, "a": [1, 2.5, "x", 0]}')",
         nullptr,
         R"('  "s"  ')"},
        {"pg_json",
         Engine::postgres,
         "json",
         {R"('{"b": 1, "a": [1, 2.5]}')", R"('[]')"},
         nullptr,
         R"('{"b": 1, "a": [1, 2.50]}')"},
        {"pg_int_array",
         Engine::postgres,
         "integer[]",
         {"'{1,2,NULL,-3}'", "'{}'", "'{{1,2},{3,4}}'"},
         nullptr,
         "'{1,2,NULL,3}'"},
        {"pg_text_array",
         Engine::postgres,
         "text[]",
         {R"('{"a b","c,d","","NULL",NULL,"\"q\""}')", "'{}'"},
         nullptr,
         R"('{"a b","c,d","",NULL,NULL,"\"q\""}')"},
        {"pg_inet",
         Engine::postgres,
         "inet",
         {"'192.168.0.1/24'", "'::1'", "'10.0.0.1'"},
         nullptr,
         "'192.168.0.1/25'",
         nullptr,
         "'::0:1'"},
        {"pg_cidr", Engine::postgres, "cidr", {"'10.0.0.0/8'", "'2001:db8::/32'"}, nullptr, "'10.0.0.0/9'"},
        {"pg_bytea", Engine::postgres, "bytea", {"'\\x00ff0a5c'", "''"}, nullptr, "'\\x00ff0a5d'"},
        {"pg_text",
         Engine::postgres,
         "text",
         {"'caf\xC3\xA9 \xF0\x9F\x98\x80'", "''", "E'tab\\tnew\\nline\\\\ back'"},
         nullptr,
         "'cafe \xF0\x9F\x98\x80'"},
        {"pg_char", Engine::postgres, "character(5)", {"'ab'", "''"}, nullptr, "'ac'", nullptr, "'   '"},
        {"pg_enum",
         Engine::postgres,
         "mood",
         {"'sad'", "'it''s'"},
         nullptr,
         "'happy'",
         nullptr,
         nullptr,
         "CREATE TYPE mood AS ENUM ('sad', 'happy', 'it''s')"},
        {"pg_point", Engine::postgres, "point", {"'(1.5,-2)'", "'(0,0)'"}, nullptr, "'(1.5,-2.5)'"},
    };
    return all;
}

struct MatrixCase {
    testing::EnginePair pair;
    TypeCase type;
};

std::vector<MatrixCase> matrix() {
    std::vector<MatrixCase> out;
    for (const auto& pair : testing::engine_pairs())
        for (const auto& c : cases())
            if (c.source == pair.source && (pair.target == Engine::mysql ? c.plant_mysql : c.plant_pg))
                out.push_back({pair, c});
    return out;
}

void PrintTo(const MatrixCase& c, std::ostream* os) {
    *os << c.pair.name << "/" << c.type.name;
}

class TypeMatrix : public ::testing::TestWithParam<MatrixCase> {};

INSTANTIATE_TEST_SUITE_P(, TypeMatrix, ::testing::ValuesIn(matrix()), [](const auto& info) {
    return std::string(info.param.pair.name) + "_" + info.param.type.name;
});

TEST_P(TypeMatrix, CarriedExactlyAndEveryChangeFound) {
    const TypeCase& c = GetParam().type;
    const testing::EnginePair& pair = GetParam().pair;
    MigrationDatabases dbs(pair, "tm");
    testing::ScratchDir dir("typematrix");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    if (c.setup) source->execute(c.setup);
    source->execute(fmt::format("CREATE TABLE tm (id integer NOT NULL PRIMARY KEY, v {})", c.type));
    for (std::size_t i = 0; i < c.values.size(); ++i)
        source->execute(fmt::format("INSERT INTO tm VALUES ({}, {})", i + 1, c.values[i]));
    source->execute(fmt::format("INSERT INTO tm VALUES ({}, NULL)", c.values.size() + 1));

    const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
    CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "tm"} + sides);
    ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "tm"} + sides);
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    const Args validate{"--output", "json", "validate", "--full", "--table", "tm"};
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        CommandResult v = testing::webookctl(validate + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v) << "\nsource: "
                                  << fmt::format("{}", fmt::join(testing::dump_rows(*source, "tm", "id"), " | "))
                                  << "\ntarget: "
                                  << fmt::format("{}", fmt::join(testing::dump_rows(*target, "tm", "id"), " | "));
        // Equal rows hash equal on both servers: no chunk needs the row
        // merge (which would still find no difference, slowly).
        if (v.out.find("\"method\":\"checksum\"") != std::string::npos) {
            EXPECT_NE(v.out.find("\"chunks_differing\":0,"), std::string::npos) << testing::describe(v);
        }
    }
    const bool to_mysql = pair.target == Engine::mysql;
    if (const char* same = to_mysql ? c.same_mysql : c.same_pg) {
        target->execute(fmt::format("UPDATE tm SET v = {} WHERE id = 2", same));
        for (const Args& how : {Args{}, Args{"--checksum"}}) {
            CommandResult v = testing::webookctl(validate + how + sides);
            EXPECT_EQ(v.exit_code, 0) << "the same value, spelt otherwise: " << testing::describe(v);
        }
    }
    target->execute(fmt::format("UPDATE tm SET v = {} WHERE id = 1", to_mysql ? c.plant_mysql : c.plant_pg));
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        const std::string events = dir.file(how.empty() ? "rows.jsonl" : "checksum.jsonl");
        CommandResult v = testing::webookctl(validate + how + Args{"--sink", "file://" + events} + sides);
        ASSERT_EQ(v.exit_code, 1) << testing::describe(v);
        const auto found = testing::read_events(events);
        ASSERT_EQ(found.size(), 1u) << testing::read_file(events);
        EXPECT_EQ(event_type_name(found[0].type), "neq");
        EXPECT_EQ(found[0].columns, std::vector<std::string>{"v"}) << testing::read_file(events);
        EXPECT_EQ(testing::key_text(found[0].key), "1");
    }
}

// MySQL's zero date (0000-00-00, which pgloader's users meet constantly):
// carried exactly between MariaDB tables; towards PostgreSQL, which has no
// such date, the copy refuses it naming the table, the row's key and the
// column -- never a NULL or another date in its place.
TEST(ZeroDates, CarriedBetweenMariaDbTablesAndRefusedNamingTheRowTowardsPostgres) {
    for (const auto& pair : testing::engine_pairs()) {
        if (pair.source != Engine::mysql) continue;
        SCOPED_TRACE(pair.name);
        MigrationDatabases dbs(pair, "zero");
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        source->execute("CREATE TABLE z (id INT NOT NULL PRIMARY KEY, d DATE, at DATETIME(6))");
        source->execute(
            "INSERT INTO z VALUES (1, '2020-01-01', '2020-01-01 00:00:00'), (2, '2020-01-02', "
            "'0000-00-00 00:00:00'), (3, '0000-00-00', NULL)");
        const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
        CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "z"} + sides);
        ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
        CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "z"} + sides);
        if (pair.target == Engine::mysql) {
            ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
            EXPECT_EQ(testing::dump_rows(*target, "z", "id"), testing::dump_rows(*source, "z", "id"));
            for (const Args& how : {Args{}, Args{"--checksum"}}) {
                CommandResult v = testing::webookctl(Args{"validate", "--full", "--table", "z"} + how + sides);
                EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
            }
            continue;
        }
        EXPECT_EQ(copied.exit_code, 3) << testing::describe(copied);
        for (const char* said : {"copying z", "writing the row with key [\"2\"]", "column \"at\"",
                                 "0000-00-00 00:00:00.000000 is MySQL's zero date"})
            EXPECT_NE(copied.err.find(said), std::string::npos) << said << "\n" << copied.err;
        EXPECT_EQ(testing::row_count(*target, "z"), 0);  // the batch is one transaction
    }
}

// Partial zero dates towards PostgreSQL: refused like the zero date, naming
// the row, the column and what kind of date it is.
TEST(ZeroDates, WithAZeroMonthOrDayAreRefusedNamingTheRowTowardsPostgres) {
    MigrationDatabases dbs(testing::engine_pairs().at(2), "zerop");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    source->execute("CREATE TABLE zp (id INT NOT NULL PRIMARY KEY, d DATE)");
    source->execute("INSERT INTO zp VALUES (1, '2020-05-01'), (2, '2020-05-00'), (3, NULL)");
    const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
    CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "zp"} + sides);
    ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "zp"} + sides);
    EXPECT_EQ(copied.exit_code, 3) << testing::describe(copied);
    for (const char* said : {"copying zp", "writing the row with key [\"2\"]", "column \"d\"",
                             "2020-05-00 is MySQL's date with a zero month or day"})
        EXPECT_NE(copied.err.find(said), std::string::npos) << said << "\n" << copied.err;
    EXPECT_EQ(testing::row_count(*target, "zp"), 0);
}

// Text in a character set that is not Unicode (issue 14 part 4). MariaDB
// turns a gbk character with no Unicode form (0xA2A0 here) into '?' on the
// utf8mb4 connection, so a copy wrote '?' and a validation saw '?' on both
// sides. Between MariaDB tables of the same set the bytes are carried and
// compared as they are; towards PostgreSQL what has a Unicode form is
// converted exactly, and what has none is refused by the copy and the fix
// naming the row, and found by validation where a target holds '?'.
TEST(NonUnicodeText, IsCarriedAsItsBytesOrRefusedNeverAsQuestionMarks) {
    for (const auto& pair : testing::engine_pairs()) {
        if (pair.source != Engine::mysql) continue;
        SCOPED_TRACE(pair.name);
        MigrationDatabases dbs(pair, "gbk");
        testing::ScratchDir dir("gbk");
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        source->execute(
            "CREATE TABLE cs (id INT NOT NULL PRIMARY KEY, g VARCHAR(20) CHARACTER SET gbk, l VARCHAR(20) "
            "CHARACTER SET latin1, u VARCHAR(20))");
        // 你好 in gbk; a gbk code without a Unicode form; latin1's e-acute and
        // its 0x80, which is the euro sign (cp1252).
        source->execute(
            "INSERT INTO cs VALUES (1, X'C4E3BAC3', X'E980', 'x'), (2, X'41A2A042', X'61', 'y'), (3, NULL, NULL, "
            "NULL)");
        const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
        CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "cs"} + sides);
        ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
        const Args validate{"--output", "json", "validate", "--full", "--table", "cs"};
        auto found_in_g = [&](const char* what) {
            for (const Args& how : {Args{}, Args{"--checksum"}}) {
                const std::string events = dir.file(std::string(what) + (how.empty() ? ".rows" : ".checksum"));
                CommandResult v = testing::webookctl(validate + how + Args{"--sink", "file://" + events} + sides);
                EXPECT_EQ(v.exit_code, 1) << what << ": " << testing::describe(v);
                const auto found = testing::read_events(events);
                ASSERT_EQ(found.size(), 1u) << what << ": " << testing::read_file(events);
                EXPECT_EQ(event_type_name(found[0].type), "neq");
                EXPECT_EQ(found[0].columns, std::vector<std::string>{"g"}) << testing::read_file(events);
                EXPECT_EQ(testing::key_text(found[0].key), "2");
            }
        };
        CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "cs"} + sides);
        if (pair.target == Engine::mysql) {
            ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
            const char* bytes = "SELECT HEX(g), HEX(l), u FROM cs ORDER BY id";
            EXPECT_EQ(query_lines(*target, bytes), query_lines(*source, bytes));
            for (const Args& how : {Args{}, Args{"--checksum"}}) {
                CommandResult v = testing::webookctl(validate + how + sides);
                EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
            }
            // Another character without a Unicode form: '?' for '?' on the
            // connection, a difference in the bytes.
            target->execute("UPDATE cs SET g = X'41A2A142' WHERE id = 2");
            found_in_g("other-unmapped");
            const std::string events = dir.file("other-unmapped.rows");
            CommandResult fixed = testing::webookctl(Args{"fix", "--until-idle", "--from", "file://" + events} + sides);
            ASSERT_EQ(fixed.exit_code, 0) << testing::describe(fixed);
            EXPECT_EQ(query_lines(*target, bytes), query_lines(*source, bytes));
            continue;
        }
        EXPECT_EQ(copied.exit_code, 3) << testing::describe(copied);
        for (const char* said :
             {"copying cs", "writing the row with key [\"2\"]", "column g", "gbk", "41a2a042", "no form for"})
            EXPECT_NE(copied.err.find(said), std::string::npos) << said << "\n" << copied.err;
        EXPECT_EQ(testing::row_count(*target, "cs"), 0);
        // What has a Unicode form is carried exactly, both ways of checking.
        source->execute("UPDATE cs SET g = X'41C4E342' WHERE id = 2");
        copied = testing::webookctl(Args{"migrate", "copy", "--table", "cs"} + sides);
        ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
        EXPECT_EQ(query_lines(*target, "SELECT g, l FROM cs ORDER BY id"),
                  (std::vector<std::string>{"\xE4\xBD\xA0\xE5\xA5\xBD\t\xC3\xA9\xE2\x82\xAC",
                                            "A\xE4\xBD\xA0"
                                            "B\ta",
                                            "NULL\tNULL"}));
        for (const Args& how : {Args{}, Args{"--checksum"}}) {
            CommandResult v = testing::webookctl(validate + how + sides);
            EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
        }
        // A target an older copy left '?' in: a difference, and the fix
        // refuses to write the value (it has no form there either).
        source->execute("UPDATE cs SET g = X'41A2A042' WHERE id = 2");
        target->execute("UPDATE cs SET g = 'A?B' WHERE id = 2");
        found_in_g("question-mark");
        CommandResult fixed = testing::webookctl(
            Args{"fix", "--until-idle", "--from", "file://" + dir.file("question-mark.rows")} + sides);
        EXPECT_EQ(fixed.exit_code, 3) << testing::describe(fixed);
        for (const char* said : {"the row with key [\"2\"]", "column g", "41a2a042"})
            EXPECT_NE(fixed.err.find(said), std::string::npos) << said << "\n" << fixed.err;
        EXPECT_EQ(target->query_one("SELECT g FROM cs WHERE id = 2")->at(0).as_string(), "A?B");
    }
}

// Generated columns: the server computes them, so the copy and the fixer
// leave them out (MariaDB refuses a value for one), and validation compares
// them -- a change of the column they are computed from shows in both.
class GeneratedColumns : public ::testing::TestWithParam<testing::EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, GeneratedColumns, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(GeneratedColumns, AreComputedNotWrittenAndCompared) {
    MigrationDatabases dbs(GetParam(), "gen");
    testing::ScratchDir dir("gen");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    if (GetParam().source == Engine::mysql)
        source->execute(
            "CREATE TABLE g (id INT NOT NULL PRIMARY KEY, a INT, twice INT AS (a * 2) VIRTUAL, "
            "next INT AS (a + 1) STORED, note VARCHAR(8))");
    else
        source->execute(
            "CREATE TABLE g (id integer NOT NULL PRIMARY KEY, a integer, twice integer GENERATED ALWAYS AS "
            "(a * 2) STORED, next integer GENERATED ALWAYS AS (a + 1) STORED, note varchar(8))");
    for (int i = 1; i <= 20; ++i) source->execute(fmt::format("INSERT INTO g (id, a, note) VALUES ({0}, {0}, 'n')", i));
    const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
    CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "g"} + sides);
    ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "g"} + sides);
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    const Args validate{"validate", "--full", "--table", "g"};
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        CommandResult v = testing::webookctl(validate + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
    }
    target->execute("UPDATE g SET a = 100 WHERE id = 3");
    target->execute("DELETE FROM g WHERE id = 7");
    const std::string events = dir.file("events.jsonl");
    CommandResult found = testing::webookctl(validate + Args{"--sink", "file://" + events} + sides);
    ASSERT_EQ(found.exit_code, 1) << testing::describe(found);
    const auto read = testing::read_events(events);
    ASSERT_EQ(read.size(), 2u) << testing::read_file(events);
    for (const auto& e : read)
        if (e.type == EventType::neq) {
            // Where the target computes them, the change shows in all three.
            const std::vector<std::string> expected = GetParam().target == GetParam().source
                                                          ? std::vector<std::string>{"a", "twice", "next"}
                                                          : std::vector<std::string>{"a"};
            EXPECT_EQ(e.columns, expected);
        }
    CommandResult fixed = testing::webookctl(Args{"fix", "--until-idle", "--from", "file://" + events} + sides);
    ASSERT_EQ(fixed.exit_code, 0) << testing::describe(fixed);
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        CommandResult v = testing::webookctl(validate + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
    }
    EXPECT_EQ(target->query_one("SELECT twice FROM g WHERE id = 7")->at(0).as_int(), 14);
}

}  // namespace
}  // namespace webook
