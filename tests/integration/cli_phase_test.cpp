// Phase safety, as an operator's script meets it: what each migration phase
// forbids is refused -- exit 2, one line naming the mode, why and the way
// back -- and writes nothing; and a backlog from before a switch cannot
// overwrite the authoritative side. On both kinds of target: MySQL ->
// PostgreSQL and MySQL -> MySQL.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/migration_mode.h"
#include "migrate/double_write.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::Args;
using testing::CommandResult;
using testing::MigrationDatabases;

using testing::operator+;

Args sides(const MigrationDatabases& dbs) {
    return {"--source", dbs.source.url(), "--target", dbs.target.url()};
}

class PhaseSafety : public ::testing::TestWithParam<testing::EnginePair> {
protected:
    // `typed` on both sides, `rows` rows copied, and the mode row in place.
    void copied_table(MigrationDatabases& dbs, int rows) {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", rows);
        CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs));
        ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
        testing::step_mode(*source, Mode::src_only);
    }
};

INSTANTIATE_TEST_SUITE_P(, PhaseSafety, ::testing::Values(testing::engine_pairs()[2], testing::engine_pairs()[0]),
                         [](const auto& info) { return std::string(info.param.name); });

// What the target holds, its indexes and the copy's checkpoint: all that a
// copy could change.
struct TargetState {
    std::vector<std::string> rows;
    std::vector<std::string> indexes;
    std::string checkpoint;

    bool operator==(const TargetState&) const = default;
};

TargetState target_state(MigrationDatabases& dbs) {
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    TargetState s;
    s.rows = testing::dump_rows(*target, "typed", "id");
    for (const auto& ix : secondary_indexes(*target, "typed")) s.indexes.push_back(ix.definition);
    auto cp = CheckpointStore(*control).load(CheckpointKind::copy, "typed", "all");
    if (cp) s.checkpoint = cp->position.value_or("") + " " + std::to_string(cp->rows_done) + " " + cp->result;
    return s;
}

TEST_P(PhaseSafety, CopyIsRefusedPastSrcOnlyInEveryFormAndWritesNothing) {
    MigrationDatabases dbs(GetParam(), "phasecopy");
    copied_table(dbs, 20);
    // The target has a row the source lacks and one that is newer: what a
    // copy that went ahead would destroy.
    auto target = dbs.target.connect();
    target->execute("UPDATE typed SET name = 'newer on the target' WHERE id = 10");
    target->execute("DELETE FROM typed WHERE id = 12");
    auto control = dbs.source.connect();
    const Args copy = Args{"migrate", "copy", "--table", "typed"} + sides(dbs);
    for (Mode mode : {Mode::src_first, Mode::dst_first, Mode::dst_only}) {
        testing::step_mode(*control, mode);
        for (const Args& form : {Args{}, Args{"--resume"}, Args{"--truncate"}, Args{"--truncate", "--keep-indexes"}}) {
            SCOPED_TRACE(fmt::format("{} {}", mode_name(mode), form.empty() ? "(plain)" : form[0]));
            const TargetState before = target_state(dbs);
            CommandResult r = testing::webookctl(copy + form);
            testing::expect_one_error(r, 2, fmt::format("the migration is in {}", mode_name(mode)));
            EXPECT_NE(r.err.find("roll back first ('webookctl migrate mode set"), std::string::npos) << r.err;
            EXPECT_NE(r.err.find(mode == Mode::src_first ? "takes double-writes" : "stale source"), std::string::npos)
                << r.err;
            EXPECT_EQ(target_state(dbs), before);
        }
    }
    EXPECT_EQ(read_mode(*control), Mode::dst_only);

    // Rolled back to src_only, the copy may start over.
    testing::step_mode(*control, Mode::src_only);
    CommandResult again = testing::webookctl(copy + Args{"--truncate"});
    ASSERT_EQ(again.exit_code, 0) << testing::describe(again);
    EXPECT_EQ(testing::dump_rows(*target, "typed", "id"), testing::dump_rows(*dbs.source.connect(), "typed", "id"));
}

// A backlog from before the switch: validation in src_first reported a key
// with the source as base; by the time the fixer reads it the migration is
// in dst_first and the target holds a newer row for that key (the source
// missed the write: a second-side failure). The event is not applied as
// named: the key is re-read on the current base (the target), whose row
// wins, and the source is repaired from it.
TEST_P(PhaseSafety, AStaleEventNamingTheOldBaseNeverOverwritesTheNewerAuthoritativeRow) {
    MigrationDatabases dbs(GetParam(), "phasestale");
    copied_table(dbs, 10);
    testing::ScratchDir dir("phasestale");
    const std::string events = dir.file("backlog.jsonl");
    testing::write_file(events, R"({"table":"typed","key":{"id":10},"type":"neq","base":"src",)"
                                R"("detected_at":"2026-12-01T00:00:00Z","validator":"incremental"})"
                                "\n");
    auto control = dbs.source.connect();
    testing::step_mode(*control, Mode::dst_first);
    auto target = dbs.target.connect();
    target->execute("UPDATE typed SET name = 'written in dst_first' WHERE id = 10");

    CommandResult r =
        testing::webookctl(Args{"--output", "json", "fix", "--until-idle", "--from", "file://" + events} + sides(dbs));
    ASSERT_EQ(r.exit_code, 0) << testing::describe(r);
    nlohmann::json j = testing::last_json(r);
    EXPECT_EQ(j["events"], 1);
    EXPECT_EQ(j["rebased"], 1);
    EXPECT_EQ(j["upserted"], 1);
    auto name_of = [](Connection& c) {
        return std::string((*c.query_one("SELECT name FROM typed WHERE id = 10"))[0].as_string());
    };
    EXPECT_EQ(name_of(*target), "written in dst_first");
    EXPECT_EQ(name_of(*dbs.source.connect()), "written in dst_first");

    // The repair is counted per table, and the next validation pass records
    // what was fixed since the one before it.
    auto record_of = [&](const std::string& kind) {
        CommandResult status = testing::webookctl(Args{"--output", "json", "migrate", "status"} + sides(dbs));
        EXPECT_EQ(status.exit_code, 0) << testing::describe(status);
        const nlohmann::json j = testing::last_json(status);
        for (const auto& c : j["checkpoints"])
            if (c["table"] == "typed" && c["kind"] == kind) return c;
        return nlohmann::json();
    };
    EXPECT_EQ(record_of("fix")["rows"], 1);
    const Args validate = Args{"validate", "--incremental", "--table", "typed"} + sides(dbs);
    ASSERT_EQ(testing::webookctl(validate).exit_code, 0);
    EXPECT_EQ(record_of("validate-pass-incremental")["result"]["fixed"], 1);
    EXPECT_EQ(record_of("validate-pass-incremental")["result"]["base"], "dst");
    ASSERT_EQ(testing::webookctl(validate).exit_code, 0);
    EXPECT_EQ(record_of("validate-pass-incremental")["result"]["fixed"], 0);
}

// `migrate copy --dry-run` prints the plan and writes nothing -- not even
// the control tables -- and says when the real copy would be refused.
TEST_P(PhaseSafety, CopyDryRunPrintsThePlanAndWritesNothing) {
    MigrationDatabases dbs(GetParam(), "phasecopyplan");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", 20);
    const Args plan = Args{"--output", "json", "migrate", "copy", "--table", "typed", "--dry-run"} + sides(dbs);
    CommandResult fresh = testing::webookctl(plan);
    ASSERT_EQ(fresh.exit_code, 0) << testing::describe(fresh);
    nlohmann::json j = testing::last_json(fresh);
    EXPECT_EQ(j["dry_run"], true);
    EXPECT_EQ(j["mode"], "src_only");
    ASSERT_EQ(j["tables"].size(), 1u);
    EXPECT_TRUE(j["tables"][0]["refused"].is_null());
    EXPECT_EQ(j["tables"][0]["source_rows"], 20);
    EXPECT_EQ(j["tables"][0]["target_rows"], 0);
    EXPECT_EQ(j["tables"][0]["first_key"], "[\"2\"]");
    EXPECT_EQ(j["tables"][0]["last_key"], "[\"40\"]");
    EXPECT_NE(j["tables"][0]["indexes"].get<std::string>().find("dropped before the load and rebuilt after it"),
              std::string::npos);
    EXPECT_FALSE(source->table_exists("webookctl_checkpoints"));
    EXPECT_FALSE(source->table_exists("webookctl_control"));
    EXPECT_EQ(testing::row_count(*target, "typed"), 0);

    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs));
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    testing::step_mode(*source, Mode::src_only);
    const TargetState before = target_state(dbs);
    CommandResult not_empty = testing::webookctl(plan);
    EXPECT_EQ(not_empty.exit_code, 2) << testing::describe(not_empty);
    EXPECT_NE(testing::last_json(not_empty)["tables"][0]["refused"].get<std::string>().find("not empty"),
              std::string::npos);
    CommandResult truncate = testing::webookctl(plan + Args{"--truncate"});
    EXPECT_EQ(truncate.exit_code, 0) << testing::describe(truncate);
    EXPECT_NE(
        testing::last_json(truncate)["tables"][0]["start"].get<std::string>().find("truncate the target (20 rows)"),
        std::string::npos);
    CommandResult resume = testing::webookctl(plan + Args{"--resume"});
    EXPECT_EQ(resume.exit_code, 0) << testing::describe(resume);
    EXPECT_NE(testing::last_json(resume)["tables"][0]["start"].get<std::string>().find("resume after key [\"40\"]"),
              std::string::npos);
    EXPECT_EQ(target_state(dbs), before);

    testing::step_mode(*source, Mode::src_first);
    CommandResult refused = testing::webookctl(plan + Args{"--truncate"});
    EXPECT_EQ(refused.exit_code, 2) << testing::describe(refused);
    EXPECT_NE(testing::last_json(refused)["tables"][0]["refused"].get<std::string>().find("in src_first"),
              std::string::npos);
    EXPECT_EQ(target_state(dbs), before);
}

// `mode set` through its gate: refused with every unmet precondition in one
// line, exit 2 and nothing changed; --dry-run says the same and changes
// nothing; once the preconditions hold the step goes through; --force
// --reason overrides a gate and is recorded, and `migrate status` shows it
// and what blocks the next step each way.
TEST_P(PhaseSafety, ModeSetPassesOnlyThroughItsGateAndAForcedSwitchIsRecorded) {
    MigrationDatabases dbs(GetParam(), "phasegate");
    copied_table(dbs, 10);
    testing::ScratchDir dir("phasegate");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    // A configured table not copied yet, whose unique index the target lacks.
    for (Connection* c : {source.get(), target.get()})
        c->execute(
            fmt::format("CREATE TABLE coded (id BIGINT NOT NULL PRIMARY KEY, code VARCHAR(32) NOT NULL, "
                        "utime {} NOT NULL)",
                        c->dialect().engine() == Engine::mysql ? "DATETIME(6)" : "timestamp(6)"));
    source->execute("CREATE UNIQUE INDEX uk_code ON coded (code)");
    source->execute(
        "INSERT INTO coded VALUES (1, 'a', '2026-01-01 00:00:00'), (2, 'b', '2026-01-01 "
        "00:00:00')");
    const std::string config = dir.file("migration.toml");
    testing::write_file(config, "[[tables]]\nname = \"typed\"\n\n[[tables]]\nname = \"coded\"\n");
    const Args set = Args{"--config", config, "migrate", "mode", "set"};
    auto mode_now = [&] {  // where the CLI keeps it: moved to the target from dst_first on
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        ControlRows rows = ControlRows::borrowed(*source, target.get());
        return get_mode(rows);
    };

    CommandResult refused = testing::webookctl(set + Args{"src_first"} + sides(dbs));
    testing::expect_one_error(refused, 2, "not switching from src_only to src_first: 2 preconditions unmet");
    EXPECT_NE(refused.err.find("coded: not copied"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("coded: the target lacks the source's unique index (code)"), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--force --reason"), std::string::npos) << refused.err;
    EXPECT_EQ(mode_now().version, 0);

    CommandResult dry =
        testing::webookctl(Args{"--output", "json"} + set + Args{"src_first", "--dry-run"} + sides(dbs));
    EXPECT_EQ(dry.exit_code, 2) << testing::describe(dry);
    nlohmann::json j = testing::last_json(dry);
    EXPECT_EQ(j["gate"]["ready"], false);
    EXPECT_EQ(j["gate"]["unmet"].size(), 2u);
    EXPECT_EQ(mode_now().version, 0);

    target->execute("CREATE UNIQUE INDEX uk_code ON coded (code)");
    CommandResult copied = testing::webookctl(Args{"migrate", "copy", "--table", "coded"} + sides(dbs));
    ASSERT_EQ(copied.exit_code, 0) << testing::describe(copied);
    CommandResult ready = testing::webookctl(set + Args{"src_first", "--dry-run"} + sides(dbs));
    EXPECT_EQ(ready.exit_code, 0) << testing::describe(ready);
    EXPECT_NE(ready.out.find("ready"), std::string::npos) << ready.out;
    EXPECT_EQ(mode_now().mode, Mode::src_only);
    CommandResult to_src_first = testing::webookctl(set + Args{"src_first"} + sides(dbs));
    ASSERT_EQ(to_src_first.exit_code, 0) << testing::describe(to_src_first);
    EXPECT_EQ(mode_now().mode, Mode::src_first);

    // -> dst_first needs a clean incremental pass per table (base: source)
    // that began after the last second-side failure.
    CommandResult no_pass = testing::webookctl(set + Args{"dst_first"} + sides(dbs));
    testing::expect_one_error(no_pass, 2, "typed: no incremental validation pass recorded");
    const Args validate = Args{"--config", config, "validate", "--incremental"} + sides(dbs);
    ASSERT_EQ(testing::webookctl(validate).exit_code, 0);
    record_second_side_failures(*source, 1);
    CommandResult after_failure = testing::webookctl(set + Args{"dst_first"} + sides(dbs));
    testing::expect_one_error(after_failure, 2, "a second-side write failed");
    ASSERT_EQ(testing::webookctl(validate).exit_code, 0);
    CommandResult to_dst_first = testing::webookctl(set + Args{"dst_first"} + sides(dbs));
    ASSERT_EQ(to_dst_first.exit_code, 0) << testing::describe(to_dst_first);
    EXPECT_EQ(mode_now().mode, Mode::dst_first);
    EXPECT_EQ(mode_now().place, ControlPlace::target);  // the row followed the authoritative side

    // The passes had the source as base: -> dst_only needs one with the target.
    CommandResult unforced = testing::webookctl(set + Args{"dst_only"} + sides(dbs));
    testing::expect_one_error(unforced, 2, "needs one with base dst");
    CommandResult no_reason = testing::webookctl(set + Args{"dst_only", "--force"} + sides(dbs));
    EXPECT_EQ(no_reason.exit_code, 2) << testing::describe(no_reason);
    EXPECT_NE(no_reason.err.find("--reason"), std::string::npos) << no_reason.err;
    EXPECT_EQ(mode_now().mode, Mode::dst_first);
    CommandResult forced =
        testing::webookctl(Args{"--output", "json"} + set +
                           Args{"dst_only", "--force", "--reason", "drill: validated by hand"} + sides(dbs));
    ASSERT_EQ(forced.exit_code, 0) << testing::describe(forced);
    EXPECT_EQ(testing::last_json(forced)["forced"], true);
    EXPECT_EQ(mode_now().mode, Mode::dst_only);

    CommandResult status =
        testing::webookctl(Args{"--output", "json", "--config", config, "migrate", "status"} + sides(dbs));
    ASSERT_EQ(status.exit_code, 0) << testing::describe(status);
    j = testing::last_json(status);
    ASSERT_EQ(j["forced_switches"].size(), 1u) << status.out;
    const auto& f = j["forced_switches"][0];
    EXPECT_EQ(f["from"], "dst_first");
    EXPECT_EQ(f["to"], "dst_only");
    EXPECT_EQ(f["reason"], "drill: validated by hand");
    EXPECT_NE(f["who"].get<std::string>().find('@'), std::string::npos);
    // Times in JSON are ISO 8601 UTC, like every other command's.
    const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)");
    EXPECT_TRUE(std::regex_match(f["at"].get<std::string>(), iso)) << f["at"];
    EXPECT_TRUE(std::regex_match(j["since"].get<std::string>(), iso)) << j["since"];
    for (const auto& c : j["checkpoints"]) EXPECT_TRUE(std::regex_match(c["updated_at"].get<std::string>(), iso)) << c;
    EXPECT_EQ(f["unmet"].size(), 2u);
    ASSERT_EQ(j["steps"].size(), 1u);  // dst_only: only back
    EXPECT_EQ(j["steps"][0]["to"], "dst_first");
    EXPECT_EQ(j["steps"][0]["direction"], "back");
    EXPECT_EQ(j["steps"][0]["ready"], false);              // no pass with the target as base yet
    ASSERT_EQ(testing::webookctl(validate).exit_code, 0);  // base: the target, following the mode
    j = testing::last_json(
        testing::webookctl(Args{"--output", "json", "--config", config, "migrate", "status"} + sides(dbs)));
    EXPECT_EQ(j["steps"][0]["ready"], true) << j.dump();
}

// `validate --follow` re-reads the mode every pass: after a switch its
// passes take the new base.
TEST_P(PhaseSafety, FollowingValidationTakesTheNewBaseAfterASwitch) {
    MigrationDatabases dbs(GetParam(), "phasefollow");
    copied_table(dbs, 10);
    auto control = dbs.source.connect();
    testing::step_mode(*control, Mode::src_first);
    testing::ChildProcess follow({WEBOOKCTL_BINARY, "--output", "json", "validate", "--incremental", "--table", "typed",
                                  "--follow", "--interval", "200ms", "--source", dbs.source.url(), "--target",
                                  dbs.target.url()});
    auto passes_with = [&](const std::string& base) {
        std::size_t n = 0;
        for (std::size_t at = 0; (at = follow.out().find("\"base\":\"" + base + "\"", at)) != std::string::npos; ++at)
            ++n;
        return n;
    };
    auto wait_for = [&](const std::function<bool()>& probe) {
        for (int i = 0; i < 600 && !probe(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return probe();
    };
    ASSERT_TRUE(wait_for([&] { return passes_with("src") >= 1; })) << follow.err();
    testing::step_mode(*control, Mode::dst_first);
    ASSERT_TRUE(wait_for([&] { return passes_with("dst") >= 2; })) << follow.out() << follow.err();
    follow.send_signal(SIGTERM);
    CommandResult r = follow.wait(std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 130) << testing::describe(r);
    // Every pass after the first with base dst has base dst too.
    const std::string out = r.out;
    EXPECT_EQ(out.find("\"base\":\"src\"", out.find("\"base\":\"dst\"")), std::string::npos) << out;
}

// Named with --from/--group, the fixers' consumer group is part of the
// validation gates: events it has not processed block the switch.
TEST_P(PhaseSafety, AGateWaitsForTheFixersBacklogWhenTheirGroupIsNamed) {
    MigrationDatabases dbs(GetParam(), "phaselag");
    copied_table(dbs, 10);
    auto control = dbs.source.connect();
    testing::step_mode(*control, Mode::src_first);
    const Args validate = Args{"validate", "--table", "typed"} + sides(dbs);
    ASSERT_EQ(testing::webookctl(validate + Args{"--incremental"}).exit_code, 0);
    const std::string topic = "kafka://" + testing::kafka_bootstrap() + "/" + testing::unique_name("phaselag");
    const std::string group = testing::unique_name("fixers");
    // A difference the full validation reports to the fixers' topic.
    dbs.target.connect()->execute("DELETE FROM typed WHERE id = 4");
    CommandResult found = testing::webookctl(validate + Args{"--full", "--sink", topic});
    ASSERT_EQ(found.exit_code, 1) << testing::describe(found);
    const Args gate =
        Args{"migrate", "mode", "set", "dst_first", "--dry-run", "--from", topic, "--group", group} + sides(dbs);
    CommandResult blocked = testing::webookctl(gate);
    EXPECT_EQ(blocked.exit_code, 2) << testing::describe(blocked);
    EXPECT_NE(blocked.out.find("fixer group " + group + " has 1 unprocessed event"), std::string::npos) << blocked.out;
    CommandResult fixed = testing::webookctl(Args{"fix", "--from", topic, "--group", group, "--until-idle",
                                                  "--session-timeout", "3s", "--batch-wait", "500ms"} +
                                             sides(dbs));
    ASSERT_EQ(fixed.exit_code, 0) << testing::describe(fixed);
    CommandResult ready = testing::webookctl(gate);
    EXPECT_EQ(ready.exit_code, 0) << testing::describe(ready);
    EXPECT_EQ(read_mode(*control), Mode::src_first);
}

// During a migration the ops jobs that write take --source/--target like the
// platform commands: their writes go through the double-write connection in
// the current mode (here dst_first: the target, then the source) and their
// reads come from the authoritative side (the target).
TEST_P(PhaseSafety, OpsJobsWriteThroughTheMigrationAndReadTheAuthoritativeSide) {
    MigrationDatabases dbs(GetParam(), "phaseops");
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    init_schema(*source);
    init_schema(*target);
    testing::step_mode(*source, Mode::dst_first);
    const Args both = sides(dbs);
    const std::string topic = testing::unique_name("phaseops");
    const std::string kafka = "kafka://" + testing::kafka_bootstrap() + "/" + topic;
    auto count = [](Connection& c, const std::string& sql) { return (*c.query_one(sql))[0].as_int(); };
    auto json_run = [](const Args& args) {
        CommandResult r = testing::webookctl(Args{"--output", "json"} + args);
        EXPECT_EQ(r.exit_code, 0) << testing::describe(r);
        return r.exit_code == 0 ? testing::last_json(r) : nlohmann::json::object();
    };

    // A reward paid by its callback: rows and outbox event on both sides.
    auto reward = [&](int uid) {
        nlohmann::json made = json_run(Args{"reward", "create", "--uid", std::to_string(uid), "--target-uid", "42",
                                            "--biz-id", "5", "--amount", "1000"} +
                                       both);
        json_run(Args{"reward", "callback", "--trade-no", made.value("trade_no", ""), "--status", "success", "--topic",
                      topic} +
                 both);
        return made.value("reward_id", std::int64_t{0});
    };
    reward(7);
    nlohmann::json relayed = json_run(Args{"ops", "outbox", "relay", "--to", kafka, "--until-idle"} + both);
    EXPECT_EQ(relayed["sent"], 1);
    for (Connection* c : {source.get(), target.get()})
        EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM outbox WHERE status = 1"), 1) << c->describe();

    nlohmann::json consumed =
        json_run(Args{"ops", "payments", "consume", "--from", kafka, "--group", testing::unique_name("g"),
                      "--until-idle", "--session-timeout", "3s", "--batch-wait", "500ms"} +
                 both);
    EXPECT_EQ(consumed["paid"], 1);
    for (Connection* c : {source.get(), target.get()}) {
        EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM account_activities"), 2) << c->describe();
        EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM rewards WHERE status = 1"), 1) << c->describe();
    }

    // A lost event: the second reward's outbox row was marked sent but never
    // consumed. reconcile --fix reads the target and re-publishes the event
    // on both sides.
    const std::int64_t lost = reward(8);
    for (Connection* c : {source.get(), target.get()}) c->execute("UPDATE outbox SET status = 1");
    CommandResult reconciled = testing::webookctl(
        Args{"--output", "json", "ops", "reconcile", "--from", "2020-01-01", "--grace", "0s", "--fix"} + both);
    EXPECT_EQ(reconciled.exit_code, 1) << testing::describe(reconciled);
    EXPECT_NE(reconciled.out.find("\"repaired\""), std::string::npos) << reconciled.out;
    for (Connection* c : {source.get(), target.get()})
        EXPECT_EQ(
            count(*c, fmt::format("SELECT COUNT(*) FROM outbox WHERE status = 0 AND msg_key = 'reward-{}'", lost)), 1)
            << c->describe();

    // The ranking: computed from the target -- an article only the target
    // has (the source missed it) is ranked -- and published on both sides.
    nlohmann::json article =
        json_run(Args{"article", "publish", "--author", "3", "--title", "ranked", "--content", "c"} + both);
    const std::string id = std::to_string(article.value("id", std::int64_t{0}));
    json_run(Args{"interactive", "like", "--uid", "11", "--article", id} + both);
    json_run(Args{"interactive", "like", "--uid", "12", "--article", id} + both);
    source->execute("DELETE FROM published_articles");
    nlohmann::json ranked = json_run(Args{"ops", "rank", "recompute", "--lease", "30s"} + both);
    EXPECT_EQ(ranked["ran"], true);
    EXPECT_EQ(ranked["ranked"], 1);
    for (Connection* c : {source.get(), target.get()}) {
        EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM ranking_items WHERE article_id = " + id), 1) << c->describe();
        EXPECT_EQ(count(*c, "SELECT COUNT(*) FROM jobs WHERE name = 'rank-hot' AND owner IS NULL"), 1) << c->describe();
    }
}

}  // namespace
}  // namespace webook
