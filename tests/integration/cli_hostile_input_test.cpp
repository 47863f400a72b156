// Hostile and broken input (issue 11, part 4). Hostile identifiers everywhere they enter the tool: a
// flag, the config file's [[tables]] (name, key, update_column,
// ignore_columns, column_map) and an event's table or key. Each is refused
// with one error line and exit 2 -- an event goes to the dead letters -- and
// nothing is written: the table the injection names is still there, and so
// are its rows. A value the target refuses ends a copy with an error naming
// the row's key; a 20 MB value copies, validates and is fixed.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace ::webook::testing;
using testing::Args;

using testing::operator+;

constexpr const char* k_injection = "items`; DROP TABLE victim; --";
constexpr const char* k_pg_injection = "items\"; DROP TABLE victim; --";

class HostileInput : public ::testing::TestWithParam<EnginePair> {
protected:
    HostileInput() : m_dbs(GetParam(), "hostile"), m_dir("hostile") {
        auto source = m_dbs.source.connect();
        auto target = m_dbs.target.connect();
        for (Connection* c : {source.get(), target.get()}) {
            c->execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, name varchar(20) NOT NULL)");
            c->execute("CREATE TABLE victim (id bigint NOT NULL PRIMARY KEY)");
            c->execute("INSERT INTO victim VALUES (1), (2)");
        }
        source->execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')");
    }

    Args sides() const { return {"--source", m_dbs.source.url(), "--target", m_dbs.target.url()}; }

    // Both databases still hold the victim and its rows, and the target no item.
    void expect_nothing_written() {
        auto source = m_dbs.source.connect();
        auto target = m_dbs.target.connect();
        EXPECT_EQ(row_count(*source, "victim"), 2);
        EXPECT_EQ(row_count(*target, "victim"), 2);
        EXPECT_EQ(row_count(*target, "items"), 0);
    }

    std::string config(const std::string& table_lines) {
        const std::string path = m_dir.file(unique_name("hostile") + ".toml");
        write_file(path, "[[tables]]\n" + table_lines + "\n");
        return path;
    }

    MigrationDatabases m_dbs;
    ScratchDir m_dir;
};

INSTANTIATE_TEST_SUITE_P(, HostileInput, ::testing::ValuesIn(engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_P(HostileInput, AnInjectionInTableFlagsIsRefusedAndWritesNothing) {
    for (const char* name : {k_injection, k_pg_injection, "items' OR '1'='1", "items\\", ""}) {
        SCOPED_TRACE(name);
        for (const Args& command :
             {Args{"migrate", "copy"}, Args{"validate", "--full"}, Args{"migrate", "copy", "--dry-run"}}) {
            const CommandResult r = webookctl(command + Args{"--table", name} + sides());
            // Quoted, a name is one identifier: not a table there.
            expect_one_error(r, 2, std::string(name).empty() ? "" : "not found");
        }
    }
    expect_nothing_written();
}

TEST_P(HostileInput, AnInjectionInTheConfigFilesTablesIsRefusedAndWritesNothing) {
    const std::vector<std::string> entries{
        fmt::format("name = \"{}\"", "items`; DROP TABLE victim; --"),
        "name = \"items\"\nkey = [\"id`; DROP TABLE victim; --\"]",
        "name = \"items\"\nupdate_column = \"name\\\"; DROP TABLE victim; --\"",
        "name = \"items\"\nignore_columns = [\"name'; DROP TABLE victim; --\"]",
        "name = \"items\"\ncolumn_map = { \"name\" = \"x`; DROP TABLE victim; --\" }",
    };
    for (const auto& entry : entries) {
        SCOPED_TRACE(entry);
        const std::string path = config(entry);
        for (const Args& command : {Args{"migrate", "copy"}, Args{"validate", "--full"}}) {
            const CommandResult r = webookctl(Args{"--config", path} + command + sides());
            SCOPED_TRACE(describe(r));
            EXPECT_EQ(r.exit_code, 2);
            EXPECT_EQ(r.out, "");
            EXPECT_NE(r.err.find("not found"), std::string::npos);
            EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one error line";
        }
    }
    expect_nothing_written();
}

TEST_P(HostileInput, AnEventNamingAHostileTableOrKeyIsADeadLetterAndNothingIsWritten) {
    const std::string events = m_dir.file("events.jsonl");
    const std::string dead = m_dir.file("dead.jsonl");
    write_file(events,
               std::string(R"({"table":"items`; DROP TABLE victim; --","key":{"id":1},"type":"neq","base":"src"})") +
                   "\n" + R"({"table":"items","key":{"id`; DROP TABLE victim; --":1},"type":"neq","base":"src"})" +
                   "\n" + R"({"table":"victim\"; DROP TABLE victim; --","key":{"id":1},"type":"neq","base":"src"})" +
                   "\n");
    const CommandResult r = webookctl(Args{"--output", "json", "fix", "--until-idle", "--from", "file://" + events,
                                           "--dead-letter", "file://" + dead} +
                                      sides());
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(last_json(r).at("dead_letters"), 3);
    EXPECT_EQ(last_json(r).at("upserted"), 0);
    int lines = 0;
    for (char c : read_file(dead)) lines += c == '\n';
    EXPECT_EQ(lines, 3);
    expect_nothing_written();
}

TEST_P(HostileInput, ARowTheTargetRefusesEndsTheCopyNamingItsKey) {
    auto source = m_dbs.source.connect();
    auto target = m_dbs.target.connect();
    source->execute("CREATE TABLE words (id bigint NOT NULL PRIMARY KEY, word varchar(40) NOT NULL)");
    target->execute("CREATE TABLE words (id bigint NOT NULL PRIMARY KEY, word varchar(4) NOT NULL)");
    for (int id = 1; id <= 9; ++id)
        source->execute(fmt::format("INSERT INTO words VALUES ({}, '{}')", id, id == 7 ? "far too long" : "ok"));
    const CommandResult r =
        webookctl(Args{"migrate", "copy", "--table", "words", "--batch-size", "1", "--writers", "1"} + sides());
    const bool pg_target = target->dialect().engine() == Engine::postgres;  // its COPY names the row
    expect_one_error(
        r, 3, pg_target ? R"(writing the row with key ["7"])" : R"(writing the 1 rows with keys ["7"] .. ["7"])");
    EXPECT_NE(r.err.find("words"), std::string::npos) << r.err;
    // The batches before it committed (a --resume starts after them); the row itself is not there.
    EXPECT_GE(row_count(*target, "words"), 6);
    EXPECT_FALSE(target->query_one("SELECT 1 FROM words WHERE id = 7"));

    // In a batch of many rows, a PostgreSQL target's COPY names the row (its
    // line) and the column: the error names that row's key, not the batch's.
    if (!pg_target) return;
    target->execute("TRUNCATE words");
    const CommandResult batch =
        webookctl(Args{"migrate", "copy", "--table", "words", "--truncate", "--batch-size", "100"} + sides());
    expect_one_error(batch, 3, R"(writing the row with key ["7"])");
    EXPECT_NE(batch.err.find("(COPY line 7, column word)"), std::string::npos) << batch.err;
    EXPECT_EQ(batch.err.find("far too long"), std::string::npos) << "the value is not repeated: " << batch.err;
}

TEST_P(HostileInput, ATwentyMegabyteValueCopiesValidatesAndIsFixed) {
    auto source = m_dbs.source.connect();
    auto target = m_dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute(fmt::format("CREATE TABLE big (id bigint NOT NULL PRIMARY KEY, t {} NOT NULL)",
                               c->dialect().engine() == Engine::mysql ? "longtext" : "text"));
    std::string value;
    value.reserve(20u << 20);
    while (value.size() < (20u << 20)) value += "0123456789abcdef";
    const std::string insert = fmt::format("INSERT INTO big VALUES ({}, {})", source->dialect().placeholder(1),
                                           source->dialect().placeholder(2));
    for (int id = 1; id <= 3; ++id)
        source->execute(insert, std::vector<Value>{Value::integer(id), Value::text(id == 2 ? value : "small")});

    const CommandResult copied = webookctl(Args{"migrate", "copy", "--table", "big"} + sides());
    ASSERT_EQ(copied.exit_code, 0) << describe(copied);
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        const CommandResult v = webookctl(Args{"validate", "--full", "--table", "big"} + how + sides());
        EXPECT_EQ(v.exit_code, 0) << describe(v);
    }
    // One byte in the middle differs: found, and repaired from the base.
    std::string changed = value;
    changed[10u << 20] = 'X';
    target->execute(fmt::format("UPDATE big SET t = {} WHERE id = 2", target->dialect().placeholder(1)),
                    std::vector<Value>{Value::text(changed)});
    const std::string events = m_dir.file("big.jsonl");
    for (const Args& how : {Args{}, Args{"--checksum"}}) {
        const CommandResult v =
            webookctl(Args{"--output", "json", "validate", "--full", "--table", "big", "--sink", "file://" + events} +
                      how + sides());
        ASSERT_EQ(v.exit_code, 1) << describe(v);
        EXPECT_EQ(last_json(v).at("tables").at(0).at("neq"), 1);
    }
    const CommandResult fixed = webookctl(Args{"fix", "--until-idle", "--from", "file://" + events} + sides());
    ASSERT_EQ(fixed.exit_code, 0) << describe(fixed);
    const CommandResult after = webookctl(Args{"validate", "--full", "--table", "big"} + sides());
    EXPECT_EQ(after.exit_code, 0) << describe(after);
}

}  // namespace
}  // namespace webook
