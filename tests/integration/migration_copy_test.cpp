// Copying, against the real servers for each engine pair (MySQL->MySQL,
// PostgreSQL->PostgreSQL, MySQL->PostgreSQL): seeded tables end identical,
// shards meet at their planned keys, a failed copy resumes, secondary
// indexes are rebuilt, a non-empty target is refused.
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
#include "tests/support/migration_data.h"
#include "tests/support/migration_steps.h"
#include "tests/support/test_env.h"
#include "validate/pass.h"
#include "validate/validation.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using namespace ::webook::testing;  // the engine pairs, the migration steps

class CopyPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, CopyPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

// -- 1. Seed, copy, validate -------------------------------------------------

TEST_P(CopyPairs, CopiesEverySeededTableAndFullValidationFindsNothing) {
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

// -- Shards: one plan per (table, n), whatever changes in between ------------

// Hosts started at different moments cut a live table at the same keys: the
// first to ask plans the split and keeps it in the control table; the others,
// after the table changed, read that plan instead of making their own. (A
// plan made afresh by each one cut at different keys, leaving rows in no
// shard or in two.) Planners racing each other agree too.
TEST_P(CopyPairs, ShardsOfALiveTableMeetAtTheKeysPlannedFirst) {
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
TEST_P(CopyPairs, ShardedCopiesOfATextKeyedTableAddUpToTheWholeTable) {
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
        options.mode_fence = {[&] { return dbs.source.connect(); }, {}};
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
TEST_P(CopyPairs, AKeyWhoseByteOrderNoIndexGivesIsReadWithOneQuery) {
    MigrationDatabases dbs(GetParam(), "onequery");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_composite_table(*source, "pairs");
    testing::create_composite_table(*target, "pairs");
    insert_text_keyed_rows(*source, "pairs", 0, 100);
    const TablePlan plan = plan_for(*source, *target, "pairs");
    if (GetParam().source == Engine::mysql) {
        EXPECT_TRUE(key_order_unindexed(plan.source));
    }

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
TEST_P(CopyPairs, CopyFailingPartWayResumesOnACompositeTextKey) {
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
    options.mode_fence = {[&] { return dbs.source.connect(); }, {}};
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
TEST_P(CopyPairs, CopyRebuildsSecondaryIndexesAfterTheLoadEvenAfterAFailure) {
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
    const std::vector<IndexDefinition> before = secondary_indexes(*target, "indexed");
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
    options.mode_fence = {[&] { return dbs.source.connect(); }, {}};
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
    EXPECT_TRUE(secondary_indexes(*target, "indexed").empty()) << "still dropped after the failure";
    EXPECT_EQ(saved_definitions(), (std::set<std::string>{"ix_code", "ix_n_note"}));

    options.start = CopyStart::resume;
    copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
    EXPECT_EQ(secondary_indexes(*target, "indexed"), before);
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
    EXPECT_EQ(secondary_indexes(*target, "indexed"), before);

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
    EXPECT_EQ(secondary_indexes(*target, "indexed"), before) << "the other indexes are rebuilt";
    EXPECT_EQ(saved_definitions(), (std::set<std::string>{"ix_code", "ix_n_note", "ix_note"}));
    EXPECT_EQ(row_count(*target, "indexed"), 200);
}

// -- 7. Copy refuses to mix into a non-empty target --------------------------

TEST_P(CopyPairs, CopyRefusesANonEmptyTargetAndResumesOrTruncatesWhenAsked) {
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
