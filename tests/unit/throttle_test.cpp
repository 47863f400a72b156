#include "core/migration/throttle.h"

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/manual_clock.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;

using FakeClock = testing::ManualClock;  // time moves only when someone sleeps or the test advances it

// One-row results, one per query, from a script.
class ScriptedCursor final : public RowCursor {
public:
    explicit ScriptedCursor(std::vector<Row> rows) : m_rows(std::move(rows)) {}
    const std::vector<std::string>& column_names() const override { return m_names; }
    const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }
    bool next_batch(std::vector<Row>& out, std::size_t) override {
        out = std::move(m_rows);
        m_rows.clear();
        return !out.empty();
    }

private:
    std::vector<Row> m_rows;
    std::vector<std::string> m_names{"n"};
    std::vector<ValueKind> m_kinds{ValueKind::integer};
};

// A connection that answers every query with the next "running sessions"
// reading and records the SQL it was sent.
class LoadConnection final : public Connection {
public:
    explicit LoadConnection(std::deque<std::int64_t> readings) : m_readings(std::move(readings)) {}
    // Like MySQL 8, whose information_schema has no GLOBAL_STATUS.
    void refuse(std::string sql) { m_refused = std::move(sql); }

    const Dialect& dialect() const override { return dialect_for(Engine::mysql); }
    const std::string& describe() const override { return m_name; }
    ExecResult execute(std::string_view, Params) override { return {}; }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params) override {
        m_queries.emplace_back(sql);
        if (sql == m_refused)
            throw Error(Code::server, "Unknown table 'GLOBAL_STATUS' in information_schema (errno 1109)");
        if (m_readings.empty()) throw Error(Code::internal, "the test ran out of load readings");
        const std::int64_t n = m_readings.front();
        m_readings.pop_front();
        return std::make_unique<ScriptedCursor>(std::vector<Row>{Row{Value::integer(n)}});
    }
    void begin() override {}
    void commit() override {}
    void rollback() override {}
    std::vector<ColumnInfo> columns(std::string_view) override { return {}; }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view, const std::vector<std::string>&) override {
        return nullptr;
    }

    const std::vector<std::string>& queries() const { return m_queries; }

private:
    std::deque<std::int64_t> m_readings;
    std::string m_refused;
    std::vector<std::string> m_queries;
    std::string m_name = "mysql://test@fake:3306/db";
};

ThrottleOptions at_rate(double rows_per_second) {
    ThrottleOptions o;
    o.rows_per_second = rows_per_second;
    return o;
}

Error usage_error(const std::string& max_load) {
    try {
        ThrottleOptions{.max_load = max_load}.max_running();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "max_load '" << max_load << "' was accepted";
    return Error(Code::internal, "no error");
}

TEST(Throttle, RowsPerSecondSleepsUntilTheRowsFitTheRate) {
    FakeClock clock;
    Throttle throttle(at_rate(100), clock);
    throttle.after_rows(50);  // 50 rows at 100/s are due after 0.5 s
    EXPECT_EQ(clock.total_sleep(), microseconds(500'000));
    throttle.after_rows(50);
    EXPECT_EQ(clock.total_sleep(), microseconds(1'000'000));
    EXPECT_EQ(throttle.paused(), microseconds(1'000'000));
}

TEST(Throttle, RowsPerSecondSleepsTheRightTotalOverManyBatches) {
    FakeClock clock;
    Throttle throttle(at_rate(200), clock);
    for (int i = 0; i < 10; ++i) {
        clock.advance(100ms);  // the work on each batch takes time too
        throttle.after_rows(100);
    }
    // 1000 rows at 200/s take 5 s; 1 s of it was work.
    EXPECT_EQ(clock.total_sleep(), microseconds(4'000'000));
    EXPECT_EQ(throttle.paused(), microseconds(4'000'000));
}

TEST(Throttle, NoSleepWhenTheWorkIsSlowerThanTheRate) {
    FakeClock clock;
    Throttle throttle(at_rate(100), clock);
    clock.advance(2s);
    throttle.after_rows(100);  // due after 1 s; 2 s have passed
    EXPECT_TRUE(clock.sleeps().empty());
    EXPECT_EQ(throttle.paused(), microseconds(0));
}

TEST(Throttle, ARateBelowOneRowPerSecondStillWorks) {
    FakeClock clock;
    Throttle throttle(at_rate(0.5), clock);
    throttle.after_rows(1);
    EXPECT_EQ(clock.total_sleep(), microseconds(2'000'000));
}

TEST(Throttle, ZeroRowsPerSecondIsUnlimited) {
    FakeClock clock;
    Throttle throttle(ThrottleOptions{}, clock);
    for (int i = 0; i < 100; ++i) throttle.after_rows(1'000'000);
    EXPECT_TRUE(clock.sleeps().empty());
    EXPECT_EQ(throttle.paused(), microseconds(0));
}

TEST(Throttle, WithoutMaxLoadTheServerIsNotAsked) {
    FakeClock clock;
    LoadConnection conn({});
    Throttle throttle(ThrottleOptions{}, clock);
    throttle.before_batch(conn);
    EXPECT_TRUE(conn.queries().empty());
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST(Throttle, MaxLoadPausesWhileTheServerIsAboveTheLimit) {
    FakeClock clock;
    LoadConnection conn({40, 30, 26, 25});
    Throttle throttle(ThrottleOptions{.max_load = "Threads_running=25", .load_poll = 500ms}, clock);
    throttle.before_batch(conn);
    EXPECT_EQ(conn.queries().size(), 4u);
    EXPECT_EQ(conn.queries().at(0), dialect_for(Engine::mysql).running_sessions_sql());
    EXPECT_EQ(clock.sleeps(), (std::vector<microseconds>{500ms, 500ms, 500ms}));
    EXPECT_EQ(throttle.paused(), microseconds(1'500'000));
}

TEST(Throttle, MaxLoadReadsPerformanceSchemaWhereInformationSchemaHasNoGlobalStatus) {
    FakeClock clock;
    LoadConnection conn({40, 25});
    const Dialect& mysql = dialect_for(Engine::mysql);
    conn.refuse(mysql.running_sessions_sql());
    Throttle throttle(ThrottleOptions{.max_load = "Threads_running=25", .load_poll = 500ms}, clock);
    throttle.before_batch(conn);
    EXPECT_EQ(conn.queries(),
              (std::vector<std::string>{mysql.running_sessions_sql(), mysql.running_sessions_fallback_sql(),
                                        mysql.running_sessions_fallback_sql()}))
        << "refused once, then the fallback only";
    EXPECT_NE(mysql.running_sessions_fallback_sql().find("performance_schema.global_status"), std::string::npos);
    EXPECT_EQ(clock.sleeps(), (std::vector<microseconds>{500ms}));
}

TEST(Throttle, MaxLoadDoesNotPauseAtOrBelowTheLimit) {
    FakeClock clock;
    LoadConnection conn({3, 25});
    Throttle throttle(ThrottleOptions{.max_load = "Threads_running=25"}, clock);
    throttle.before_batch(conn);
    throttle.before_batch(conn);
    EXPECT_EQ(conn.queries().size(), 2u);
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST(ThrottleOptions, MaxRunningParsesThreadsRunning) {
    EXPECT_EQ(ThrottleOptions{.max_load = "Threads_running=25"}.max_running(), 25);
    EXPECT_EQ(ThrottleOptions{.max_load = "threads_running=7"}.max_running(), 7);
    EXPECT_EQ(ThrottleOptions{.max_load = "running=3"}.max_running(), 3);
}

TEST(ThrottleOptions, NoMaxLoadMeansNoLimit) {
    EXPECT_EQ(ThrottleOptions{}.max_running(), 0);
}

TEST(ThrottleOptions, MaxRunningRejectsMalformedValuesAsUsageErrors) {
    for (const char* bad : {"Threads_running=0", "Threads_running=-3", "foo=3", "Threads_running",
                            "Threads_running=", "Threads_running=2x", "Threads_running= 2", "=5", "25"}) {
        SCOPED_TRACE(bad);
        const Error e = usage_error(bad);
        EXPECT_EQ(e.code(), Code::usage);
        EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
}

TEST(ThrottleOptions, ValidateRejectsANegativeRateAndABadMaxLoad) {
    EXPECT_NO_THROW((ThrottleOptions{.rows_per_second = 10, .max_load = "Threads_running=5"}.validate()));
    try {
        at_rate(-1).validate();
        FAIL() << "a negative rate was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
    }
    EXPECT_THROW(ThrottleOptions{.max_load = "load=3"}.validate(), Error);
}

TEST(Throttle, ConstructingWithABadMaxLoadIsAUsageError) {
    FakeClock clock;
    try {
        Throttle throttle(ThrottleOptions{.max_load = "Threads_running=0"}, clock);
        FAIL() << "the throttle accepted Threads_running=0";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
    }
}

}  // namespace
}  // namespace webook
