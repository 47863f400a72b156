// The same logical values written to MariaDB and to PostgreSQL, read back
// from both through Connection::stream and compared with same_data/same_row:
// equal data compares equal across the engines, and every real difference
// (NULL vs '', one emoji vs another, a trailing space, a case-only change, a
// cent, a microsecond, true vs false, one byte, the last byte of 1 MB) compares
// unequal. Each test writes into tables of its own scratch databases, with
// column types that match across the engines:
//
//   MariaDB (utf8mb4_unicode_ci)  PostgreSQL
//   BIGINT                        bigint
//   VARCHAR(64)                   varchar(64)
//   TEXT                          text
//   LONGTEXT                      text
//   DECIMAL(10,2)                 numeric(10,2)
//   DATETIME(6)                   timestamp(6)
//   DATE                          date
//   TINYINT(1)                    boolean
//   BLOB                          bytea
//   DOUBLE                        double precision
//   BIGINT UNSIGNED               numeric(20)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/value.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using testing::ScratchDatabase;

const char* const k_mysql_table =
    "CREATE TABLE vals (id BIGINT PRIMARY KEY, bi BIGINT NULL, vc VARCHAR(64) NULL, tx TEXT NULL, "
    "lt LONGTEXT NULL, de DECIMAL(10,2) NULL, dt DATETIME(6) NULL, d DATE NULL, b TINYINT(1) NULL, "
    "bl BLOB NULL, db DOUBLE NULL, ub BIGINT UNSIGNED NULL) "
    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";
const char* const k_pg_table =
    "CREATE TABLE vals (id bigint PRIMARY KEY, bi bigint NULL, vc varchar(64) NULL, tx text NULL, "
    "lt text NULL, de numeric(10,2) NULL, dt timestamp(6) NULL, d date NULL, b boolean NULL, "
    "bl bytea NULL, db double precision NULL, ub numeric(20) NULL)";
const char* const k_columns = "id, bi, vc, tx, lt, de, dt, d, b, bl, db, ub";

// Micros since the epoch of a UTC time written as text.
Value at(const char* text) {
    return Value::parse(ValueKind::datetime, text);
}

// About 1 MB of multi-byte UTF-8 text that ends in an ASCII letter, so its
// last byte can change without breaking the encoding.
std::string megabyte_text() {
    std::string out;
    while (out.size() < (1u << 20)) out += "迁移 data 🚀 ünïcödé, ";
    out += 'x';
    return out;
}

std::vector<Row> stream_all(Connection& conn, const std::string& sql) {
    auto cursor = conn.stream(sql);
    std::vector<Row> rows, batch;
    while (cursor->next_batch(batch, 64))
        for (auto& r : batch) rows.push_back(std::move(r));
    return rows;
}

std::string show(const Row& row) {
    std::string out = "(";
    for (const auto& v : row) {
        std::string d = v.display();
        if (d.size() > 60) d = d.substr(0, 60) + "...[" + std::to_string(d.size()) + " bytes]";
        out += (out.size() > 1 ? ", " : "") + d;
    }
    return out + ")";
}

// One `vals` table on each engine; rows are written with bound parameters
// (every column in k_columns order) and read back through stream().
class CrossEngine : public ::testing::Test {
protected:
    CrossEngine()
        : m_mysql_db(Engine::mysql, "xvalues"),
          m_pg_db(Engine::postgres, "xvalues"),
          m_mysql(m_mysql_db.connect()),
          m_pg(m_pg_db.connect()) {
        m_mysql->execute(k_mysql_table);
        m_pg->execute(k_pg_table);
    }

    // A row of the table with `id` and NULL everywhere else.
    static Row empty_row(std::int64_t id) {
        Row row(12);
        row[0] = Value::integer(id);
        return row;
    }

    static void insert(Connection& conn, const Row& row) {
        std::string sql = std::string("INSERT INTO vals (") + k_columns + ") VALUES " +
                          conn.dialect().placeholders(1, static_cast<int>(row.size()));
        conn.execute(sql, row);
    }

    // Every row of the table on one engine, by id.
    static std::map<std::int64_t, Row> read(Connection& conn) {
        std::map<std::int64_t, Row> rows;
        for (auto& r : stream_all(conn, std::string("SELECT ") + k_columns + " FROM vals ORDER BY id"))
            rows.emplace(r.at(0).as_int(), std::move(r));
        return rows;
    }

    // One column's value as read back from an engine.
    static Value cell(const std::map<std::int64_t, Row>& rows, std::int64_t id, int column) {
        return rows.at(id).at(static_cast<std::size_t>(column));
    }

    ScratchDatabase m_mysql_db;
    ScratchDatabase m_pg_db;
    std::unique_ptr<Connection> m_mysql;
    std::unique_ptr<Connection> m_pg;
};

// Column positions in k_columns.
enum Column { c_id, c_bi, c_vc, c_tx, c_lt, c_de, c_dt, c_d, c_b, c_bl, c_db, c_ub };

TEST_F(CrossEngine, TheSameRowsReadFromBothEnginesCompareEqual) {
    std::vector<Row> rows;
    Row full = empty_row(1);
    full[c_bi] = Value::integer(-9'007'199'254'740'993);  // not representable as a double
    full[c_vc] = Value::text("naïve café 🚀😀 end  ");      // 4-byte UTF-8 and trailing spaces
    full[c_tx] = Value::text("line one\nline two\ttab 'quote' \"dq\" \\ backslash 日本語");
    full[c_lt] = Value::text(megabyte_text());
    full[c_de] = Value::decimal("-12345678.90");
    full[c_dt] = at("2026-11-01 23:59:59.999999");
    full[c_d] = Value::date_days(-3650);  // before 1970
    full[c_b] = Value::boolean(true);
    full[c_bl] = Value::bytes(std::string("\x00\x01\xff\xfe 'x' \\", 10));
    full[c_db] = Value::real(0.1);
    full[c_ub] = Value::unsigned_integer(18'446'744'073'709'551'615ULL);
    rows.push_back(full);

    Row zeros = empty_row(2);  // empty and zero values, which are not NULL
    zeros[c_bi] = Value::integer(0);
    zeros[c_vc] = Value::text("");
    zeros[c_tx] = Value::text("");
    zeros[c_lt] = Value::text("");
    zeros[c_de] = Value::decimal("0");
    zeros[c_dt] = at("1970-01-01 00:00:00");
    zeros[c_d] = Value::date_days(0);
    zeros[c_b] = Value::boolean(false);
    zeros[c_bl] = Value::bytes("");
    zeros[c_db] = Value::real(0);
    zeros[c_ub] = Value::unsigned_integer(0);
    rows.push_back(zeros);

    rows.push_back(empty_row(3));  // NULL everywhere

    Row other = empty_row(4);
    other[c_vc] = Value::text("A");
    other[c_de] = Value::decimal("1.5");  // written with one digit, stored with two
    other[c_dt] = at("2026-02-28 12:00:00.000001");
    other[c_db] = Value::real(-1.0e300);
    other[c_ub] = Value::unsigned_integer(9'223'372'036'854'775'808ULL);  // 2^63
    rows.push_back(other);

    for (const Row& r : rows) {
        insert(*m_mysql, r);
        insert(*m_pg, r);
    }
    const auto mysql = read(*m_mysql);
    const auto pg = read(*m_pg);
    ASSERT_EQ(mysql.size(), rows.size());
    ASSERT_EQ(pg.size(), rows.size());
    for (const Row& written : rows) {
        const std::int64_t id = written[0].as_int();
        EXPECT_TRUE(same_row(mysql.at(id), pg.at(id)))
            << "row " << id << "\n mariadb:    " << show(mysql.at(id)) << "\n postgresql: " << show(pg.at(id));
        EXPECT_TRUE(same_row(written, mysql.at(id)))
            << "row " << id << "\n written: " << show(written) << "\n mariadb: " << show(mysql.at(id));
        EXPECT_TRUE(same_row(written, pg.at(id)))
            << "row " << id << "\n written: " << show(written) << "\n postgresql: " << show(pg.at(id));
    }
    // NULL stays NULL on both; the empty string stays an empty string.
    for (int c = c_bi; c <= c_ub; ++c) {
        EXPECT_TRUE(cell(mysql, 3, c).is_null()) << "mariadb column " << c;
        EXPECT_TRUE(cell(pg, 3, c).is_null()) << "postgresql column " << c;
        EXPECT_FALSE(cell(mysql, 2, c).is_null()) << "mariadb column " << c;
        EXPECT_FALSE(cell(pg, 2, c).is_null()) << "postgresql column " << c;
    }
}

TEST_F(CrossEngine, DecimalsOfDifferentScalesAreTheSameNumber) {
    Row row = empty_row(1);
    row[c_de] = Value::decimal("1.50");
    insert(*m_mysql, row);
    const Value mysql = cell(read(*m_mysql), 1, c_de);
    // numeric without a declared scale prints 1.5, DECIMAL(10,2) prints 1.50.
    const auto pg = stream_all(*m_pg, "SELECT CAST('1.5' AS numeric), CAST('1.26' AS numeric)");
    ASSERT_EQ(pg.size(), 1u);
    EXPECT_EQ(mysql.kind(), ValueKind::decimal);
    EXPECT_EQ(pg[0][0].kind(), ValueKind::decimal);
    EXPECT_TRUE(same_data(mysql, pg[0][0])) << mysql.display() << " vs " << pg[0][0].display();
    EXPECT_FALSE(same_data(mysql, pg[0][1])) << mysql.display() << " vs " << pg[0][1].display();
}

// A value A and a value B that differ as data.
struct Difference {
    const char* what;
    Column column;
    Value a;
    Value b;
};

std::vector<Difference> differences() {
    const std::string mb = megabyte_text();
    std::string mb_changed = mb;
    mb_changed.back() = 'y';
    return {
        {"NULL vs empty string", c_vc, Value::null(), Value::text("")},
        {"NULL vs empty text", c_tx, Value::null(), Value::text("")},
        {"one 4-byte emoji vs another", c_vc, Value::text("like 😀"), Value::text("like 😁")},
        {"trailing space", c_vc, Value::text("x"), Value::text("x ")},
        {"trailing space in text", c_tx, Value::text("x"), Value::text("x ")},
        {"case only", c_vc, Value::text("a"), Value::text("A")},
        {"accent only", c_vc, Value::text("cafe"), Value::text("café")},
        {"a cent", c_de, Value::decimal("1.25"), Value::decimal("1.26")},
        {"a microsecond", c_dt, at("2026-11-01 12:00:00.000001"), at("2026-11-01 12:00:00.000002")},
        {"a day", c_d, Value::date_days(20'000), Value::date_days(20'001)},
        {"true vs false", c_b, Value::boolean(true), Value::boolean(false)},
        {"byte 0x00 vs 0x01", c_bl, Value::bytes(std::string(1, '\0')), Value::bytes(std::string(1, '\1'))},
        {"empty bytes vs NULL", c_bl, Value::bytes(""), Value::null()},
        {"1 MB text, last byte", c_lt, Value::text(mb), Value::text(mb_changed)},
        {"bigint off by one", c_bi, Value::integer(9'007'199'254'740'993), Value::integer(9'007'199'254'740'992)},
        {"unsigned max vs max - 1", c_ub, Value::unsigned_integer(18'446'744'073'709'551'615ULL),
         Value::unsigned_integer(18'446'744'073'709'551'614ULL)},
        {"double, one ulp", c_db, Value::real(0.1), Value::real(std::nextafter(0.1, 1.0))},
    };
}

// For each difference, four rows: A on both engines, B on both, A on MariaDB
// with B on PostgreSQL, and B on MariaDB with A on PostgreSQL. The same
// value must compare equal across the engines; different values unequal, in
// either direction and on either engine.
TEST_F(CrossEngine, EveryRealDifferenceComparesUnequal) {
    const auto cases = differences();
    std::int64_t id = 0;
    for (const auto& c : cases) {
        for (auto [mysql_value, pg_value] : {std::pair{&c.a, &c.a}, {&c.b, &c.b}, {&c.a, &c.b}, {&c.b, &c.a}}) {
            Row mysql_row = empty_row(++id), pg_row = empty_row(id);
            mysql_row[c.column] = *mysql_value;
            pg_row[c.column] = *pg_value;
            insert(*m_mysql, mysql_row);
            insert(*m_pg, pg_row);
        }
    }
    const auto mysql = read(*m_mysql);
    const auto pg = read(*m_pg);
    id = 0;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        const std::int64_t aa = ++id, bb = ++id, ab = ++id, ba = ++id;
        const Value my_a = cell(mysql, aa, c.column), my_b = cell(mysql, bb, c.column);
        const Value pg_a = cell(pg, aa, c.column), pg_b = cell(pg, bb, c.column);
        EXPECT_TRUE(same_data(my_a, pg_a)) << my_a.display() << " vs " << pg_a.display();
        EXPECT_TRUE(same_data(my_b, pg_b)) << my_b.display() << " vs " << pg_b.display();
        EXPECT_TRUE(same_data(my_a, c.a)) << "mariadb read back " << my_a.display();
        EXPECT_TRUE(same_data(pg_b, c.b)) << "postgresql read back " << pg_b.display();

        EXPECT_FALSE(same_data(my_a, pg_b)) << my_a.display() << " vs " << pg_b.display();
        EXPECT_FALSE(same_data(my_b, pg_a)) << my_b.display() << " vs " << pg_a.display();
        EXPECT_FALSE(same_data(pg_a, my_b)) << "the comparison must be symmetric";
        EXPECT_FALSE(same_data(my_a, my_b)) << "on MariaDB alone";
        EXPECT_FALSE(same_data(pg_a, pg_b)) << "on PostgreSQL alone";
        // The mixed rows, read back and compared whole.
        EXPECT_FALSE(same_row(mysql.at(ab), pg.at(ab))) << show(mysql.at(ab)) << "\n vs " << show(pg.at(ab));
        EXPECT_FALSE(same_row(mysql.at(ba), pg.at(ba))) << show(mysql.at(ba)) << "\n vs " << show(pg.at(ba));
        EXPECT_TRUE(same_row(mysql.at(aa), pg.at(aa)));
        EXPECT_TRUE(same_row(mysql.at(bb), pg.at(bb)));
    }
}

// utf8mb4_unicode_ci compares 'a' = 'A' and 'x' = 'x ', but what is stored
// and read back is exactly what was written.
TEST_F(CrossEngine, CaseInsensitiveCollationStillReadsBackTheExactBytes) {
    const std::vector<std::string> texts = {"a", "A", "x", "x ", "Straße", "STRASSE", "😀", "😁"};
    std::int64_t id = 0;
    for (const auto& t : texts) {
        Row row = empty_row(++id);
        row[c_vc] = Value::text(t);
        insert(*m_mysql, row);
        insert(*m_pg, row);
    }
    // The collation does fold them: the server says 'a' = 'A'.
    const auto folded = stream_all(*m_mysql, "SELECT COUNT(*) FROM vals WHERE vc = 'a'");
    EXPECT_EQ(folded.at(0).at(0).as_int(), 2) << "the table is expected to use a case-insensitive collation";

    const auto mysql = read(*m_mysql);
    const auto pg = read(*m_pg);
    id = 0;
    for (const auto& t : texts) {
        ++id;
        const Value my = cell(mysql, id, c_vc), p = cell(pg, id, c_vc);
        ASSERT_EQ(my.kind(), ValueKind::text);
        EXPECT_EQ(my.as_string(), t) << "mariadb changed the stored text";
        EXPECT_EQ(p.as_string(), t) << "postgresql changed the stored text";
        EXPECT_TRUE(same_data(my, p)) << t;
    }
    for (std::int64_t i = 1; i <= static_cast<std::int64_t>(texts.size()); ++i)
        for (std::int64_t j = 1; j <= static_cast<std::int64_t>(texts.size()); ++j)
            EXPECT_EQ(same_data(cell(mysql, i, c_vc), cell(pg, j, c_vc)), i == j)
                << "'" << texts[static_cast<std::size_t>(i - 1)] << "' (mariadb) vs '"
                << texts[static_cast<std::size_t>(j - 1)] << "' (postgresql)";
}

}  // namespace
}  // namespace webook
