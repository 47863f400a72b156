// Long commands survive their servers (issue 11): connections cut under a
// running validation (tests/support/fault_proxy.h), and real servers of the
// test's own restarted in the middle of `webookctl validate`
// (tests/support/private_server.h) -- each must end with exactly the result
// of an uninterrupted run: the planted differences, each reported once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/event_sink.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/migration_data.h"
#include "tests/support/migration_steps.h"
#include "tests/support/private_server.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"
#include "validate/validation.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using namespace ::webook::testing;

// The types table of 150 rows on both sides, the target changed as
// plant_type_differences() says; what a validation with base src must find.
Findings planted_tables(Connection& source, Connection& target, const std::string& table) {
    create_types_table(source, table, 2);
    create_types_table(target, table, 2);
    insert_types_rows(source, table, 150);
    insert_types_rows(target, table, 150);
    return plant_type_differences(target, table);
}

// `dsn` reached through `proxy` instead.
Dsn through(const Dsn& dsn, const FaultProxy& proxy) {
    Dsn d = dsn;
    d.host = "127.0.0.1";
    d.port = proxy.port();
    return d;
}

// A connection through a proxy that cuts every connection to its server
// before every `every`-th statement sent on it: the statement meets a reset
// socket, as when a server dies.
struct CutEveryFew {
    CutEveryFew(const Dsn& dsn, int every) : proxy(dsn.host, dsn.port) {
        conn = std::make_unique<ConnectionWrapper>(connect_resumable(through(dsn, proxy)), [this, every](auto) {
            if (++statements % every == 0) {
                proxy.cut_all();
                ++cuts;
            }
        });
    }
    FaultProxy proxy;
    std::atomic<int> statements{0};
    std::atomic<int> cuts{0};
    std::unique_ptr<Connection> conn;
};

class ResilientValidation : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, ResilientValidation, ::testing::ValuesIn(engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(ResilientValidation, ConnectionsCutAgainAndAgainChangeNothingButTheRetries) {
    MigrationDatabases dbs(GetParam(), "cuts");
    ScratchDir dir("cuts");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    const Findings expected = planted_tables(*source, *target, "typed");
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
        SCOPED_TRACE(checksum == ChecksumMode::on ? "checksums" : "rows");
        CutEveryFew src(dbs.source.dsn(), 5), dst(dbs.target.dsn(), 7);
        auto control = connect_resumable(dbs.source.dsn());
        CheckpointStore checkpoints(*control);
        checkpoints.ensure_tables();
        const TablePlan plan = plan_for(*source, *target, "typed");
        ValidateOptions options;
        options.checksum = checksum;
        options.batch_size = 7;
        options.chunk_rows = 16;
        options.retry_for = 1min;
        const std::string path = dir.file(unique_name("events") + ".jsonl");
        auto sink = open_sink("file://" + path);
        const TableReport r = validate_full({*src.conn, *dst.conn}, plan, options, *sink, &checkpoints);
        sink->flush();

        const auto events = read_events(path);
        EXPECT_EQ(findings_of(events), expected);
        EXPECT_EQ(events.size(), expected.size()) << "a difference was reported twice";
        EXPECT_EQ(r.counts.differences(), expected.size());
        EXPECT_EQ(r.counts.base_rows, 150u);
        EXPECT_EQ(r.counts.other_rows, 150u - 3 + 4);  // 3 deleted, 4 extra target rows
        EXPECT_GE(src.cuts + dst.cuts, 3);
        EXPECT_GE(r.retries, 1u) << "the cuts were ridden out";
        EXPECT_TRUE(load_record<FullValidationProgress>(checkpoints, "typed", "all").value().finished);
    }
}

TEST_P(ResilientValidation, APlainConnectionCannotStartOverSoTheCutEndsTheRunWithItsError) {
    MigrationDatabases dbs(GetParam(), "nocut");
    ScratchDir dir("nocut");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    planted_tables(*source, *target, "typed");
    FaultProxy proxy(dbs.source.dsn().host, dbs.source.dsn().port);
    int statements = 0;
    ConnectionWrapper src(connect(through(dbs.source.dsn(), proxy)), [&](auto) {
        if (++statements == 4) proxy.cut_all();
    });
    const TablePlan plan = plan_for(*source, *target, "typed");
    ValidateOptions options;
    options.batch_size = 7;
    auto sink = open_sink("file://" + dir.file("events.jsonl"));
    try {
        validate_full({src, *target}, plan, options, *sink);
        FAIL() << "the cut went unnoticed";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::connection) << e.what();
        EXPECT_TRUE(e.is_temporary());
    }
}

TEST_P(ResilientValidation, IncrementalValidationMovesItsWatermarkAsBatchesCompleteSoAKilledRunGoesOnFromThere) {
    MigrationDatabases dbs(GetParam(), "incwm");
    ScratchDir dir("incwm");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    constexpr std::int64_t k_base = 1'780'000'000'000'000;  // 2026-05-28
    constexpr int k_rows = 300;
    for (Connection* c : {source.get(), target.get()}) {
        c->execute(
            fmt::format("CREATE TABLE changes (id bigint NOT NULL PRIMARY KEY, v bigint NOT NULL, utime {})",
                        c->dialect().engine() == Engine::mysql ? "datetime(6) NOT NULL" : "timestamp(6) NOT NULL"));
        Transaction tx(*c);
        const std::string insert = fmt::format("INSERT INTO changes VALUES ({}, {}, {})", c->dialect().placeholder(1),
                                               c->dialect().placeholder(2), c->dialect().placeholder(3));
        for (int id = 1; id <= k_rows; ++id)
            c->execute(insert, std::vector<Value>{Value::integer(id), Value::integer(id),
                                                  Value::datetime_micros(k_base + id * 1'000'000LL)});
        tx.commit();
    }
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    const TablePlan plan = plan_for(*source, *target, "changes");
    ValidateOptions options;
    options.batch_size = 10;
    options.retry_for = 0s;
    options.overlap = 0s;
    {
        // Slow (40 rows/s a side), ended by a permanent error after 6.5 s: past the first save.
        const auto started = std::chrono::steady_clock::now();
        ConnectionWrapper failing(dbs.target.connect(), [&](auto) {
            if (std::chrono::steady_clock::now() - started > 6500ms)
                throw Error(Code::server, "injected: the target refuses");
        });
        ValidateOptions slow = options;
        slow.throttle.rows_per_second = 40;
        auto sink = open_sink("file://" + dir.file("first.jsonl"));
        EXPECT_THROW(validate_incremental({*source, failing}, plan, slow, *sink, checkpoints), Error);
    }
    const auto kept = load_record<IncrementalWatermark>(checkpoints, "changes", "all");
    ASSERT_TRUE(kept) << "the watermark moved while the batches completed";
    const Value watermark = Value::parse(ValueKind::datetime, kept->watermark);
    EXPECT_GT(watermark.micros(), k_base + 20 * 1'000'000LL);
    EXPECT_LT(watermark.micros(), k_base + k_rows * 1'000'000LL);

    // The next run goes on from there: the rows before it are not read again.
    auto sink = open_sink("file://" + dir.file("second.jsonl"));
    const TableReport rest = validate_incremental({*source, *target}, plan, options, *sink, checkpoints);
    EXPECT_EQ(rest.counts.differences(), 0u);
    EXPECT_LT(rest.counts.base_rows, static_cast<std::uint64_t>(k_rows - 20));
    EXPECT_EQ(rest.counts.base_rows, static_cast<std::uint64_t>(k_rows - (watermark.micros() - k_base) / 1'000'000LL));
}

// -- Real servers restarted in the middle of `webookctl validate` -------------

// webookctl validate --full (throttled so that it runs a few seconds) of
// `typed` between two URLs, started in the background.
std::unique_ptr<ChildProcess> start_validation(const std::string& source, const std::string& target,
                                               const std::string& events, bool checksum) {
    std::vector<std::string> args{WEBOOKCTL_BINARY,
                                  "--output",
                                  "json",
                                  "validate",
                                  "--full",
                                  "--table",
                                  "typed",
                                  "--source",
                                  source,
                                  "--target",
                                  target,
                                  "--sink",
                                  "file://" + events,
                                  "--batch-size",
                                  "10",
                                  "--chunk-rows",
                                  "16",
                                  "--rows-per-second",
                                  "60",
                                  "--retry-for",
                                  "1m"};
    if (checksum) args.push_back("--checksum");
    return std::make_unique<ChildProcess>(args);
}

// Waits until the child's validation pass has begun (its connections are
// open: a server missing at the start is an error, not an outage), and a
// little more.
void wait_until_validating(ChildProcess& child) {
    for (int i = 0; i < 600 && child.running() && child.err().find("base is") == std::string::npos; ++i)
        std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(300ms);
}

// Restarts `server` (down for a second, refusing connections) once the
// validation has run for a while, and checks the run's result.
void expect_restart_changes_nothing(PrivateServer& server, const std::string& source, const std::string& target,
                                    const Findings& expected, ScratchDir& dir, bool checksum) {
    SCOPED_TRACE(checksum ? "checksums" : "rows");
    const std::string events = dir.file(unique_name("events") + ".jsonl");
    auto child = start_validation(source, target, events, checksum);
    wait_until_validating(*child);
    ASSERT_TRUE(child->running()) << "the validation ended before the restart: " << child->err();
    server.stop();
    std::this_thread::sleep_for(1s);
    server.start();
    const CommandResult r = child->wait(2min);
    SCOPED_TRACE(describe(r));
    EXPECT_EQ(r.exit_code, 1);
    const auto found = read_events(events);
    EXPECT_EQ(findings_of(found), expected);
    EXPECT_EQ(found.size(), expected.size()) << "a difference was reported twice";
    const nlohmann::json summary = last_json(r);
    const auto& t = summary.at("tables").at(0);
    EXPECT_EQ(t.at("base_rows"), 150);
    EXPECT_EQ(t.at("target_missing").get<int>() + t.at("neq").get<int>() + t.at("base_missing").get<int>(),
              static_cast<int>(expected.size()));
    EXPECT_GE(t.at("retries").get<int>(), 1);
    EXPECT_GE(t.at("longest_outage_seconds").get<double>(), 0.5);
    EXPECT_NE(r.err.find("next attempt in"), std::string::npos) << "each retry is logged";
}

TEST(ServerRestarts, PostgreSQLRestartedInTheMiddleOfAFullValidationChangesNothingButTheDuration) {
    PrivateServer pg(Engine::postgres);
    ScratchDatabase source(Engine::mysql, "pgrestart");
    ScratchDir dir("pgrestart");
    auto src = source.connect();
    auto dst = pg.connect();
    const Findings expected = planted_tables(*src, *dst, "typed");
    for (bool checksum : {false, true})
        expect_restart_changes_nothing(pg, source.url(), pg.url(), expected, dir, checksum);
}

TEST(ServerRestarts, MariaDBRestartedInTheMiddleOfAFullValidationChangesNothingButTheDuration) {
    // The source, which also holds the control table (the checkpoints).
    PrivateServer mysql(Engine::mysql);
    ScratchDatabase target(Engine::mysql, "myrestart");
    ScratchDir dir("myrestart");
    auto src = mysql.connect();
    auto dst = target.connect();
    const Findings expected = planted_tables(*src, *dst, "typed");
    for (bool checksum : {false, true})
        expect_restart_changes_nothing(mysql, mysql.url(), target.url(), expected, dir, checksum);
}

TEST(ServerRestarts, AServerThatStaysAwayLongerThanRetryForEndsTheRunWithExit3AndSaysSo) {
    PrivateServer pg(Engine::postgres);
    ScratchDatabase source(Engine::mysql, "giveup");
    ScratchDir dir("giveup");
    auto src = source.connect();
    auto dst = pg.connect();
    planted_tables(*src, *dst, "typed");
    auto child = std::make_unique<ChildProcess>(
        std::vector<std::string>{WEBOOKCTL_BINARY, "validate", "--full", "--table", "typed", "--source", source.url(),
                                 "--target", pg.url(), "--sink", "file://" + dir.file("events.jsonl"), "--batch-size",
                                 "10", "--rows-per-second", "100", "--retry-for", "2s"});
    wait_until_validating(*child);
    ASSERT_TRUE(child->running()) << child->err();
    pg.stop();
    const CommandResult r = child->wait(1min);
    pg.start();
    expect_one_error(r, 3, "gave up after");
    EXPECT_NE(r.err.find("--retry-for 2s"), std::string::npos) << r.err;
}

TEST(ServerRestarts, TheSourceRestartedInTheMiddleOfACopyLeavesTheTargetIdenticalToIt) {
    PrivateServer mysql(Engine::mysql);  // the source, and the control table
    ScratchDatabase target(Engine::postgres, "copyrestart");
    auto src = mysql.connect();
    auto dst = target.connect();
    create_types_table(*src, "typed", 2);
    create_types_table(*dst, "typed", 2);
    insert_types_rows(*src, "typed", 3000);
    ChildProcess copy({WEBOOKCTL_BINARY, "--output", "json", "migrate", "copy", "--table", "typed", "--source",
                       mysql.url(), "--target", target.url(), "--batch-size", "50", "--rows-per-second", "600",
                       "--retry-for", "1m"});
    // Restarted once the copy has committed its first batches.
    for (int i = 0; i < 600 && copy.running() && row_count(*dst, "typed") == 0; ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(copy.running()) << copy.err();
    mysql.stop();
    std::this_thread::sleep_for(1s);
    mysql.start();
    const CommandResult r = copy.wait(2min);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    const auto copied = last_json(r).at("copied").at(0);
    EXPECT_EQ(copied.at("rows_total"), 3000);
    EXPECT_GE(copied.at("retries").get<int>(), 1);
    EXPECT_EQ(row_count(*dst, "typed"), 3000);
    // Identical, as a full validation says.
    const CommandResult v = webookctl({"--output", "json", "validate", "--full", "--table", "typed", "--source",
                                       mysql.url(), "--target", target.url()});
    EXPECT_EQ(v.exit_code, 0) << describe(v);
}

// -- The fixer SIGKILLed again and again under live writers ---------------------

TEST(FixerKills, AFixerKilledFiveTimesUnderEightWritersLosesNoRepairOverwritesNothingAndConverges) {
    MigrationDatabases dbs(engine_pairs()[2], "fixkills");  // MySQL -> PostgreSQL
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute("CREATE TABLE counters (id bigint NOT NULL PRIMARY KEY, v bigint NOT NULL, w varchar(40) NOT NULL)");
    constexpr int k_ids = 80, k_writers = 8, k_iterations = 40;
    for (int id = 1; id <= k_ids; ++id) {
        source->execute(fmt::format("INSERT INTO counters VALUES ({}, 0, 'initial')", id));
        if (id <= 60) target->execute(fmt::format("INSERT INTO counters VALUES ({}, -1, 'stale')", id));
    }
    const std::string topic = unique_name("fixkills");
    const std::string group = unique_name("fixkillers");

    // Events for every key, again and again, as incremental validation sends them.
    std::atomic<bool> stop_events{false};
    std::thread events([&] {
        EventProducer producer(kafka_bootstrap(), topic);
        while (!stop_events) {
            for (int id = 1; id <= k_ids; ++id)
                producer.send(std::to_string(id),
                              fmt::format(R"({{"table":"counters","key":{{"id":{}}},"type":"neq","base":"src"}})", id));
            producer.flush();
            std::this_thread::sleep_for(300ms);
        }
    });
    // Writers double-write (source, then target) the keys being repaired; each
    // checks that the target never goes back behind its own last write.
    std::mutex stale_mutex;
    std::vector<std::string> stale;
    std::vector<std::exception_ptr> failures(k_writers);
    std::vector<std::thread> writers;
    for (int w = 0; w < k_writers; ++w) {
        writers.emplace_back([&, w] {
            try {
                auto src = dbs.source.connect();
                auto dst = dbs.target.connect();
                const std::string src_sql = src->dialect().upsert("counters", {"id", "v", "w"}, {"id"});
                const std::string dst_sql = dst->dialect().upsert("counters", {"id", "v", "w"}, {"id"});
                const std::string read_sql =
                    fmt::format("SELECT v FROM counters WHERE id = {}", dst->dialect().placeholder(1));
                for (int i = 1; i <= k_iterations; ++i) {
                    for (int id = w + 1; id <= k_ids; id += k_writers) {
                        if (i > 1) {
                            auto now = dst->query_one(read_sql, std::vector<Value>{Value::integer(id)});
                            const std::int64_t mine = (i - 1) * 1000 + id;
                            if (!now || (*now)[0].as_int() < mine) {
                                std::lock_guard lock(stale_mutex);
                                stale.push_back(fmt::format("id {}: target has {} after the double-write of {}", id,
                                                            now ? (*now)[0].display() : "no row", mine));
                            }
                        }
                        std::vector<Value> row{Value::integer(id), Value::integer(i * 1000 + id),
                                               Value::text(fmt::format("writer {} iteration {}", w, i))};
                        with_retries([&] { src->execute(src_sql, row); });
                        with_retries([&] { dst->execute(dst_sql, row); });
                    }
                    std::this_thread::sleep_for(100ms);
                }
            } catch (...) {
                failures[static_cast<std::size_t>(w)] = std::current_exception();
            }
        });
    }
    const std::vector<std::string> fix{WEBOOKCTL_BINARY,
                                       "fix",
                                       "--from",
                                       "kafka://" + kafka_bootstrap() + "/" + topic,
                                       "--group",
                                       group,
                                       "--table",
                                       "counters",
                                       "--batch-size",
                                       "20",
                                       "--session-timeout",
                                       "3s",
                                       "--source",
                                       dbs.source.url(),
                                       "--target",
                                       dbs.target.url()};
    for (int kill = 0; kill < 5; ++kill) {
        ChildProcess fixer(fix);
        std::this_thread::sleep_for(1500ms);
        ASSERT_TRUE(fixer.running()) << "the fixer ended by itself: " << fixer.err();
        fixer.kill_hard();
    }
    for (auto& t : writers) t.join();
    stop_events = true;
    events.join();
    for (auto& f : failures)
        if (f) std::rethrow_exception(f);
    // The last fixer catches up with every event the killed ones left.
    std::vector<std::string> last = fix;
    last.push_back("--until-idle");
    const CommandResult rest = run_command(last, 2min);
    ASSERT_EQ(rest.exit_code, 0) << describe(rest);
    EXPECT_EQ(stale, std::vector<std::string>{});
    EXPECT_EQ(dump_rows(*target, "counters", "id"), dump_rows(*source, "counters", "id"));
}

// -- Resume after a kill -----------------------------------------------------

TEST(ValidateResume, AKilledFullValidationResumedReportsWhatAnUninterruptedRunReports) {
    MigrationDatabases dbs(engine_pairs()[2], "resume");  // MySQL -> PostgreSQL
    ScratchDir dir("resume");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    const Findings expected = planted_tables(*source, *target, "typed");
    auto args = [&](const std::string& events) {
        return std::vector<std::string>{
            "--output",       "json",     "validate",       "--full", "--table",          "typed",        "--source",
            dbs.source.url(), "--target", dbs.target.url(), "--sink", "file://" + events, "--batch-size", "5"};
    };
    // The uninterrupted run, for comparison.
    const CommandResult whole = webookctl(args(dir.file("whole.jsonl")));
    ASSERT_EQ(whole.exit_code, 1) << describe(whole);
    const auto whole_table = last_json(whole).at("tables").at(0);

    // Slow (15 rows/s: 10 s), killed after its first checkpoint (every 5 s).
    std::vector<std::string> slow = args(dir.file("first.jsonl"));
    slow.insert(slow.begin(), WEBOOKCTL_BINARY);
    for (const char* a : {"--rows-per-second", "15"}) slow.push_back(a);
    ChildProcess first(slow);
    std::this_thread::sleep_for(7s);
    ASSERT_TRUE(first.running()) << first.err();
    first.kill_hard();
    CheckpointStore store(*source);
    const auto kept = load_record<FullValidationProgress>(store, "typed", "all");
    ASSERT_TRUE(kept && kept->after) << "a checkpoint was saved while it ran";

    std::vector<std::string> again = args(dir.file("second.jsonl"));
    again.push_back("--resume");
    const CommandResult resumed = webookctl(again);
    ASSERT_EQ(resumed.exit_code, 1) << describe(resumed);
    const auto t = last_json(resumed).at("tables").at(0);
    EXPECT_EQ(t.at("resumed_after"), *kept->after);
    for (const char* count : {"base_rows", "other_rows", "target_missing", "neq", "base_missing"})
        EXPECT_EQ(t.at(count), whole_table.at(count)) << count;
    // Every planted difference was reported by one run or the other; the
    // events after the last checkpoint may have been reported by both.
    auto first_events = read_events(dir.file("first.jsonl"));
    auto second_events = read_events(dir.file("second.jsonl"));
    Findings both = findings_of(first_events);
    for (const auto& f : findings_of(second_events)) both.insert(f);
    EXPECT_EQ(both, expected);
    EXPECT_LT(second_events.size(), expected.size()) << "the resumed run re-read only the rest";

    // The pass is complete: another --resume starts a new one.
    EXPECT_FALSE(load_record<FullValidationProgress>(store, "typed", "all").has_value());
}

}  // namespace
}  // namespace webook
