// Full validation by row merge and by chunk checksums, against the real
// servers for each engine pair: exactly the planted differences of every
// column kind, composite and text keys across collations.
//
// Every test works in databases of its own (tests/support/scratch_db.h), so
// `ctest -j` runs them side by side. Differences are planted on purpose and
// the validator must report exactly those keys with exactly those types.
// The shared steps (copy, validate, fix) are in tests/support/migration_steps.h.
#include <gtest/gtest.h>

#include <future>

#include <algorithm>
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

class FullValidationPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, FullValidationPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

// -- 2. Planted differences of every column kind -----------------------------

TEST_P(FullValidationPairs, FullValidationReportsExactlyThePlantedDifferencesOfEveryColumnKind) {
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

// The checksum's per-column form (Dialect::row_hash64: only text
// length-prefixed, only nullable columns marked) keeps every difference
// visible: NULL vs '', a separator shifted between two texts or two integers,
// the marker's letter as text, a nullable date. Mixed nullability on the two
// sides (the target's columns nullable, the source's not) hashes equal rows
// equal.
TEST_P(FullValidationPairs, ChecksumsTellNullFromEmptyAndSeeThroughShiftedSeparators) {
    MigrationDatabases dbs(GetParam(), "hashform");
    testing::ScratchDir dir("hashform");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        const bool strict = c == source.get();  // the source's integers NOT NULL, the target's nullable
        c->execute(
            fmt::format("CREATE TABLE adj (id BIGINT PRIMARY KEY, a VARCHAR(16) NULL, b VARCHAR(16) NULL, "
                        "x BIGINT {0}, y BIGINT {0}, d DATE NULL)",
                        strict ? "NOT NULL" : "NULL"));
    }
    source->execute(
        "INSERT INTO adj VALUES (1, NULL, 'k', 1, 1, NULL), (2, 'p|', 'q', 2, 2, NULL), (3, 'z', 'z', 1, 23, NULL), "
        "(4, 'N', NULL, 4, 4, NULL), (5, 'w', 'w', 5, 5, NULL), (6, '', '', 6, 6, '2026-01-02'), "
        "(7, 'same', NULL, 7, 7, '2026-01-03')");
    copy(dbs, "adj", 1000);
    expect_consistent(dbs, "adj", dir, 1);                             // one row per chunk: every row's hash must agree
    target->execute("UPDATE adj SET a = '' WHERE id = 1");             // NULL vs ''
    target->execute("UPDATE adj SET a = 'p', b = '|q' WHERE id = 2");  // the separator moved between texts
    target->execute("UPDATE adj SET x = 12, y = 3 WHERE id = 3");      // ... between integers
    target->execute("UPDATE adj SET a = NULL WHERE id = 4");           // the text 'N' vs NULL
    target->execute("UPDATE adj SET d = '2026-01-01' WHERE id = 5");   // NULL vs a date
    target->execute("UPDATE adj SET a = NULL, b = NULL WHERE id = 6");  // '' vs NULL, twice
    Findings expected;
    for (const char* id : {"1", "2", "3", "4", "5", "6"}) expected.insert({id, "neq", "src"});
    // One row per chunk: each planted difference must change its chunk's hash.
    expect_full_validation_finds(dbs, "adj", expected, dir, BaseSide::src, 1);
    ValidateSettings s;
    s.checksum = ChecksumMode::on;
    s.chunk_rows = 1;
    EXPECT_EQ(validate_to_file(dbs, "adj", dir.file("one-row-chunks.jsonl"), s).report.chunks_differing, 6u);
}

// The checksum path with an integer key: one side cuts each chunk as it
// hashes it (run_leading_chunk), running ahead of the other.
// Keys here are negative, dense, spread, across gaps of 10^15 and up to the
// top of BIGINT; the target differs in each region, holds rows inside the
// gaps, before the base's first key and past its last: every difference is
// found once, by both methods, with either side as base.
TEST_P(FullValidationPairs, ChecksumChunksCutAsTheyAreHashedFindEveryDifferenceWhateverTheSpread) {
    MigrationDatabases dbs(GetParam(), "spread");
    testing::ScratchDir dir("spread");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute("CREATE TABLE spread (id BIGINT PRIMARY KEY, v VARCHAR(32) NOT NULL)");
    std::vector<std::string> values;
    auto add = [&](std::int64_t id) { values.push_back(fmt::format("({}, 'v{}')", id, id)); };
    for (std::int64_t id = -300; id < -200; ++id) add(id);                             // negative, dense
    for (std::int64_t id = 1; id <= 400; ++id) add(id);                                // dense
    for (std::int64_t id = 1000; id < 60000; id += 997) add(id);                       // spread
    for (std::int64_t id = 0; id < 200; ++id) add(1'000'000'000'000'000 + id * 3);     // past a gap, every third
    for (std::int64_t id = 50; id > 0; --id) add(9'223'372'036'854'775'807 - id + 1);  // up to the top
    source->execute("INSERT INTO spread VALUES " + fmt::format("{}", fmt::join(values, ", ")));
    copy(dbs, "spread", 1000);
    expect_consistent(dbs, "spread", dir, 16);

    target->execute("INSERT INTO spread VALUES (-1000, 'before')");
    target->execute("DELETE FROM spread WHERE id IN (-201, 17, 5985, 1000000000000300)");
    target->execute("UPDATE spread SET v = 'changed' WHERE id IN (-300, 399, 59823, 1000000000000597)");
    target->execute(
        "INSERT INTO spread VALUES (500, 'gap'), (1001, 'spread gap'), (999999999999, 'big gap'), "
        "(1000000000000001, 'between'), (1000000000000000001, 'past it'), (9223372036854775000, 'near the top')");
    target->execute("DELETE FROM spread WHERE id = 9223372036854775807");
    Findings expected;
    for (const char* id :
         {"-1000", "500", "1001", "999999999999", "1000000000000001", "1000000000000000001", "9223372036854775000"})
        expected.insert({id, "base_missing", "src"});
    for (const char* id : {"-201", "17", "5985", "1000000000000300", "9223372036854775807"})
        expected.insert({id, "target_missing", "src"});
    for (const char* id : {"-300", "399", "59823", "1000000000000597"}) expected.insert({id, "neq", "src"});
    expect_full_validation_finds(dbs, "spread", expected, dir, BaseSide::src, 16);
    expect_full_validation_finds(dbs, "spread", testing::with_base_dst(expected), dir, BaseSide::dst, 16);

    // The base cuts each chunk and hashes it in one query (a LIMIT
    // subquery), never walking ahead with OFFSET; the other side hashes key
    // ranges only. A differing chunk of more than 64 rows whose keys span
    // less than a BIGINT is split into key-value buckets both sides hash
    // (GROUP BY webook_b), and only the buckets that differ are merged.
    for (BaseSide base : {BaseSide::src, BaseSide::dst}) {
        for (std::size_t chunk_rows : {16, 200}) {
            SCOPED_TRACE(fmt::format("base {} chunk_rows {}", base_side_name(base), chunk_rows));
            std::mutex m;
            std::vector<std::string> cut_sql, other_sql;
            auto record = [&](std::vector<std::string>& into) {
                return [&m, &into](std::string_view sql) {
                    std::lock_guard lock(m);
                    into.emplace_back(sql);
                };
            };
            const bool src_cuts = base == BaseSide::src;
            testing::ConnectionWrapper src(dbs.source.connect(), record(src_cuts ? cut_sql : other_sql));
            testing::ConnectionWrapper dst(dbs.target.connect(), record(src_cuts ? other_sql : cut_sql));
            TablePlan plan = plan_for(src, dst, "spread");
            ValidateOptions options;
            options.base = base;
            options.checksum = ChecksumMode::on;
            options.chunk_rows = chunk_rows;
            const std::string path = dir.file(testing::unique_name("leading") + ".jsonl");
            auto sink = open_sink("file://" + path);
            const TableReport r = validate_full({src, dst}, plan, options, *sink);
            sink->flush();
            EXPECT_EQ(testing::findings_of(testing::read_events(path)),
                      base == BaseSide::src ? expected : testing::with_base_dst(expected));
            auto count = [](const std::vector<std::string>& all, std::string_view part) {
                return std::count_if(all.begin(), all.end(),
                                     [&](const std::string& sql) { return sql.find(part) != std::string::npos; });
            };
            EXPECT_EQ(count(cut_sql, "OFFSET"), 0);
            EXPECT_EQ(static_cast<std::uint64_t>(count(cut_sql, "AS webook_chunk")), r.chunks);
            EXPECT_EQ(count(other_sql, "webook_chunk"), 0);
            const auto split = count(cut_sql, "AS webook_b");
            EXPECT_EQ(count(other_sql, "AS webook_b"), split);
            if (chunk_rows == 16)
                EXPECT_EQ(split, 0);
            else
                EXPECT_GT(split, 0);
            EXPECT_EQ(static_cast<std::uint64_t>(count(other_sql, "BIT_XOR") - split), r.chunks);
        }
    }
}

// --method auto over a slow link: both servers behind proxies limited to
// 1 MiB/s, where reading every row takes seconds and hashing a chunk
// milliseconds. It chooses checksums, says why, and finds exactly the
// planted differences, one every few thousand rows (the chunks that differ
// are split, only their differing buckets merged), before the first key and
// past the last.
TEST_P(FullValidationPairs, AutoChoosesChecksumsOverASlowLinkAndFindsExactlyThePlantedDifferences) {
    MigrationDatabases dbs(GetParam(), "autoslow");
    testing::ScratchDir dir("autoslow");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    constexpr int k_rows = 40000;
    for (Connection* c : {source.get(), target.get()})
        c->execute("CREATE TABLE wide (id BIGINT PRIMARY KEY, a VARCHAR(64) NOT NULL, n BIGINT NOT NULL)");
    for (int from = 1; from <= k_rows; from += 1000) {
        std::vector<std::string> values;
        for (int id = from; id < from + 1000; ++id)
            values.push_back(fmt::format("({}, 'row {} of a table behind a slow link', {})", id, id, id * 7));
        source->execute(fmt::format("INSERT INTO wide VALUES {}", fmt::join(values, ", ")));
    }
    copy(dbs, "wide", 5000);
    target->execute("UPDATE wide SET n = n + 1 WHERE id % 4000 = 0");  // 10 rows
    target->execute("DELETE FROM wide WHERE id IN (12345, 33333)");
    target->execute("INSERT INTO wide VALUES (-7, 'before', 0), (40010, 'after', 0)");
    Findings expected;
    for (int id = 4000; id <= k_rows; id += 4000) expected.insert({std::to_string(id), "neq", "src"});
    for (const char* id : {"12345", "33333"}) expected.insert({id, "target_missing", "src"});
    for (const char* id : {"-7", "40010"}) expected.insert({id, "base_missing", "src"});

    auto through = [](Dsn dsn, const testing::FaultProxy& proxy) {
        dsn.host = "127.0.0.1";
        dsn.port = proxy.port();
        return dsn;
    };
    testing::FaultProxy src_proxy(dbs.source.dsn().host, dbs.source.dsn().port);
    testing::FaultProxy dst_proxy(dbs.target.dsn().host, dbs.target.dsn().port);
    auto src = connect(through(dbs.source.dsn(), src_proxy));
    auto dst = connect(through(dbs.target.dsn(), dst_proxy));
    const TablePlan plan = plan_for(*src, *dst, "wide");
    for (testing::FaultProxy* p : {&src_proxy, &dst_proxy}) p->limit_rate(1 << 20);
    ValidateOptions options;
    options.checksum = ChecksumMode::automatic;
    options.chunk_rows = 8000;
    const std::string path = dir.file("auto.jsonl");
    auto sink = open_sink("file://" + path);
    const TableReport r = validate_full({*src, *dst}, plan, options, *sink);
    sink->flush();
    EXPECT_EQ(r.method, Method::checksum) << r.method_choice;
    EXPECT_EQ(r.method_choice.rfind("checksum: the first 2000 rows took ", 0), 0u) << r.method_choice;
    EXPECT_EQ(testing::findings_of(testing::read_events(path)), expected);
    EXPECT_EQ(r.counts.base_rows, static_cast<std::uint64_t>(k_rows));
    EXPECT_EQ(r.counts.other_rows, static_cast<std::uint64_t>(k_rows));
    EXPECT_GT(r.chunks_differing, 0u);
}

// PostgreSQL types read as text that are not character types (json, jsonb,
// point, path, an enum, uuid, inet, xml) have neither octet_length() nor ||:
// the checksum hashes their text output, so --checksum works on them (it
// failed with exit 3) and still sees a planted change in each.
TEST(FullValidationPostgres, ChecksumsHashTypesReadAsTextThroughTheirTextForm) {
    MigrationDatabases dbs(testing::engine_pairs()[1], "pgtexttypes");
    ASSERT_EQ(dbs.source.engine(), Engine::postgres);
    ASSERT_EQ(dbs.target.engine(), Engine::postgres);
    testing::ScratchDir dir("pgtexttypes");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        c->execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
        c->execute(
            "CREATE TABLE odd (id BIGINT PRIMARY KEY, j json, jb jsonb NOT NULL, p point, pa path, m mood, u uuid, "
            "i inet, x xml)");
    }
    source->execute(
        "INSERT INTO odd SELECT g, json_build_object('k', g), jsonb_build_object('n', g, 'a', 'x'), point(g, -g), "
        "path '((0,0),(1,1))', (ARRAY['sad','ok','happy']::mood[])[1 + g % 3], md5(g::text)::uuid, "
        "('10.0.0.' || g)::inet, ('<a>' || g || '</a>')::xml FROM generate_series(1, 40) g");
    source->execute("INSERT INTO odd (id, jb) VALUES (41, '{}')");  // NULLs in every nullable column
    copy(dbs, "odd", 1000);
    expect_consistent(dbs, "odd", dir, 4);
    target->execute("UPDATE odd SET j = '{\"k\": 2}' WHERE id = 1");
    target->execute("UPDATE odd SET jb = '{\"n\": 3}' WHERE id = 3");
    target->execute("UPDATE odd SET p = point(5, 5) WHERE id = 5");
    target->execute("UPDATE odd SET pa = path '((0,0),(2,2))' WHERE id = 7");
    target->execute("UPDATE odd SET m = 'happy' WHERE id = 9");  // 9 % 3 = 0: was 'sad'
    target->execute("UPDATE odd SET u = NULL WHERE id = 11");
    target->execute("UPDATE odd SET i = '10.0.0.99' WHERE id = 13");
    target->execute("UPDATE odd SET x = '<b/>' WHERE id = 15");
    Findings expected;
    for (const char* id : {"1", "3", "5", "7", "9", "11", "13", "15"}) expected.insert({id, "neq", "src"});
    expect_full_validation_finds(dbs, "odd", expected, dir, BaseSide::src, 4);
    // The events say which method found them.
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
        ValidateSettings s;
        s.checksum = checksum;
        const Validation v = validate_to_file(dbs, "odd", dir.file(testing::unique_name("odd") + ".jsonl"), s);
        ASSERT_EQ(v.events.size(), 8u);
        for (const auto& e : v.events) EXPECT_EQ(e.validator, checksum == ChecksumMode::on ? "checksum" : "full");
    }
}

// MySQL's JSON text and PostgreSQL's (jsonb re-prints `{"k":1}` as
// `{"k": 1}` and orders keys its own way; json keeps the text) are compared
// as JSON documents: a copied table is consistent by both methods (the
// checksum hands JSON columns to the row merge), and a change of a value, a
// number for a string or an array's order is still a difference.
TEST(FullValidationJson, JsonIsComparedAsJsonAcrossEnginesAndEveryRealChangeIsFound) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "jsoncmp");
    ASSERT_EQ(dbs.source.engine(), Engine::mysql);
    ASSERT_EQ(dbs.target.engine(), Engine::postgres);
    testing::ScratchDir dir("jsoncmp");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    source->execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, j JSON NULL, t JSON NOT NULL)");
    target->execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, j jsonb NULL, t json NOT NULL)");
    source->execute(
        R"(INSERT INTO docs VALUES (1, '{"k":1,"b":[1,2]}', '{ "z" : "x",  "a":1.50 }'),
           (2, '{"s":"1"}', '[3,2,1]'), (3, NULL, '{}'), (4, '{"u":"\u00e9 \ud83d\ude80","n":null}', '"text"'),
           (5, '{"deep":{"y":[{"b":2,"a":1}]}}', '0.000001'), (6, '[]', '{"k":true}'))");
    copy(dbs, "docs", 1000);
    ASSERT_EQ((*target->query_one("SELECT j::text FROM docs WHERE id = 1"))[0].as_string(), R"({"b": [1, 2], "k": 1})")
        << "jsonb prints it its own way";
    // Both methods compare the rows (the checksum cannot see through the
    // servers' printing), canonicalized.
    auto findings = [&](ChecksumMode checksum) {
        ValidateSettings s;
        s.checksum = checksum;
        s.chunk_rows = 2;
        const Validation v = validate_to_file(dbs, "docs", dir.file(testing::unique_name("docs") + ".jsonl"), s);
        EXPECT_EQ(v.report.method, Method::rows);
        EXPECT_EQ(v.report.counts.base_rows, 6u);
        return v.findings;
    };
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) EXPECT_TRUE(findings(checksum).empty());

    target->execute(R"(UPDATE docs SET j = '{"k":2,"b":[1,2]}' WHERE id = 1)");    // a value
    target->execute(R"(UPDATE docs SET j = '{"s":1}' WHERE id = 2)");              // a number for a string
    target->execute(R"(UPDATE docs SET t = '[1,2,3]' WHERE id = 2)");              // ... and an array's order
    target->execute(R"(UPDATE docs SET j = '{}' WHERE id = 3)");                   // NULL vs a document
    target->execute(R"(UPDATE docs SET t = '{"k":false}' WHERE id = 6)");          // a boolean
    target->execute(R"(UPDATE docs SET t = '{"a":1.5,  "z":"x"}' WHERE id = 1)");  // the same document: no change
    Findings expected;
    for (const char* id : {"1", "2", "3", "6"}) expected.insert({id, "neq", "src"});
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) EXPECT_EQ(findings(checksum), expected);
}

// -- 3. Text and composite keys across collations ----------------------------

TEST_P(FullValidationPairs, CompositeKeysAreMergedInByteOrderWhateverTheCollation) {
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

// Keys 'a', 'A' and 'a ' are different keys byte-wise, but the same key
// under MariaDB's default (case- and trailing-space-insensitive) collation,
// which therefore stores only one of them per table. On PostgreSQL the key
// column uses an ICU collation, whose order is not byte order either. Each
// side holds one spelling, and the validator must report exactly the
// byte-wise differences -- no more (merge out of step) and no fewer (keys
// matched case-insensitively).
TEST_P(FullValidationPairs, TextKeysDifferingOnlyByCaseOrTrailingSpaceAreDifferentKeys) {
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

}  // namespace
}  // namespace webook
