// The PostgreSQL engine against the real PostgreSQL 15 from scripts/services.sh:
// values round-trip as the same data, streaming, COPY, transactions, column
// introspection, error translation and the busy guard.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/value.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::connect_to;
using testing::pg_dsn;
using testing::unique_name;

// A table created for one test and dropped at its end.
class ScratchTable {
public:
    ScratchTable(Connection& conn, const std::string& columns_sql) : m_conn(conn), m_name(unique_name("pgconn")) {
        m_conn.execute("CREATE TABLE " + m_name + " (" + columns_sql + ")");
    }
    ~ScratchTable() {
        try {
            m_conn.execute("DROP TABLE IF EXISTS " + m_name);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "dropping %s: %s\n", m_name.c_str(), e.what());
        }
    }
    const std::string& name() const { return m_name; }

private:
    Connection& m_conn;
    std::string m_name;
};

std::vector<Row> read_all(Connection& conn, const std::string& sql, Params params = {}) {
    return conn.query(sql, params);
}

Value micros_at(const std::string& text) {
    return Value::parse(ValueKind::datetime, text);
}

// The columns every round-trip test uses, and one row per interesting value.
const char* const k_all_types =
    "id bigint PRIMARY KEY, t text, v varchar(64), n numeric(10,2), ts timestamp(6), "
    "b boolean, by bytea, r double precision, d date, i integer, s smallint, tm time";
const std::vector<std::string> k_all_names = {"id", "t", "v", "n", "ts", "b", "by", "r", "d", "i", "s", "tm"};

std::vector<Row> interesting_rows() {
    const std::string large(1 << 20, 'x');
    const std::string binary("\x00\xff\x01\\\t\n", 6);
    return {
        {Value::integer(1), Value::text(""), Value::text("trailing  "), Value::decimal("1.5"),
         micros_at("2024-02-29 23:59:59.12"), Value::boolean(true), Value::bytes(binary), Value::real(0.1),
         Value::parse(ValueKind::date, "2024-02-29"), Value::integer(-2147483648), Value::integer(-32768),
         Value::parse(ValueKind::time, "23:59:59.999999")},
        {Value::integer(2), Value(), Value::text("Case"), Value::decimal("-12345678.99"),
         micros_at("1969-12-31 23:59:59.000001"), Value::boolean(false), Value::bytes(""), Value::real(-1e300),
         Value::parse(ValueKind::date, "1900-01-01"), Value(), Value(), Value::parse(ValueKind::time, "00:00:00")},
        {Value::integer(3), Value::text("emoji \xF0\x9F\x98\x80 and \xC3\xA9"),
         Value::text("tab\there\nnewline\\backslash\r"), Value::decimal("0.01"), micros_at("2000-01-01 00:00:00"),
         Value(), Value(), Value(), Value(), Value::integer(7), Value::integer(8), Value()},
        {Value::integer(4), Value::text(large), Value::text("case"), Value(), Value(), Value(),
         Value::bytes(std::string(70000, '\0')), Value::real(3.5), Value(), Value(), Value(), Value()},
    };
}

void expect_same_rows(const std::vector<Row>& expected, const std::vector<Row>& actual) {
    ASSERT_EQ(expected.size(), actual.size());
    for (std::size_t r = 0; r < expected.size(); ++r) {
        ASSERT_EQ(expected[r].size(), actual[r].size()) << "row " << r;
        for (std::size_t c = 0; c < expected[r].size(); ++c)
            EXPECT_TRUE(same_data(expected[r][c], actual[r][c]))
                << "row " << r << " column " << k_all_names[c] << ": inserted "
                << expected[r][c].display().substr(0, 80) << ", read " << actual[r][c].display().substr(0, 80);
    }
}

void insert_with_execute(Connection& conn, const std::string& table, const std::vector<Row>& rows) {
    const std::string sql =
        "INSERT INTO " + table + " VALUES " + conn.dialect().placeholders(1, static_cast<int>(k_all_names.size()));
    for (const auto& row : rows) EXPECT_EQ(conn.execute(sql, row).affected_rows, 1u);
}

TEST(PgConnection, ValuesRoundTripThroughExecuteAndBothStreamPaths) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, k_all_types);
    const auto rows = interesting_rows();
    insert_with_execute(*conn, table.name(), rows);

    // Without parameters: COPY TO STDOUT.
    expect_same_rows(rows, read_all(*conn, "SELECT * FROM " + table.name() + " ORDER BY id"));
    // With parameters: a server-side cursor.
    const Row zero{Value::integer(0)};
    expect_same_rows(rows, read_all(*conn, "SELECT * FROM " + table.name() + " WHERE id > $1 ORDER BY id", zero));
}

TEST(PgConnection, ReadValuesCompareAsTheSameDataAcrossEngineForms) {
    auto conn = connect_to(pg_dsn());
    auto row = conn->query_one(
        "SELECT 1.50::numeric(10,2), 1.25::numeric(10,2), true, "
        "'2024-01-02 03:04:05.120000'::timestamp(6), ''::text, NULL::text, 'a'::text, 'x '::text");
    ASSERT_TRUE(row.has_value());
    const Row& r = *row;
    EXPECT_TRUE(same_data(r[0], Value::decimal("1.5")));
    EXPECT_FALSE(same_data(r[1], Value::decimal("1.26")));
    EXPECT_TRUE(same_data(r[2], Value::integer(1)));
    EXPECT_TRUE(same_data(r[3], micros_at("2024-01-02 03:04:05.12")));
    EXPECT_EQ(r[3].micros(), micros_at("2024-01-02 03:04:05.120000").micros());
    EXPECT_FALSE(same_data(r[4], r[5]));  // '' is not NULL
    EXPECT_TRUE(r[5].is_null());
    EXPECT_FALSE(same_data(r[6], Value::text("A")));
    EXPECT_FALSE(same_data(r[7], Value::text("x")));
}

TEST(PgConnection, StreamReportsColumnNamesAndKinds) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, k_all_types);
    auto cursor = conn->stream("SELECT * FROM " + table.name());
    EXPECT_EQ(cursor->column_names(), k_all_names);
    const std::vector<ValueKind> kinds = {ValueKind::integer, ValueKind::text,     ValueKind::text,
                                          ValueKind::decimal, ValueKind::datetime, ValueKind::boolean,
                                          ValueKind::bytes,   ValueKind::real,     ValueKind::date,
                                          ValueKind::integer, ValueKind::integer,  ValueKind::time};
    EXPECT_EQ(cursor->column_kinds(), kinds);
    std::vector<Row> batch;
    EXPECT_FALSE(cursor->next_batch(batch, 10));
    EXPECT_TRUE(batch.empty());
}

TEST(PgConnection, BulkInsertKeepsNullBytesUnicodeAndEscapes) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, k_all_types);
    const auto rows = interesting_rows();
    auto writer = conn->bulk_insert(table.name(), k_all_names);
    for (const auto& row : rows) writer->write(row);
    writer->finish();
    expect_same_rows(rows, read_all(*conn, "SELECT * FROM " + table.name() + " ORDER BY id"));
}

TEST(PgConnection, AbandonedBulkInsertWritesNothing) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY, t text");
    {
        auto writer = conn->bulk_insert(table.name(), {"id", "t"});
        for (int i = 0; i < 1000; ++i) writer->write({Value::integer(i), Value::text("x")});
    }
    auto count = conn->query_one("SELECT count(*) FROM " + table.name());
    EXPECT_EQ(count->at(0).as_int(), 0);
}

TEST(PgConnection, BulkInsertFailureIsReportedAtFinish) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    auto writer = conn->bulk_insert(table.name(), {"id"});
    writer->write({Value::integer(1)});
    writer->write({Value::integer(1)});
    try {
        writer->finish();
        FAIL() << "duplicate key accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::server);
        EXPECT_NE(std::string(e.what()).find("23505"), std::string::npos) << e.what();
    }
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), 0);
}

TEST(PgConnection, BulkInsertInsideATransactionFollowsIt) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    {
        Transaction tx(*conn);
        auto writer = conn->bulk_insert(table.name(), {"id"});
        writer->write({Value::integer(1)});
        writer->finish();
        EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), 1);
    }  // not committed
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), 0);
}

TEST(PgConnection, AbandonedBulkInsertInsideATransactionFailsItsCommit) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    {
        Transaction tx(*conn);
        {
            auto writer = conn->bulk_insert(table.name(), {"id"});
            writer->write({Value::integer(1)});
        }
        EXPECT_THROW(tx.commit(), Error);
    }
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), 0);
}

TEST(PgConnection, BulkInsertRunsAtCopySpeed) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn,
                       "id bigint PRIMARY KEY, name varchar(64), at timestamp(6), "
                       "amount numeric(10,2), note text");
    constexpr int k_rows = 200'000;
    const auto start = std::chrono::steady_clock::now();
    auto writer = conn->bulk_insert(table.name(), {"id", "name", "at", "amount", "note"});
    const std::int64_t base = micros_at("2024-01-01 00:00:00").micros();
    for (int i = 0; i < k_rows; ++i)
        writer->write({Value::integer(i), Value::text("name-" + std::to_string(i)),
                       Value::datetime_micros(base + i * 1'000'123LL),
                       Value::decimal(std::to_string(i % 10000) + ".25"),
                       Value::text("a note with\ttab and \\ for row " + std::to_string(i))});
    writer->finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ perf     ] COPY %d rows in %.3f s: %.0f rows/s\n", k_rows, seconds, k_rows / seconds);
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), k_rows);
    auto last = conn->query_one("SELECT * FROM " + table.name() + " WHERE id = $1",
                                std::vector<Value>{Value::integer(k_rows - 1)});
    ASSERT_TRUE(last.has_value());
    EXPECT_TRUE(same_data(last->at(2), Value::datetime_micros(base + (k_rows - 1) * 1'000'123LL)));
    EXPECT_TRUE(same_data(last->at(4), Value::text("a note with\ttab and \\ for row 199999")));
}

TEST(PgConnection, StreamsThreeHundredThousandRowsBatchByBatch) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn,
                       "id bigint PRIMARY KEY, a bigint, b bigint, c bigint, "
                       "s1 varchar(64), s2 varchar(64), s3 varchar(64), s4 varchar(64)");
    constexpr int k_rows = 300'000;
    conn->execute("INSERT INTO " + table.name() +
                      " SELECT g, g * 7, g % 1000, -g, md5(g::text), 'user_' || g, "
                      "substr(md5((g + 1)::text), 1, 12), E'x\\ty' FROM generate_series(1, $1) g",
                  std::vector<Value>{Value::integer(k_rows)});

    const auto start = std::chrono::steady_clock::now();
    auto cursor = conn->stream("SELECT * FROM " + table.name() + " ORDER BY id");
    std::vector<Row> batch;
    std::int64_t expected_id = 1;
    std::size_t batches = 0;
    while (cursor->next_batch(batch, 10'000)) {
        ++batches;
        ASSERT_LE(batch.size(), 10'000u);
        for (const auto& row : batch) {
            ASSERT_EQ(row.size(), 8u);
            ASSERT_EQ(row[0].as_int(), expected_id);
            ++expected_id;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ perf     ] streamed %d rows x 8 columns in %.3f s: %.0f rows/s\n", k_rows, seconds,
                k_rows / seconds);
    EXPECT_EQ(expected_id, k_rows + 1);
    EXPECT_EQ(batches, 30u);
    EXPECT_TRUE(batch.empty());
    EXPECT_TRUE(same_data(Value::text("x\ty"), Value::text("x\ty")));

    // The same through a parameterised cursor, fetched batch by batch.
    auto with_params = conn->stream("SELECT id, s4 FROM " + table.name() + " WHERE id > $1 ORDER BY id",
                                    std::vector<Value>{Value::integer(k_rows - 2500)});
    std::size_t rows = 0;
    while (with_params->next_batch(batch, 1000)) {
        ASSERT_LE(batch.size(), 1000u);
        for (const auto& row : batch) EXPECT_TRUE(same_data(row[1], Value::text("x\ty")));
        rows += batch.size();
    }
    EXPECT_EQ(rows, 2500u);
}

TEST(PgConnection, AbandonedCursorLeavesTheConnectionUsable) {
    auto conn = connect_to(pg_dsn());
    std::vector<Row> batch;
    {
        auto cursor = conn->stream("SELECT g FROM generate_series(1, 2000000) g");
        ASSERT_TRUE(cursor->next_batch(batch, 10));
    }
    EXPECT_EQ(conn->query_one("SELECT 42")->at(0).as_int(), 42);
    {
        Transaction tx(*conn);
        {
            auto cursor = conn->stream("SELECT g FROM generate_series(1, 100000) g");
            ASSERT_TRUE(cursor->next_batch(batch, 10));
        }
        {
            auto cursor =
                conn->stream("SELECT g FROM generate_series(1, $1) g", std::vector<Value>{Value::integer(100000)});
            ASSERT_TRUE(cursor->next_batch(batch, 10));
        }
        EXPECT_EQ(conn->query_one("SELECT 43")->at(0).as_int(), 43);
        tx.commit();
    }
    EXPECT_EQ(conn->query_one("SELECT 44")->at(0).as_int(), 44);
}

TEST(PgConnection, TransactionGuardRollsBackWhenNotCommitted) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    const std::string insert = "INSERT INTO " + table.name() + " VALUES ($1)";
    {
        Transaction tx(*conn);
        conn->execute(insert, std::vector<Value>{Value::integer(1)});
    }
    {
        Transaction tx(*conn);
        conn->execute(insert, std::vector<Value>{Value::integer(2)});
        tx.commit();
    }
    auto rows = conn->query("SELECT id FROM " + table.name());
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0].as_int(), 2);
}

TEST(PgConnection, CommitAfterAFailedStatementIsAnError) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    const std::string insert = "INSERT INTO " + table.name() + " VALUES ($1)";
    Transaction tx(*conn);
    conn->execute(insert, std::vector<Value>{Value::integer(1)});
    EXPECT_THROW(conn->execute(insert, std::vector<Value>{Value::integer(1)}), Error);
    EXPECT_THROW(tx.commit(), Error);
}

TEST(PgConnection, UnreadableValueIsADataErrorNamingTheColumn) {
    auto conn = connect_to(pg_dsn());
    const std::vector<Value> one{Value::integer(1)};
    for (Params params : {Params{}, Params(one)}) {
        try {
            conn->query(params.empty()
                            ? "SELECT g, '5000000-01-01'::date AS odd FROM generate_series(1, 100000) g"
                            : "SELECT g, '5000000-01-01'::date AS odd FROM generate_series($1::int, 100000) g",
                        params);
            FAIL() << "a date past what microseconds since 1970 hold read as a date";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::data);
            EXPECT_NE(std::string(e.what()).find("column 'odd'"), std::string::npos) << e.what();
        }
        EXPECT_EQ(conn->query_one("SELECT 5")->at(0).as_int(), 5);
    }
}

TEST(PgConnection, ExecuteReportsAffectedRows) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY, v text");
    auto r = conn->execute("INSERT INTO " + table.name() + " SELECT g, 'a' FROM generate_series(1, 5) g");
    EXPECT_EQ(r.affected_rows, 5u);
    EXPECT_EQ(r.last_insert_id, 0u);
    r = conn->execute("UPDATE " + table.name() + " SET v = $1 WHERE id <= $2",
                      std::vector<Value>{Value::text("b"), Value::integer(3)});
    EXPECT_EQ(r.affected_rows, 3u);
    r = conn->execute("DELETE FROM " + table.name() + " WHERE id > $1", std::vector<Value>{Value::integer(100)});
    EXPECT_EQ(r.affected_rows, 0u);
    auto returned = conn->query_one("INSERT INTO " + table.name() + " VALUES ($1, $2) RETURNING id",
                                    std::vector<Value>{Value::integer(9), Value()});
    ASSERT_TRUE(returned.has_value());
    EXPECT_EQ(returned->at(0).as_int(), 9);
}

TEST(PgConnection, ExecuteWithParametersSurvivesSchemaChangesAndManyStatements) {
    auto conn = connect_to(pg_dsn());
    const std::string name = unique_name("pgconn_late");
    const std::string insert = "INSERT INTO " + name + " (id) VALUES ($1)";
    const std::vector<Value> one{Value::integer(1)}, two{Value::integer(2)}, three{Value::integer(3)};
    // The statement fails before its table exists, and works once it does.
    try {
        conn->execute(insert, one);
        FAIL() << "inserted into a missing table";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config) << e.what();
    }
    conn->execute("CREATE TABLE " + name + " (id bigint PRIMARY KEY)");
    EXPECT_EQ(conn->execute(insert, one).affected_rows, 1u);
    conn->execute("ALTER TABLE " + name + " ADD COLUMN note text DEFAULT 'x'");
    EXPECT_EQ(conn->execute(insert, two).affected_rows, 1u);
    // More distinct statements than the connection keeps prepared.
    for (int i = 0; i < 100; ++i)
        conn->execute("UPDATE " + name + " SET note = $1 WHERE id = " + std::to_string(i % 3),
                      std::vector<Value>{Value::text(std::to_string(i))});
    EXPECT_EQ(conn->execute(insert, three).affected_rows, 1u);
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + name)->at(0).as_int(), 3);
    conn->execute("DROP TABLE " + name);
}

TEST(PgConnection, ColumnsReportOrderKindsNullabilityAndPrimaryKeyPositions) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn,
                       "a bigint NOT NULL, note varchar(64), amount numeric(10,2), "
                       "b integer NOT NULL, at timestamp(6), PRIMARY KEY (b, a)");
    const auto columns = conn->columns(table.name());
    ASSERT_EQ(columns.size(), 5u);
    EXPECT_EQ(columns[0].name, "a");
    EXPECT_EQ(columns[0].kind, ValueKind::integer);
    EXPECT_EQ(columns[0].primary_key_position, 2);
    EXPECT_FALSE(columns[0].nullable);
    EXPECT_EQ(columns[1].name, "note");
    EXPECT_EQ(columns[1].kind, ValueKind::text);
    EXPECT_EQ(columns[1].sql_type, "character varying(64)");
    EXPECT_EQ(columns[1].primary_key_position, 0);
    EXPECT_TRUE(columns[1].nullable);
    EXPECT_EQ(columns[2].kind, ValueKind::decimal);
    EXPECT_EQ(columns[2].sql_type, "numeric(10,2)");
    EXPECT_EQ(columns[3].name, "b");
    EXPECT_EQ(columns[3].primary_key_position, 1);
    EXPECT_EQ(columns[4].kind, ValueKind::datetime);
    EXPECT_TRUE(conn->table_exists(table.name()));
}

TEST(PgConnection, ColumnsOfASingleKeyTable) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY, flag boolean, data bytea");
    const auto columns = conn->columns(table.name());
    ASSERT_EQ(columns.size(), 3u);
    EXPECT_EQ(columns[0].primary_key_position, 1);
    EXPECT_EQ(columns[1].kind, ValueKind::boolean);
    EXPECT_EQ(columns[1].primary_key_position, 0);
    EXPECT_EQ(columns[2].kind, ValueKind::bytes);
}

TEST(PgConnection, UnknownTableIsAConfigError) {
    auto conn = connect_to(pg_dsn());
    const std::string name = unique_name("missing");
    try {
        conn->columns(name);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_NE(std::string(e.what()).find("table '" + name + "' not found in postgres://"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(conn->table_exists(name));
    try {
        conn->query("SELECT * FROM " + name);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config) << e.what();
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_THROW(conn->columns("bad name; drop"), Error);
    // The connection is still usable.
    EXPECT_EQ(conn->query_one("SELECT 1")->at(0).as_int(), 1);
}

TEST(PgConnection, RejectedStatementIsAServerErrorWithSqlstate) {
    auto conn = connect_to(pg_dsn());
    try {
        conn->execute("SELEC 1");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::server);
        EXPECT_FALSE(e.is_temporary());
        const std::string message = e.what();
        EXPECT_NE(message.find("42601"), std::string::npos) << message;
        EXPECT_NE(message.find("syntax error"), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

int closed_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        close(fd);
        return 1;
    }
    close(fd);  // bound, never listened: connections are refused
    return ntohs(addr.sin_port);
}

TEST(PgConnection, ConnectionRefusedNamesTheAddressAndNotThePassword) {
    Dsn dsn = pg_dsn();
    dsn.host = "127.0.0.1";
    dsn.port = closed_port();
    try {
        connect_to(dsn);
        FAIL() << "connected to a closed port";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_NE(message.find("127.0.0.1:" + std::to_string(dsn.port)), std::string::npos) << message;
        EXPECT_NE(message.find("connection refused"), std::string::npos) << message;
        EXPECT_EQ(message.find(dsn.password), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

TEST(PgConnection, WrongPasswordIsAConnectionErrorWithoutThePassword) {
    Dsn dsn = pg_dsn();
    dsn.password = "not-the-password-42";
    try {
        connect_to(dsn);
        FAIL() << "connected with a wrong password";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
        EXPECT_EQ(message.find("not-the-password-42"), std::string::npos) << message;
        EXPECT_EQ(message.find(pg_dsn().password), std::string::npos) << message;
    }
}

TEST(PgConnection, UnknownDatabaseIsAConnectionError) {
    Dsn dsn = pg_dsn();
    dsn.database = "nope_" + std::to_string(getpid());
    try {
        connect_to(dsn);
        FAIL() << "connected to a missing database";
    } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_NE(message.find("database \"" + dsn.database + "\" does not exist"), std::string::npos) << message;
        EXPECT_EQ(message.find(dsn.password), std::string::npos) << message;
    }
}

TEST(PgConnection, LockConflictIsTemporary) {
    auto holder = connect_to(pg_dsn());
    auto waiter = connect_to(pg_dsn());
    ScratchTable table(*holder, "id bigint PRIMARY KEY, v integer");
    holder->execute("INSERT INTO " + table.name() + " VALUES (1, 0)");
    {
        Transaction tx(*holder);
        holder->execute("UPDATE " + table.name() + " SET v = 1 WHERE id = 1");
        waiter->execute("SET lock_timeout = '200ms'");
        try {
            waiter->execute("UPDATE " + table.name() + " SET v = 2 WHERE id = 1");
            FAIL() << "no lock conflict";
        } catch (const Error& e) {
            EXPECT_TRUE(e.is_temporary()) << e.what();
            EXPECT_EQ(e.code(), Code::server);
            EXPECT_NE(std::string(e.what()).find("55P03"), std::string::npos) << e.what();
        }
    }
}

TEST(PgConnection, StatementTimeoutIsTemporary) {
    auto conn = connect_to(pg_dsn());
    conn->execute("SET statement_timeout = '100ms'");
    try {
        conn->execute("SELECT pg_sleep(2)");
        FAIL() << "no timeout";
    } catch (const Error& e) {
        EXPECT_TRUE(e.is_temporary()) << e.what();
        EXPECT_NE(std::string(e.what()).find("57014"), std::string::npos) << e.what();
    }
}

TEST(PgConnection, LostConnectionIsTemporary) {
    auto victim = connect_to(pg_dsn());
    auto killer = connect_to(pg_dsn());
    auto pid = victim->query_one("SELECT pg_backend_pid()")->at(0);
    killer->execute("SELECT pg_terminate_backend($1::int)", std::vector<Value>{pid});
    try {
        Transaction tx(*victim);
        victim->execute("SELECT 1");
        FAIL() << "statement ran on a terminated connection";
    } catch (const Error& e) {
        EXPECT_TRUE(e.is_temporary()) << e.what();
        EXPECT_EQ(e.code(), Code::connection) << e.what();
    }
}

TEST(PgConnection, BusyConnectionRefusesOtherWork) {
    auto conn = connect_to(pg_dsn());
    ScratchTable table(*conn, "id bigint PRIMARY KEY");
    std::vector<Row> batch;
    {
        auto cursor = conn->stream("SELECT g FROM generate_series(1, 10000) g");
        ASSERT_TRUE(cursor->next_batch(batch, 100));
        try {
            conn->execute("SELECT 1");
            FAIL() << "ran a statement during a stream";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::internal);
            EXPECT_NE(std::string(e.what()).find("connection busy"), std::string::npos) << e.what();
        }
        EXPECT_THROW(conn->stream("SELECT 1"), Error);
        // Read to the end: the connection is free again before the cursor is gone.
        while (cursor->next_batch(batch, 5000)) {
        }
        EXPECT_EQ(conn->query_one("SELECT 2")->at(0).as_int(), 2);
    }
    {
        auto writer = conn->bulk_insert(table.name(), {"id"});
        writer->write({Value::integer(1)});
        EXPECT_THROW(conn->execute("SELECT 1"), Error);
        EXPECT_THROW(conn->columns(table.name()), Error);
        writer->finish();
    }
    EXPECT_EQ(conn->query_one("SELECT count(*) FROM " + table.name())->at(0).as_int(), 1);
}

TEST(PgConnection, SessionIsUtcWithIsoDatesAndHexBytea) {
    auto conn = connect_to(pg_dsn());
    auto row = conn->query_one(
        "SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
        "current_setting('bytea_output'), current_setting('client_encoding'), "
        "'2024-01-01 12:00:00+02'::timestamptz");
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->at(0).as_string(), "UTC");
    EXPECT_EQ(row->at(1).as_string().substr(0, 3), "ISO");
    EXPECT_EQ(row->at(2).as_string(), "hex");
    EXPECT_EQ(row->at(3).as_string(), "UTF8");
    EXPECT_TRUE(same_data(row->at(4), micros_at("2024-01-01 10:00:00")));
}

}  // namespace
}  // namespace webook
