// The fixer against the real servers for each engine pair: fed from a JSONL
// file and from Kafka, racing double-writers, yielding its locks to the
// writers it blocks.
//
// Every test works in databases of its own (tests/support/scratch_db.h), so
// `ctest -j` runs them side by side. Differences are planted on purpose and
// the validator must report exactly those keys with exactly those types.
// The shared steps (copy, validate, fix) are in tests/support/migration_steps.h.
#include <gtest/gtest.h>

#include <future>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/messaging/event_input.h"
#include "core/migration/checkpoint.h"
#include "core/migration/event_sink.h"
#include "core/migration/shard.h"
#include "fixers/fixer.h"
#include "migrate/copy.h"
#include "migrate/mode_control.h"
#include "platform/schema.h"
#include "platform/seed.h"
#include "tests/support/child_process.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/migration_data.h"
#include "tests/support/migration_steps.h"
#include "tests/support/test_env.h"
#include "validate/pass.h"
#include "validate/validation.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using namespace ::webook::testing;  // the engine pairs, the migration steps

class FixerPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, FixerPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

// A deadlock that spans two servers: a double-writer holds a target row
// (the rows of the two sides need not pair up while they differ) and waits
// for a source row the fixer holds FOR SHARE, while the fixer waits for that
// target row. Neither server sees a cycle. The fixer gives up its locks
// after its lock wait (1 s), so the user's write goes on within about that
// -- not after MariaDB's 50 s lock timeout -- and the fixer retries and
// ends with both sides equal.
TEST(FixerLocks, AFixerWaitingOnTheOtherServerYieldsToTheWriterItBlocks) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "fixyield");
    testing::ScratchDir dir("fixyield");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        c->execute("CREATE TABLE kv (id BIGINT PRIMARY KEY, v VARCHAR(32) NOT NULL)");
        c->execute("INSERT INTO kv VALUES (1, 'old'), (2, 'old')");
    }
    const std::string events = write_events(dir.file("events.jsonl"), "kv", {1, 2}, "neq");
    auto writer_target = dbs.target.connect();
    writer_target->begin();
    writer_target->execute("UPDATE kv SET v = 'writer' WHERE id = 1");

    std::future<FixReport> fixing = std::async(std::launch::async, [&] { return fix_from(dbs, "file://" + events); });
    // Until the fixer holds the source rows and waits for target row 1.
    auto probe = dbs.target.connect();
    bool waiting = false;
    for (int i = 0; i < 500 && !waiting; ++i) {
        waiting = (*probe->query_one("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                                     "datname = current_database()"))[0]
                      .as_int() > 0;
        if (!waiting) std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(waiting) << "the fixer never waited for the writer's target row";

    auto writer_source = dbs.source.connect();
    writer_source->execute("SET SESSION innodb_lock_wait_timeout = 10");  // not 50 s, should this fail
    const auto started = std::chrono::steady_clock::now();
    try {
        writer_source->begin();
        writer_source->execute("UPDATE kv SET v = 'writer' WHERE id = 2");  // the row the fixer holds FOR SHARE
        writer_source->commit();
        writer_target->commit();
    } catch (const Error& e) {
        writer_target->rollback();  // lets the fixer finish
        fixing.wait();
        FAIL() << "the user's write failed: " << e.what();
    }
    const auto waited = std::chrono::steady_clock::now() - started;

    const FixReport report = fixing.get();
    EXPECT_LT(waited, 5s) << "the user's write waited "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
    EXPECT_GE(report.retries, 1u);
    EXPECT_EQ(testing::dump_rows(*target, "kv", "id"), testing::dump_rows(*source, "kv", "id"));
    EXPECT_EQ(testing::dump_rows(*source, "kv", "id"), (std::vector<std::string>{"1 | old", "2 | writer"}));
}

// After a temporary failure the fixer retries the group with half as many
// keys per transaction, so a batch that keeps meeting writers' locks still
// gets through; every key is fixed in the end.
TEST(FixerLocks, EachRetryTakesHalfAsManyKeysAtOnce) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "fixhalves");
    testing::ScratchDir dir("fixhalves");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute("CREATE TABLE kv (id BIGINT PRIMARY KEY, v VARCHAR(32) NOT NULL)");
    source->execute(
        "INSERT INTO kv VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f'), (7, "
        "'g'), "
        "(8, 'h')");
    const std::string events = write_events(dir.file("events.jsonl"), "kv", {1, 2, 3, 4, 5, 6, 7, 8}, "target_missing");
    // Rows per upsert statement, in order; the first two upserts fail as a lock timeout would.
    std::vector<std::size_t> upserts;
    auto failing_target = [&] {
        return std::make_unique<testing::ConnectionWrapper>(dbs.target.connect(), [&](std::string_view sql) {
            if (!sql.starts_with("INSERT INTO")) return;
            std::size_t rows = 1;
            for (std::size_t at = sql.find("), ("); at != std::string_view::npos; at = sql.find("), (", at + 1)) ++rows;
            upserts.push_back(rows);
            if (upserts.size() <= 2) throw Error(Code::server, "lock timeout (injected)", Temporary::yes);
        });
    };
    auto input = open_input("file://" + events);
    FixOptions options = fix_options();
    options.batch_size = 8;  // one batch, one group
    Fixer fixer([&] { return dbs.source.connect(); }, failing_target, {[&] { return dbs.source.connect(); }, {}}, {},
                options, nullptr);
    const FixReport r = fixer.run(*input);
    EXPECT_EQ(r.retries, 2u);
    EXPECT_EQ(r.upserted, 8u);
    // 8 keys fail, 4 fail, then 4 + 2 + 2: halved after each failure, never grown back.
    EXPECT_EQ(upserts, (std::vector<std::size_t>{8, 4, 2, 2, 2, 2}));
    EXPECT_EQ(testing::dump_rows(*target, "kv", "id"), testing::dump_rows(*source, "kv", "id"));
}

// -- 4. Fixing from Kafka ----------------------------------------------------

TEST_P(FixerPairs, FixesEveryEventTheValidatorSentToKafka) {
    MigrationDatabases dbs(GetParam(), "kafkafix");
    testing::ScratchDir dir("kafkafix");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 150);
    copy(dbs, "typed", 50);
    const Findings expected = testing::plant_type_differences(*target, "typed");

    const std::string topic = testing::unique_name("migration_fix");
    {
        TablePlan plan = plan_for(*source, *target, "typed");
        ValidateOptions options;
        options.checksum = ChecksumMode::on;
        options.chunk_rows = 16;
        auto sink = open_sink(kafka_url(topic));
        TableReport r = validate_full({*source, *target}, plan, options, *sink);
        sink->flush();
        EXPECT_EQ(r.counts.differences(), expected.size());
        EXPECT_EQ(sink->written(), expected.size());
    }
    FixReport r = fix_from(dbs, kafka_url(topic), testing::unique_name("fixers"));
    EXPECT_EQ(r.events, expected.size());
    EXPECT_EQ(r.dead_letters, 0u);
    expect_consistent(dbs, "typed", dir);
}

// After an outage of the second side, a counter upserted by (biz, biz_id)
// gets a fresh id on that side: the same unique value under two keys. The
// fixer must clear the stale holder (and restore it from the base when the
// base has that key with other values) instead of failing on the unique index.
TEST_P(FixerPairs, FixerClearsRowsHoldingAUniqueValueUnderAnotherKey) {
    MigrationDatabases dbs(GetParam(), "uniqfix");
    testing::ScratchDir dir("uniqfix");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute(
            "CREATE TABLE counters (id BIGINT PRIMARY KEY, biz VARCHAR(32) NOT NULL, biz_id BIGINT "
            "NOT NULL, "
            "cnt BIGINT NOT NULL, UNIQUE (biz, biz_id))");
    source->execute(
        "INSERT INTO counters VALUES (1, 'article', 7, 5), (2, 'article', 8, 9), (3, 'article', 9, "
        "1)");
    // id 2 holds (article, 7), which the base has under id 1; the base's id 2 is (article, 8).
    // id 4 holds (article, 9), which the base has under id 3; the base has no id 4.
    target->execute("INSERT INTO counters VALUES (2, 'article', 7, 1), (4, 'article', 9, 1)");
    const std::string events = write_events(dir.file("events.jsonl"), "counters", {1, 3}, "target_missing");
    FixReport r = fix_from(dbs, "file://" + events);
    EXPECT_EQ(r.events, 2u);
    EXPECT_EQ(r.upserted, 3u);  // 1 and 3, then 2 restored from the base
    EXPECT_EQ(r.deleted, 2u);   // 2 and 4 held the unique values
    expect_consistent(dbs, "counters", dir, 1);
    EXPECT_EQ(row_count(*target, "counters"), 3);
}

// -- 5. The fixer racing double-writers --------------------------------------

// Events for every id, round after round, until the writers are done.
class RoundsOfEvents final : public EventInput {
public:
    RoundsOfEvents(std::vector<std::string> payloads, const std::atomic<bool>& stop)
        : m_payloads(std::move(payloads)), m_stop(stop) {}

    std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds) override {
        if (m_stop.load()) {
            m_idle = true;
            return {};
        }
        std::vector<InputItem> items;
        for (std::size_t i = 0; i < m_payloads.size() && items.size() < max; ++i)
            items.push_back({m_payloads[i], fmt::format("round {} #{}", m_rounds, i)});
        ++m_rounds;
        return items;
    }
    bool idle() const override { return m_idle; }
    void commit(const std::vector<InputItem>&) override {}
    std::string describe() const override { return "rounds of events"; }
    int rounds() const { return m_rounds; }

private:
    std::vector<std::string> m_payloads;
    const std::atomic<bool>& m_stop;
    int m_rounds = 0;
    bool m_idle = false;
};

// Writers double-write the same ids the fixer repairs: the base (source)
// first, then the target, each in its own autocommit statement; most ids are
// updated, a few are inserted and deleted in turn. While they run, no
// target row ever goes back to a value older than its last double-write;
// after they stop, every target row equals its source row without any
// further fixing: the fixer never wrote stale base data over a newer write.
enum class Cuts { no, yes };

// Connections to `dsn` through a proxy that resets every connection to the
// server before every `every`-th statement sent on any of them.
class CuttingConnections {
public:
    CuttingConnections(Dsn dsn, int every) : m_proxy(dsn.host, dsn.port), m_dsn(std::move(dsn)), m_every(every) {
        m_dsn.host = "127.0.0.1";
        m_dsn.port = m_proxy.port();
    }
    std::unique_ptr<Connection> open(testing::ConnectionWrapper::Hook also = {}) {
        return std::make_unique<testing::ConnectionWrapper>(connect(m_dsn), [this, also](std::string_view sql) {
            if (++m_statements % m_every == 0) {
                m_proxy.cut_all();
                ++m_cuts;
            }
            if (also) also(sql);
        });
    }
    int cuts() const { return m_cuts; }

private:
    testing::FaultProxy m_proxy;
    Dsn m_dsn;
    int m_every;
    std::atomic<int> m_statements{0};
    std::atomic<int> m_cuts{0};
};

// Writers double-write the same rows the fixer repairs, round after round of
// events for every key, until they stop; with Cuts::yes every connection of
// the fixer is reset every few statements. The writers check after each of
// their writes that the target never goes back to an older value.
void race_fixer_against_writers(const testing::EnginePair& pair, Cuts cuts) {
    MigrationDatabases dbs(pair, cuts == Cuts::yes ? "racecut" : "race");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute(
            "CREATE TABLE counters (id bigint NOT NULL PRIMARY KEY, v bigint NOT NULL, w "
            "varchar(40) NOT NULL)");
    constexpr int k_ids = 40;
    constexpr int k_writers = 4;
    constexpr int k_iterations = 60;
    constexpr int k_toggled = 8;  // ids k_ids+1.. are inserted and deleted in turn
    for (int id = 1; id <= k_ids; ++id) {
        source->execute(fmt::format("INSERT INTO counters VALUES ({}, 0, 'initial')", id));
        if (id <= 30) target->execute(fmt::format("INSERT INTO counters VALUES ({}, -1, 'stale')", id));
    }
    for (int id = k_ids + 1; id <= k_ids + k_toggled; ++id)
        target->execute(fmt::format("INSERT INTO counters VALUES ({}, -1, 'stale')", id));
    std::vector<std::string> events;
    for (int id = 1; id <= k_ids + k_toggled; ++id)
        events.push_back(fmt::format(R"({{"table":"counters","key":{{"id":{}}},"type":"{}","base":"src"}})", id,
                                     id <= 30      ? "neq"
                                     : id <= k_ids ? "target_missing"
                                                   : "base_missing"));

    std::atomic<bool> writers_done{false};
    std::atomic<int> writes{0};
    std::vector<std::thread> writers;
    std::vector<std::exception_ptr> failures(k_writers);
    std::mutex stale_mutex;
    std::vector<std::string> stale;  // stale data found over newer double-writes
    for (int w = 0; w < k_writers; ++w) {
        writers.emplace_back([&, w] {
            try {
                auto src = dbs.source.connect();
                auto dst = dbs.target.connect();
                const std::string src_sql = src->dialect().upsert("counters", {"id", "v", "w"}, {"id"});
                const std::string dst_sql = dst->dialect().upsert("counters", {"id", "v", "w"}, {"id"});
                const std::string read_sql =
                    fmt::format("SELECT v FROM counters WHERE id = {}", dst->dialect().placeholder(1));
                const std::string src_delete =
                    fmt::format("DELETE FROM counters WHERE id = {}", src->dialect().placeholder(1));
                const std::string dst_delete =
                    fmt::format("DELETE FROM counters WHERE id = {}", dst->dialect().placeholder(1));
                for (int i = 1; i <= k_iterations; ++i) {
                    // Each id belongs to one writer, so the writers never race each other.
                    for (int id = w + 1; id <= k_ids; id += k_writers) {
                        // Once this writer's double-write of a value is done, the
                        // target never goes back to an older one: a fix copies
                        // the base as it is while the base row is locked.
                        if (i > 1) {
                            std::vector<Value> key{Value::integer(id)};
                            auto now = dst->query_one(read_sql, key);
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
                        ++writes;
                    }
                    for (int id = k_ids + 1 + w; id <= k_ids + k_toggled; id += k_writers) {
                        std::vector<Value> key{Value::integer(id)};
                        std::vector<Value> row{Value::integer(id), Value::integer(i * 1000 + id),
                                               Value::text(fmt::format("writer {} iteration {}", w, i))};
                        const bool insert = (i + id) % 2 == 0;
                        with_retries([&] { src->execute(insert ? src_sql : src_delete, insert ? row : key); });
                        with_retries([&] { dst->execute(insert ? dst_sql : dst_delete, insert ? row : key); });
                    }
                }
            } catch (...) {
                failures[static_cast<std::size_t>(w)] = std::current_exception();
            }
        });
    }
    RoundsOfEvents input(events, writers_done);
    FixOptions options = fix_options();
    options.batch_size = k_ids + k_toggled;
    options.max_attempts = 20;
    // The fixer pauses between reading the base rows and writing them to the
    // target: the window in which a double-write could land and be
    // overwritten, made wide enough that a missing lock shows every time.
    auto slow_target = [&]() -> std::unique_ptr<Connection> {
        return std::make_unique<testing::ConnectionWrapper>(dbs.target.connect(), [](std::string_view sql) {
            if (sql.starts_with("INSERT")) std::this_thread::sleep_for(3ms);
        });
    };
    // With cuts: the fixer's sessions reset every few statements, every one of them.
    CuttingConnections src_cut(dbs.source.dsn(), 7), dst_cut(dbs.target.dsn(), 11), ctl_cut(dbs.source.dsn(), 5);
    if (cuts == Cuts::yes) options.max_attempts = 50;
    Fixer fixer(cuts == Cuts::no ? ConnectionFactory([&] { return dbs.source.connect(); })
                                 : ConnectionFactory([&] { return src_cut.open(); }),
                cuts == Cuts::no ? ConnectionFactory(slow_target) : ConnectionFactory([&] {
                    return dst_cut.open([](std::string_view sql) {
                        if (sql.starts_with("INSERT")) std::this_thread::sleep_for(3ms);
                    });
                }),
                {cuts == Cuts::no ? ConnectionFactory([&] { return dbs.source.connect(); })
                                  : ConnectionFactory([&] { return ctl_cut.open(); }),
                 {}},
                {}, options, nullptr);
    std::thread stopper([&] {
        for (auto& t : writers) t.join();
        writers_done = true;
    });
    FixReport report = fixer.run(input);
    stopper.join();
    for (auto& f : failures)
        if (f) std::rethrow_exception(f);
    EXPECT_EQ(stale, std::vector<std::string>{}) << "after " << input.rounds() << " fix rounds";
    EXPECT_EQ(writes.load(), k_ids * k_iterations);
    EXPECT_GE(input.rounds(), 1);
    EXPECT_GT(report.upserted, 0u);

    // No fixing after the writers stopped: what is there now is what the race left.
    const std::string q = "SELECT id, v, w FROM counters ORDER BY id";
    auto src_rows = source->query(q);
    auto dst_rows = target->query(q);
    ASSERT_EQ(src_rows.size(), static_cast<std::size_t>(k_ids + k_toggled / 2));
    for (int i = 0; i < k_ids; ++i) EXPECT_EQ(src_rows[i][1].as_int(), k_iterations * 1000 + i + 1);
    EXPECT_EQ(testing::dump_rows(*target, "counters", "id"), testing::dump_rows(*source, "counters", "id"))
        << "after " << input.rounds() << " fix rounds";
    if (cuts == Cuts::yes) {
        // How many depends on how long the writers keep the race going (a
        // fast run saw 2 cuts); that there were some, and all were ridden out.
        EXPECT_GE(src_cut.cuts() + dst_cut.cuts() + ctl_cut.cuts(), 1);
        EXPECT_GE(report.retries, 1u) << "the cuts were ridden out";
    }
}

TEST_P(FixerPairs, FixerNeverOverwritesNewerDoubleWritesWithStaleData) {
    race_fixer_against_writers(GetParam(), Cuts::no);
}

TEST_P(FixerPairs, ConnectionsCutInTheMiddleOfFixerBatchesLoseNoRepairAndOverwriteNothing) {
    race_fixer_against_writers(GetParam(), Cuts::yes);
}

}  // namespace
}  // namespace webook
