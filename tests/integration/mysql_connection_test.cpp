// The MariaDB engine against the real server from scripts/services.sh: value
// round trips through both protocols (text for streamed queries, binary for
// prepared ones), streaming, transactions, introspection, error translation
// and the busy-streaming guard. Every test makes its own uniquely named
// tables and drops them.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using Steady = std::chrono::steady_clock;

// Drops the table when the test ends, whatever happened.
class ScratchTable {
public:
    ScratchTable(Connection& conn, const std::string& prefix, const std::string& body)
        : m_conn(conn), m_name(testing::unique_name(prefix)) {
        m_conn.execute("CREATE TABLE " + m_name + " (" + body +
                       ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci");
    }
    ~ScratchTable() {
        try {
            m_conn.execute("DROP TABLE IF EXISTS " + m_name);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "dropping %s: %s\n", m_name.c_str(), e.what());
        }
    }
    ScratchTable(const ScratchTable&) = delete;
    ScratchTable& operator=(const ScratchTable&) = delete;

    const std::string& name() const { return m_name; }

private:
    Connection& m_conn;
    std::string m_name;
};

std::int64_t count_rows(Connection& conn, const std::string& table) {
    return conn.query_one("SELECT COUNT(*) FROM " + table)->at(0).as_int();
}

// A TCP port on 127.0.0.1 that nothing listens on.
int closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

// Expects `fn` to throw webook::Error and returns it.
template <typename Fn>
Error error_from(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no Error thrown";
    return Error(Code::internal, "none");
}

// One value written through a bound parameter and read back twice: with a
// streamed plain query (text protocol) and a prepared one (binary protocol).
class RoundTrip {
public:
    RoundTrip()
        : m_conn(testing::connect_to(testing::mysql_dsn())),
          m_table(*m_conn, "mysql_rt",
                  "id BIGINT PRIMARY KEY, vc VARCHAR(64) NULL, lt LONGTEXT NULL, "
                  "de DECIMAL(10,2) NULL, dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL, "
                  "b TINYINT(1) NULL, bl BLOB NULL, bi BIGINT NULL, ub BIGINT UNSIGNED NULL, "
                  "db DOUBLE NULL, fl FLOAT NULL, d DATE NULL, tm TIME(6) NULL, bt BIT(1) NULL") {}

    struct Read {
        Value streamed;  // a query without parameters
        Value prepared;  // a query with one (inlined as a literal, or prepared for a REAL)
    };

    Read put(const std::string& column, const Value& value) {
        const int id = ++m_id;
        Row params{Value::integer(id), value};
        m_conn->execute("INSERT INTO " + m_table.name() + " (id, " + column + ") VALUES (?, ?)", params);
        const std::string select = "SELECT " + column + " FROM " + m_table.name() + " WHERE id = ";
        Read read;
        read.streamed = m_conn->query_one(select + std::to_string(id))->at(0);
        Row key{Value::integer(id)};
        read.prepared = m_conn->query_one(select + "?", key)->at(0);
        return read;
    }

    // Written, then read back as the same data both ways.
    void expect_same(const std::string& column, const Value& value) {
        Read r = put(column, value);
        EXPECT_TRUE(same_data(value, r.streamed))
            << column << ": wrote " << value.display() << ", streamed " << r.streamed.display();
        EXPECT_TRUE(same_data(value, r.prepared))
            << column << ": wrote " << value.display() << ", prepared " << r.prepared.display();
    }

    Connection& conn() { return *m_conn; }

private:
    std::unique_ptr<Connection> m_conn;
    ScratchTable m_table;
    int m_id = 0;
};

TEST(MysqlConnection, SetsUpTheSessionForComparableValues) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    auto row = conn->query_one(
        "SELECT @@time_zone, @@character_set_client, @@character_set_results, @@sql_mode, "
        "@@autocommit");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->at(0).as_string(), "+00:00");
    EXPECT_EQ(row->at(1).as_string(), "utf8mb4");
    EXPECT_EQ(row->at(2).as_string(), "utf8mb4");
    EXPECT_NE(row->at(3).as_string().find("STRICT_TRANS_TABLES"), std::string_view::npos);
    EXPECT_EQ(row->at(4).as_int(), 1);
    EXPECT_EQ(conn->describe(), testing::mysql_dsn().redacted());
    EXPECT_EQ(conn->dialect().engine(), Engine::mysql);
}

TEST(MysqlConnection, KeepsNullAndEmptyStringApart) {
    RoundTrip rt;
    RoundTrip::Read null = rt.put("vc", Value::null());
    RoundTrip::Read empty = rt.put("vc", Value::text(""));
    EXPECT_TRUE(null.streamed.is_null());
    EXPECT_TRUE(null.prepared.is_null());
    EXPECT_FALSE(empty.streamed.is_null());
    EXPECT_FALSE(empty.prepared.is_null());
    EXPECT_EQ(empty.streamed.kind(), ValueKind::text);
    EXPECT_FALSE(same_data(null.streamed, empty.streamed));
    EXPECT_FALSE(same_data(null.prepared, empty.prepared));
}

TEST(MysqlConnection, RoundTripsFourByteUtf8) {
    RoundTrip rt;
    rt.expect_same("vc", Value::text("emoji \xF0\x9F\x98\x80 caf\xC3\xA9 \xE2\x82\xAC"));
    rt.expect_same("lt", Value::text("\xF0\x9F\x8D\xA3\xF0\x9F\x8D\xBA"));
}

TEST(MysqlConnection, KeepsTrailingSpacesAndCase) {
    RoundTrip rt;
    RoundTrip::Read spaced = rt.put("vc", Value::text("x "));
    EXPECT_EQ(spaced.streamed.as_string(), "x ");
    EXPECT_EQ(spaced.prepared.as_string(), "x ");
    EXPECT_FALSE(same_data(spaced.streamed, Value::text("x")));

    // The column collation is case-insensitive; the data is not.
    RoundTrip::Read lower = rt.put("vc", Value::text("a"));
    RoundTrip::Read upper = rt.put("vc", Value::text("A"));
    EXPECT_EQ(upper.streamed.as_string(), "A");
    EXPECT_EQ(upper.prepared.as_string(), "A");
    EXPECT_FALSE(same_data(lower.streamed, upper.streamed));
    EXPECT_FALSE(same_data(lower.prepared, upper.prepared));
}

TEST(MysqlConnection, ReadsDecimalsExactly) {
    RoundTrip rt;
    RoundTrip::Read r = rt.put("de", Value::decimal("1.50"));
    EXPECT_EQ(r.streamed.kind(), ValueKind::decimal);
    EXPECT_TRUE(same_data(r.streamed, Value::decimal("1.5")));
    EXPECT_TRUE(same_data(r.prepared, Value::decimal("1.5")));
    RoundTrip::Read a = rt.put("de", Value::decimal("1.25"));
    EXPECT_FALSE(same_data(a.streamed, Value::decimal("1.26")));
    EXPECT_FALSE(same_data(a.prepared, Value::decimal("1.26")));
    rt.expect_same("de", Value::decimal("-12345678.99"));
    rt.expect_same("de", Value::decimal("0"));
}

TEST(MysqlConnection, KeepsDatetimeMicroseconds) {
    RoundTrip rt;
    const Value micro = Value::parse(ValueKind::datetime, "2024-02-29 23:59:59.000001");
    RoundTrip::Read r = rt.put("dt", micro);
    EXPECT_EQ(r.streamed.kind(), ValueKind::datetime);
    EXPECT_TRUE(same_data(r.streamed, micro)) << r.streamed.display();
    EXPECT_TRUE(same_data(r.prepared, micro)) << r.prepared.display();
    EXPECT_FALSE(same_data(r.streamed, Value::parse(ValueKind::datetime, "2024-02-29 23:59:59")));
    rt.expect_same("dt", Value::parse(ValueKind::datetime, "1999-12-31 00:00:00"));
    rt.expect_same("ts", Value::parse(ValueKind::datetime, "2024-06-01 12:00:00.5"));
    rt.expect_same("d", Value::parse(ValueKind::date, "2024-02-29"));
    rt.expect_same("tm", Value::parse(ValueKind::time, "-12:00:01.5"));
    rt.expect_same("tm", Value::parse(ValueKind::time, "100:00:00"));
}

TEST(MysqlConnection, ReadsTinyintOneAsTheSameDataAsBoolean) {
    RoundTrip rt;
    RoundTrip::Read t = rt.put("b", Value::boolean(true));
    EXPECT_TRUE(same_data(t.streamed, Value::boolean(true)));
    EXPECT_TRUE(same_data(t.prepared, Value::boolean(true)));
    RoundTrip::Read f = rt.put("b", Value::boolean(false));
    EXPECT_TRUE(same_data(f.streamed, Value::boolean(false)));
    EXPECT_FALSE(same_data(f.streamed, Value::boolean(true)));
    rt.expect_same("bt", Value::boolean(true));
}

TEST(MysqlConnection, RoundTripsBinaryBytes) {
    RoundTrip rt;
    RoundTrip::Read r = rt.put("bl", Value::bytes(std::string("\x00\xFF\x00", 3)));
    EXPECT_EQ(r.streamed.kind(), ValueKind::bytes);
    EXPECT_EQ(r.streamed.as_string(), std::string("\x00\xFF\x00", 3));
    EXPECT_EQ(r.prepared.as_string(), std::string("\x00\xFF\x00", 3));
    // Raw bytes that look like PostgreSQL's hex form stay raw.
    rt.expect_same("bl", Value::bytes("\\x41"));
    RoundTrip::Read empty = rt.put("bl", Value::bytes(""));
    EXPECT_FALSE(empty.streamed.is_null());
    EXPECT_EQ(empty.streamed.as_string(), "");
    EXPECT_FALSE(empty.prepared.is_null());
}

TEST(MysqlConnection, RoundTripsLargeText) {
    RoundTrip rt;
    std::string big;
    big.reserve(1 << 20);
    while (big.size() < (1u << 20)) big += "0123456789abcdef\xF0\x9F\x98\x80 ";
    rt.expect_same("lt", Value::text(big));
}

TEST(MysqlConnection, RoundTripsNumbers) {
    RoundTrip rt;
    rt.expect_same("bi", Value::integer(-9223372036854775807LL - 1));
    rt.expect_same("bi", Value::integer(9223372036854775807LL));
    rt.expect_same("ub", Value::unsigned_integer(18446744073709551615ULL));
    rt.expect_same("ub", Value::unsigned_integer(0));
    rt.expect_same("db", Value::real(0.1));
    rt.expect_same("db", Value::real(-1.7976931348623157e308));
    rt.expect_same("db", Value::real(5e-324));
    rt.expect_same("fl", Value::real(1.5));
    RoundTrip::Read f = rt.put("fl", Value::real(1.1));
    EXPECT_TRUE(same_data(f.streamed, f.prepared)) << f.streamed.display() << " vs " << f.prepared.display();
}

TEST(MysqlConnection, BindsHugeUnsignedThenSignedOnTheSameStatement) {
    // The connector never clears a parameter's unsigned flag; the
    // statement must not be reused after such a value.
    auto conn = testing::connect_to(testing::mysql_dsn());
    Row huge{Value::unsigned_integer(18446744073709551615ULL)};
    Row negative{Value::integer(-1)};
    EXPECT_EQ(conn->query_one("SELECT CAST(? AS CHAR)", huge)->at(0).as_string(), "18446744073709551615");
    EXPECT_EQ(conn->query_one("SELECT CAST(? AS CHAR)", negative)->at(0).as_string(), "-1");
    EXPECT_EQ(conn->execute("DO ?", huge).affected_rows, 0u);
    EXPECT_EQ(conn->query_one("SELECT CAST(? AS CHAR)", negative)->at(0).as_string(), "-1");
}

TEST(MysqlConnection, ReusesAStatementAcrossValueKinds) {
    // One cached INSERT bound with bytes, NULL, empty bytes and bytes again.
    RoundTrip rt;
    rt.expect_same("bl", Value::bytes(std::string("\x00\x01", 2)));
    rt.expect_same("bl", Value::null());
    rt.expect_same("bl", Value::bytes(""));
    rt.expect_same("bl", Value::bytes("\xFF"));
    rt.expect_same("bi", Value::integer(-5));
    rt.expect_same("bi", Value::null());
    rt.expect_same("bi", Value::integer(7));
}

TEST(MysqlConnection, PreparedQueriesFollowTableChanges) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_ddl", "id BIGINT PRIMARY KEY, a VARCHAR(5)");
    conn->execute("INSERT INTO " + t.name() + " VALUES (1, 'abc')");
    const std::string select = "SELECT * FROM " + t.name() + " WHERE id = ?";
    Row key{Value::integer(1)};
    ASSERT_EQ(conn->query_one(select, key)->size(), 2u);

    // Another connection changes the table under the cached statement.
    auto other = testing::connect_to(testing::mysql_dsn());
    other->execute("ALTER TABLE " + t.name() +
                   " ADD COLUMN z DATETIME(6) DEFAULT '2024-01-01 00:00:00.5', "
                   "MODIFY a VARCHAR(50)");
    other->execute("UPDATE " + t.name() + " SET a = 'longer than five'");
    auto cursor = conn->stream(select, key);
    ASSERT_EQ(cursor->column_kinds().size(), 3u);
    EXPECT_EQ(cursor->column_kinds()[2], ValueKind::datetime);
    std::vector<Row> rows;
    ASSERT_TRUE(cursor->next_batch(rows, 10));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][1].as_string(), "longer than five");
    EXPECT_TRUE(same_data(rows[0][2], Value::parse(ValueKind::datetime, "2024-01-01 00:00:00.5")));
}

TEST(MysqlConnection, RefusesAWrongNumberOfParameters) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    Row two{Value::integer(1), Value::integer(2)};
    Error e = error_from([&] { conn->execute("DO ?", two); });
    EXPECT_EQ(e.code(), Code::internal);
    EXPECT_NE(std::string(e.what()).find("2 values given for 1 parameter markers"), std::string::npos) << e.what();
    EXPECT_EQ(conn->query_one("SELECT 1")->at(0).as_int(), 1);
}

// Parameterised queries stream as text with the values inlined as literals
// (core/db/mysql_connection.cpp inline_params): every value must still mean what
// a bound parameter means -- bytes exactly, text under the column's
// collation -- and a "?" inside the SQL's own literals is not a marker.
TEST(MysqlConnection, InlinedParametersMeanWhatBoundOnesMean) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_inline", "id BIGINT PRIMARY KEY, vc VARCHAR(64) NULL, bl BLOB NULL");
    const std::vector<std::string> texts{
        "it's", "back\\slash",          std::string("nul\0byte", 8), "quote\"d", "emoji \xF0\x9F\x98\x80", "?",
        "",     "a'; DROP TABLE x; -- "};
    for (std::size_t i = 0; i < texts.size(); ++i) {
        Row p{Value::integer(static_cast<std::int64_t>(i)), Value::text(texts[i]), Value::bytes(texts[i])};
        conn->execute("INSERT INTO " + t.name() + " (id, vc, bl) VALUES (?, ?, ?)", p);
    }
    for (std::size_t i = 0; i < texts.size(); ++i) {
        SCOPED_TRACE(Value::text(texts[i]).display());
        Row by_text{Value::text(texts[i])};
        auto rows = conn->query("SELECT id, vc FROM " + t.name() + " WHERE vc = ? ORDER BY id", by_text);
        ASSERT_FALSE(rows.empty());
        EXPECT_EQ(rows[0][0].as_int(), static_cast<std::int64_t>(i));
        EXPECT_EQ(rows[0][1].as_string(), texts[i]);
        Row by_bytes{Value::bytes(texts[i])};
        auto b = conn->query("SELECT id FROM " + t.name() + " WHERE bl = ?", by_bytes);
        ASSERT_EQ(b.size(), 1u);
        EXPECT_EQ(b[0][0].as_int(), static_cast<std::int64_t>(i));
    }
    // The column's case-insensitive collation applies, as it would to a bound string.
    Row upper{Value::text("IT'S")};
    EXPECT_EQ(conn->query("SELECT id FROM " + t.name() + " WHERE vc = ?", upper).size(), 1u);
    // "?" inside the statement's own literals stays literal.
    Row five{Value::integer(5)};
    auto row = conn->query_one("SELECT '?', \"?\", ? AS `?`", five);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->at(0).as_string(), "?");
    EXPECT_EQ(row->at(1).as_string(), "?");
    EXPECT_EQ(row->at(2).as_int(), 5);
    // NULL, numbers, decimals and times as literals.
    Row mixed{Value::null(), Value::unsigned_integer(18446744073709551615ull), Value::decimal("-12.50"),
              Value::parse(ValueKind::datetime, "2024-03-05 07:08:09.000120"), Value::boolean(true)};
    row = conn->query_one("SELECT ? IS NULL, ? + 0, ? + 0, CAST(? AS DATETIME(6)), ? + 0", mixed);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->at(0).canonical(), "1");
    EXPECT_EQ(row->at(1).canonical(), "18446744073709551615");
    EXPECT_EQ(row->at(2).canonical(), "-12.5");
    EXPECT_EQ(row->at(3).canonical(), "2024-03-05 07:08:09.000120");
    EXPECT_EQ(row->at(4).canonical(), "1");
}

TEST(MysqlConnection, StreamsALargeResultBatchByBatch) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_stream",
                   "id BIGINT PRIMARY KEY, a BIGINT, b BIGINT, c BIGINT, "
                   "s1 VARCHAR(32), s2 VARCHAR(32), s3 VARCHAR(32), s4 VARCHAR(32)");
    constexpr std::int64_t k_rows = 300'000;
    {
        Transaction tx(*conn);
        auto writer = conn->bulk_insert(t.name(), {"id", "a", "b", "c", "s1", "s2", "s3", "s4"});
        for (std::int64_t i = 1; i <= k_rows; ++i)
            writer->write({Value::integer(i), Value::integer(i * 2), Value::integer(-i), Value::integer(i % 7),
                           Value::text("name-" + std::to_string(i)), Value::text("abcdefghij"), Value::text(""),
                           Value::null()});
        writer->finish();
        tx.commit();
    }

    const auto start = Steady::now();
    auto cursor = conn->stream("SELECT id, a, b, c, s1, s2, s3, s4 FROM " + t.name() + " ORDER BY id");
    ASSERT_EQ(cursor->column_names().size(), 8u);
    EXPECT_EQ(cursor->column_names()[4], "s1");
    EXPECT_EQ(cursor->column_kinds()[0], ValueKind::integer);
    EXPECT_EQ(cursor->column_kinds()[4], ValueKind::text);
    std::vector<Row> batch;
    std::int64_t seen = 0, batches = 0;
    bool ordered = true;
    while (cursor->next_batch(batch, 1000)) {
        ASSERT_LE(batch.size(), 1000u);
        ++batches;
        for (const Row& row : batch) {
            ++seen;
            if (row[0].as_int() != seen) ordered = false;
        }
    }
    const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    EXPECT_TRUE(ordered);
    EXPECT_EQ(seen, k_rows);
    EXPECT_EQ(batches, k_rows / 1000);
    EXPECT_TRUE(batch.empty());
    EXPECT_FALSE(cursor->next_batch(batch, 1000));  // stays exhausted
    std::printf("[ perf     ] streamed %lld rows x 8 columns in %.3f s: %.0f rows/s\n", static_cast<long long>(seen),
                seconds, static_cast<double>(seen) / seconds);
}

TEST(MysqlConnection, BulkInsertWritesEveryKindOfValue) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_bulk",
                   "id BIGINT PRIMARY KEY, name VARCHAR(64) NULL, at DATETIME(6) NULL, "
                   "amount DECIMAL(10,2) NULL, body TEXT NULL, raw BLOB NULL");
    const std::vector<Row> rows = {
        {Value::integer(1), Value::text("x "), Value::parse(ValueKind::datetime, "2024-01-02 03:04:05.000006"),
         Value::decimal("1.5"), Value::text("\xF0\x9F\x98\x80"), Value::bytes(std::string("\x00\xFF", 2))},
        {Value::integer(2), Value::text(""), Value::null(), Value::null(), Value::null(), Value::bytes("")},
        {Value::integer(3), Value::null(), Value::parse(ValueKind::datetime, "1970-01-01 00:00:00"),
         Value::decimal("-0.01"), Value::text("line\nbreak\ttab\\"), Value::null()},
    };
    auto writer = conn->bulk_insert(t.name(), {"id", "name", "at", "amount", "body", "raw"});
    for (const Row& row : rows) writer->write(row);
    EXPECT_EQ(count_rows(*conn, t.name()), 0);  // nothing flushed before finish()
    writer->finish();
    auto back = conn->query("SELECT id, name, at, amount, body, raw FROM " + t.name() + " ORDER BY id");
    ASSERT_EQ(back.size(), rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i)
        for (std::size_t c = 0; c < rows[i].size(); ++c)
            EXPECT_TRUE(same_data(rows[i][c], back[i][c]))
                << "row " << i << " column " << c << ": " << rows[i][c].display() << " vs " << back[i][c].display();
}

TEST(MysqlConnection, BulkInsertFailsOnDuplicateKeys) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_bulkdup", "id BIGINT PRIMARY KEY");
    auto writer = conn->bulk_insert(t.name(), {"id"});
    writer->write({Value::integer(1)});
    writer->write({Value::integer(1)});
    Error e = error_from([&] { writer->finish(); });
    EXPECT_EQ(e.code(), Code::server);
    EXPECT_NE(std::string(e.what()).find("Duplicate entry"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(t.name()), std::string::npos) << e.what();
}

TEST(MysqlConnection, BulkInsertsManyRowsInOneTransaction) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_bulkperf",
                   "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, at DATETIME(6) NOT NULL, "
                   "amount DECIMAL(10,2) NOT NULL, body TEXT NULL");
    constexpr std::int64_t k_rows = 200'000;
    const std::int64_t base = 1'700'000'000'000'000;  // micros, late 2023
    std::vector<Row> rows;
    rows.reserve(k_rows);
    for (std::int64_t i = 1; i <= k_rows; ++i)
        rows.push_back({Value::integer(i), Value::text("user-" + std::to_string(i * 7919)),
                        Value::datetime_micros(base + i * 1'000'003),
                        Value::decimal(std::to_string(i % 100000) + "." + std::to_string(10 + i % 90)),
                        Value::text("some body text for row " + std::to_string(i))});

    const auto start = Steady::now();
    {
        Transaction tx(*conn);
        auto writer = conn->bulk_insert(t.name(), {"id", "name", "at", "amount", "body"});
        for (const Row& row : rows) writer->write(row);
        writer->finish();
        tx.commit();
    }
    const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    std::printf("[ perf     ] bulk inserted %lld rows x 5 columns in %.3f s: %.0f rows/s\n",
                static_cast<long long>(k_rows), seconds, static_cast<double>(k_rows) / seconds);
    EXPECT_EQ(count_rows(*conn, t.name()), k_rows);
    Row key{Value::integer(12345)};
    auto row = conn->query_one("SELECT id, name, at, amount, body FROM " + t.name() + " WHERE id = ?", key);
    ASSERT_TRUE(row);
    EXPECT_TRUE(same_row(*row, rows[12344]));
}

TEST(MysqlConnection, TransactionRollsBackUnlessCommitted) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_tx", "id BIGINT PRIMARY KEY");
    {
        Transaction tx(*conn);
        conn->execute("INSERT INTO " + t.name() + " (id) VALUES (1)");
        EXPECT_EQ(count_rows(*conn, t.name()), 1);
    }
    EXPECT_EQ(count_rows(*conn, t.name()), 0);
    {
        Transaction tx(*conn);
        conn->execute("INSERT INTO " + t.name() + " (id) VALUES (2)");
        tx.commit();
    }
    EXPECT_EQ(count_rows(*conn, t.name()), 1);
    // A second begin() inside a transaction would commit the first on MySQL.
    Transaction tx(*conn);
    EXPECT_EQ(error_from([&] { conn->begin(); }).code(), Code::internal);
}

TEST(MysqlConnection, ReportsAffectedRowsAndLastInsertId) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_affected", "id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL");
    ExecResult first = conn->execute("INSERT INTO " + t.name() + " (v) VALUES (10), (20), (30)");
    EXPECT_EQ(first.affected_rows, 3u);
    EXPECT_EQ(first.last_insert_id, 1u);  // the first id of a multi-row insert
    Row params{Value::integer(40)};
    ExecResult second = conn->execute("INSERT INTO " + t.name() + " (v) VALUES (?)", params);
    EXPECT_EQ(second.affected_rows, 1u);
    EXPECT_EQ(second.last_insert_id, 4u);
    // Matched rows, as on PostgreSQL, even where the value does not change.
    Row limit{Value::integer(20)};
    EXPECT_EQ(conn->execute("UPDATE " + t.name() + " SET v = v WHERE v >= ?", limit).affected_rows, 3u);
    ExecResult del = conn->execute("DELETE FROM " + t.name() + " WHERE id > 2");
    EXPECT_EQ(del.affected_rows, 2u);
    EXPECT_EQ(del.last_insert_id, 0u);
}

TEST(MysqlConnection, DescribesColumnsWithPrimaryKeyPositions) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*conn, "mysql_cols",
                   "a INT NOT NULL, b VARCHAR(10) NOT NULL, c TINYINT(1) NOT NULL DEFAULT 0, "
                   "d DECIMAL(10,2) NULL, e BIGINT UNSIGNED NULL, f DATETIME(6) NULL, g BLOB NULL, "
                   "PRIMARY KEY (b, a)");
    std::vector<ColumnInfo> cols = conn->columns(t.name());
    ASSERT_EQ(cols.size(), 7u);
    const std::vector<std::string> names{"a", "b", "c", "d", "e", "f", "g"};
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(cols[i].name, names[i]);
    EXPECT_EQ(cols[0].primary_key_position, 2);
    EXPECT_EQ(cols[1].primary_key_position, 1);
    EXPECT_EQ(cols[2].primary_key_position, 0);
    EXPECT_EQ(cols[0].kind, ValueKind::integer);
    EXPECT_EQ(cols[1].kind, ValueKind::text);
    EXPECT_EQ(cols[2].kind, ValueKind::boolean);
    EXPECT_EQ(cols[3].kind, ValueKind::decimal);
    EXPECT_EQ(cols[4].kind, ValueKind::unsigned_integer);
    EXPECT_EQ(cols[5].kind, ValueKind::datetime);
    EXPECT_EQ(cols[6].kind, ValueKind::bytes);
    EXPECT_EQ(cols[3].sql_type, "decimal(10,2)");
    EXPECT_FALSE(cols[0].nullable);
    EXPECT_TRUE(cols[3].nullable);
    EXPECT_TRUE(conn->table_exists(t.name()));

    ScratchTable single(*conn, "mysql_cols1", "id BIGINT AUTO_INCREMENT PRIMARY KEY, v TEXT");
    cols = conn->columns(single.name());
    ASSERT_EQ(cols.size(), 2u);
    EXPECT_EQ(cols[0].primary_key_position, 1);
    EXPECT_EQ(cols[1].primary_key_position, 0);
}

TEST(MysqlConnection, UnknownTableIsAConfigError) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    Error e = error_from([&] { conn->columns("no_such_table_here"); });
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_NE(std::string(e.what()).find("table 'no_such_table_here' not found in mysql://"), std::string::npos)
        << e.what();
    EXPECT_FALSE(conn->table_exists("no_such_table_here"));

    e = error_from([&] { conn->query("SELECT * FROM no_such_table_here"); });
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_NE(std::string(e.what()).find("table 'no_such_table_here' not found"), std::string::npos) << e.what();

    EXPECT_EQ(error_from([&] { conn->columns("bad-name; DROP"); }).code(), Code::config);
}

TEST(MysqlConnection, StatementErrorsCarryTheServerMessage) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    Error e = error_from([&] { conn->execute("SELEC 1"); });
    EXPECT_EQ(e.code(), Code::server);
    EXPECT_FALSE(e.is_temporary());
    const std::string msg = e.what();
    EXPECT_NE(msg.find("errno 1064"), std::string::npos) << msg;
    EXPECT_NE(msg.find("SQLSTATE 42000"), std::string::npos) << msg;
    EXPECT_NE(msg.find(conn->describe()), std::string::npos) << msg;
    EXPECT_EQ(msg.find("sql::"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("MySQL_"), std::string::npos) << msg;

    // The connection stays usable.
    EXPECT_EQ(conn->query_one("SELECT 1")->at(0).as_int(), 1);
}

TEST(MysqlConnection, RefusedConnectionNamesTheAddressButNotThePassword) {
    Dsn dsn = testing::mysql_dsn();
    dsn.port = closed_port();
    dsn.password = "refused-secret-pw";
    Error e = error_from([&] { webook::connect(dsn); });
    EXPECT_EQ(e.code(), Code::connection);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(dsn.port)), std::string::npos) << msg;
    EXPECT_NE(msg.find("connection refused"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("refused-secret-pw"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("tcp://"), std::string::npos) << msg;
}

TEST(MysqlConnection, WrongPasswordIsAConnectionErrorWithoutThePassword) {
    Dsn dsn = testing::mysql_dsn();
    dsn.password = "wrong-secret-pw";
    Error e = error_from([&] { webook::connect(dsn); });
    EXPECT_EQ(e.code(), Code::connection);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("access denied for user 'webook'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("wrong-secret-pw"), std::string::npos) << msg;
}

TEST(MysqlConnection, UnknownDatabaseIsAConnectionError) {
    Dsn dsn = testing::mysql_dsn();
    dsn.database = "nope_no_such_db";
    Error e = error_from([&] { webook::connect(dsn); });
    EXPECT_EQ(e.code(), Code::connection);
    EXPECT_NE(std::string(e.what()).find("unknown database 'nope_no_such_db'"), std::string::npos) << e.what();
}

TEST(MysqlConnection, LockWaitTimeoutIsTemporary) {
    auto holder = testing::connect_to(testing::mysql_dsn());
    auto waiter = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*holder, "mysql_lock", "id BIGINT PRIMARY KEY, v INT");
    holder->execute("INSERT INTO " + t.name() + " VALUES (1, 0)");
    waiter->execute("SET SESSION innodb_lock_wait_timeout = 1");

    Transaction tx(*holder);
    holder->execute("UPDATE " + t.name() + " SET v = 1 WHERE id = 1");
    Error e = error_from([&] { waiter->execute("UPDATE " + t.name() + " SET v = 2 WHERE id = 1"); });
    EXPECT_EQ(e.code(), Code::server);
    EXPECT_TRUE(e.is_temporary()) << e.what();
    EXPECT_NE(std::string(e.what()).find("errno 1205"), std::string::npos) << e.what();
}

TEST(MysqlConnection, DeadlockIsTemporary) {
    auto a = testing::connect_to(testing::mysql_dsn());
    auto b = testing::connect_to(testing::mysql_dsn());
    ScratchTable t(*a, "mysql_deadlock", "id BIGINT PRIMARY KEY, v INT");
    a->execute("INSERT INTO " + t.name() + " VALUES (1, 0), (2, 0)");
    a->execute("SET SESSION innodb_lock_wait_timeout = 10");
    b->execute("SET SESSION innodb_lock_wait_timeout = 10");
    const std::string update = "UPDATE " + t.name() + " SET v = v + 1 WHERE id = ";

    a->begin();
    b->begin();
    a->execute(update + "1");
    b->execute(update + "2");
    // a waits for b's row 2 in the background; b then asks for a's row 1.
    auto a_result = std::async(std::launch::async, [&]() -> std::optional<Error> {
        try {
            a->execute(update + "2");
            return std::nullopt;
        } catch (const Error& e) {
            return e;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::optional<Error> b_error;
    try {
        b->execute(update + "1");
    } catch (const Error& e) {
        b_error = e;
    }
    if (!b_error) b->rollback();  // lets a finish if a was not the victim
    std::optional<Error> a_error = a_result.get();
    ASSERT_TRUE(a_error.has_value() != b_error.has_value()) << "exactly one victim expected";
    const Error& victim = a_error ? *a_error : *b_error;
    EXPECT_TRUE(victim.is_temporary()) << victim.what();
    EXPECT_NE(std::string(victim.what()).find("errno 1213"), std::string::npos) << victim.what();
    a->rollback();
    if (b_error) b->rollback();
}

TEST(MysqlConnection, RefusesStatementsWhileStreaming) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    auto cursor = conn->stream("SELECT seq FROM seq_1_to_5000");
    std::vector<Row> batch;
    ASSERT_TRUE(cursor->next_batch(batch, 10));
    EXPECT_EQ(batch.size(), 10u);

    Error e = error_from([&] { conn->execute("SELECT 1"); });
    EXPECT_EQ(e.code(), Code::internal);
    EXPECT_NE(std::string(e.what()).find("busy streaming"), std::string::npos) << e.what();
    EXPECT_EQ(error_from([&] { conn->stream("SELECT 1"); }).code(), Code::internal);
    Row p{Value::integer(1)};
    EXPECT_EQ(error_from([&] { conn->query("SELECT ?", p); }).code(), Code::internal);
    EXPECT_EQ(error_from([&] { conn->begin(); }).code(), Code::internal);

    // Read to the end: the connection is free again, even before the cursor goes.
    std::size_t total = batch.size();
    while (cursor->next_batch(batch, 1000)) total += batch.size();
    EXPECT_EQ(total, 5000u);
    EXPECT_EQ(conn->query_one("SELECT 2")->at(0).as_int(), 2);

    // Destroying an unfinished cursor frees it too.
    cursor = conn->stream("SELECT seq FROM seq_1_to_5000");
    ASSERT_TRUE(cursor->next_batch(batch, 10));
    cursor.reset();
    EXPECT_EQ(conn->query_one("SELECT 3")->at(0).as_int(), 3);
}

TEST(MysqlConnection, CursorOutlivingItsConnectionIsSafe) {
    auto conn = testing::connect_to(testing::mysql_dsn());
    auto cursor = conn->stream("SELECT seq FROM seq_1_to_100");
    conn.reset();
    std::vector<Row> batch;
    std::size_t total = 0;
    while (cursor->next_batch(batch, 30)) total += batch.size();
    EXPECT_EQ(total, 100u);
}

}  // namespace
}  // namespace webook
