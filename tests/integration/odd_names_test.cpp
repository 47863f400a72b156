// Any name the servers accept works everywhere (issue 14 part 5): a table
// with a dash, columns with spaces, mixed case, '$', non-ASCII, an
// apostrophe, the other engine's quote character and its own, a key column
// among them and a secondary index named so -- created by migrate schema,
// copied (its index dropped and rebuilt), validated by rows and checksums,
// its planted differences found and fixed from events. Names are quoted,
// the quote character doubled, never concatenated raw.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::Args;
using testing::CommandResult;
using testing::MigrationDatabases;

using testing::operator+;

const std::string k_table = "order-lines $2";
const std::vector<std::string> k_columns = {"Line No", "na\xC3\xAFve", "it's", "q\"uote", "b`tick", "amount$"};

class OddNames : public ::testing::TestWithParam<testing::EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, OddNames, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(OddNames, WorkEverywhereQuoted) {
    MigrationDatabases dbs(GetParam(), "oddnames");
    testing::ScratchDir dir("oddnames");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    const Dialect& d = source->dialect();
    source->execute(
        fmt::format("CREATE TABLE {} ({} bigint NOT NULL PRIMARY KEY, {} varchar(20) NOT NULL, {} "
                    "varchar(20), {} integer, {} varchar(10), {} numeric(10,2))",
                    d.quote(k_table), d.quote(k_columns[0]), d.quote(k_columns[1]), d.quote(k_columns[2]),
                    d.quote(k_columns[3]), d.quote(k_columns[4]), d.quote(k_columns[5])));
    source->execute(fmt::format("CREATE INDEX {} ON {} ({})", d.quote("by na\xC3\xAFve-\"`"), d.quote(k_table),
                                d.quote(k_columns[1])));
    for (int i = 1; i <= 40; ++i)
        source->execute(fmt::format("INSERT INTO {} ({}) VALUES ({}, 'n{}', 'it''s {}', {}, 'q{}', {}.5)",
                                    d.quote(k_table), d.quote_list(k_columns), i, i, i, i * 7, i, i));

    const std::string config = dir.file("migration.toml");
    testing::write_file(config, "[[tables]]\nname = \"order-lines $2\"\nkey = [\"Line No\"]\n");
    const Args sides{"--config", config, "--source", dbs.source.url(), "--target", dbs.target.url()};

    CommandResult made = testing::webookctl(Args{"migrate", "schema"} + sides);
    ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
    ASSERT_TRUE(target->table_exists(k_table));
    CommandResult again = testing::webookctl(Args{"--output", "json", "migrate", "schema"} + sides);
    ASSERT_EQ(again.exit_code, 0) << testing::describe(again);
    EXPECT_EQ(testing::last_json(again)["tables"][0]["state"], "compatible") << again.out;

    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--batch-size", "7"} + sides);
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    EXPECT_NE(copied.err.find("rebuilt"), std::string::npos) << copied.err;  // the odd index, dropped and rebuilt
    for (const Args& how : {Args{}, Args{"--checksum", "--chunk-rows", "8"}}) {
        CommandResult v = testing::webookctl(Args{"validate", "--full"} + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
    }

    const Dialect& t = target->dialect();
    target->execute(fmt::format("UPDATE {} SET {} = 'changed' WHERE {} = 5", t.quote(k_table), t.quote(k_columns[2]),
                                t.quote(k_columns[0])));
    target->execute(fmt::format("DELETE FROM {} WHERE {} = 9", t.quote(k_table), t.quote(k_columns[0])));
    const std::string events = dir.file("events.jsonl");
    CommandResult found =
        testing::webookctl(Args{"--output", "json", "validate", "--full", "--sink", "file://" + events} + sides);
    ASSERT_EQ(found.exit_code, 1) << testing::describe(found);
    const auto table = testing::last_json(found)["tables"][0];
    EXPECT_EQ(table["neq"], 1) << found.out;
    EXPECT_EQ(table["target_missing"], 1) << found.out;
    EXPECT_NE(testing::read_file(events).find("\"columns\":[\"it's\"]"), std::string::npos)
        << testing::read_file(events);
    CommandResult fixed = testing::webookctl(Args{"fix", "--until-idle", "--from", "file://" + events} + sides);
    ASSERT_EQ(fixed.exit_code, 0) << testing::describe(fixed);
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        CommandResult v = testing::webookctl(Args{"validate", "--full"} + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
    }
}

}  // namespace
}  // namespace webook
