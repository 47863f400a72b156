// --metrics-file of every command that runs unattended, read back with
// Prometheus' own parser (tests/metrics/parse_metrics.py, Debian's
// python3-prometheus-client): migrate copy, validate, fix (from a file and
// from Kafka), migrate status, ops outbox relay, ops payments consume, ops
// rank recompute. And a path that cannot be written is refused before
// anything is done, with one error line and exit 2.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/db/db.h"
#include "core/migration/checkpoint.h"
#include "platform/job_lease.h"
#include "platform/ranking.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::Args;
using testing::CommandResult;
using testing::describe;
using testing::expect_one_error;
using testing::last_json;
using testing::MigrationDatabases;
using testing::parse_metrics;
using testing::ParsedMetrics;
using testing::ScratchDir;
using testing::webookctl;

using testing::operator+;

Args sides(const MigrationDatabases& dbs) {
    return {"--source", dbs.source.url(), "--target", dbs.target.url()};
}

std::string kafka_url(const std::string& topic) {
    return "kafka://" + testing::kafka_bootstrap() + "/" + topic;
}

// MySQL -> PostgreSQL: the pair with the most to go wrong.
const testing::EnginePair& mysql_to_postgres() {
    static const auto pairs = testing::engine_pairs();
    return pairs[2];
}

// The types table on both sides, `rows` rows on the source.
void create_typed(MigrationDatabases& dbs, int rows) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    testing::create_types_table(*source, "typed");
    testing::create_types_table(*target, "typed");
    testing::insert_types_rows(*source, "typed", rows);
}

TEST(CliMetrics, CopyValidateFixAndStatusWriteFilesPrometheusReads) {
    MigrationDatabases dbs(mysql_to_postgres(), "climetrics");
    create_typed(dbs, 150);
    ScratchDir dir("climetrics");
    const std::string prom = dir.file("webookctl.prom");
    ASSERT_EQ(webookctl(Args{"migrate", "mode", "set", "src_only"} + sides(dbs)).exit_code, 0);

    CommandResult copied =
        webookctl(Args{"--output", "json", "migrate", "copy", "--table", "typed", "--metrics-file", prom} + sides(dbs));
    ASSERT_EQ(copied.exit_code, 0) << describe(copied);
    ParsedMetrics copy = parse_metrics(prom);
    EXPECT_EQ(copy.types["webookctl_copy_rows"], "gauge");
    EXPECT_EQ(copy.at(R"(webookctl_copy_rows{table="typed"})"), 150);
    EXPECT_EQ(copy.at(R"(webookctl_copy_table_done{table="typed"})"), 1);
    EXPECT_EQ(copy.at("webookctl_copy_tables"), 1);
    EXPECT_EQ(copy.at("webookctl_copy_tables_done"), 1);
    EXPECT_GT(copy.at(R"(webookctl_copy_rows_per_second{table="typed"})"), 0);
    EXPECT_GT(copy.at("webookctl_copy_last_success_timestamp_seconds"), 1.7e9);

    const Args validate =
        Args{"--output", "json", "validate", "--full", "--table", "typed", "--base", "src"} + sides(dbs);
    const Args status = Args{"--output", "json", "migrate", "status", "--metrics-file", prom} + sides(dbs);
    CommandResult clean = webookctl(validate + Args{"--sink", "file://" + dir.file("clean.jsonl")});
    ASSERT_EQ(clean.exit_code, 0) << describe(clean);
    CommandResult shown = webookctl(status);
    ASSERT_EQ(shown.exit_code, 0) << describe(shown);
    ParsedMetrics st = parse_metrics(prom);
    EXPECT_EQ(st.at(R"(webookctl_migration_mode{mode="src_only"})"), 1);
    for (const char* other : {"src_first", "dst_first", "dst_only"})
        EXPECT_EQ(st.at(fmt::format(R"(webookctl_migration_mode{{mode="{}"}})", other)), 0) << other;
    EXPECT_EQ(st.at("webookctl_migration_mode_version"), last_json(shown).at("version").get<double>());
    EXPECT_EQ(st.at("webookctl_migration_second_side_failures"), 0);
    EXPECT_EQ(st.at("webookctl_migration_records_available"), 1);
    EXPECT_TRUE(st.has(R"(webookctl_migration_step_ready{direction="forward",to="src_first"})"));
    const std::string pass = R"({base="src",kind="full",shard="all",table="typed"})";
    EXPECT_EQ(st.at("webookctl_migration_validation_differences" + pass), 0);
    const double age = st.at("webookctl_migration_validation_age_seconds" + pass);
    EXPECT_GE(age, 0);
    EXPECT_LT(age, 120);

    // 17 planted differences: validate's own file, then the status again.
    testing::plant_type_differences(*dbs.target.connect(), "typed");
    const std::string events = dir.file("events.jsonl");
    CommandResult found =
        webookctl(validate + Args{"--sink", "file://" + events, "--metrics-file", dir.file("validate.prom")});
    ASSERT_EQ(found.exit_code, 1) << describe(found);
    ParsedMetrics v = parse_metrics(dir.file("validate.prom"));
    EXPECT_EQ(v.at(R"(webookctl_validate_inconsistencies{table="typed",type="neq",validator="full"})"), 10);
    EXPECT_EQ(v.at(R"(webookctl_validate_rows_compared{table="typed",validator="full"})"), 150);
    ASSERT_EQ(webookctl(status).exit_code, 0);
    EXPECT_EQ(parse_metrics(prom).at("webookctl_migration_validation_differences" + pass), 17);

    // The fixer from the file: its counts, and down once it ended. A file
    // has no lag to report.
    const std::string fix_prom = dir.file("fix.prom");
    CommandResult fixed = webookctl(
        Args{"--output", "json", "fix", "--until-idle", "--from", "file://" + events, "--metrics-file", fix_prom} +
        sides(dbs));
    ASSERT_EQ(fixed.exit_code, 0) << describe(fixed);
    ParsedMetrics f = parse_metrics(fix_prom);
    EXPECT_EQ(f.types["webookctl_fix_events"], "counter");
    EXPECT_EQ(f.at(R"(webookctl_fix_events_total{group=""})"), 17);
    EXPECT_EQ(f.at(R"(webookctl_fix_upserts_total{group=""})"), 13);
    EXPECT_EQ(f.at(R"(webookctl_fix_deletes_total{group=""})"), 4);
    EXPECT_EQ(f.at(R"(webookctl_fix_dead_letters_total{group=""})"), 0);
    EXPECT_EQ(f.at(R"(webookctl_fix_up{group=""})"), 0);
    EXPECT_GT(f.at(R"(webookctl_fix_heartbeat_timestamp_seconds{group=""})"), 1.7e9);
    EXPECT_FALSE(f.has(R"(webookctl_fix_lag_events{group=""})"));
}

// From Kafka: the fixer's lag is the topic's events after its position, 0
// once it is idle; a second fixer of the group finds nothing new to do.
TEST(CliMetrics, FixFromKafkaReportsItsLagBehindTheTopic) {
    MigrationDatabases dbs(mysql_to_postgres(), "climetricskafka");
    create_typed(dbs, 150);
    ScratchDir dir("climetricskafka");
    ASSERT_EQ(webookctl(Args{"migrate", "copy", "--table", "typed"} + sides(dbs)).exit_code, 0);
    testing::plant_type_differences(*dbs.target.connect(), "typed");
    const std::string topic = testing::unique_name("climetrics");
    const std::string group = testing::unique_name("g");
    CommandResult found = webookctl(
        Args{"validate", "--full", "--table", "typed", "--base", "src", "--sink", kafka_url(topic)} + sides(dbs));
    ASSERT_EQ(found.exit_code, 1) << describe(found);

    const std::string prom = dir.file("fix.prom");
    const Args fix = Args{"--output",       "json",    "fix", "--until-idle",      "--from",
                          kafka_url(topic), "--group", group, "--session-timeout", "3s",
                          "--metrics-file", prom} +
                     sides(dbs);
    CommandResult fixed = webookctl(fix);
    ASSERT_EQ(fixed.exit_code, 0) << describe(fixed);
    ParsedMetrics f = parse_metrics(prom);
    const std::string l = fmt::format(R"({{group="{}"}})", group);
    EXPECT_EQ(f.at("webookctl_fix_events_total" + l), 17);
    EXPECT_EQ(f.at("webookctl_fix_lag_events" + l), 0);
    EXPECT_EQ(f.at("webookctl_fix_up" + l), 0);

    CommandResult again = webookctl(fix);
    ASSERT_EQ(again.exit_code, 0) << describe(again);
    EXPECT_EQ(parse_metrics(prom).at("webookctl_fix_events_total" + l), 0);
}

class CliOpsMetrics : public ::testing::Test {
protected:
    CliOpsMetrics() : m_db(Engine::mysql, "cliopsmetrics"), m_conn(m_db.connect()) { init_schema(*m_conn); }
    testing::ScratchDatabase m_db;
    std::unique_ptr<Connection> m_conn;
};

TEST_F(CliOpsMetrics, RelayConsumeAndRankRecomputeWriteTheirFiles) {
    ScratchDir dir("cliopsmetrics");
    const std::string url = m_db.url();
    const std::string topic = testing::unique_name("climetricspay");
    const std::string group = testing::unique_name("g");

    CommandResult created = webookctl({"--output", "json", "reward", "create", "--dsn", url, "--uid", "7",
                                       "--target-uid", "42", "--biz", "article", "--biz-id", "5", "--amount", "1001"});
    ASSERT_EQ(created.exit_code, 0) << describe(created);
    const std::string trade_no = last_json(created).at("trade_no").get<std::string>();
    ASSERT_EQ(
        webookctl({"reward", "callback", "--dsn", url, "--trade-no", trade_no, "--status", "success", "--topic", topic})
            .exit_code,
        0);

    const std::string relay_prom = dir.file("relay.prom");
    CommandResult relayed = webookctl({"--output", "json", "ops", "outbox", "relay", "--dsn", url, "--to",
                                       kafka_url(topic), "--until-idle", "--metrics-file", relay_prom});
    ASSERT_EQ(relayed.exit_code, 0) << describe(relayed);
    ParsedMetrics r = parse_metrics(relay_prom);
    const std::string tl = fmt::format(R"({{topic="{}"}})", topic);
    EXPECT_EQ(r.types["webookctl_relay_sent"], "counter");
    EXPECT_EQ(r.at("webookctl_relay_sent_total" + tl), 1);
    EXPECT_EQ(r.at("webookctl_relay_dead_total" + tl), 0);
    EXPECT_EQ(r.at("webookctl_relay_failing" + tl), 0);
    EXPECT_EQ(r.at("webookctl_relay_up" + tl), 0);

    const std::string consume_prom = dir.file("consume.prom");
    CommandResult consumed =
        webookctl({"--output", "json", "ops", "payments", "consume", "--dsn", url, "--from", kafka_url(topic),
                   "--group", group, "--until-idle", "--session-timeout", "3s", "--metrics-file", consume_prom});
    ASSERT_EQ(consumed.exit_code, 0) << describe(consumed);
    ParsedMetrics c = parse_metrics(consume_prom);
    const std::string gl = fmt::format(R"({{group="{}"}})", group);
    EXPECT_EQ(c.at("webookctl_payments_events_total" + gl), 1);
    EXPECT_EQ(c.at("webookctl_payments_paid_total" + gl), 1);
    EXPECT_EQ(c.at("webookctl_payments_dead_letters_total" + gl), 0);
    EXPECT_EQ(c.at("webookctl_payments_lag_events" + gl), 0);
    EXPECT_EQ(c.at("webookctl_payments_up" + gl), 0);

    const std::string rank_prom = dir.file("rank.prom");
    const std::vector<std::string> rank = {"ops", "rank", "recompute", "--dsn", url, "--metrics-file", rank_prom};
    CommandResult ranked = webookctl(rank);
    ASSERT_EQ(ranked.exit_code, 0) << describe(ranked);
    ParsedMetrics k = parse_metrics(rank_prom);
    EXPECT_EQ(k.at("webookctl_rank_ran"), 1);
    EXPECT_EQ(k.at("webookctl_rank_version"), 1);
    EXPECT_EQ(k.at("webookctl_rank_ranked"), 0);
    EXPECT_GT(k.at("webookctl_rank_last_success_timestamp_seconds"), 1.7e9);

    // Another host holds the lease: this run computes nothing, and says so.
    JobLeases leases(*m_conn);
    ASSERT_TRUE(leases.try_acquire(k_rank_hot_job, "other-host", 60s).acquired());
    CommandResult held = webookctl(rank);
    ASSERT_EQ(held.exit_code, 0) << describe(held);
    ParsedMetrics h = parse_metrics(rank_prom);
    EXPECT_EQ(h.at("webookctl_rank_ran"), 0);
    EXPECT_FALSE(h.has("webookctl_rank_version"));
    EXPECT_FALSE(h.has("webookctl_rank_last_success_timestamp_seconds"));
}

// A metrics file that cannot be written is refused before the command
// connects or writes anything: exit 2, one line naming the path.
TEST(CliMetrics, AnUnwritableMetricsFileIsRefusedBeforeAnythingIsWritten) {
    MigrationDatabases dbs(mysql_to_postgres(), "climetricsbad");
    create_typed(dbs, 20);
    ScratchDir dir("climetricsbad");
    const std::string nowhere = dir.file("no/such/dir/webookctl.prom");
    const std::string events = dir.file("events.jsonl");
    testing::write_file(events, "");
    const std::vector<Args> commands = {
        Args{"migrate", "copy", "--table", "typed"} + sides(dbs),
        Args{"validate", "--full", "--table", "typed", "--sink", "file://" + events} + sides(dbs),
        Args{"fix", "--until-idle", "--from", "file://" + events} + sides(dbs),
        Args{"migrate", "status"} + sides(dbs),
        Args{"ops", "rank", "recompute", "--dsn", dbs.source.url()},
        Args{"ops", "outbox", "relay", "--dsn", dbs.source.url(), "--to", kafka_url("nowhere"), "--until-idle"},
        Args{"ops", "payments", "consume", "--dsn", dbs.source.url(), "--from", kafka_url("nowhere"), "--group", "g",
             "--until-idle"},
        Args{"ops", "reconcile", "--dsn", dbs.source.url(), "--from", "1d"},
    };
    for (const Args& command : commands) {
        SCOPED_TRACE(fmt::format("{}", fmt::join(command, " ")));
        expect_one_error(webookctl(command + Args{"--metrics-file", nowhere}), 2, "cannot write metrics file");
        expect_one_error(webookctl(command + Args{"--metrics-file", dir.path()}), 2, "it is a directory");
    }
    auto target = dbs.target.connect();
    EXPECT_EQ(testing::row_count(*target, "typed"), 0) << "the refused copy wrote nothing";
    EXPECT_FALSE(dbs.source.connect()->table_exists(k_checkpoint_table)) << "nor its checkpoints";
}

}  // namespace
}  // namespace webook
