// The migration core against the real servers, for each engine pair
// (MySQL->MySQL, PostgreSQL->PostgreSQL, MySQL->PostgreSQL): copy, full
// validation by row merge and by chunk checksums, incremental validation,
// and the fixer fed from a JSONL file, from Kafka, and racing double-writers.
//
// Every test works in databases of its own (tests/support/scratch_db.h), so
// `ctest -j` runs them side by side. Differences are planted on purpose and
// the validator must report exactly those keys with exactly those types.
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
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"
#include "validate/pass.h"
#include "validate/validation.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::EnginePair;
using testing::Finding;
using testing::Findings;
using testing::MigrationDatabases;
using testing::row_count;

TablePlan plan_for(Connection& source, Connection& target, const std::string& table) {
    TableConfig config;
    config.name = table;
    return plan_table(source, target, config);
}

// Copies one table from scratch (or as `start` says), as `migrate copy` does.
CopyReport copy(const MigrationDatabases& dbs, const std::string& table, std::size_t batch_size = 1000,
                CopyStart start = CopyStart::fresh) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    TablePlan plan = plan_for(*source, *target, table);
    CopyOptions options;
    options.mode_fence = [&] { return dbs.source.connect(); };
    options.batch_size = batch_size;
    options.start = start;
    return copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
}

struct Validation {
    TableReport report;
    std::vector<InconsistencyEvent> events;
    Findings findings;
};

struct ValidateSettings {
    ChecksumMode checksum = ChecksumMode::off;
    BaseSide base = BaseSide::src;
    std::size_t batch_size = 7;   // small, so keyset pagination crosses many batches
    std::size_t chunk_rows = 16;  // small, so some checksum chunks match and some differ
};

// Full validation with events to a fresh JSONL file, read back.
Validation validate_to_file(const MigrationDatabases& dbs, const std::string& table, const std::string& path,
                            ValidateSettings settings = {}) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    TablePlan plan = plan_for(*source, *target, table);
    ValidateOptions options;
    options.base = settings.base;
    options.checksum = settings.checksum;
    options.batch_size = settings.batch_size;
    options.chunk_rows = settings.chunk_rows;
    auto sink = open_sink("file://" + path);
    Validation v;
    v.report = validate_full({*source, *target}, plan, options, *sink);
    sink->flush();
    v.events = testing::read_events(path);
    v.findings = testing::findings_of(v.events);
    return v;
}

// Full validation of one table, by rows and by checksums: both must find
// `expected`, and the counts must agree with the events.
// Checksums run twice: with chunks of `chunk_rows` (several chunks, some
// equal, some not) and with one chunk for the whole table.
void expect_full_validation_finds(const MigrationDatabases& dbs, const std::string& table, const Findings& expected,
                                  testing::ScratchDir& dir, BaseSide base = BaseSide::src,
                                  std::size_t small_chunks = 16) {
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
        for (std::size_t chunk_rows : {small_chunks, std::size_t{100000}}) {
            if (checksum == ChecksumMode::off && chunk_rows != small_chunks) continue;
            SCOPED_TRACE(fmt::format("{} base {} checksum {} chunk_rows {}", table, base_side_name(base),
                                     checksum == ChecksumMode::on ? "on" : "off", chunk_rows));
            ValidateSettings s;
            s.checksum = checksum;
            s.base = base;
            s.chunk_rows = chunk_rows;
            Validation v = validate_to_file(dbs, table, dir.file(testing::unique_name(table) + ".jsonl"), s);
            EXPECT_EQ(v.findings, expected);
            EXPECT_EQ(v.events.size(), expected.size()) << "each difference is reported once";
            EXPECT_EQ(v.report.method, checksum == ChecksumMode::on ? Method::checksum : Method::rows);
            std::map<std::string, std::uint64_t> by_type;
            for (const Finding& f : expected) ++by_type[f.type];
            EXPECT_EQ(v.report.counts.target_missing, by_type["target_missing"]);
            EXPECT_EQ(v.report.counts.neq, by_type["neq"]);
            EXPECT_EQ(v.report.counts.base_missing, by_type["base_missing"]);
            for (const auto& e : v.events) {
                EXPECT_EQ(e.table, table);
                EXPECT_EQ(e.validator, "full");
                EXPECT_FALSE(e.detected_at.empty());
            }
            if (checksum == ChecksumMode::on && chunk_rows == small_chunks) {
                EXPECT_GT(v.report.chunks, 1u);
                if (expected.empty())
                    EXPECT_EQ(v.report.chunks_differing, 0u);
                else
                    EXPECT_GT(v.report.chunks_differing, 0u);
            }
        }
    }
}

void expect_consistent(const MigrationDatabases& dbs, const std::string& table, testing::ScratchDir& dir,
                       std::size_t small_chunks = 16) {
    expect_full_validation_finds(dbs, table, {}, dir, BaseSide::src, small_chunks);
}

ConsumerOptions fast_group() {
    ConsumerOptions s;
    s.session_timeout = 3000ms;  // the mock cluster's re-join waits session timeout - 1 s (docs/library-notes.md)
    s.heartbeat_interval = 750ms;
    return s;
}

FixOptions fix_options() {
    FixOptions o;
    o.until_idle = UntilIdle::yes;
    o.batch_size = 5;  // several batches even for a handful of events
    o.batch_wait = 200ms;
    o.backoff = 10ms;
    return o;
}

// Runs a fixer until it is idle, reading `url` (file:// or kafka://).
FixReport fix_from(const MigrationDatabases& dbs, const std::string& url, const std::string& group = {}) {
    auto input = open_input(url, group, fast_group());
    Fixer fixer([&] { return dbs.source.connect(); }, [&] { return dbs.target.connect(); },
                [&] { return dbs.source.connect(); }, {}, fix_options(), nullptr);
    return fixer.run(*input);
}

std::string kafka_url(const std::string& topic) {
    return "kafka://" + testing::kafka_bootstrap() + "/" + topic;
}

// A JSONL file of events of `type` (base src) for these ids of `table`; returns its path.
std::string write_events(const std::string& path, const std::string& table, const std::vector<int>& ids,
                         const std::string& type) {
    std::ofstream out(path);
    for (int id : ids)
        out << fmt::format(R"({{"table":"{}","key":{{"id":{}}},"type":"{}","base":"src",)"
                           R"("detected_at":"2026-12-01T00:00:00Z","validator":"full"}})",
                           table, id, type)
            << "\n";
    return path;
}

Value now_value() {
    return Value::datetime_micros(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

class MigrationPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, MigrationPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

// -- 1. Seed, copy, validate -------------------------------------------------

TEST_P(MigrationPairs, CopiesEverySeededTableAndFullValidationFindsNothing) {
    MigrationDatabases dbs(GetParam(), "seeded");
    testing::ScratchDir dir("seeded");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    init_schema(*source);
    init_schema(*target);
    SeedOptions seed;
    seed.users = 40;
    seed.articles = 80;
    seed.likes = 150;
    seed.collects = 60;
    seed.rewards = 25;
    seed_database(*source, seed);

    std::vector<std::string> tables;
    for (const TableDef& t : webook_tables())
        if (t.name != k_control_table && t.name != k_checkpoint_table) tables.push_back(t.name);
    ASSERT_FALSE(tables.empty());
    for (const auto& table : tables) {
        SCOPED_TRACE(table);
        const std::int64_t rows = row_count(*source, table);
        CopyReport r = copy(dbs, table, 37);
        EXPECT_EQ(r.rows, static_cast<std::uint64_t>(rows));
        EXPECT_EQ(row_count(*target, table), rows);
        for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
            ValidateSettings s;
            s.checksum = checksum;
            Validation v = validate_to_file(dbs, table, dir.file(testing::unique_name(table) + ".jsonl"), s);
            EXPECT_EQ(v.report.counts.differences(), 0u) << ::testing::PrintToString(v.findings);
            EXPECT_TRUE(v.events.empty());
            EXPECT_EQ(v.report.counts.base_rows, static_cast<std::uint64_t>(rows));
            EXPECT_EQ(v.report.counts.other_rows, static_cast<std::uint64_t>(rows));
        }
    }
    // The seed fills most tables: the copy above was not of empty tables only.
    std::int64_t seeded = 0;
    for (const auto& table : tables) seeded += row_count(*source, table) > 0 ? 1 : 0;
    EXPECT_GE(seeded, 5);
}

// -- 2. Planted differences of every column kind -----------------------------

TEST_P(MigrationPairs, FullValidationReportsExactlyThePlantedDifferencesOfEveryColumnKind) {
    MigrationDatabases dbs(GetParam(), "types");
    testing::ScratchDir dir("types");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    // The target keeps decimals at another scale: 1.50 and 1.5000 are the same data.
    testing::create_types_table(*source, "typed", 2);
    testing::create_types_table(*target, "typed", 4);
    testing::insert_types_rows(*source, "typed", 150);
    copy(dbs, "typed", 23);
    expect_consistent(dbs, "typed", dir);

    const Findings expected = testing::plant_type_differences(*target, "typed");
    expect_full_validation_finds(dbs, "typed", expected, dir);
    expect_full_validation_finds(dbs, "typed", testing::with_base_dst(expected), dir, BaseSide::dst);
    {
        // Chunks without a planted difference are settled by their checksums alone.
        ValidateSettings s;
        s.checksum = ChecksumMode::on;
        Validation v = validate_to_file(dbs, "typed", dir.file("chunks.jsonl"), s);
        EXPECT_EQ(v.report.chunks, 10u);           // 150 base rows in chunks of 16
        EXPECT_EQ(v.report.chunks_differing, 2u);  // keys up to 32, and the last, open-ended chunk
    }
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
        // Three shards (--shard i/3) together find exactly what one pass finds.
        Findings in_shards;
        std::uint64_t base_rows = 0;
        for (int i = 1; i <= 3; ++i) {
            auto src = dbs.source.connect();
            auto dst = dbs.target.connect();
            auto control = dbs.source.connect();
            CheckpointStore plans(*control);
            TablePlan plan = plan_for(*src, *dst, "typed");
            ValidateOptions options;
            options.checksum = checksum;
            options.batch_size = 7;
            options.chunk_rows = 16;
            options.shard = Shard::parse(fmt::format("{}/3", i));
            const std::string path = dir.file(testing::unique_name("shard") + ".jsonl");
            auto sink = open_sink("file://" + path);
            TableReport r = validate_full({*src, *dst}, plan, options, *sink, &plans);
            sink->flush();
            base_rows += r.counts.base_rows;
            for (const Finding& f : testing::findings_of(testing::read_events(path)))
                EXPECT_TRUE(in_shards.insert(f).second) << "found by two shards: " << f.key;
        }
        EXPECT_EQ(in_shards, expected);
        EXPECT_EQ(base_rows, 150u);
    }

    // Repair from the events the validator wrote, then nothing is left.
    Validation v = validate_to_file(dbs, "typed", dir.file("to-fix.jsonl"));
    ASSERT_EQ(v.findings, expected);
    FixReport r = fix_from(dbs, "file://" + dir.file("to-fix.jsonl"));
    EXPECT_EQ(r.events, expected.size());
    EXPECT_EQ(r.dead_letters, 0u);
    EXPECT_EQ(r.deleted, 4u);    // the extra target rows
    EXPECT_EQ(r.upserted, 13u);  // the changed and the missing rows
    expect_consistent(dbs, "typed", dir);
    EXPECT_EQ(row_count(*target, "typed"), 150);
}

// -- 3. Text and composite keys across collations ----------------------------

TEST_P(MigrationPairs, CompositeKeysAreMergedInByteOrderWhateverTheCollation) {
    MigrationDatabases dbs(GetParam(), "composite");
    testing::ScratchDir dir("composite");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    testing::insert_composite_rows(*source, "pairs");
    copy(dbs, "pairs", 2);
    EXPECT_EQ(row_count(*target, "pairs"), 9);
    expect_consistent(dbs, "pairs", dir, 3);

    const Findings expected = testing::plant_composite_differences(*target, "pairs");
    expect_full_validation_finds(dbs, "pairs", expected, dir, BaseSide::src, 3);
    Validation v = validate_to_file(dbs, "pairs", dir.file("to-fix.jsonl"));
    for (const auto& e : v.events) EXPECT_EQ(e.key_columns, (std::vector<std::string>{"k", "n"}));
    fix_from(dbs, "file://" + dir.file("to-fix.jsonl"));
    expect_consistent(dbs, "pairs", dir, 3);
    EXPECT_EQ(row_count(*target, "pairs"), 9);

    // With the target as base (phase dst_first), the fixer repairs the source.
    testing::step_mode(*dbs.source.connect(), Mode::dst_first);
    testing::plant_composite_differences(*target, "pairs");
    ValidateSettings base_dst;
    base_dst.base = BaseSide::dst;
    Validation reverse = validate_to_file(dbs, "pairs", dir.file("to-fix-source.jsonl"), base_dst);
    EXPECT_EQ(reverse.findings.size(), 7u);
    FixReport r = fix_from(dbs, "file://" + dir.file("to-fix-source.jsonl"));
    EXPECT_EQ(r.upserted + r.deleted, 7u);
    expect_consistent(dbs, "pairs", dir, 3);
    EXPECT_EQ(row_count(*source, "pairs"), 11);
    EXPECT_EQ(row_count(*target, "pairs"), 11);
}

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
    Fixer fixer([&] { return dbs.source.connect(); }, failing_target, [&] { return dbs.source.connect(); }, {}, options,
                nullptr);
    const FixReport r = fixer.run(*input);
    EXPECT_EQ(r.retries, 2u);
    EXPECT_EQ(r.upserted, 8u);
    // 8 keys fail, 4 fail, then 4 + 2 + 2: halved after each failure, never grown back.
    EXPECT_EQ(upserts, (std::vector<std::size_t>{8, 4, 2, 2, 2, 2}));
    EXPECT_EQ(testing::dump_rows(*target, "kv", "id"), testing::dump_rows(*source, "kv", "id"));
}

// -- Shards: one plan per (table, n), whatever changes in between ------------

// A table keyed by (k VARCHAR, n BIGINT) in the server's default collation,
// with keys that differ only by case: `rows` rows, n = first .. first+rows-1;
// k = `fixed_k` for all of them when given.
void insert_text_keyed_rows(Connection& conn, const std::string& table, int first, int rows,
                            const char* fixed_k = nullptr) {
    Transaction tx(conn);
    for (int i = first; i < first + rows; ++i) {
        std::string k(1, static_cast<char>('a' + i % 26));
        if (i % 3 == 0) k[0] = static_cast<char>(k[0] - 'a' + 'A');
        k += fmt::format("-{}", i % 7);
        if (fixed_k) k = fixed_k;
        std::vector<Value> params{Value::text(k), Value::integer(i), Value::text(fmt::format("v{}", i))};
        conn.execute(
            fmt::format("INSERT INTO {} (k, n, v) VALUES ({}, {}, {})", conn.dialect().quote(table),
                        conn.dialect().placeholder(1), conn.dialect().placeholder(2), conn.dialect().placeholder(3)),
            params);
    }
    tx.commit();
}

// Hosts started at different moments cut a live table at the same keys: the
// first to ask plans the split and keeps it in the control table; the others,
// after the table changed, read that plan instead of making their own. (A
// plan made afresh by each one cut at different keys, leaving rows in no
// shard or in two.) Planners racing each other agree too.
TEST_P(MigrationPairs, ShardsOfALiveTableMeetAtTheKeysPlannedFirst) {
    MigrationDatabases dbs(GetParam(), "shardplan");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    CheckpointStore plans(*control);
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    insert_text_keyed_rows(*source, "pairs", 0, 120);
    TablePlan plan = plan_for(*source, *target, "pairs");

    // Racing planners (threads with connections of their own) agree.
    std::vector<std::future<ShardRange>> racing;
    for (int i = 0; i < 4; ++i)
        racing.push_back(std::async(std::launch::async, [&] {
            auto s = dbs.source.connect();
            auto t = dbs.target.connect();
            auto c = dbs.source.connect();
            CheckpointStore store(*c);
            return shard_range({*s, *t}, plan_for(*s, *t, "pairs"), Shard::parse("1/3"), store);
        }));
    std::vector<ShardRange> first;
    for (auto& f : racing) first.push_back(f.get());
    for (const ShardRange& r : first) {
        ASSERT_TRUE(r.up_to);
        EXPECT_EQ(encode_key(*r.up_to), encode_key(*first[0].up_to));
        EXPECT_FALSE(r.after);
    }

    // The table changes a lot; shards 2 and 3 still start where 1 ended.
    insert_text_keyed_rows(*source, "pairs", 1000, 400);
    const ShardRange second = shard_range({*source, *target}, plan, Shard::parse("2/3"), plans);
    const ShardRange third = shard_range({*source, *target}, plan, Shard::parse("3/3"), plans);
    ASSERT_TRUE(second.after && second.up_to && third.after);
    EXPECT_EQ(encode_key(*second.after), encode_key(*first[0].up_to));
    EXPECT_EQ(encode_key(*third.after), encode_key(*second.up_to));
    EXPECT_FALSE(third.up_to);

    // Each row of the grown table is in exactly one shard.
    std::int64_t in_shards = 0;
    for (const ShardRange& r : {first[0], second, third}) {
        std::vector<Value> params;
        const std::string where = shard_condition(source->dialect(), plan.source, r, params);
        in_shards += (*source->query_one("SELECT COUNT(*) FROM pairs WHERE " + where, params))[0].as_int();
    }
    EXPECT_EQ(in_shards, 520);

    // A 4-way split is a plan of its own; its quarters are about equal.
    std::vector<std::int64_t> quarter;
    for (int i = 1; i <= 4; ++i) {
        std::vector<Value> params;
        const ShardRange r = shard_range({*source, *target}, plan, Shard{.index = i, .count = 4}, plans);
        const std::string where = shard_condition(source->dialect(), plan.source, r, params);
        quarter.push_back((*source->query_one("SELECT COUNT(*) FROM pairs WHERE " + where, params))[0].as_int());
    }
    EXPECT_EQ(quarter, (std::vector<std::int64_t>{130, 130, 130, 130}));
}

// Sharded copies, each its own run started after the table changed, and
// then sharded validations, add up to the whole table.
TEST_P(MigrationPairs, ShardedCopiesOfATextKeyedTableAddUpToTheWholeTable) {
    MigrationDatabases dbs(GetParam(), "shardcopy");
    testing::ScratchDir dir("shardcopy");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    insert_text_keyed_rows(*source, "pairs", 0, 200);
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    std::uint64_t copied = 0;
    for (int i = 1; i <= 3; ++i) {
        auto s = dbs.source.connect();
        auto t = dbs.target.connect();
        CopyOptions options;
        options.mode_fence = [&] { return dbs.source.connect(); };
        options.batch_size = 17;
        options.shard = Shard::parse(fmt::format("{}/3", i));
        copied += copy_table({*s, *t}, plan_for(*s, *t, "pairs"), options, checkpoints, [&] {
                      return dbs.target.connect();
                  }).rows;
        // Rows arriving between the runs, past every key so far ("zz" sorts
        // after "z-"), land in the open-ended last shard.
        if (i == 1) insert_text_keyed_rows(*source, "pairs", 5000, 30, "zz");
    }
    EXPECT_EQ(copied, 230u);
    EXPECT_EQ(row_count(*target, "pairs"), 230);
    std::uint64_t base_rows = 0;
    for (int i = 1; i <= 3; ++i) {
        auto s = dbs.source.connect();
        auto t = dbs.target.connect();
        ValidateOptions options;
        options.batch_size = 13;
        options.shard = Shard::parse(fmt::format("{}/3", i));
        auto sink = open_sink("file://" + dir.file(fmt::format("shard{}.jsonl", i)));
        TableReport r = validate_full({*s, *t}, plan_for(*s, *t, "pairs"), options, *sink, &checkpoints);
        EXPECT_EQ(r.counts.differences(), 0u) << "shard " << i;
        base_rows += r.counts.base_rows;
    }
    EXPECT_EQ(base_rows, 230u);
}

// A text key in MariaDB's case-insensitive collation is ordered by
// CAST(k AS BINARY), which no index gives: a query per batch would scan and
// sort the table each time (1.2M rows: 37 s instead of 1 s). Such a side is
// read with one streamed query; the rows are the same, in the same order.
TEST_P(MigrationPairs, AKeyWhoseByteOrderNoIndexGivesIsReadWithOneQuery) {
    MigrationDatabases dbs(GetParam(), "onequery");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    insert_text_keyed_rows(*source, "pairs", 0, 100);
    const TablePlan plan = plan_for(*source, *target, "pairs");
    if (GetParam().source == Engine::mysql) EXPECT_TRUE(key_order_unindexed(plan.source));

    auto read_all = [&](ScanMode mode, int& queries) {
        testing::ConnectionWrapper conn(dbs.source.connect(), [&](std::string_view sql) {
            if (sql.find("ORDER BY") != std::string_view::npos) ++queries;
        });
        KeysetReader reader(conn, plan.source, {}, 7, {}, {}, mode);
        EXPECT_EQ(reader.one_query(), mode == ScanMode::one_query_if_unindexed && key_order_unindexed(plan.source));
        std::vector<std::string> rows;
        std::vector<Row> batch;
        while (reader.next(batch))
            for (const Row& r : batch) rows.push_back(testing::key_text(r) + "=" + r[2].display());
        return rows;
    };
    int batched_queries = 0, one_queries = 0;
    const auto batched = read_all(ScanMode::batches, batched_queries);
    const auto streamed = read_all(ScanMode::one_query_if_unindexed, one_queries);
    EXPECT_EQ(streamed, batched);
    EXPECT_EQ(batched.size(), 100u);
    EXPECT_GE(batched_queries, 15);  // 100 rows in batches of 7
    EXPECT_EQ(one_queries, key_order_unindexed(plan.source) ? 1 : batched_queries);
}

// A copy that fails part-way (a target writer loses its server) resumes
// from its checkpoint with a composite (text, integer) key whose text part
// holds case and trailing-space variants, removes the target rows committed
// past the checkpoint, and ends identical.
TEST_P(MigrationPairs, CopyFailingPartWayResumesOnACompositeTextKey) {
    MigrationDatabases dbs(GetParam(), "copyresume");
    testing::ScratchDir dir("copyresume");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    {
        Transaction tx(*source);
        // Spellings that MariaDB's default collation takes for one word: one
        // of each per n (the collation allows no more), all of them over all n.
        const std::vector<std::vector<std::string>> words{{"a", "A", "a "}, {"b", "B"}, {"\xC3\xA9", "E"}, {"z"}, {"_"},
                                                          {"a b"}};
        const Dialect& d = source->dialect();
        for (std::size_t n = 1; n <= 30; ++n)
            for (const auto& spellings : words)
                source->execute(fmt::format("INSERT INTO pairs (k, n, v) VALUES ({}, {}, {})", d.placeholder(1),
                                            d.placeholder(2), d.placeholder(3)),
                                std::vector<Value>{Value::text(spellings[n % spellings.size()]),
                                                   Value::integer(static_cast<std::int64_t>(n)),
                                                   Value::text(fmt::format("{}#{}", spellings[0], n))});
        tx.commit();
    }
    const std::int64_t rows = row_count(*source, "pairs");
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    TablePlan plan = plan_for(*source, *target, "pairs");
    CopyOptions options;
    options.mode_fence = [&] { return dbs.source.connect(); };
    options.batch_size = 7;
    options.writers = 3;
    std::atomic<int> batches{0};
    auto failing = [&]() -> std::unique_ptr<Connection> {
        return std::make_unique<testing::ConnectionWrapper>(dbs.target.connect(), [&](std::string_view sql) {
            if (sql.starts_with("BULK INSERT") && ++batches == 12)
                throw Error(Code::connection, "lost connection (injected)", Temporary::yes);
        });
    };
    {
        auto writer = failing();
        EXPECT_THROW(copy_table({*source, *writer}, plan, options, checkpoints, failing), Error);
    }
    auto cp = checkpoints.load(CheckpointKind::copy, "pairs", "all");
    ASSERT_TRUE(cp && cp->position) << "a checkpoint was saved before the failure";
    EXPECT_LT(cp->rows_done, rows);
    EXPECT_LT(row_count(*target, "pairs"), rows);

    options.start = CopyStart::resume;
    CopyReport resumed =
        copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
    EXPECT_EQ(resumed.resumed_after, *cp->position);
    EXPECT_EQ(resumed.rows_total, static_cast<std::uint64_t>(rows));
    EXPECT_EQ(resumed.rows, static_cast<std::uint64_t>(rows - cp->rows_done));
    EXPECT_EQ(row_count(*target, "pairs"), rows);
    expect_consistent(dbs, "pairs", dir);
}

// Secondary indexes are dropped for the load and rebuilt after it; a copy
// that fails part-way leaves their definitions in the control table and the
// resumed copy rebuilds them; IndexBuild::kept never drops them; an index the
// copied rows violate fails the copy by name and only that one stays missing.
TEST_P(MigrationPairs, CopyRebuildsSecondaryIndexesAfterTheLoadEvenAfterAFailure) {
    MigrationDatabases dbs(GetParam(), "copyidx");
    testing::ScratchDir dir("copyidx");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        c->execute(
            "CREATE TABLE indexed (id BIGINT PRIMARY KEY, code VARCHAR(32) NOT NULL, n BIGINT NOT "
            "NULL, "
            "note VARCHAR(32) NULL)");
        c->execute("CREATE UNIQUE INDEX ix_code ON indexed (code)");
        c->execute("CREATE INDEX ix_n_note ON indexed (n, note)");
    }
    {
        Transaction tx(*source);
        for (int i = 1; i <= 200; ++i)
            source->execute(fmt::format("INSERT INTO indexed VALUES ({}, 'c{}', {}, 'note {}')", i, i, i % 9, i % 4));
        tx.commit();
    }
    const Dialect& d = target->dialect();
    const std::vector<IndexDefinition> before = d.secondary_indexes(*target, "indexed");
    ASSERT_EQ(before.size(), 2u);
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    auto saved_definitions = [&] {
        std::set<std::string> names;
        for (const auto& c : checkpoints.load_all())
            if (c.kind == CheckpointKind::copy_index && c.table == "indexed") names.insert(c.position.value_or(""));
        return names;
    };
    TablePlan plan = plan_for(*source, *target, "indexed");
    CopyOptions options;
    options.mode_fence = [&] { return dbs.source.connect(); };
    options.batch_size = 10;
    std::atomic<int> batches{0};
    std::atomic<int> drops{0};
    auto watched = [&](bool fail) -> std::unique_ptr<Connection> {
        return std::make_unique<testing::ConnectionWrapper>(dbs.target.connect(), [&, fail](std::string_view sql) {
            if (sql.find("DROP INDEX") != std::string_view::npos) ++drops;
            if (fail && sql.starts_with("BULK INSERT") && ++batches == 6)
                throw Error(Code::connection, "lost connection (injected)", Temporary::yes);
        });
    };
    {
        auto writer = watched(true);
        EXPECT_THROW(copy_table({*source, *writer}, plan, options, checkpoints, [&] { return watched(true); }), Error);
    }
    EXPECT_EQ(drops.load(), 2);
    EXPECT_TRUE(d.secondary_indexes(*target, "indexed").empty()) << "still dropped after the failure";
    EXPECT_EQ(saved_definitions(), (std::set<std::string>{"ix_code", "ix_n_note"}));

    options.start = CopyStart::resume;
    copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
    EXPECT_EQ(d.secondary_indexes(*target, "indexed"), before);
    EXPECT_TRUE(saved_definitions().empty());
    expect_consistent(dbs, "indexed", dir, 50);

    // Kept: never dropped.
    drops = 0;
    options.start = CopyStart::truncate;
    options.indexes = IndexBuild::kept;
    {
        auto writer = watched(false);
        copy_table({*source, *writer}, plan, options, checkpoints, [&] { return watched(false); });
    }
    EXPECT_EQ(drops.load(), 0);
    EXPECT_EQ(d.secondary_indexes(*target, "indexed"), before);

    // A unique index only the target has, which the source's rows violate.
    target->execute("DELETE FROM indexed");
    target->execute("CREATE UNIQUE INDEX ix_note ON indexed (note)");
    options.indexes = IndexBuild::deferred;
    try {
        copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
        ADD_FAILURE() << "the rebuild of ix_note must fail";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("rebuilding index ix_note of indexed"), std::string::npos) << e.what();
    }
    EXPECT_EQ(d.secondary_indexes(*target, "indexed"), before) << "the other indexes are rebuilt";
    EXPECT_EQ(saved_definitions(), (std::set<std::string>{"ix_code", "ix_n_note", "ix_note"}));
    EXPECT_EQ(row_count(*target, "indexed"), 200);
}

// Keys 'a', 'A' and 'a ' are different keys byte-wise, but the same key
// under MariaDB's default (case- and trailing-space-insensitive) collation,
// which therefore stores only one of them per table. On PostgreSQL the key
// column uses an ICU collation, whose order is not byte order either. Each
// side holds one spelling, and the validator must report exactly the
// byte-wise differences -- no more (merge out of step) and no fewer (keys
// matched case-insensitively).
TEST_P(MigrationPairs, TextKeysDifferingOnlyByCaseOrTrailingSpaceAreDifferentKeys) {
    MigrationDatabases dbs(GetParam(), "textkeys");
    testing::ScratchDir dir("textkeys");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        const bool mysql = c->dialect().engine() == Engine::mysql;
        c->execute(fmt::format("CREATE TABLE words (k varchar(32) {} NOT NULL PRIMARY KEY, v varchar(32) NOT NULL)",
                               mysql ? "" : "COLLATE \"en-x-icu\""));
    }
    const std::vector<std::string> keys{"a", "B",  "c", "Z", "\xC3\xA9", "_x", "a b", "\xCE\xA9", "\xF0\x9F\x98\x80",
                                        "~", "b-", "aa"};
    for (const auto& k : keys)
        source->execute(fmt::format("INSERT INTO words (k, v) VALUES ({}, {})", source->dialect().placeholder(1),
                                    source->dialect().placeholder(2)),
                        std::vector<Value>{Value::text(k), Value::text("v " + k)});
    copy(dbs, "words", 3);  // keyset pagination over a text key, in byte order
    EXPECT_EQ(row_count(*target, "words"), static_cast<std::int64_t>(keys.size()));
    expect_consistent(dbs, "words", dir, 3);

    const Dialect& d = target->dialect();
    auto exec = [&](const std::string& sql, std::vector<Value> params) {
        ASSERT_EQ(target->execute(sql, params).affected_rows, 1u) << sql;
    };
    const std::string p1 = d.placeholder(1), p2 = d.placeholder(2);
    exec(fmt::format("UPDATE words SET k = {} WHERE k = {}", p1, p2), {Value::text("A"), Value::text("a")});
    exec(fmt::format("UPDATE words SET k = {} WHERE k = {}", p1, p2), {Value::text("c "), Value::text("c")});
    exec(fmt::format("DELETE FROM words WHERE k = {}", p1), {Value::text("Z")});
    exec(fmt::format("UPDATE words SET v = {} WHERE k = {}", p1, p2),
         {Value::text("changed"), Value::text("\xC3\xA9")});
    exec(fmt::format("INSERT INTO words (k, v) VALUES ({}, {})", p1, p2), {Value::text("zzz"), Value::text("extra")});
    const Findings expected{{"a", "target_missing", "src"}, {"A", "base_missing", "src"},
                            {"c", "target_missing", "src"}, {"c ", "base_missing", "src"},
                            {"Z", "target_missing", "src"}, {"\xC3\xA9", "neq", "src"},
                            {"zzz", "base_missing", "src"}};
    expect_full_validation_finds(dbs, "words", expected, dir, BaseSide::src, 3);

    // The fixer deletes 'A' and 'c ' exactly (not 'a' or 'c' through the
    // collation) before it writes 'a' and 'c' back.
    validate_to_file(dbs, "words", dir.file("to-fix.jsonl"));
    FixReport r = fix_from(dbs, "file://" + dir.file("to-fix.jsonl"));
    EXPECT_EQ(r.deleted, 3u);
    EXPECT_EQ(r.upserted, 4u);
    expect_consistent(dbs, "words", dir, 3);
    EXPECT_EQ(row_count(*target, "words"), static_cast<std::int64_t>(keys.size()));
}

// -- 4. Fixing from Kafka ----------------------------------------------------

TEST_P(MigrationPairs, FixesEveryEventTheValidatorSentToKafka) {
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
TEST_P(MigrationPairs, FixerClearsRowsHoldingAUniqueValueUnderAnotherKey) {
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

// Runs `statement` until it succeeds, retrying deadlocks and lock timeouts
// as the platform's writers would.
void with_retries(const std::function<void()>& statement) {
    for (int attempt = 1;; ++attempt) {
        try {
            statement();
            return;
        } catch (const Error& e) {
            if (!e.is_temporary() || attempt >= 20) throw;
            std::this_thread::sleep_for(5ms);
        }
    }
}

// Writers double-write the same ids the fixer repairs: the base (source)
// first, then the target, each in its own autocommit statement; most ids are
// updated, a few are inserted and deleted in turn. While they run, no
// target row ever goes back to a value older than its last double-write;
// after they stop, every target row equals its source row without any
// further fixing: the fixer never wrote stale base data over a newer write.
TEST_P(MigrationPairs, FixerNeverOverwritesNewerDoubleWritesWithStaleData) {
    MigrationDatabases dbs(GetParam(), "race");
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
    Fixer fixer([&] { return dbs.source.connect(); }, slow_target, [&] { return dbs.source.connect(); }, {}, options,
                nullptr);
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
}

// -- 6. Incremental validation -----------------------------------------------

struct Incremental {
    TableReport report;
    Findings findings;
};

Incremental validate_incrementally(Connection& source, Connection& target, Connection& control,
                                   const std::string& table, const std::string& path, ValidateOptions options) {
    CheckpointStore checkpoints(control);
    checkpoints.ensure_tables();
    TablePlan plan = plan_for(source, target, table);
    options.batch_size = 7;
    auto sink = open_sink("file://" + path);
    Incremental out;
    out.report = validate_incremental({source, target}, plan, options, *sink, checkpoints);
    sink->flush();
    auto events = testing::read_events(path);
    for (const auto& e : events) EXPECT_EQ(e.validator, "incremental");
    out.findings = testing::findings_of(events);
    return out;
}

TEST_P(MigrationPairs, IncrementalValidationReadsOnlyRowsChangedSinceTheWatermark) {
    MigrationDatabases dbs(GetParam(), "incremental");
    testing::ScratchDir dir("incremental");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 150);  // utime early in 2026: long before "now"
    copy(dbs, "typed", 50);

    // First run: no checkpoint yet, every row is read once.
    Incremental first = validate_incrementally(*source, *target, *control, "typed", dir.file("1.jsonl"), {});
    EXPECT_TRUE(first.findings.empty());
    EXPECT_EQ(first.report.counts.base_rows, 150u);
    EXPECT_FALSE(first.report.watermark.empty());

    // Changes after the watermark, on either side, and one change that does
    // not move utime (it cannot be seen incrementally).
    const Dialect& sd = source->dialect();
    const Dialect& td = target->dialect();
    const Value now = now_value();
    source->execute(fmt::format("UPDATE typed SET name = 'changed', utime = {} WHERE id = 40", sd.placeholder(1)),
                    std::vector<Value>{now});
    target->execute(fmt::format("UPDATE typed SET note = 'changed', utime = {} WHERE id = 42", td.placeholder(1)),
                    std::vector<Value>{now});
    source->execute(fmt::format("INSERT INTO typed (id, name, utime) VALUES (1001, 'new', {})", sd.placeholder(1)),
                    std::vector<Value>{now});
    target->execute(fmt::format("INSERT INTO typed (id, name, utime) VALUES (1003, 'new', {})", td.placeholder(1)),
                    std::vector<Value>{now});
    target->execute("UPDATE typed SET name = 'silently changed' WHERE id = 44");

    Incremental second = validate_incrementally(*source, *target, *control, "typed", dir.file("2.jsonl"), {});
    EXPECT_EQ(second.findings, (Findings{{"40", "neq", "src"},
                                         {"42", "neq", "src"},
                                         {"1001", "target_missing", "src"},
                                         {"1003", "base_missing", "src"}}));
    // Only the changed rows were read, not the 150 older ones.
    EXPECT_EQ(second.report.counts.base_rows, 2u);   // 40, 1001
    EXPECT_EQ(second.report.counts.other_rows, 2u);  // 42, 1003
    EXPECT_EQ(second.report.counts.differences(), 4u);

    EXPECT_TRUE(second.report.held_back);

    // The next run continues at the new watermark (no overlap here), which
    // stayed just before the oldest difference: nothing older is re-read, but
    // the differences nobody fixed are compared and reported again.
    ValidateOptions no_overlap;
    no_overlap.overlap = 0s;
    Incremental third = validate_incrementally(*source, *target, *control, "typed", dir.file("3.jsonl"), no_overlap);
    EXPECT_EQ(third.findings, second.findings);
    EXPECT_EQ(third.report.counts.base_rows, 2u);
    EXPECT_EQ(third.report.counts.other_rows, 2u);
    EXPECT_EQ(third.report.watermark, second.report.watermark);

    // --since overrides the checkpoint: everything again, the silent change included.
    ValidateOptions since;
    since.since = "2000-01-01 00:00:00";
    Incremental fourth = validate_incrementally(*source, *target, *control, "typed", dir.file("4.jsonl"), since);
    EXPECT_EQ(fourth.findings, (Findings{{"40", "neq", "src"},
                                         {"42", "neq", "src"},
                                         {"44", "neq", "src"},
                                         {"1001", "target_missing", "src"},
                                         {"1003", "base_missing", "src"}}));
    EXPECT_EQ(fourth.report.counts.base_rows, 151u);

    // In three shards (--shard i/3, each its own watermark) the same rows are
    // read and the same differences found, each by one shard.
    Findings in_shards;
    std::uint64_t base_rows = 0;
    for (int i = 1; i <= 3; ++i) {
        ValidateOptions shard = since;
        shard.shard = Shard::parse(fmt::format("{}/3", i));
        Incremental part = validate_incrementally(*source, *target, *control, "typed",
                                                  dir.file(fmt::format("shard{}.jsonl", i)), shard);
        base_rows += part.report.counts.base_rows;
        for (const Finding& f : part.findings) EXPECT_TRUE(in_shards.insert(f).second) << "found twice: " << f.key;
        EXPECT_LT(part.report.counts.base_rows, 151u) << "shard " << i << " read more than its part";
    }
    EXPECT_EQ(in_shards, fourth.findings);
    EXPECT_EQ(base_rows, 151u);
}

// Incremental validation pages through (update time, key) on both sides;
// with a composite (text, integer) key whose text differs only by case or
// trailing space, and with the target as base (phase dst_first).
TEST_P(MigrationPairs, IncrementalValidationHandlesCompositeTextKeysWithTheTargetAsBase) {
    MigrationDatabases dbs(GetParam(), "inccomposite");
    testing::ScratchDir dir("inccomposite");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute(
            fmt::format("CREATE TABLE kv (k varchar(32) NOT NULL, n bigint NOT NULL, v varchar(64) NOT NULL, "
                        "utime {} NOT NULL, PRIMARY KEY (k, n))",
                        c->dialect().engine() == Engine::mysql ? "DATETIME(6)" : "timestamp(6)"));
    const std::vector<std::string> words{"a", "B", "c", "\xC3\xA9", "Z"};
    for (std::size_t i = 0; i < 40; ++i)
        source->execute(fmt::format("INSERT INTO kv VALUES ({}, {}, 'old', '2026-01-01 00:00:00')",
                                    source->dialect().placeholder(1), i),
                        std::vector<Value>{Value::text(words[i % words.size()])});
    copy(dbs, "kv", 6);
    ValidateOptions base_dst;
    base_dst.base = BaseSide::dst;
    Incremental first = validate_incrementally(*source, *target, *control, "kv", dir.file("1.jsonl"), base_dst);
    EXPECT_TRUE(first.findings.empty());
    EXPECT_EQ(first.report.counts.base_rows, 40u);

    const Value now = now_value();
    const Dialect& sd = source->dialect();
    const Dialect& td = target->dialect();
    auto exec = [&](Connection& c, const std::string& sql, std::vector<Value> params) {
        ASSERT_EQ(c.execute(sql, params).affected_rows, 1u) << sql;
    };
    // The base (target) changes a row and gets a row the source lacks ...
    exec(*target, fmt::format("UPDATE kv SET v = 'new', utime = {} WHERE k = 'a' AND n = 0", td.placeholder(1)), {now});
    exec(*target, fmt::format("INSERT INTO kv VALUES ('A', 2, 'new', {})", td.placeholder(1)), {now});
    // ... and the source gets a row the base lacks, differing from one by a trailing space.
    exec(*source, fmt::format("INSERT INTO kv VALUES ('a ', 3, 'new', {})", sd.placeholder(1)), {now});
    Incremental second = validate_incrementally(*source, *target, *control, "kv", dir.file("2.jsonl"), base_dst);
    EXPECT_EQ(second.findings,
              (Findings{{"a|0", "neq", "dst"}, {"A|2", "target_missing", "dst"}, {"a |3", "base_missing", "dst"}}));
    EXPECT_EQ(second.report.counts.base_rows, 2u);
    EXPECT_EQ(second.report.counts.other_rows, 1u);

    // In dst_first the fixer repairs the source from those events.
    testing::step_mode(*dbs.source.connect(), Mode::dst_first);
    FixReport r = fix_from(dbs, "file://" + dir.file("2.jsonl"));
    EXPECT_EQ(r.upserted, 2u);
    EXPECT_EQ(r.deleted, 1u);
    ValidateOptions again = base_dst;
    again.since = "2000-01-01 00:00:00";
    Incremental third = validate_incrementally(*source, *target, *control, "kv", dir.file("3.jsonl"), again);
    EXPECT_TRUE(third.findings.empty());
    EXPECT_EQ(third.report.counts.base_rows, 41u);
}

// A pass during which a switch changed the base is not reported with the old
// base: it is redone with the new one, over the same rows (the incremental
// watermark is put back first), and recorded for the gates with the new base.
TEST_P(MigrationPairs, APassDuringWhichTheBaseSwitchedIsRedoneWithTheNewBase) {
    MigrationDatabases dbs(GetParam(), "passswitch");
    testing::ScratchDir dir("passswitch");
    auto source = dbs.source.connect();
    auto control = dbs.source.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*dbs.target.connect(), "typed");
    testing::insert_types_rows(*source, "typed", 30);
    copy(dbs, "typed", 7);
    testing::step_mode(*control, Mode::src_first);
    dbs.target.connect()->execute("UPDATE typed SET name = 'only on the target' WHERE id = 12");

    // The switch happens at the first statement the pass sends the target.
    bool armed = false, switched = false;
    testing::ConnectionWrapper target(dbs.target.connect(), [&](std::string_view) {
        if (!armed || switched) return;
        switched = true;
        testing::step_mode(*dbs.source.connect(), Mode::dst_first);
    });
    CheckpointStore checkpoints(*control);
    TableConfig config;
    config.name = "typed";
    std::vector<TablePlan> plans{plan_table(*source, target, config)};
    armed = true;
    const std::string events = dir.file("events.jsonl");
    auto sink = open_sink("file://" + events);
    PassOptions options;
    options.validator = Validator::incremental;
    PassReport report = run_pass({*source, target}, *control, plans, options, *sink, checkpoints);
    EXPECT_TRUE(switched);
    EXPECT_EQ(report.redone, 1);
    EXPECT_EQ(report.base, BaseSide::dst);
    EXPECT_EQ(report.mode, Mode::dst_first);
    ASSERT_EQ(report.tables.size(), 1u);
    EXPECT_EQ(report.tables[0].counts.base_rows,
              30u);  // the whole window again, not what was left of it
    EXPECT_EQ(report.differences, 1u);
    // The redone pass's event names the new base (the abandoned pass's, if
    // any, the old one: the fixer repairs those from the current base).
    const auto found = testing::read_events(events);
    ASSERT_FALSE(found.empty());
    EXPECT_EQ(found.back().base, BaseSide::dst);
    const auto passes = passes_of(checkpoints.load_all());
    ASSERT_EQ(passes.size(), 1u);
    EXPECT_EQ(passes[0].base, BaseSide::dst);
    EXPECT_EQ(passes[0].mode, "dst_first");
    EXPECT_EQ(passes[0].found, 1u);
}

// A difference that a double-write in flight resolves before the re-check
// is not reported; one that stays is. The target connection is wrapped so
// the difference is repaired at an exact point: between the first
// comparison of the key and its re-check.
TEST_P(MigrationPairs, IncrementalRecheckDropsADifferenceThatDisappearsInBetween) {
    MigrationDatabases dbs(GetParam(), "recheck");
    testing::ScratchDir dir("recheck");
    auto source = dbs.source.connect();
    auto control = dbs.source.connect();
    auto writer = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*writer, "typed");
    testing::insert_types_rows(*source, "typed", 40);
    copy(dbs, "typed", 50);
    {
        auto target = dbs.target.connect();
        Incremental first = validate_incrementally(*source, *target, *control, "typed", dir.file("0.jsonl"), {});
        ASSERT_TRUE(first.findings.empty());
    }
    const Dialect& td = writer->dialect();
    auto lag_behind = [&](int id) {  // the target got a write the source has not (yet)
        writer->execute(
            fmt::format("UPDATE typed SET name = 'in flight', utime = {} WHERE id = {}", td.placeholder(1), id),
            std::vector<Value>{now_value()});
    };

    // Repaired between the comparison and the re-check: not reported.
    lag_behind(50);
    int lookups = 0;
    // (A connection of its own: the validator reads the source at the same time.)
    auto peek = dbs.source.connect();
    testing::ConnectionWrapper target(dbs.target.connect(), [&](std::string_view sql) {
        if (sql.find(" IN (") == std::string_view::npos) return;  // not a key lookup
        if (++lookups == 2) {  // the re-check is about to read: the double-write lands
            auto src_row = peek->query_one("SELECT name, utime FROM typed WHERE id = 50");
            writer->execute(fmt::format("UPDATE typed SET name = {}, utime = {} WHERE id = 50", td.placeholder(1),
                                        td.placeholder(2)),
                            std::vector<Value>{(*src_row)[0], (*src_row)[1]});
        }
    });
    ValidateOptions recheck;
    recheck.recheck_after = 50ms;
    recheck.overlap = 0s;
    Incremental healed = validate_incrementally(*source, target, *control, "typed", dir.file("1.jsonl"), recheck);
    EXPECT_EQ(lookups, 2);
    EXPECT_TRUE(healed.findings.empty());
    EXPECT_EQ(healed.report.rechecked_away, 1u);
    EXPECT_EQ(healed.report.counts.differences(), 0u);

    // Still different at the re-check: reported once.
    lag_behind(52);
    auto plain_target = dbs.target.connect();
    Incremental stays = validate_incrementally(*source, *plain_target, *control, "typed", dir.file("2.jsonl"), recheck);
    EXPECT_EQ(stays.findings, (Findings{{"52", "neq", "src"}}));
    EXPECT_EQ(stays.report.rechecked_away, 0u);
}

// -- 7. Copy refuses to mix into a non-empty target --------------------------

TEST_P(MigrationPairs, CopyRefusesANonEmptyTargetAndResumesOrTruncatesWhenAsked) {
    MigrationDatabases dbs(GetParam(), "copyrefuse");
    testing::ScratchDir dir("copyrefuse");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 60);
    target->execute("INSERT INTO typed (id, name, utime) VALUES (2, 'already there', '2026-01-01 00:00:00')");
    try {
        copy(dbs, "typed");
        FAIL() << "copy into a non-empty target succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
        EXPECT_NE(std::string(e.what()).find("not empty"), std::string::npos) << e.what();
    }
    EXPECT_EQ(row_count(*target, "typed"), 1);

    CopyReport truncated = copy(dbs, "typed", 7, CopyStart::truncate);
    EXPECT_EQ(truncated.rows, 60u);
    expect_consistent(dbs, "typed", dir);

    // A resume after a finished copy has nothing left to do.
    CopyReport resumed = copy(dbs, "typed", 7, CopyStart::resume);
    EXPECT_EQ(resumed.rows, 0u);
    EXPECT_EQ(resumed.rows_total, 60u);
    EXPECT_EQ(row_count(*target, "typed"), 60);
}

}  // namespace
}  // namespace webook
