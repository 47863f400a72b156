// Whole-CLI scenarios of the migration commands: the webookctl binary run as
// a child process against the real servers, as an operator's script runs it.
// What counts here is what a script sees: exit statuses (0 consistent,
// 1 inconsistencies, 2 usage/config, 3 connection/server), stdout (text or
// JSON), one clear line on stderr for bad input, and that bad input writes
// nothing. Crash safety is tested by SIGKILLing a copy and a fixer part-way
// and running them again.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::Args;
using testing::ChildProcess;
using testing::CommandResult;
using testing::EnginePair;
using testing::MigrationDatabases;
using testing::row_count;

using testing::operator+;

Args with_binary(Args args) {
    args.insert(args.begin(), WEBOOKCTL_BINARY);
    return args;
}

CommandResult webookctl(const Args& args, std::chrono::milliseconds timeout = 3min) {
    return testing::run_command(with_binary(args), timeout);
}

Args sides(const MigrationDatabases& dbs) {
    return {"--source", dbs.source.url(), "--target", dbs.target.url()};
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::string show(const CommandResult& r) {
    return fmt::format("exit {}\n--- stdout\n{}--- stderr\n{}", r.exit_code, r.out, r.err);
}

// The summary `--output json validate` prints.
nlohmann::json json_of(const CommandResult& r) {
    try {
        return nlohmann::json::parse(r.out);
    } catch (const nlohmann::json::exception& e) {
        ADD_FAILURE() << "stdout is not one JSON document: " << e.what() << "\n" << show(r);
        return nlohmann::json::object();
    }
}

std::string kafka_url(const std::string& topic) {
    return "kafka://" + testing::kafka_bootstrap() + "/" + topic;
}

// A table of `rows` rows generated inside the database, and the same table empty on the target.
void create_big_table(MigrationDatabases& dbs, std::int64_t rows) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()}) {
        const bool mysql = c->dialect().engine() == Engine::mysql;
        c->execute(
            fmt::format("CREATE TABLE big (id bigint NOT NULL PRIMARY KEY, name varchar(40) NOT NULL, "
                        "n bigint NOT NULL, utime {} NOT NULL)",
                        mysql ? "DATETIME(6)" : "timestamp(6)"));
    }
    if (source->dialect().engine() == Engine::mysql)
        source->execute(
            fmt::format("INSERT INTO big SELECT seq, CONCAT('row ', seq), seq * 7, TIMESTAMP "
                        "'2026-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_{}",
                        rows));
    else
        source->execute(
            fmt::format("INSERT INTO big SELECT g, 'row ' || g, g * 7, timestamp '2026-01-01' + g * "
                        "interval '1 second' FROM generate_series(1, {}) g",
                        rows));
}

// Polls `probe` until it returns true; fails the test after `limit`.
bool wait_until(const std::function<bool()>& probe, std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (probe()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

class CliMigrationPairs : public ::testing::TestWithParam<EnginePair> {};

INSTANTIATE_TEST_SUITE_P(, CliMigrationPairs, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return std::string(info.param.name); });

// -- Validate, fix, validate: exit statuses and JSON --------------------------

TEST_P(CliMigrationPairs, ValidateExitsOneWhileInconsistentAndZeroOnceFixed) {
    MigrationDatabases dbs(GetParam(), "clivalidate");
    testing::ScratchDir dir("clivalidate");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 150);
    }
    CommandResult copied = webookctl(Args{"--output", "json", "migrate", "copy", "--table", "typed"} + sides(dbs));
    ASSERT_EQ(copied.exit_code, 0) << show(copied);
    EXPECT_EQ(json_of(copied)["copied"][0]["rows"], 150) << show(copied);

    const Args validate =
        Args{"--output", "json", "validate", "--full", "--table", "typed", "--base", "src"} + sides(dbs);
    CommandResult clean = webookctl(validate + Args{"--sink", "file://" + dir.file("clean.jsonl")});
    ASSERT_EQ(clean.exit_code, 0) << show(clean);
    EXPECT_EQ(json_of(clean)["consistent"], true);
    EXPECT_EQ(testing::read_file(dir.file("clean.jsonl")), "");

    testing::plant_type_differences(*dbs.target.connect(), "typed");
    for (bool checksum : {false, true}) {
        SCOPED_TRACE(checksum ? "--checksum" : "rows");
        const std::string events = dir.file(checksum ? "checksum.jsonl" : "rows.jsonl");
        const std::string metrics = dir.file("metrics.prom");
        Args args = validate + Args{"--sink", "file://" + events, "--metrics-file", metrics, "--chunk-rows", "16"};
        args.push_back(checksum ? "--checksum" : "--method=rows");
        CommandResult found = webookctl(args);
        ASSERT_EQ(found.exit_code, 1) << show(found);
        nlohmann::json j = json_of(found);
        EXPECT_EQ(j["consistent"], false);
        EXPECT_EQ(j["inconsistencies"], 17);
        EXPECT_EQ(j["base"], "src");
        ASSERT_EQ(j["tables"].size(), 1u) << show(found);
        EXPECT_EQ(j["tables"][0]["table"], "typed");
        EXPECT_EQ(j["tables"][0]["method"], checksum ? "checksum" : "rows");
        EXPECT_EQ(j["tables"][0]["target_missing"], 3);
        EXPECT_EQ(j["tables"][0]["neq"], 10);
        EXPECT_EQ(j["tables"][0]["base_missing"], 4);
        EXPECT_EQ(testing::findings_of(testing::read_events(events)).size(), 17u);
        EXPECT_EQ(lines_of(testing::read_file(events)).size(), 17u);
        const std::string prom = testing::read_file(metrics);
        EXPECT_NE(prom.find(R"(webookctl_validate_inconsistencies{table="typed",type="neq",validator="full"} 10)"),
                  std::string::npos)
            << prom;
    }

    // The text summary, and events to stdout with --sink -.
    CommandResult text = webookctl(Args{"validate", "--full", "--table", "typed", "--base", "src"} + sides(dbs));
    EXPECT_EQ(text.exit_code, 1) << show(text);
    EXPECT_NE(text.out.find("17 inconsistencies (base src)"), std::string::npos) << show(text);
    EXPECT_NE(text.out.find(R"("type":"base_missing")"), std::string::npos) << show(text);

    CommandResult fixed = webookctl(
        Args{"--output", "json", "fix", "--until-idle", "--from", "file://" + dir.file("rows.jsonl")} + sides(dbs));
    ASSERT_EQ(fixed.exit_code, 0) << show(fixed);
    nlohmann::json f = json_of(fixed);
    EXPECT_EQ(f["events"], 17);
    EXPECT_EQ(f["upserted"], 13);
    EXPECT_EQ(f["deleted"], 4);
    EXPECT_EQ(f["dead_letters"], 0);

    CommandResult again = webookctl(validate + Args{"--checksum", "--chunk-rows", "16"});
    EXPECT_EQ(again.exit_code, 0) << show(again);
    EXPECT_EQ(json_of(again)["consistent"], true);
}

// --method auto (the default) compares the first chunk_rows / 4 rows both
// ways, takes the faster for the rest and says which and why; whatever it
// chooses, it finds exactly what the fixed methods find, each difference
// once. A table that fits in the probe is compared by rows; bad --method
// values and --checksum against --method rows are usage errors.
TEST_P(CliMigrationPairs, ValidateMethodAutoFindsWhatTheFixedMethodsFindAndSaysWhy) {
    MigrationDatabases dbs(GetParam(), "cliauto");
    testing::ScratchDir dir("cliauto");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 150);
    }
    ASSERT_EQ(webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs)).exit_code, 0);
    testing::plant_type_differences(*dbs.target.connect(), "typed");
    const Args validate =
        Args{"--output", "json", "validate", "--full", "--table", "typed", "--base", "src"} + sides(dbs);
    auto findings = [&](const Args& how, nlohmann::json& table) {
        const std::string events = dir.file(testing::unique_name("auto") + ".jsonl");
        CommandResult v = webookctl(validate + how + Args{"--sink", "file://" + events});
        EXPECT_EQ(v.exit_code, 1) << show(v);
        table = json_of(v)["tables"][0];
        return testing::findings_of(testing::read_events(events));
    };
    nlohmann::json by_rows, by_auto, small;
    const testing::Findings expected = findings(Args{"--method", "rows", "--chunk-rows", "16"}, by_rows);
    EXPECT_EQ(expected.size(), 17u);
    EXPECT_FALSE(by_rows.contains("method_choice"));
    EXPECT_EQ(findings(Args{"--chunk-rows", "16"}, by_auto), expected);  // auto is the default
    const std::string chosen = by_auto["method"];
    ASSERT_TRUE(chosen == "rows" || chosen == "checksum") << by_auto;
    const std::string why = by_auto["method_choice"];
    EXPECT_EQ(why.rfind(chosen + ": the first 4 rows took ", 0), 0u) << why;
    EXPECT_EQ(by_auto["target_missing"], by_rows["target_missing"]);
    EXPECT_EQ(by_auto["neq"], by_rows["neq"]);
    EXPECT_EQ(by_auto["base_missing"], by_rows["base_missing"]);
    EXPECT_EQ(by_auto["base_rows"], by_rows["base_rows"]);

    EXPECT_EQ(findings(Args{"--method", "auto"}, small), expected);  // 150 rows: within the first 5,000
    EXPECT_EQ(small["method"], "rows");
    EXPECT_EQ(small["method_choice"], "rows: the table fit in the probe (150 rows)");

    for (const Args& bad : {Args{"--method", "fast"}, Args{"--checksum", "--method", "rows"}}) {
        CommandResult v = webookctl(validate + bad);
        EXPECT_EQ(v.exit_code, 2) << show(v);
        EXPECT_EQ(std::count(v.err.begin(), v.err.end(), '\n'), 1) << show(v);
    }
}

// Incremental validation from cron: each run continues at the checkpointed
// watermark and exits 1 for what changed since -- and for what still differs
// from an earlier run, until it is fixed.
TEST(CliMigration, IncrementalValidationContinuesFromRunToRun) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "cliincremental");
    testing::ScratchDir dir("cliincremental");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 50);
    ASSERT_EQ(webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs)).exit_code, 0);
    const Args incremental = Args{"--output",  "json",  "validate", "--incremental",
                                  "--table",   "typed", "--base",   "src",
                                  "--overlap", "0s",    "--sink",   "file://" + dir.file("events.jsonl")} +
                             sides(dbs);

    CommandResult first = webookctl(incremental);
    ASSERT_EQ(first.exit_code, 0) << show(first);
    nlohmann::json j = json_of(first);
    EXPECT_EQ(j["validator"], "incremental");
    EXPECT_EQ(j["tables"][0]["base_rows"], 50);
    EXPECT_FALSE(j["tables"][0]["watermark"].get<std::string>().empty());

    target->execute("UPDATE typed SET name = 'changed', utime = " + target->dialect().placeholder(1) + " WHERE id = 8",
                    std::vector<Value>{Value::datetime_micros(std::chrono::duration_cast<std::chrono::microseconds>(
                                                                  std::chrono::system_clock::now().time_since_epoch())
                                                                  .count())});
    CommandResult second = webookctl(incremental);
    ASSERT_EQ(second.exit_code, 1) << show(second);
    j = json_of(second);
    EXPECT_EQ(j["tables"][0]["base_rows"], 0);
    EXPECT_EQ(j["tables"][0]["other_rows"], 1);
    EXPECT_EQ(j["tables"][0]["neq"], 1);
    EXPECT_EQ(testing::findings_of(testing::read_events(dir.file("events.jsonl"))),
              (testing::Findings{{"8", "neq", "src"}}));

    EXPECT_TRUE(j["tables"][0]["held_back"]);

    // Not fixed yet: the watermark stayed before it, so the next run reports
    // it again (a clean run means consistent, not "nothing new").
    CommandResult third = webookctl(incremental);
    EXPECT_EQ(third.exit_code, 1) << show(third);
    EXPECT_EQ(json_of(third)["tables"][0]["neq"], 1);
    EXPECT_EQ(json_of(third)["tables"][0]["base_rows"], 0);

    testing::ScratchDir fixes("cliincrementalfix");
    testing::write_file(fixes.file("one.jsonl"), R"({"table":"typed","key":{"id":8},"type":"neq","base":"src",)"
                                                 R"("detected_at":"2026-12-01T00:00:00Z","validator":"incremental"})"
                                                 "\n");
    ASSERT_EQ(
        webookctl(Args{"fix", "--until-idle", "--from", "file://" + fixes.file("one.jsonl")} + sides(dbs)).exit_code,
        0);
    // Fixed (the target's row is the source's again, its older update time
    // included): clean, and the watermark moves on.
    CommandResult fourth = webookctl(incremental);
    EXPECT_EQ(fourth.exit_code, 0) << show(fourth);
    EXPECT_FALSE(json_of(fourth)["tables"][0]["held_back"]);
    EXPECT_GT(json_of(fourth)["tables"][0]["watermark"].get<std::string>(),
              json_of(third)["tables"][0]["watermark"].get<std::string>());
}

// --dry-run says what the fixer would do and writes nothing.
TEST(CliMigration, FixDryRunPrintsWhatItWouldDoAndWritesNothing) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clidryrun");
    testing::ScratchDir dir("clidryrun");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 20);
    ASSERT_EQ(webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs)).exit_code, 0);
    testing::plant_type_differences(*target, "typed");
    const std::string events = dir.file("events.jsonl");
    ASSERT_EQ(webookctl(Args{"validate", "--full", "--table", "typed", "--base", "src", "--sink", "file://" + events} +
                        sides(dbs))
                  .exit_code,
              1);
    const auto before = testing::dump_rows(*target, "typed", "id");

    CommandResult dry = webookctl(Args{"fix", "--dry-run", "--until-idle", "--from", "file://" + events} + sides(dbs));
    ASSERT_EQ(dry.exit_code, 0) << show(dry);
    EXPECT_NE(dry.out.find("would delete typed key (301) on the target"), std::string::npos) << show(dry);
    EXPECT_NE(dry.out.find("would upsert typed key (10) on the target"), std::string::npos) << show(dry);
    EXPECT_NE(dry.out.find("dry run: nothing written"), std::string::npos) << show(dry);
    EXPECT_EQ(testing::dump_rows(*target, "typed", "id"), before);
}

// -- A copy killed part-way resumes and ends identical ------------------------

TEST_P(CliMigrationPairs, CopyKilledMidwayResumesAndEndsIdentical) {
    MigrationDatabases dbs(GetParam(), "clicopykill");
    constexpr std::int64_t k_rows = 200000;
    create_big_table(dbs, k_rows);
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    const Args copy = Args{"migrate", "copy", "--table", "big", "--batch-size", "1000"} + sides(dbs);

    // Throttled, so that it is surely still running when it is killed.
    std::int64_t checkpointed = 0;
    {
        ChildProcess first(with_binary(copy + Args{"--rows-per-second", "40000"}));
        const bool progressed = wait_until([&] {
            if (!first.running()) return true;
            try {
                auto row = control->query_one(
                    "SELECT rows_done FROM webookctl_checkpoints WHERE kind = 'copy' AND "
                    "table_name = 'big'");
                checkpointed = row ? (*row)[0].as_int() : 0;
            } catch (const Error&) {  // the control table is not there yet
            }
            return checkpointed >= 20000;
        });
        ASSERT_TRUE(progressed) << "no checkpoint\n" << first.err();
        ASSERT_TRUE(first.running()) << "the copy ended before it could be killed: " << first.err();
        first.kill_hard();
    }
    // Batches may have committed past the checkpoint: --resume removes them.
    EXPECT_LT(row_count(*target, "big"), k_rows);
    EXPECT_GE(row_count(*target, "big"), checkpointed);

    // Without --resume the copy refuses the half-filled target.
    CommandResult refused = webookctl(copy);
    EXPECT_EQ(refused.exit_code, 2) << show(refused);

    CommandResult resumed = webookctl(Args{"--output", "json"} + copy + Args{"--resume"});
    ASSERT_EQ(resumed.exit_code, 0) << show(resumed);
    nlohmann::json j = json_of(resumed)["copied"][0];
    EXPECT_NE(j["resumed_after"], "") << show(resumed);
    EXPECT_LT(j["rows"].get<std::int64_t>(), k_rows);
    EXPECT_EQ(j["rows_total"], k_rows);
    EXPECT_EQ(row_count(*target, "big"), k_rows);

    CommandResult validated =
        webookctl(Args{"validate", "--full", "--checksum", "--table", "big", "--base", "src"} + sides(dbs));
    EXPECT_EQ(validated.exit_code, 0) << show(validated);
    CommandResult by_rows = webookctl(Args{"validate", "--full", "--table", "big", "--base", "src"} + sides(dbs));
    EXPECT_EQ(by_rows.exit_code, 0) << show(by_rows);
}

// -- A fixer killed mid-stream loses no event --------------------------------

TEST_P(CliMigrationPairs, FixerKilledMidStreamLosesNoEvent) {
    MigrationDatabases dbs(GetParam(), "clifixkill");
    constexpr std::int64_t k_rows = 20000;
    create_big_table(dbs, k_rows);  // nothing copied: every row is target_missing
    auto target = dbs.target.connect();
    const std::string topic = kafka_url(testing::unique_name("cli_fix_kill"));
    const std::string group = testing::unique_name("cli_fixers");

    CommandResult found =
        webookctl(Args{"--output", "json", "validate", "--full", "--table", "big", "--base", "src", "--sink", topic} +
                  sides(dbs));
    ASSERT_EQ(found.exit_code, 1) << show(found);
    EXPECT_EQ(json_of(found)["tables"][0]["target_missing"], k_rows);

    const Args fix = Args{"fix", "--from",       topic, "--group",           group, "--table",
                          "big", "--batch-size", "100", "--session-timeout", "3s"} +
                     sides(dbs);
    std::int64_t fixed_before_kill = 0;
    {
        ChildProcess first(with_binary(fix));
        const bool progressed = wait_until([&] {
            if (!first.running()) return true;
            fixed_before_kill = row_count(*target, "big");
            return fixed_before_kill >= 2000;
        });
        ASSERT_TRUE(progressed) << first.err();
        ASSERT_TRUE(first.running()) << "the fixer exited by itself: " << first.err();
        first.kill_hard();
    }
    EXPECT_LT(row_count(*target, "big"), k_rows) << "killed mid-stream";

    CommandResult rest = webookctl(fix + Args{"--until-idle"});
    ASSERT_EQ(rest.exit_code, 0) << show(rest);
    EXPECT_EQ(row_count(*target, "big"), k_rows);
    CommandResult validated = webookctl(Args{"validate", "--full", "--table", "big", "--base", "src"} + sides(dbs));
    EXPECT_EQ(validated.exit_code, 0) << show(validated);
}

// -- Bad input: one clear line, the documented exit status, nothing written --

TEST(CliMigration, UnknownTableIsAUsageErrorNamingItAndNothingIsCopied) {
    for (const EnginePair& pair : testing::engine_pairs()) {
        SCOPED_TRACE(pair.name);
        MigrationDatabases dbs(pair, "cliunknown");
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 10);

        CommandResult v =
            webookctl(Args{"validate", "--full", "--table", "no_such_table", "--base", "src"} + sides(dbs));
        EXPECT_EQ(v.exit_code, 2) << show(v);
        ASSERT_EQ(lines_of(v.err).size(), 1u) << show(v);
        EXPECT_NE(v.err.find("no_such_table"), std::string::npos) << show(v);
        EXPECT_EQ(v.out, "");

        // Every table is planned before any is copied.
        CommandResult c =
            webookctl(Args{"migrate", "copy", "--table", "typed", "--table", "no_such_table"} + sides(dbs));
        EXPECT_EQ(c.exit_code, 2) << show(c);
        ASSERT_EQ(lines_of(c.err).size(), 1u) << show(c);
        EXPECT_NE(c.err.find("no_such_table"), std::string::npos) << show(c);
        EXPECT_EQ(row_count(*target, "typed"), 0);
    }
}

TEST(CliMigration, TableWithoutPrimaryKeyNeedsAConfiguredKey) {
    for (const EnginePair& pair : testing::engine_pairs()) {
        SCOPED_TRACE(pair.name);
        MigrationDatabases dbs(pair, "clinokey");
        testing::ScratchDir dir("clinokey");
        for (const auto* db : {&dbs.source, &dbs.target}) {
            auto c = db->connect();
            c->execute("CREATE TABLE nokey (a bigint NOT NULL, b varchar(20) NULL)");
            c->execute("INSERT INTO nokey VALUES (1, 'one'), (2, 'two')");
        }
        CommandResult v = webookctl(Args{"validate", "--full", "--table", "nokey", "--base", "src"} + sides(dbs));
        EXPECT_EQ(v.exit_code, 2) << show(v);
        ASSERT_EQ(lines_of(v.err).size(), 1u) << show(v);
        EXPECT_NE(v.err.find("nokey"), std::string::npos) << show(v);
        EXPECT_NE(v.err.find("primary key"), std::string::npos) << show(v);

        // With `key` configured, the same table validates.
        const std::string config = dir.file("webookctl.toml");
        testing::write_file(config, "[[tables]]\nname = \"nokey\"\nkey = [\"a\"]\n");
        CommandResult keyed =
            webookctl(Args{"--config", config, "validate", "--full", "--table", "nokey", "--base", "src"} + sides(dbs));
        EXPECT_EQ(keyed.exit_code, 0) << show(keyed);
    }
}

// Keys whose types cannot be compared across the sides, and configured
// columns that do not exist: one line naming the column, exit 2, and the copy
// writes nothing.
TEST(CliMigration, KeyTypesThatDifferAndUnknownColumnsAreRefusedAndNothingIsWritten) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clikeytypes");
    testing::ScratchDir dir("clikeytypes");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    source->execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, name varchar(20) NOT NULL)");
    source->execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')");
    target->execute("CREATE TABLE items (id varchar(20) NOT NULL PRIMARY KEY, name varchar(20) NOT NULL)");
    for (const Args& command : {Args{"migrate", "copy", "--table", "items", "--truncate"},
                                Args{"validate", "--full", "--table", "items", "--base", "src"}}) {
        CommandResult r = webookctl(command + sides(dbs));
        SCOPED_TRACE(show(r));
        EXPECT_EQ(r.exit_code, 2);
        ASSERT_EQ(lines_of(r.err).size(), 1u);
        EXPECT_NE(r.err.find("key column 'id' of items has types that cannot be compared"), std::string::npos);
    }
    EXPECT_EQ(row_count(*target, "items"), 0);

    target->execute("DROP TABLE items");
    target->execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, name varchar(20) NOT NULL)");
    const std::string config = dir.file("webookctl.toml");
    testing::write_file(config, "[[tables]]\nname = \"items\"\nignore_columns = [\"nmae\"]\n");
    CommandResult typo = webookctl(Args{"--config", config, "migrate", "copy", "--table", "items"} + sides(dbs));
    EXPECT_EQ(typo.exit_code, 2) << show(typo);
    ASSERT_EQ(lines_of(typo.err).size(), 1u) << show(typo);
    EXPECT_NE(typo.err.find("ignore_columns of items: column 'nmae' not found"), std::string::npos) << show(typo);
    EXPECT_EQ(row_count(*target, "items"), 0);
    // The fixer too, before it reads an event (not by dead-lettering every one).
    const std::string events = dir.file("events.jsonl");
    testing::write_file(events, "");
    CommandResult fix = webookctl(
        Args{"--config", config, "fix", "--table", "items", "--from", "file://" + events, "--until-idle"} + sides(dbs));
    EXPECT_EQ(fix.exit_code, 2) << show(fix);
    EXPECT_NE(fix.err.find("column 'nmae' not found"), std::string::npos) << show(fix);
}

// A column on one side only is never left out of the work without a word
// (pgloader's test tables: the target's `circuitid` where the source has
// `circuitId`, holding 999 in every row). Validation reports it (exit 1,
// both methods, the pass not clean); copy and fix refuse the table (exit 2)
// and write nothing; mapped, the columns are compared and differ; ignored,
// the rest of the table is consistent.
TEST(CliMigration, AColumnOnOneSideOnlyIsAFindingOfValidationAndCopyAndFixRefuseIt) {
    for (const EnginePair& pair : testing::engine_pairs()) {
        SCOPED_TRACE(pair.name);
        MigrationDatabases dbs(pair, "clicolumns");
        testing::ScratchDir dir("clicolumns");
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        const auto& sq = source->dialect();
        const auto& tq = target->dialect();
        source->execute(fmt::format("CREATE TABLE circuits (id bigint NOT NULL PRIMARY KEY, {} int NOT NULL)",
                                    sq.quote("circuitId")));
        source->execute("INSERT INTO circuits VALUES (1, 10), (2, 20)");
        target->execute(fmt::format("CREATE TABLE circuits (id bigint NOT NULL PRIMARY KEY, {} int NOT NULL)",
                                    tq.quote("circuitid")));
        target->execute("INSERT INTO circuits VALUES (1, 999), (2, 999)");
        if (target->dialect().engine() == Engine::mysql) {
            // MySQL's column names ignore case: one column, compared.
            CommandResult v = webookctl(Args{"--output", "json", "validate", "--full", "--table", "circuits", "--base",
                                             "src", "--sink", "file://" + dir.file("events.jsonl")} +
                                        sides(dbs));
            EXPECT_EQ(v.exit_code, 1) << show(v);
            const auto j = json_of(v);
            EXPECT_EQ(j["tables"][0].value("neq", 0), 2) << show(v);
            EXPECT_TRUE(j["tables"][0]["column_findings"].empty()) << show(v);
            continue;
        }

        for (const Args& method : {Args{}, Args{"--checksum"}}) {
            CommandResult v = webookctl(Args{"--output", "json", "validate", "--full", "--table", "circuits", "--base",
                                             "src", "--sink", "file://" + dir.file("events.jsonl")} +
                                        method + sides(dbs));
            SCOPED_TRACE(show(v));
            EXPECT_EQ(v.exit_code, 1);
            const auto j = json_of(v);
            EXPECT_EQ(j.value("consistent", true), false);
            ASSERT_TRUE(j.contains("tables"));
            EXPECT_EQ(j["tables"][0]["column_findings"],
                      nlohmann::json::array(
                          {"column 'circuitId' is in the source only", "column 'circuitid' is in the target only"}));
        }
        CommandResult text = webookctl(Args{"validate", "--full", "--table", "circuits", "--base", "src", "--sink",
                                            "file://" + dir.file("events2.jsonl")} +
                                       sides(dbs));
        EXPECT_EQ(text.exit_code, 1) << show(text);
        EXPECT_NE(text.out.find("[column 'circuitId' is in the source only]"), std::string::npos) << show(text);

        // Copy and fix refuse it, and write nothing.
        target->execute("DELETE FROM circuits WHERE id = 2");
        CommandResult copy = webookctl(Args{"migrate", "copy", "--table", "circuits", "--truncate"} + sides(dbs));
        EXPECT_EQ(copy.exit_code, 2) << show(copy);
        ASSERT_EQ(lines_of(copy.err).size(), 1u) << show(copy);
        EXPECT_NE(copy.err.find("copy of circuits refused: column 'circuitId' is in the source only, column "
                                "'circuitid' is in the target only"),
                  std::string::npos)
            << show(copy);
        EXPECT_NE(copy.err.find("column_map"), std::string::npos) << show(copy);
        EXPECT_EQ(row_count(*target, "circuits"), 1) << "not truncated";
        const std::string config_fix = dir.file("fix.toml");
        testing::write_file(config_fix, "[[tables]]\nname = \"circuits\"\n");
        const std::string events = dir.file("none.jsonl");
        testing::write_file(events, "");
        CommandResult fix = webookctl(
            Args{"--config", config_fix, "fix", "--table", "circuits", "--from", "file://" + events, "--until-idle"} +
            sides(dbs));
        EXPECT_EQ(fix.exit_code, 2) << show(fix);
        EXPECT_NE(fix.err.find("fix of circuits refused: column 'circuitId' is in the source only"), std::string::npos)
            << show(fix);

        // Mapped: compared, and every row differs (10 vs 999; row 2 missing).
        const std::string mapped = dir.file("mapped.toml");
        testing::write_file(mapped,
                            "[[tables]]\nname = \"circuits\"\ncolumn_map = { \"circuitId\" = \"circuitid\" }\n");
        CommandResult m = webookctl(Args{"--config", mapped, "--output", "json", "validate", "--full", "--table",
                                         "circuits", "--base", "src", "--sink", "file://" + dir.file("m.jsonl")} +
                                    sides(dbs));
        EXPECT_EQ(m.exit_code, 1) << show(m);
        const auto mj = json_of(m);
        EXPECT_EQ(mj["tables"][0].value("neq", 0), 1) << show(m);
        EXPECT_EQ(mj["tables"][0].value("target_missing", 0), 1) << show(m);
        EXPECT_TRUE(mj["tables"][0]["column_findings"].empty()) << show(m);

        // Ignored on both sides (each by its own side's name): the rest is consistent.
        target->execute("INSERT INTO circuits VALUES (2, 999)");
        const std::string ignored = dir.file("ignored.toml");
        testing::write_file(ignored,
                            "[[tables]]\nname = \"circuits\"\nignore_columns = [\"circuitId\", \"circuitid\"]\n");
        CommandResult ig = webookctl(Args{"--config", ignored, "validate", "--full", "--table", "circuits", "--base",
                                          "src", "--sink", "file://" + dir.file("i.jsonl")} +
                                     sides(dbs));
        EXPECT_EQ(ig.exit_code, 0) << show(ig);
    }
}

// Incremental validation compares JSON as JSON too: MySQL's `{"k":1}` and
// jsonb's `{"k": 1}` are one document; a changed value is still found.
TEST(CliMigration, IncrementalValidationComparesJsonAsJson) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clijsoninc");
    testing::ScratchDir dir("clijsoninc");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    source->execute("CREATE TABLE jdocs (id BIGINT PRIMARY KEY, j JSON NOT NULL, utime DATETIME(6) NOT NULL)");
    target->execute("CREATE TABLE jdocs (id BIGINT PRIMARY KEY, j jsonb NOT NULL, utime timestamp(6) NOT NULL)");
    source->execute(
        R"(INSERT INTO jdocs VALUES (1, '{"k":1,"b":[1,2]}', UTC_TIMESTAMP(6)), (2, '{"z":"x","a":null}', UTC_TIMESTAMP(6)))");
    CommandResult copy = webookctl(Args{"migrate", "copy", "--table", "jdocs"} + sides(dbs));
    ASSERT_EQ(copy.exit_code, 0) << show(copy);
    const Args validate =
        Args{"validate", "--incremental", "--table",    "jdocs",  "--base",
             "src",      "--since",       "2000-01-01", "--sink", "file://" + dir.file("events.jsonl")} +
        sides(dbs);
    CommandResult same = webookctl(validate);
    EXPECT_EQ(same.exit_code, 0) << show(same);
    target->execute(R"(UPDATE jdocs SET j = '{"k":2,"b":[1,2]}' WHERE id = 1)");
    CommandResult changed = webookctl(validate);
    EXPECT_EQ(changed.exit_code, 1) << show(changed);
}

// A neq event names the columns that differ (both validators), and carries
// their values only with --event-values; the summary lists the columns that
// differ most; the fixer repairs from such events as from any.
TEST(CliMigration, NeqEventsNameTheColumnsThatDifferAndTheirValuesOnlyWhenAsked) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clineqcols");
    testing::ScratchDir dir("clineqcols");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    source->execute(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, n BIGINT NOT NULL, "
        "utime DATETIME(6) NOT NULL)");
    target->execute(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, n BIGINT NOT NULL, "
        "utime timestamp(6) NOT NULL)");
    source->execute(
        "INSERT INTO items VALUES (1, 'one', 1, UTC_TIMESTAMP(6)), (2, 'two', 2, UTC_TIMESTAMP(6)), "
        "(3, 'three', 3, UTC_TIMESTAMP(6))");
    ASSERT_EQ(webookctl(Args{"migrate", "copy", "--table", "items"} + sides(dbs)).exit_code, 0);
    target->execute("UPDATE items SET n = 20 WHERE id = 2");
    target->execute("UPDATE items SET n = 30, name = 'THREE' WHERE id = 3");

    auto events_of = [&](const Args& extra, const std::string& name, CommandResult* out = nullptr) {
        const std::string path = dir.file(name);
        CommandResult r = webookctl(Args{"validate", "--table", "items", "--base", "src", "--sink", "file://" + path} +
                                    extra + sides(dbs));
        EXPECT_EQ(r.exit_code, 1) << show(r);
        if (out) *out = r;
        std::map<std::int64_t, nlohmann::json> by_id;
        for (const auto& line : lines_of(testing::read_file(path))) {
            auto j = nlohmann::json::parse(line);
            by_id[j["key"]["id"].get<std::int64_t>()] = j;
        }
        return by_id;
    };
    CommandResult text;
    for (const Args& method :
         {Args{"--full"}, Args{"--full", "--checksum"}, Args{"--incremental", "--since", "2000-01-01"}}) {
        SCOPED_TRACE(method[0] + (method.size() > 1 ? " " + method[1] : ""));
        auto events = events_of(method, testing::unique_name("plain") + ".jsonl", &text);
        ASSERT_EQ(events.size(), 2u);
        EXPECT_EQ(events[2]["columns"], nlohmann::json::array({"n"}));
        EXPECT_EQ(events[3]["columns"], nlohmann::json::array({"name", "n"}));
        EXPECT_FALSE(events[3].contains("values")) << "values only when asked";
        EXPECT_NE(text.out.find("[neq in n 2, name 1]"), std::string::npos) << show(text);
    }
    auto valued = events_of(Args{"--full", "--event-values"}, "valued.jsonl");
    EXPECT_EQ(valued[3]["values"], nlohmann::json::parse(R"({"name":{"base":"three","other":"THREE"},
                                                              "n":{"base":3,"other":30}})"));
    CommandResult json;
    events_of(Args{"--full"}, "json.jsonl");
    json = webookctl(Args{"--output", "json", "validate", "--full", "--table", "items", "--base", "src", "--sink",
                          "file://" + dir.file("j.jsonl")} +
                     sides(dbs));
    EXPECT_EQ(json_of(json)["tables"][0]["neq_columns"], nlohmann::json::parse(R"({"n":2,"name":1})")) << show(json);

    // The fixer reads the table, key and base; the rest is information.
    CommandResult fix =
        webookctl(Args{"fix", "--from", "file://" + dir.file("valued.jsonl"), "--until-idle"} + sides(dbs));
    EXPECT_EQ(fix.exit_code, 0) << show(fix);
    CommandResult after = webookctl(
        Args{"validate", "--full", "--table", "items", "--base", "src", "--sink", "file://" + dir.file("after.jsonl")} +
        sides(dbs));
    EXPECT_EQ(after.exit_code, 0) << show(after);
}

// A kept --shard split is forgotten on request, so the next sharded run
// plans the table as it is then -- but not while a sharded copy of it is
// unfinished, whose resume must cut the table where it began.
TEST(CliMigration, ShardPlanResetForgetsTheSplitUnlessAShardedCopyIsUnfinished) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clishardreset");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    for (Connection* c : {source.get(), target.get()})
        c->execute("CREATE TABLE items (id bigint NOT NULL PRIMARY KEY, name varchar(20) NOT NULL)");
    source->execute("INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')");
    CommandResult copy = webookctl(Args{"migrate", "copy", "--table", "items", "--shard", "1/2"} + sides(dbs));
    ASSERT_EQ(copy.exit_code, 0) << show(copy);
    auto kept = [&] {
        return (*source->query_one("SELECT COUNT(*) FROM webookctl_checkpoints WHERE kind = 'shard-plan'"))[0].as_int();
    };
    EXPECT_EQ(kept(), 1);

    // Shard 2/2 started and interrupted before its first batch committed: a
    // checkpoint without position, and no "done".
    CheckpointStore store(*source);
    save_record(store, CopyProgress{"items", "2/2", std::nullopt, 0, false, 0});
    const Args reset{"--output", "json",  "migrate",  "shard-plan",    "reset",
                     "--table",  "items", "--source", dbs.source.url()};
    CommandResult refused = webookctl(reset);
    EXPECT_EQ(refused.exit_code, 2) << show(refused);
    ASSERT_EQ(lines_of(refused.err).size(), 1u) << show(refused);
    EXPECT_NE(refused.err.find("shard 2/2 of items has an unfinished copy"), std::string::npos) << show(refused);
    EXPECT_EQ(kept(), 1);

    CommandResult finished =
        webookctl(Args{"migrate", "copy", "--table", "items", "--shard", "2/2", "--resume"} + sides(dbs));
    ASSERT_EQ(finished.exit_code, 0) << show(finished);
    CommandResult forgot = webookctl(reset);
    ASSERT_EQ(forgot.exit_code, 0) << show(forgot);
    EXPECT_EQ(json_of(forgot)["forgotten"], 1);
    EXPECT_EQ(kept(), 0);
    EXPECT_EQ(row_count(*target, "items"), 4);
}

// Events the fixer cannot use (not JSON, unknown table, a key that does not
// fit) go to the dead-letter file; the good ones around them are applied.
TEST(CliMigration, MalformedEventsGoToTheDeadLetterFileAndTheFixerGoesOn) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clideadletter");
    testing::ScratchDir dir("clideadletter");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 30);
    }
    const std::string events = dir.file("events.jsonl");
    const std::string dead = dir.file("dead.jsonl");
    testing::write_file(events,
                        "{\"table\":\"typed\",\"key\":{\"id\":2},\"type\":\"target_missing\",\"base\":\"src\"}\n"
                        "{this is not json\n"
                        "{\"table\":\"no_such_table\",\"key\":{\"id\":4},\"type\":\"neq\",\"base\":\"src\"}\n"
                        "{\"table\":\"typed\",\"key\":{\"id\":\"four\"},\"type\":\"neq\",\"base\":\"src\"}\n"
                        "{\"table\":\"typed\",\"key\":{\"id\":4},\"type\":\"sideways\",\"base\":\"src\"}\n"
                        "\n"
                        "{\"table\":\"typed\",\"key\":{\"id\":6},\"type\":\"target_missing\",\"base\":\"src\"}\n");
    CommandResult r = webookctl(Args{"--output", "json", "fix", "--until-idle", "--from", "file://" + events,
                                     "--dead-letter", "file://" + dead} +
                                sides(dbs));
    ASSERT_EQ(r.exit_code, 0) << show(r);
    nlohmann::json j = json_of(r);
    EXPECT_EQ(j["dead_letters"], 4);
    EXPECT_EQ(j["upserted"], 2);
    const auto letters = lines_of(testing::read_file(dead));
    ASSERT_EQ(letters.size(), 4u) << testing::read_file(dead);
    EXPECT_EQ(nlohmann::json::parse(letters[0])["payload"], "{this is not json");
    for (const auto& line : letters) {
        nlohmann::json letter = nlohmann::json::parse(line);
        EXPECT_TRUE(letter.contains("error")) << line;
        EXPECT_NE(letter["origin"].get<std::string>().find(events), std::string::npos) << line;
    }
    auto target = dbs.target.connect();
    EXPECT_EQ(row_count(*target, "typed"), 2);
}

// Without --until-idle a fixer follows its file as a validator appends to
// it (like `tail -f`, waiting instead of spinning at the end, and holding a
// line back until its newline arrives), until it is signalled.
TEST(CliMigration, FixWithoutUntilIdleFollowsTheFileUntilSignalled) {
    MigrationDatabases dbs(testing::engine_pairs()[0], "clifollow");
    testing::ScratchDir dir("clifollow");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 10);
    }
    auto target = dbs.target.connect();
    auto event = [](int id) {
        return fmt::format(R"({{"table":"typed","key":{{"id":{}}},"type":"target_missing","base":"src"}})", id);
    };
    const std::string events = dir.file("events.jsonl");
    const std::string dead = dir.file("dead.jsonl");
    testing::write_file(events, event(2) + "\n");
    auto append = [&](const std::string& text) {
        std::ofstream out(events, std::ios::app | std::ios::binary);
        out << text;
    };
    // A long --batch-wait: the fixer must notice appended lines while it waits.
    ChildProcess fixer(with_binary(
        Args{"fix", "--from", "file://" + events, "--dead-letter", "file://" + dead, "--batch-wait", "60s"} +
        sides(dbs)));
    auto has_rows = [&](std::int64_t n) { return wait_until([&] { return row_count(*target, "typed") >= n; }); };
    ASSERT_TRUE(has_rows(1)) << fixer.err();
    const std::string six = event(6);
    append(event(4) + "\n" + six.substr(0, 20));  // the writer is in the middle of a line
    ASSERT_TRUE(has_rows(2)) << fixer.err();
    append(six.substr(20) + "\n");
    ASSERT_TRUE(has_rows(3)) << fixer.err();
    EXPECT_TRUE(fixer.running());

    fixer.send_signal(SIGTERM);
    CommandResult r = fixer.wait(30s);
    EXPECT_EQ(r.exit_code, 130) << show(r);
    EXPECT_EQ(testing::read_file(dead), "") << "no line was taken apart";
    EXPECT_EQ(row_count(*target, "typed"), 3);
}

TEST(CliMigration, UnreachableKafkaExitsThreeAndNothingIsWritten) {
    MigrationDatabases dbs(testing::engine_pairs()[0], "clikafkadown");
    testing::ScratchDir dir("clikafkadown");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 10);
    }
    const std::string down = "kafka://127.0.0.1:1/webook_events";
    CommandResult v =
        webookctl(Args{"validate", "--full", "--table", "typed", "--base", "src", "--sink", down} + sides(dbs));
    EXPECT_EQ(v.exit_code, 3) << show(v);
    EXPECT_EQ(v.out, "");
    ASSERT_EQ(lines_of(v.err).size(), 1u) << show(v);
    EXPECT_NE(v.err.find("127.0.0.1:1"), std::string::npos) << show(v);

    // A fixer whose dead-letter topic is down does not start repairing.
    const std::string events = dir.file("events.jsonl");
    testing::write_file(events,
                        "{\"table\":\"typed\",\"key\":{\"id\":2},\"type\":\"target_missing\",\"base\":\"src\"}\n");
    CommandResult f = webookctl(Args{"fix", "--from", "file://" + events, "--dead-letter", down} + sides(dbs));
    EXPECT_EQ(f.exit_code, 3) << show(f);
    CommandResult from = webookctl(Args{"fix", "--from", down, "--group", "g"} + sides(dbs));
    EXPECT_EQ(from.exit_code, 3) << show(from);
    auto target = dbs.target.connect();
    EXPECT_EQ(row_count(*target, "typed"), 0);
}

TEST(CliMigration, UnwritableSinkOrDeadLetterPathIsAUsageErrorAndNothingIsWritten) {
    MigrationDatabases dbs(testing::engine_pairs()[1], "clisinkpath");
    testing::ScratchDir dir("clisinkpath");
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 10);
    }
    const std::string nowhere = "file://" + dir.file("no/such/dir/events.jsonl");
    CommandResult v =
        webookctl(Args{"validate", "--full", "--table", "typed", "--base", "src", "--sink", nowhere} + sides(dbs));
    EXPECT_EQ(v.exit_code, 2) << show(v);
    EXPECT_EQ(v.out, "");
    ASSERT_EQ(lines_of(v.err).size(), 1u) << show(v);
    EXPECT_NE(v.err.find("no/such/dir/events.jsonl"), std::string::npos) << show(v);

    CommandResult scheme = webookctl(
        Args{"validate", "--full", "--table", "typed", "--base", "src", "--sink", "ftp://example/x"} + sides(dbs));
    EXPECT_EQ(scheme.exit_code, 2) << show(scheme);

    const std::string events = dir.file("events.jsonl");
    testing::write_file(events,
                        "{\"table\":\"typed\",\"key\":{\"id\":2},\"type\":\"target_missing\",\"base\":\"src\"}\n");
    CommandResult f = webookctl(Args{"fix", "--from", "file://" + events, "--dead-letter", nowhere} + sides(dbs));
    EXPECT_EQ(f.exit_code, 2) << show(f);
    CommandResult missing = webookctl(Args{"fix", "--from", "file://" + dir.file("missing.jsonl")} + sides(dbs));
    EXPECT_EQ(missing.exit_code, 2) << show(missing);
    auto target = dbs.target.connect();
    EXPECT_EQ(row_count(*target, "typed"), 0);
}

TEST(CliMigration, CopyRefusesANonEmptyTargetWithoutResumeOrTruncate) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clicopyrefuse");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 20);
    target->execute("INSERT INTO typed (id, name, utime) VALUES (2, 'already there', '2026-01-01 00:00:00')");

    const Args copy = Args{"migrate", "copy", "--table", "typed"} + sides(dbs);
    CommandResult refused = webookctl(copy);
    EXPECT_EQ(refused.exit_code, 2) << show(refused);
    ASSERT_EQ(lines_of(refused.err).size(), 1u) << show(refused);
    EXPECT_NE(refused.err.find("not empty"), std::string::npos) << show(refused);
    EXPECT_NE(refused.err.find("typed"), std::string::npos) << show(refused);
    EXPECT_EQ(row_count(*target, "typed"), 1);
    auto kept = target->query_one("SELECT name FROM typed WHERE id = 2");
    ASSERT_TRUE(kept);
    EXPECT_EQ((*kept)[0].display(), "already there");

    CommandResult both = webookctl(copy + Args{"--resume", "--truncate"});
    EXPECT_EQ(both.exit_code, 2) << show(both);
    EXPECT_EQ(row_count(*target, "typed"), 1);

    CommandResult truncated = webookctl(copy + Args{"--truncate"});
    EXPECT_EQ(truncated.exit_code, 0) << show(truncated);
    EXPECT_EQ(row_count(*target, "typed"), 20);
    CommandResult validated = webookctl(Args{"validate", "--full", "--table", "typed", "--base", "src"} + sides(dbs));
    EXPECT_EQ(validated.exit_code, 0) << show(validated);
}

// The copy rebuilds the target's secondary indexes after the load, unless
// told to keep them. (Past src_only there is no copy: cli_phase_test.cpp.)
TEST(CliMigration, CopyDropsIndexesForTheLoadUnlessToldToKeepThem) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "clicopyidx");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 20);
    const auto before = secondary_indexes(*target, "typed");
    ASSERT_FALSE(before.empty());
    const Args copy = Args{"--log-level", "info", "migrate", "copy", "--table", "typed", "--truncate"} + sides(dbs);

    CommandResult deferred = webookctl(copy);
    EXPECT_EQ(deferred.exit_code, 0) << show(deferred);
    EXPECT_NE(deferred.err.find("dropped for the load"), std::string::npos) << show(deferred);
    EXPECT_EQ(secondary_indexes(*target, "typed"), before);

    CommandResult kept_by_flag = webookctl(copy + Args{"--keep-indexes"});
    EXPECT_EQ(kept_by_flag.exit_code, 0) << show(kept_by_flag);
    EXPECT_EQ(kept_by_flag.err.find("dropped for the load"), std::string::npos) << show(kept_by_flag);

    EXPECT_EQ(secondary_indexes(*target, "typed"), before);
    EXPECT_EQ(row_count(*target, "typed"), 20);
}

}  // namespace
}  // namespace webook

namespace webook {
namespace {

// `migrate mode` and `migrate status` with bad input: an unknown mode, an
// illegal step, a database that was never prepared (no control table) --
// each one error line, exit 2, and nothing written.
TEST(CliMigration, ModeCommandsRefuseBadInputAndWriteNothing) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "climodebad");
    auto source = dbs.source.connect();
    const Args on_source{"--source", dbs.source.url()};

    // Never prepared: get/status/set past src_only refuse and create nothing.
    for (const Args& args :
         {Args{"migrate", "mode", "get"}, Args{"migrate", "status"}, Args{"migrate", "mode", "set", "src_first"}}) {
        CommandResult r = webookctl(args + on_source);
        SCOPED_TRACE(show(r));
        EXPECT_EQ(r.exit_code, 2);
        EXPECT_EQ(r.out, "");
        ASSERT_EQ(lines_of(r.err).size(), 1u);
        EXPECT_NE(r.err.find("control table"), std::string::npos);
        EXPECT_FALSE(source->table_exists("webookctl_control"));
    }

    CommandResult unknown = webookctl(Args{"migrate", "mode", "set", "dst_last"} + on_source);
    EXPECT_EQ(unknown.exit_code, 2) << show(unknown);
    EXPECT_EQ(lines_of(unknown.err).size(), 1u) << show(unknown);
    EXPECT_NE(unknown.err.find("dst_last"), std::string::npos) << show(unknown);
    EXPECT_FALSE(source->table_exists("webookctl_control"));

    // Starting a migration (src_only) prepares the control table.
    CommandResult start = webookctl(Args{"migrate", "mode", "set", "src_only"} + on_source);
    ASSERT_EQ(start.exit_code, 0) << show(start);
    EXPECT_TRUE(source->table_exists("webookctl_control"));

    // Two steps at once: refused with the allowed steps, the mode unchanged.
    CommandResult jump = webookctl(Args{"--output", "json", "migrate", "mode", "set", "dst_first"} + on_source);
    EXPECT_EQ(jump.exit_code, 2) << show(jump);
    EXPECT_EQ(jump.out, "") << show(jump);
    EXPECT_EQ(lines_of(jump.err).size(), 1u) << show(jump);
    EXPECT_NE(jump.err.find("only one step at a time, forward (src_first)"), std::string::npos) << show(jump);
    CommandResult get = webookctl(Args{"--output", "json", "migrate", "mode", "get"} + on_source);
    ASSERT_EQ(get.exit_code, 0) << show(get);
    EXPECT_EQ(json_of(get)["mode"], "src_only");
    EXPECT_EQ(json_of(get)["version"], 0);
}

}  // namespace
}  // namespace webook
