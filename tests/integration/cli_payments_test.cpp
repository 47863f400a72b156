// The reward commands and the payment ops jobs as an operator runs them:
// webookctl as a child process against scratch databases and the mock Kafka
// cluster. The whole flow with a re-published event, bad input with one
// error line and exit 2, and several consumer processes settling the same
// rewards at once.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/rewards.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ChildProcess;
using testing::CommandResult;
using testing::describe;
using testing::expect_one_error;
using testing::last_json;
using testing::ScratchDatabase;
using testing::ScratchDir;
using testing::webookctl;

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

class CliPayments : public ::testing::TestWithParam<Engine> {
protected:
    CliPayments() : m_db(GetParam(), "clipay"), m_conn(m_db.connect()) { init_schema(*m_conn); }

    std::int64_t scalar(const std::string& sql) {
        auto row = m_conn->query_one(sql);
        return row && !(*row)[0].is_null() ? (*row)[0].as_int() : 0;
    }
    std::string q(const std::string& identifier) const { return m_conn->dialect().quote(identifier); }

    std::vector<std::string> consume_args(const std::string& topic, const std::string& group) {
        return {"--output",
                "json",
                "ops",
                "payments",
                "consume",
                "--dsn",
                m_db.url(),
                "--from",
                "kafka://" + testing::kafka_bootstrap() + "/" + topic,
                "--group",
                group,
                "--until-idle",
                "--session-timeout",
                "3s",
                "--batch-wait",
                "500ms"};
    }

    ScratchDatabase m_db;
    std::unique_ptr<Connection> m_conn;
};

INSTANTIATE_TEST_SUITE_P(, CliPayments, ::testing::Values(Engine::mysql, Engine::postgres),
                         [](const auto& info) { return std::string(engine_label(info.param)); });

TEST_P(CliPayments, RewardIsPaidThroughTheCommandsAndARepublishedEventBooksNothing) {
    const std::string topic = testing::unique_name("clipay");
    const std::string group = testing::unique_name("g");
    const std::string url = m_db.url();
    ScratchDir dir("clipay");

    CommandResult created = webookctl({"--output", "json", "reward", "create", "--dsn", url, "--uid", "7",
                                       "--target-uid", "42", "--biz", "article", "--biz-id", "5", "--amount", "1001"});
    ASSERT_EQ(created.exit_code, 0) << describe(created);
    const json reward = last_json(created);
    const std::string trade_no = reward.at("trade_no").get<std::string>();
    const std::int64_t reward_id = reward.at("reward_id").get<std::int64_t>();
    EXPECT_EQ(reward.at("biz_trade_no"), "reward-" + std::to_string(reward_id));

    const std::vector<std::string> callback = {"--output",   "json",   "reward",   "callback", "--dsn",   url,
                                               "--trade-no", trade_no, "--status", "success",  "--topic", topic};
    CommandResult paid = webookctl(callback);
    ASSERT_EQ(paid.exit_code, 0) << describe(paid);
    EXPECT_EQ(last_json(paid).at("changed"), true);
    CommandResult again = webookctl(callback);
    ASSERT_EQ(again.exit_code, 0) << describe(again);
    EXPECT_EQ(last_json(again).at("changed"), false) << "a repeated callback changes nothing";
    expect_one_error(
        webookctl({"reward", "callback", "--dsn", url, "--trade-no", trade_no, "--status", "failed", "--topic", topic}),
        2, "already success");
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("outbox")), 1);

    const std::vector<std::string> relay = {
        "--output",    "json",  "ops",
        "outbox",      "relay", "--dsn",
        url,           "--to",  "kafka://" + testing::kafka_bootstrap() + "/" + topic,
        "--until-idle"};
    CommandResult relayed = webookctl(relay);
    ASSERT_EQ(relayed.exit_code, 0) << describe(relayed);
    EXPECT_EQ(last_json(relayed).at("sent"), 1);

    auto consume = consume_args(topic, group);
    consume.push_back("--dead-letter");
    consume.push_back("file://" + dir.file("dead.jsonl"));
    CommandResult consumed = webookctl(consume);
    ASSERT_EQ(consumed.exit_code, 0) << describe(consumed);
    EXPECT_EQ(last_json(consumed).at("paid"), 1);
    EXPECT_EQ(last_json(consumed).at("dead_letters"), 0);

    CommandResult check = webookctl({"ops", "ledger", "check", "--dsn", url});
    EXPECT_EQ(check.exit_code, 0) << describe(check);

    // The relay died after publishing but before marking: the row is pending
    // again, is published again, and the consumer books nothing twice.
    m_conn->execute(fmt::format("UPDATE {} SET {} = 0", q("outbox"), q("status")));
    CommandResult republished = webookctl(relay);
    ASSERT_EQ(republished.exit_code, 0) << describe(republished);
    EXPECT_EQ(last_json(republished).at("sent"), 1);
    CommandResult replayed = webookctl(consume_args(topic, group));
    ASSERT_EQ(replayed.exit_code, 0) << describe(replayed);
    EXPECT_EQ(last_json(replayed).at("events"), 1);
    EXPECT_EQ(last_json(replayed).at("replays"), 1);
    EXPECT_EQ(last_json(replayed).at("paid"), 0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("account_activities")), 2);
    EXPECT_EQ(scalar(fmt::format("SELECT {} FROM {} WHERE {} = 42", q("balance"), q("accounts"), q("uid"))), 900);
    EXPECT_EQ(webookctl({"ops", "ledger", "check", "--dsn", url}).exit_code, 0);

    // A balance changed behind the ledger's back is found and listed.
    m_conn->execute(fmt::format("UPDATE {0} SET {1} = {1} + 1 WHERE {2} = 42", q("accounts"), q("balance"), q("uid")));
    CommandResult off = webookctl({"--output", "json", "ops", "ledger", "check", "--dsn", url});
    EXPECT_EQ(off.exit_code, 1) << describe(off);
    const json report = last_json(off);
    EXPECT_EQ(report.at("balanced"), false);
    ASSERT_EQ(report.at("mismatches").size(), 1u);
    EXPECT_EQ(report.at("mismatches")[0].at("uid"), 42);
    EXPECT_EQ(report.at("mismatches")[0].at("balance"), 901);
    EXPECT_EQ(report.at("mismatches")[0].at("entries_sum"), 900);
}

TEST_P(CliPayments, BadInputGetsOneErrorLineAndExitTwoAndWritesNothing) {
    const std::string url = m_db.url();
    for (const std::string amount : {"0", "-3"})
        expect_one_error(webookctl({"reward", "create", "--dsn", url, "--uid", "7", "--target-uid", "42", "--biz-id",
                                    "5", "--amount=" + amount}),
                         2, "--amount must be a positive number of cents");
    expect_one_error(webookctl({"reward", "callback", "--dsn", url, "--trade-no", "T-nope", "--status", "success"}), 2,
                     "unknown trade number");
    expect_one_error(webookctl({"reward", "callback", "--dsn", url, "--trade-no", "T-nope", "--status", "refunded"}), 2,
                     "success or failed");
    expect_one_error(webookctl({"ops", "payments", "consume", "--dsn", url, "--from", "file:///tmp/x.jsonl", "--group",
                                "g", "--until-idle"}),
                     2, "kafka://");
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("rewards")), 0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("payments")), 0);
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("outbox")), 0);
}

// Four consumer processes in four groups each read every event: each reward
// is settled four times at once, by processes racing on the same author and
// platform accounts.
TEST_P(CliPayments, ConcurrentConsumerProcessesBookEachRewardOnce) {
    constexpr int k_rewards = 24;
    constexpr int k_processes = 4;
    const std::string topic = testing::unique_name("clirace");
    RewardService rewards(*m_conn, RewardOptions{topic});
    std::int64_t total = 0;
    for (int i = 0; i < k_rewards; ++i) {
        const std::int64_t amount = 100 + 13 * i;
        CreatedReward r = rewards.create_reward({500 + i, 40 + i % 3, "article", 9, amount});
        rewards.payment_callback(r.trade_no, PaymentOutcome::success);
        total += amount;
    }
    {
        EventProducer producer(testing::kafka_bootstrap(), topic);
        EXPECT_EQ(relay_outbox(*m_conn, producer, {}).sent, static_cast<std::uint64_t>(k_rewards));
    }

    std::vector<std::unique_ptr<ChildProcess>> children;
    for (int i = 0; i < k_processes; ++i) {
        auto args = consume_args(topic, testing::unique_name("race"));
        args.insert(args.begin(), WEBOOKCTL_BINARY);
        children.push_back(std::make_unique<ChildProcess>(args));
    }
    std::int64_t paid = 0, replays = 0;
    for (auto& child : children) {
        CommandResult r = child->wait(2min);
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        EXPECT_EQ(r.err.find("eadlock"), std::string::npos) << describe(r);
        paid += last_json(r).at("paid").get<std::int64_t>();
        replays += last_json(r).at("replays").get<std::int64_t>();
    }
    EXPECT_EQ(paid, k_rewards);
    EXPECT_EQ(replays, k_rewards * (k_processes - 1));
    EXPECT_EQ(scalar("SELECT COUNT(*) FROM " + q("account_activities")), 2 * k_rewards);
    EXPECT_EQ(scalar("SELECT SUM(" + q("balance") + ") FROM " + q("accounts")), total);
    CommandResult check = webookctl({"ops", "ledger", "check", "--dsn", m_db.url()});
    EXPECT_EQ(check.exit_code, 0) << describe(check);
}

}  // namespace
}  // namespace webook
