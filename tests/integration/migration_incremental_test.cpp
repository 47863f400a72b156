// Incremental validation against the real servers for each engine pair:
// only rows changed since the watermark, composite text keys with the target
// as base, a pass redone when the base switched, re-checks.
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
#include "core/migration/checkpoint_records.h"
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

class IncrementalPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, IncrementalPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

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

TEST_P(IncrementalPairs, IncrementalValidationReadsOnlyRowsChangedSinceTheWatermark) {
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
TEST_P(IncrementalPairs, IncrementalValidationHandlesCompositeTextKeysWithTheTargetAsBase) {
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
TEST_P(IncrementalPairs, APassDuringWhichTheBaseSwitchedIsRedoneWithTheNewBase) {
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
    ControlRows rows = ControlRows::borrowed(*control);
    PassReport report = run_pass({*source, target}, rows, plans, options, *sink, checkpoints);
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
    const auto passes = records_of<PassRecord>(checkpoints.load_all());
    ASSERT_EQ(passes.size(), 1u);
    EXPECT_EQ(passes[0].base, BaseSide::dst);
    EXPECT_EQ(passes[0].mode, "dst_first");
    EXPECT_EQ(passes[0].found, 1u);
}

// A difference that a double-write in flight resolves before the re-check
// is not reported; one that stays is. The target connection is wrapped so
// the difference is repaired at an exact point: between the first
// comparison of the key and its re-check.
TEST_P(IncrementalPairs, IncrementalRecheckDropsADifferenceThatDisappearsInBetween) {
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
        // Not a key lookup (nor the plan's catalog queries, which have IN lists too).
        if (sql.find(" IN (") == std::string_view::npos || sql.find("information_schema") != std::string_view::npos)
            return;
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

}  // namespace
}  // namespace webook
