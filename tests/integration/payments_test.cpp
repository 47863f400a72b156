// Rewards -> payments -> outbox -> Kafka -> ledger, against the real servers
// (MariaDB and PostgreSQL scratch databases) and the mock Kafka cluster:
// the whole flow books a paid reward 90/10 exactly once; concurrent bookings
// over the same and crossing accounts neither deadlock nor double-book; a
// relay that dies after publishing but before marking only causes a harmless
// replay; failing deliveries back off and end dead; malformed events go to
// the dead letter while consumption goes on; bad input is refused and writes
// nothing twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "core/migration/event_sink.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/rewards.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::ScratchDatabase;

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

// Group timings the mock cluster needs to join in seconds (docs/library-notes.md).
ConsumerOptions fast_group() {
    ConsumerOptions o;
    o.session_timeout = 3000ms;
    o.heartbeat_interval = 750ms;
    o.max_poll_interval = 30s;
    return o;
}

std::string kafka_url(const std::string& topic) {
    return "kafka://" + testing::kafka_bootstrap() + "/" + topic;
}

Error error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no webook::Error thrown";
    return Error(Code::internal, "none");
}

template <typename Fn>
decltype(auto) count_conflicts(std::atomic<int>& conflicts, Fn&& fn) {
    try {
        return fn();
    } catch (const Error& e) {
        if (e.code() == Code::server && e.is_temporary()) ++conflicts;
        throw;
    }
}

// A pass-through connection that counts the deadlocks and lock wait
// timeouts the server reports (temporary server errors) before they are
// retried above it.
class LockConflictCounter final : public Connection {
    // PostgreSQL may run a query only when its first batch is asked for.
    class Cursor final : public RowCursor {
    public:
        Cursor(LockConflictCounter& owner, std::unique_ptr<RowCursor> inner)
            : m_owner(owner), m_inner(std::move(inner)) {}
        const std::vector<std::string>& column_names() const override { return m_inner->column_names(); }
        const std::vector<ValueKind>& column_kinds() const override { return m_inner->column_kinds(); }
        bool next_batch(std::vector<Row>& out, std::size_t max_rows) override {
            return count_conflicts(m_owner.m_conflicts, [&] { return m_inner->next_batch(out, max_rows); });
        }

    private:
        LockConflictCounter& m_owner;
        std::unique_ptr<RowCursor> m_inner;
    };

    template <typename Fn>
    decltype(auto) counted(Fn&& fn) {
        return count_conflicts(m_conflicts, std::forward<Fn>(fn));
    }

public:
    LockConflictCounter(std::unique_ptr<Connection> inner, std::atomic<int>& conflicts)
        : m_inner(std::move(inner)), m_conflicts(conflicts) {}

    const Dialect& dialect() const override { return m_inner->dialect(); }
    const std::string& describe() const override { return m_inner->describe(); }
    ExecResult execute(std::string_view sql, Params params = {}) override {
        return counted([&] { return m_inner->execute(sql, params); });
    }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params params = {}) override {
        return std::make_unique<Cursor>(*this, counted([&] { return m_inner->stream(sql, params); }));
    }
    void begin() override { m_inner->begin(); }
    void commit() override {
        counted([&] { m_inner->commit(); });
    }
    void rollback() override { m_inner->rollback(); }
    std::vector<ColumnInfo> columns(std::string_view table) override { return m_inner->columns(table); }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view table, const std::vector<std::string>& columns) override {
        return m_inner->bulk_insert(table, columns);
    }

private:
    std::unique_ptr<Connection> m_inner;
    std::atomic<int>& m_conflicts;
};

class Payments : public ::testing::TestWithParam<Engine> {
protected:
    Payments() : m_db(GetParam(), "pay"), m_conn(m_db.connect()) { init_schema(*m_conn); }

    std::int64_t scalar(const std::string& sql, std::vector<Value> params = {}) {
        auto row = m_conn->query_one(sql, params);
        if (!row || (*row)[0].is_null()) return 0;
        return (*row)[0].as_int();
    }
    std::string q(const std::string& identifier) const { return m_conn->dialect().quote(identifier); }
    std::string p(int n) const { return m_conn->dialect().placeholder(n); }

    std::int64_t count(const std::string& table) { return scalar("SELECT COUNT(*) FROM " + q(table)); }
    std::int64_t reward_status(std::int64_t id) {
        return scalar(fmt::format("SELECT {} FROM {} WHERE {} = {}", q("status"), q("rewards"), q("id"), p(1)),
                      {Value::integer(id)});
    }
    std::int64_t payment_status(const std::string& trade_no) {
        return scalar(fmt::format("SELECT {} FROM {} WHERE {} = {}", q("status"), q("payments"), q("trade_no"), p(1)),
                      {Value::text(trade_no)});
    }
    // The balance of (uid, type), -1 when the account does not exist.
    std::int64_t balance(std::int64_t uid, AccountType type = AccountType::user) {
        auto row =
            m_conn->query_one(fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {}", q("balance"), q("accounts"),
                                          q("uid"), p(1), q("type"), p(2)),
                              std::vector<Value>{Value::integer(uid), Value::integer(static_cast<std::int64_t>(type))});
        return row ? (*row)[0].as_int() : -1;
    }
    // (uid -> amount) of the entries of one booking.
    std::map<std::int64_t, std::int64_t> entries(const std::string& biz, std::int64_t biz_id) {
        std::map<std::int64_t, std::int64_t> out;
        for (const Row& r :
             m_conn->query(fmt::format("SELECT {}, {} FROM {} WHERE {} = {} AND {} = {}", q("uid"), q("amount"),
                                       q("account_activities"), q("biz"), p(1), q("biz_id"), p(2)),
                           std::vector<Value>{Value::text(biz), Value::integer(biz_id)})) {
            EXPECT_EQ(out.count(r[0].as_int()), 0u) << "two entries of one account for " << biz << " " << biz_id;
            out[r[0].as_int()] += r[1].as_int();
        }
        return out;
    }
    std::int64_t outbox_rows(OutboxStatus status) {
        return scalar(fmt::format("SELECT COUNT(*) FROM {} WHERE {} = {}", q("outbox"), q("status"), p(1)),
                      {Value::integer(static_cast<std::int64_t>(status))});
    }

    RelayReport relay(Connection& conn, const std::string& topic, RelayOptions options = {}) {
        EventProducer producer(testing::kafka_bootstrap(), topic);
        return relay_outbox(conn, producer, options);
    }

    PaymentConsumerReport consume(const std::string& topic, const std::string& group, EventSink* dead_letter = nullptr,
                                  DryRun dry_run = DryRun::no, std::vector<std::string>* previews = nullptr) {
        auto source = open_payment_source(kafka_url(topic), group, fast_group());
        PaymentConsumerOptions o;
        o.until_idle = UntilIdle::yes;
        o.batch_wait = 500ms;
        o.dry_run = dry_run;
        PaymentConsumer consumer([this] { return m_db.connect(); }, o, dead_letter);
        consumer.set_preview_printer([previews](const std::string&, const PaymentEvent*, const SettleResult& r) {
            if (previews) previews->push_back(std::string(settlement_name(r.settlement)));
        });
        return consumer.run(*source);
    }

    void expect_ledger_balanced() {
        auto mismatches = ledger_check(*m_conn);
        EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " accounts off, first: account "
                                        << (mismatches.empty() ? 0 : mismatches[0].account_id);
    }

    ScratchDatabase m_db;
    std::unique_ptr<Connection> m_conn;
};

INSTANTIATE_TEST_SUITE_P(, Payments, ::testing::Values(Engine::mysql, Engine::postgres),
                         [](const auto& info) { return std::string(engine_label(info.param)); });

// -- The whole flow ----------------------------------------------------------

TEST_P(Payments, PaidRewardIsBookedNinetyTenOnceAndAFailedOneNotAtAll) {
    const std::string topic = testing::unique_name("pay_flow");
    RewardService rewards(*m_conn, RewardOptions{topic});

    CreatedReward paid = rewards.create_reward({7, 42, "article", 1001, 1001});
    CreatedReward failed = rewards.create_reward({8, 42, "article", 1002, 500});
    EXPECT_EQ(paid.biz_trade_no, "reward-" + std::to_string(paid.reward_id));
    EXPECT_TRUE(paid.trade_no.starts_with("T")) << paid.trade_no;
    EXPECT_NE(paid.trade_no, failed.trade_no);
    EXPECT_EQ(reward_status(paid.reward_id), 0);
    EXPECT_EQ(payment_status(paid.trade_no), 0);

    CallbackResult cb = rewards.payment_callback(paid.trade_no, PaymentOutcome::success, "wx-123");
    EXPECT_TRUE(cb.changed);
    EXPECT_EQ(cb.status, PaymentStatus::success);
    EXPECT_EQ(payment_status(paid.trade_no), 2);
    EXPECT_TRUE(rewards.payment_callback(failed.trade_no, PaymentOutcome::failed).changed);
    EXPECT_EQ(payment_status(failed.trade_no), 3);

    // The event is in the outbox, pending, keyed by biz_trade_no.
    auto due = due_outbox_rows(*m_conn, topic, system_micros() + 1, 10);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].key, paid.biz_trade_no);
    PaymentEvent event = PaymentEvent::parse(due[0].payload);
    EXPECT_EQ(event.biz_trade_no, paid.biz_trade_no);
    EXPECT_EQ(event.trade_no, paid.trade_no);
    EXPECT_EQ(event.status, PaymentOutcome::success);
    EXPECT_EQ(event.amount, 1001);

    RelayReport relayed = relay(*m_conn, topic);
    EXPECT_EQ(relayed.sent, 2u);
    EXPECT_EQ(relayed.retried, 0u);
    EXPECT_EQ(outbox_rows(OutboxStatus::sent), 2);
    EXPECT_EQ(relay(*m_conn, topic).sent, 0u) << "sent rows are not sent again";

    PaymentConsumerReport consumed = consume(topic, testing::unique_name("g"));
    EXPECT_EQ(consumed.events, 2u);
    EXPECT_EQ(consumed.paid, 1u);
    EXPECT_EQ(consumed.failed, 1u);
    EXPECT_EQ(consumed.dead_letters, 0u);

    EXPECT_EQ(reward_status(paid.reward_id), 1);
    EXPECT_EQ(reward_status(failed.reward_id), 2);
    // 1001 * 90 % = 900.9: the author gets 900, the platform the rest.
    EXPECT_EQ(entries("reward", paid.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 101}, {42, 900}}));
    EXPECT_TRUE(entries("reward", failed.reward_id).empty());
    EXPECT_EQ(balance(42), 900);
    EXPECT_EQ(balance(0, AccountType::platform), 101);
    expect_ledger_balanced();
}

// -- Bad input -----------------------------------------------------------------

TEST_P(Payments, RelayPreviewListsTheFirstBatchDueAndPublishesAndMarksNothing) {
    const std::string topic = testing::unique_name("pay_preview");
    RewardService rewards(*m_conn, RewardOptions{topic});
    for (std::int64_t biz_id : {2001, 2002, 2003}) {
        CreatedReward r = rewards.create_reward({9, 42, "article", biz_id, 100});
        ASSERT_TRUE(rewards.payment_callback(r.trade_no, PaymentOutcome::success).changed);
    }
    RelayOptions two;
    two.batch_size = 2;
    testing::ManualClock later(system_micros() + 1'000'000);
    RelayPreview first = preview_relay(*m_conn, topic, two, later);
    ASSERT_EQ(first.due.size(), 2u);
    EXPECT_TRUE(first.more) << "a full batch says more may be due";
    EXPECT_LT(first.due[0].id, first.due[1].id) << "in the relay's order";
    RelayPreview all = preview_relay(*m_conn, topic, RelayOptions{}, later);
    EXPECT_EQ(all.due.size(), 3u);
    EXPECT_FALSE(all.more);
    EXPECT_EQ(outbox_rows(OutboxStatus::pending), 3) << "a preview marks nothing";
    testing::ManualClock earlier(0);
    EXPECT_TRUE(preview_relay(*m_conn, topic, RelayOptions{}, earlier).due.empty())
        << "nothing is due before it was written";
    EXPECT_EQ(relay(*m_conn, topic).sent, 3u) << "a preview published nothing: the relay sends every row";
}

TEST_P(Payments, BadInputIsRefusedAndNothingIsWrittenTwice) {
    const std::string topic = testing::unique_name("pay_bad");
    RewardService rewards(*m_conn, RewardOptions{topic});

    for (std::int64_t amount : {0, -5}) {
        Error e = error_of([&] { rewards.create_reward({7, 42, "article", 1, amount}); });
        EXPECT_EQ(e.code(), Code::usage);
        EXPECT_NE(std::string(e.what()).find("amount"), std::string::npos) << e.what();
    }
    EXPECT_EQ(error_of([&] { rewards.create_reward({0, 42, "article", 1, 100}); }).code(), Code::usage);
    EXPECT_EQ(error_of([&] { rewards.create_reward({7, 42, "", 1, 100}); }).code(), Code::usage);
    EXPECT_EQ(count("rewards"), 0);
    EXPECT_EQ(count("payments"), 0);

    Error unknown = error_of([&] { rewards.payment_callback("T-no-such-trade", PaymentOutcome::success); });
    EXPECT_EQ(unknown.code(), Code::usage);
    EXPECT_NE(std::string(unknown.what()).find("unknown trade number"), std::string::npos) << unknown.what();

    CreatedReward r = rewards.create_reward({7, 42, "article", 1, 700});
    EXPECT_TRUE(rewards.payment_callback(r.trade_no, PaymentOutcome::success).changed);
    // The provider calls back again: idempotent, no second event.
    CallbackResult again = rewards.payment_callback(r.trade_no, PaymentOutcome::success);
    EXPECT_FALSE(again.changed);
    EXPECT_EQ(again.status, PaymentStatus::success);
    EXPECT_EQ(again.outbox_id, 0);
    // A contradicting callback is refused and changes nothing.
    Error conflict = error_of([&] { rewards.payment_callback(r.trade_no, PaymentOutcome::failed); });
    EXPECT_EQ(conflict.code(), Code::usage);
    EXPECT_NE(std::string(conflict.what()).find("already success"), std::string::npos) << conflict.what();
    EXPECT_EQ(payment_status(r.trade_no), 2);
    EXPECT_EQ(count("outbox"), 1);

    EXPECT_EQ(relay(*m_conn, topic).sent, 1u);
    EXPECT_EQ(consume(topic, testing::unique_name("g")).paid, 1u);
    // A late duplicate callback after the booking: still nothing new.
    EXPECT_FALSE(rewards.payment_callback(r.trade_no, PaymentOutcome::success).changed);
    EXPECT_EQ(relay(*m_conn, topic).sent, 0u);
    EXPECT_EQ(entries("reward", r.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 70}, {42, 630}}));
    EXPECT_EQ(count("account_activities"), 2);
    expect_ledger_balanced();
}

// -- Concurrency -------------------------------------------------------------

TEST_P(Payments, ConcurrentBookingsOfSameAndCrossingAccountsNeverDeadlockAndBookOnce) {
    constexpr int k_threads = 6;
    constexpr int k_transfers = 40;
    constexpr int k_rewards = 12;
    // Transfers between four users in both directions (A->B while B->A),
    // entries listed in either order.
    const std::vector<std::int64_t> users{1001, 1002, 1003, 1004};
    std::vector<Booking> transfers;
    std::map<std::int64_t, std::int64_t> expected;  // uid -> balance (users)
    for (int i = 0; i < k_transfers; ++i) {
        std::int64_t from = users[static_cast<std::size_t>(i % 4)];
        std::int64_t to = users[static_cast<std::size_t>((i / 4 + i + 1) % 4)];
        if (to == from) to = users[static_cast<std::size_t>((i + 2) % 4)];
        const std::int64_t amount = 10 + i;
        Booking b{"transfer", i + 1, {{{from, AccountType::user}, -amount}, {{to, AccountType::user}, amount}}};
        if (i % 2) std::swap(b.entries[0], b.entries[1]);
        transfers.push_back(b);
        expected[from] -= amount;
        expected[to] += amount;
    }
    // Rewards to authors who are also in the transfers, and one who is not;
    // every reward also credits the shared platform account.
    RewardService rewards(*m_conn, RewardOptions{"pay_concurrent"});
    std::vector<PaymentEvent> events;
    std::int64_t platform = 0;
    for (int i = 0; i < k_rewards; ++i) {
        const std::int64_t author = std::vector<std::int64_t>{1001, 1002, 1005}[static_cast<std::size_t>(i % 3)];
        const std::int64_t amount = 100 * (i + 1) + 7;
        CreatedReward r = rewards.create_reward({2000 + i, author, "article", 77, amount});
        rewards.payment_callback(r.trade_no, PaymentOutcome::success);
        events.push_back({r.biz_trade_no, r.trade_no, PaymentOutcome::success, amount});
        expected[author] += amount * 90 / 100;
        platform += amount - amount * 90 / 100;
    }

    // Every thread applies every booking and settles every reward, each in its
    // own order: each one is attempted six times at once.
    std::mutex mutex;
    std::vector<std::string> errors;
    std::atomic<int> paid{0}, replays{0}, written{0}, conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto conn = std::make_unique<LockConflictCounter>(m_db.connect(), conflicts);
                Ledger ledger(*conn);
                std::vector<int> work(k_transfers + k_rewards);
                for (std::size_t i = 0; i < work.size(); ++i) work[i] = static_cast<int>(i);
                std::shuffle(work.begin(), work.end(), std::mt19937(static_cast<unsigned>(t) * 7919u + 1u));
                for (int w : work) {
                    if (w < k_transfers) {
                        written += ledger.book(transfers[static_cast<std::size_t>(w)]).written;
                    } else {
                        SettleResult r = settle_payment(*conn, events[static_cast<std::size_t>(w - k_transfers)], 90);
                        if (r.settlement == Settlement::paid)
                            ++paid;
                        else if (r.settlement == Settlement::already_paid)
                            ++replays;
                        else
                            throw Error(Code::internal, "unexpected settlement " +
                                                            std::string(settlement_name(r.settlement)) + ": " +
                                                            r.reason);
                    }
                }
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> lock(mutex);
                errors.push_back(e.what());
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) ADD_FAILURE() << "surfaced: " << e;
    // Not merely retried away: with the fixed lock order there is nothing to
    // retry (locking in entry order instead deadlocks dozens of times here).
    EXPECT_EQ(conflicts.load(), 0) << "deadlocks or lock wait timeouts reported by the server";

    EXPECT_EQ(paid.load(), k_rewards);
    EXPECT_EQ(replays.load(), k_rewards * (k_threads - 1));
    EXPECT_EQ(written.load(), 2 * k_transfers) << "each transfer's two entries written once";
    EXPECT_EQ(count("account_activities"), 2 * (k_transfers + k_rewards));
    for (int i = 0; i < k_transfers; ++i) EXPECT_EQ(entries("transfer", i + 1).size(), 2u) << "transfer " << i + 1;
    for (const auto& [uid, amount] : expected) EXPECT_EQ(balance(uid), amount) << "user " << uid;
    EXPECT_EQ(balance(0, AccountType::platform), platform);
    expect_ledger_balanced();
}

// -- Crash between publishing and marking --------------------------------------

TEST_P(Payments, RelayKilledAfterSendingButBeforeMarkingOnlyCausesAHarmlessReplay) {
    const std::string topic = testing::unique_name("pay_crash");
    const std::string group = testing::unique_name("g");
    RewardService rewards(*m_conn, RewardOptions{topic});
    CreatedReward r = rewards.create_reward({7, 42, "article", 5, 2000});
    rewards.payment_callback(r.trade_no, PaymentOutcome::success);

    // The relay publishes, then "dies" at the statement that marks the rows.
    testing::ConnectionWrapper dying(m_db.connect(), [](std::string_view sql) {
        if (sql.starts_with("UPDATE") && sql.find("outbox") != std::string_view::npos &&
            sql.find(" IN (") != std::string_view::npos)
            throw Error(Code::connection, "simulated crash before marking the outbox rows");
    });
    EXPECT_THROW(relay(dying, topic), Error);
    EXPECT_EQ(outbox_rows(OutboxStatus::pending), 1) << "not marked: it will be sent again";

    PaymentConsumerReport first = consume(topic, group);
    EXPECT_EQ(first.paid, 1u);
    EXPECT_EQ(balance(42), 1800);

    // The next relay run publishes the same event again ...
    EXPECT_EQ(relay(*m_conn, topic).sent, 1u);
    EXPECT_EQ(outbox_rows(OutboxStatus::sent), 1);
    // ... and the consumer settles it as a replay: nothing moves.
    PaymentConsumerReport second = consume(topic, group);
    EXPECT_EQ(second.events, 1u);
    EXPECT_EQ(second.replays, 1u);
    EXPECT_EQ(second.paid, 0u);
    EXPECT_EQ(entries("reward", r.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 200}, {42, 1800}}));
    EXPECT_EQ(balance(42), 1800);
    EXPECT_EQ(balance(0, AccountType::platform), 200);
    // A consumer group that reads the topic from the start sees both copies.
    PaymentConsumerReport fresh = consume(topic, testing::unique_name("g"));
    EXPECT_EQ(fresh.events, 2u);
    EXPECT_EQ(fresh.replays, 2u);
    expect_ledger_balanced();
}

// -- Delivery failures ---------------------------------------------------------

TEST_P(Payments, FailedDeliveriesBackOffExponentiallyAndEndDead) {
    const std::string topic = testing::unique_name("pay_down");
    testing::ManualClock clock(system_micros());
    RewardService rewards(*m_conn, RewardOptions{topic}, IdGenerator::global(), clock);
    CreatedReward r = rewards.create_reward({7, 42, "article", 5, 300});
    rewards.payment_callback(r.trade_no, PaymentOutcome::success);

    // Nothing listens on port 1: every delivery fails.
    ProducerOptions po;
    po.delivery_timeout = 300ms;
    EventProducer producer("127.0.0.1:1", topic, po);
    RelayOptions options;
    options.max_attempts = 3;
    options.backoff = 1000ms;
    options.flush_timeout = 500ms;
    auto row = [&] {
        return m_conn->query_one(fmt::format("SELECT {}, {}, {}, {} FROM {}", q("status"), q("attempts"),
                                             q("next_attempt_at"), q("last_error"), q("outbox")));
    };

    RelayReport first = relay_outbox(*m_conn, producer, options, clock);
    EXPECT_EQ(first.retried, 1u);
    EXPECT_EQ(first.sent, 0u);
    EXPECT_FALSE(first.last_error.empty());
    auto after1 = row();
    ASSERT_TRUE(after1);
    EXPECT_EQ((*after1)[0].as_int(), 0);
    EXPECT_EQ((*after1)[1].as_int(), 1);
    EXPECT_EQ((*after1)[2].micros(), clock.wall_micros() + 1'000'000) << "first retry after the backoff";
    EXPECT_FALSE((*after1)[3].is_null());

    EXPECT_EQ(relay_outbox(*m_conn, producer, options, clock).batches, 0u) << "not due before its time";
    clock.advance(1'000'000us);
    EXPECT_EQ(relay_outbox(*m_conn, producer, options, clock).retried, 1u);
    EXPECT_EQ((*row())[2].micros(), clock.wall_micros() + 2'000'000) << "the backoff doubles";
    clock.advance(2'000'000us);
    RelayReport last = relay_outbox(*m_conn, producer, options, clock);
    EXPECT_EQ(last.dead, 1u);
    auto dead = row();
    EXPECT_EQ((*dead)[0].as_int(), static_cast<std::int64_t>(OutboxStatus::dead));
    EXPECT_EQ((*dead)[1].as_int(), 3);
    clock.advance(1h);
    EXPECT_EQ(relay_outbox(*m_conn, producer, options, clock).batches, 0u) << "dead rows stay for reconcile";
    EXPECT_EQ(payment_status(r.trade_no), 2) << "the payment itself stays successful";
}

// -- Malformed events ------------------------------------------------------------

TEST_P(Payments, MalformedEventsGoToTheDeadLetterAndConsumptionGoesOn) {
    const std::string topic = testing::unique_name("pay_junk");
    const std::string group = testing::unique_name("g");
    RewardService rewards(*m_conn, RewardOptions{topic});
    CreatedReward r = rewards.create_reward({7, 42, "article", 5, 1000});
    CreatedReward unpaid = rewards.create_reward({7, 43, "article", 6, 1000});
    const std::vector<std::string> junk = {
        "not json at all",
        R"(["an", "array"])",
        R"({"biz_trade_no":"order-5","status":"success","amount":100})",
        R"({"biz_trade_no":")" + r.biz_trade_no + R"(","status":"refunded","amount":1000})",
        R"({"biz_trade_no":")" + r.biz_trade_no + R"(","status":"success","amount":"1000"})",
        R"({"biz_trade_no":"reward-999999999","status":"success","amount":1000})",
        R"({"biz_trade_no":")" + r.biz_trade_no + R"(","status":"success","amount":999})",
    };
    {
        EventProducer producer(testing::kafka_bootstrap(), topic);
        for (const auto& j : junk) producer.send("junk", j);
        producer.send(r.biz_trade_no,
                      PaymentEvent{r.biz_trade_no, r.trade_no, PaymentOutcome::success, 1000}.to_json());
        // A failed event, then a success event contradicting it (same key:
        // same partition, in order): the second is dead-lettered, not applied.
        producer.send(unpaid.biz_trade_no,
                      PaymentEvent{unpaid.biz_trade_no, unpaid.trade_no, PaymentOutcome::failed, 1000}.to_json());
        producer.send(unpaid.biz_trade_no,
                      PaymentEvent{unpaid.biz_trade_no, unpaid.trade_no, PaymentOutcome::success, 1000}.to_json());
        producer.flush(10s);
    }
    testing::ScratchDir dir("dead");
    auto sink = open_sink("file://" + dir.file("dead.jsonl"));
    PaymentConsumerReport report = consume(topic, group, sink.get());
    sink->flush();

    EXPECT_EQ(report.events, junk.size() + 3);
    EXPECT_EQ(report.paid, 1u);
    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(report.dead_letters, junk.size() + 1);
    EXPECT_EQ(reward_status(r.reward_id), 1);
    EXPECT_EQ(reward_status(unpaid.reward_id), 2);
    EXPECT_TRUE(entries("reward", unpaid.reward_id).empty());
    EXPECT_EQ(balance(42), 900);

    std::vector<nlohmann::json> letters;
    std::string text = testing::read_file(dir.file("dead.jsonl"));
    for (std::size_t start = 0, end; start < text.size(); start = end + 1) {
        end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        letters.push_back(nlohmann::json::parse(text.substr(start, end - start)));
    }
    ASSERT_EQ(letters.size(), junk.size() + 1);
    std::vector<std::string> payloads;
    for (const auto& l : letters) {
        EXPECT_FALSE(l.at("error").get<std::string>().empty());
        EXPECT_TRUE(l.at("origin").get<std::string>().starts_with(topic + "/"));
        payloads.push_back(l.at("payload").get<std::string>());
    }
    for (const auto& j : junk) EXPECT_NE(std::find(payloads.begin(), payloads.end(), j), payloads.end()) << j;

    // The offsets were committed: the group has nothing left to read.
    EXPECT_EQ(consume(topic, group).events, 0u);
    expect_ledger_balanced();
}

TEST_P(Payments, DryRunReportsWhatSettlingWouldDoAndWritesAndCommitsNothing) {
    const std::string topic = testing::unique_name("pay_dry");
    const std::string group = testing::unique_name("g");
    RewardService rewards(*m_conn, RewardOptions{topic});
    CreatedReward r = rewards.create_reward({7, 42, "article", 5, 1000});
    rewards.payment_callback(r.trade_no, PaymentOutcome::success);
    EXPECT_EQ(relay(*m_conn, topic).sent, 1u);
    {
        EventProducer producer(testing::kafka_bootstrap(), topic);
        producer.send("junk", "{not json");
        producer.flush(10s);
    }

    std::vector<std::string> previews;
    PaymentConsumerReport dry = consume(topic, group, nullptr, DryRun::yes, &previews);
    EXPECT_EQ(dry.paid, 1u);
    EXPECT_EQ(dry.dead_letters, 1u);
    std::sort(previews.begin(), previews.end());
    EXPECT_EQ(previews, (std::vector<std::string>{"paid", "rejected"}));
    EXPECT_EQ(reward_status(r.reward_id), 0);
    EXPECT_EQ(count("account_activities"), 0);
    EXPECT_EQ(count("accounts"), 0);

    // No offsets were committed: the real run sees both events.
    PaymentConsumerReport real = consume(topic, group);
    EXPECT_EQ(real.events, 2u);
    EXPECT_EQ(real.paid, 1u);
    EXPECT_EQ(reward_status(r.reward_id), 1);
    expect_ledger_balanced();
}

TEST_P(Payments, LedgerCheckListsEveryAccountThatDoesNotAddUp) {
    Ledger ledger(*m_conn);
    ledger.book({"transfer", 1, {{{1, AccountType::user}, -50}, {{2, AccountType::user}, 50}}});
    ledger.book({"transfer", 2, {{{2, AccountType::user}, -20}, {{3, AccountType::user}, 20}}});
    EXPECT_EQ(ledger.book({"transfer", 2, {{{2, AccountType::user}, -20}, {{3, AccountType::user}, 20}}}).existing, 2);
    expect_ledger_balanced();

    m_conn->execute(
        fmt::format("UPDATE {} SET {} = {} + 5 WHERE {} = 2", q("accounts"), q("balance"), q("balance"), q("uid")));
    m_conn->execute(
        fmt::format("INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}, {}) VALUES (99, 424242, 9, 13, 'CNY', "
                    "'transfer', 3, {}, {})",
                    q("account_activities"), q("id"), q("account_id"), q("uid"), q("amount"), q("currency"), q("biz"),
                    q("biz_id"), q("ctime"), q("utime"), m_conn->dialect().now(), m_conn->dialect().now()));
    auto mismatches = ledger_check(*m_conn);
    ASSERT_EQ(mismatches.size(), 2u);
    EXPECT_EQ(mismatches[0].uid, 2);
    EXPECT_EQ(mismatches[0].balance, 35);
    EXPECT_EQ(mismatches[0].entries_sum, 30);
    EXPECT_EQ(mismatches[0].entries, 2);
    EXPECT_FALSE(mismatches[0].account_missing);
    EXPECT_EQ(mismatches[1].account_id, 424242);
    EXPECT_TRUE(mismatches[1].account_missing);
    EXPECT_EQ(mismatches[1].entries_sum, 13);
}

}  // namespace
}  // namespace webook
