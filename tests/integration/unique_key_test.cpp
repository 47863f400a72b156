// A table without a primary key (issue 14 part 5): keyed by its unique
// index over NOT NULL columns when it has one -- created by migrate schema,
// copied, validated, fixed --, otherwise refused by copy and validation
// with the reason and what to add, exit 2, nothing written.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

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

class UniqueKeyPairs : public ::testing::TestWithParam<testing::EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, UniqueKeyPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(UniqueKeyPairs, ATableWithOnlyAUniqueKeyIsKeyedByIt) {
    MigrationDatabases dbs(GetParam(), "uniqkey");
    testing::ScratchDir dir("uniqkey");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    // A nullable unique index first by name: it does not name one row.
    source->execute(
        "CREATE TABLE accounts (email varchar(64), region varchar(8) NOT NULL, handle varchar(32) NOT "
        "NULL, balance integer NOT NULL)");
    source->execute("CREATE UNIQUE INDEX a_email ON accounts (email)");
    source->execute("CREATE UNIQUE INDEX b_handle ON accounts (region, handle)");
    for (int i = 1; i <= 30; ++i)
        source->execute(fmt::format("INSERT INTO accounts VALUES ({}, 'r{}', 'h{}', {})",
                                    i % 5 ? fmt::format("'u{}@x'", i) : "NULL", i % 3, i, i * 10));
    const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
    CommandResult made = testing::webookctl(Args{"migrate", "schema", "--table", "accounts"} + sides);
    ASSERT_EQ(made.exit_code, 0) << testing::describe(made);
    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "accounts"} + sides);
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    EXPECT_NE(copied.err.find("keyed by its unique index b_handle (region, handle)"), std::string::npos) << copied.err;
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        CommandResult v = testing::webookctl(Args{"validate", "--full", "--table", "accounts"} + how + sides);
        EXPECT_EQ(v.exit_code, 0) << testing::describe(v);
    }
    target->execute("UPDATE accounts SET balance = 0 WHERE handle = 'h4'");
    target->execute("DELETE FROM accounts WHERE handle = 'h7'");
    const std::string events = dir.file("events.jsonl");
    CommandResult found = testing::webookctl(
        Args{"--output", "json", "validate", "--full", "--table", "accounts", "--sink", "file://" + events} + sides);
    ASSERT_EQ(found.exit_code, 1) << testing::describe(found);
    EXPECT_NE(testing::read_file(events).find("\"key\":{\"region\":\"r1\",\"handle\":\"h4\"}"), std::string::npos)
        << testing::read_file(events);
    CommandResult fixed = testing::webookctl(Args{"fix", "--until-idle", "--from", "file://" + events} + sides);
    ASSERT_EQ(fixed.exit_code, 0) << testing::describe(fixed);
    CommandResult after = testing::webookctl(Args{"validate", "--full", "--table", "accounts"} + sides);
    EXPECT_EQ(after.exit_code, 0) << testing::describe(after);
}

TEST_P(UniqueKeyPairs, ATableWithNoKeyIsRefusedSayingWhatToAdd) {
    MigrationDatabases dbs(GetParam(), "nokey");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        c->execute("CREATE TABLE visits (email varchar(64), at integer NOT NULL)");
        c->execute("CREATE UNIQUE INDEX v_email ON visits (email)");
    }
    source->execute("INSERT INTO visits VALUES ('a@x', 1), (NULL, 2), (NULL, 3)");
    const Args sides{"--source", dbs.source.url(), "--target", dbs.target.url()};
    for (const Args& command : {Args{"migrate", "copy"}, Args{"validate", "--full"}}) {
        CommandResult r = testing::webookctl(command + Args{"--table", "visits"} + sides);
        testing::expect_one_error(r, 2, "has no primary key and no unique index over NOT NULL columns");
        EXPECT_NE(r.err.find("add a primary key"), std::string::npos) << r.err;
    }
    EXPECT_EQ(testing::row_count(*target, "visits"), 0);
}

}  // namespace
}  // namespace webook
