// ops reconcile against the real servers (MariaDB and PostgreSQL scratch
// databases): every mismatch category planted next to clean rewards in every
// state is found with its ids, and nothing else is; --fix --dry-run writes
// nothing; --fix re-publishes lost events and books missing entries, and
// after the relay and the consumer a second run finds only what needs a
// human; the window picks rewards by the time in their ids; a reward settled
// while the streams run is not reported; a failing stream is an error
// naming it. Whole CLI: the flow through the real relay and consumer (Kafka),
// JSON lines, metrics, exit codes, and bad input (one error line, exit 2/3,
// no password, nothing written).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "platform/ids.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/reconcile.h"
#include "platform/rewards.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::CommandResult;
using testing::describe;
using testing::expect_one_error;
using testing::last_json;
using testing::ScratchDatabase;
using testing::ScratchDir;
using testing::webookctl;

constexpr std::int64_t k_author = 42;
constexpr std::int64_t k_hour = 3'600'000'000;

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

struct Findings {
    ReconcileReport report;
    std::vector<Mismatch> found;

    // The mismatches of one category for one reward (0: any reward).
    std::vector<const Mismatch*> of(Category c, std::int64_t reward_id = 0) const {
        std::vector<const Mismatch*> out;
        for (const Mismatch& m : found)
            if (m.category == c && (reward_id == 0 || m.reward_id == reward_id)) out.push_back(&m);
        return out;
    }
    std::string list() const {
        std::string s;
        for (const Mismatch& m : found)
            s += fmt::format("  {} reward {} outbox {}: {} [{}: {}]\n", category_name(m.category), m.reward_id,
                             m.outbox_id, m.detail, resolution_name(m.resolution), m.action);
        return s;
    }
};

// The system's time an hour ahead: reconciles as if run an hour later.
class AnHourAhead final : public Clock {
public:
    std::chrono::steady_clock::time_point now() override { return Clock::real().now(); }
    void sleep_for(std::chrono::microseconds d) override { Clock::real().sleep_for(d); }
    std::int64_t wall_micros() override { return system_micros() + k_hour; }
};

class Reconcile : public ::testing::TestWithParam<Engine> {
protected:
    Reconcile()
        : m_db(GetParam(), "rec"),
          m_conn(m_db.connect()),
          m_topic(testing::unique_name("rec")),
          m_rewards(*m_conn, RewardOptions{m_topic}) {
        init_schema(*m_conn);
    }

    std::string q(const std::string& identifier) const { return m_conn->dialect().quote(identifier); }
    std::string p(int n) const { return m_conn->dialect().placeholder(n); }
    void exec(const std::string& sql, std::vector<Value> params = {}) { m_conn->execute(sql, params); }
    std::int64_t scalar(const std::string& sql, std::vector<Value> params = {}) {
        auto row = m_conn->query_one(sql, params);
        return row && !(*row)[0].is_null() ? (*row)[0].as_int() : 0;
    }
    std::int64_t count(const std::string& table) { return scalar("SELECT COUNT(*) FROM " + q(table)); }
    // (uid -> amount) of a reward's entries.
    std::map<std::int64_t, std::int64_t> entries(std::int64_t reward_id) {
        std::map<std::int64_t, std::int64_t> out;
        for (const Row& r :
             m_conn->query(fmt::format("SELECT {}, {} FROM {} WHERE {} = 'reward' AND {} = {}", q("uid"), q("amount"),
                                       q("account_activities"), q("biz"), q("biz_id"), p(1)),
                           std::vector<Value>{Value::integer(reward_id)}))
            out[r[0].as_int()] += r[1].as_int();
        return out;
    }
    std::int64_t reward_status(std::int64_t id) {
        return scalar(fmt::format("SELECT {} FROM {} WHERE {} = {}", q("status"), q("rewards"), q("id"), p(1)),
                      {Value::integer(id)});
    }

    CreatedReward create(std::int64_t amount = 1000) {
        return m_rewards.create_reward({7, k_author, "article", 1, amount});
    }
    void set_status(const std::string& table, std::int64_t id, int status) {
        exec(fmt::format("UPDATE {} SET {} = {} WHERE {} = {}", q(table), q("status"), status, q("id"), p(1)),
             {Value::integer(id)});
    }
    // The provider called back and the relay published the event; nothing
    // consumed it (yet).
    void relay_only(const CreatedReward& r, PaymentOutcome outcome) {
        m_rewards.payment_callback(r.trade_no, outcome);
        relayed(r);
    }
    // The relay published the reward's events (they may be lost after that).
    void relayed(const CreatedReward& r) {
        exec(fmt::format("UPDATE {} SET {} = 1 WHERE {} = {}", q("outbox"), q("status"), q("msg_key"), p(1)),
             {Value::text(r.biz_trade_no)});
    }
    // The whole flow: callback, relay, consumer.
    void settle(const CreatedReward& r, PaymentOutcome outcome) {
        relay_only(r, outcome);
        const SettleResult s = settle_payment(*m_conn, {r.biz_trade_no, r.trade_no, outcome, r.amount}, 90);
        ASSERT_NE(s.settlement, Settlement::rejected) << s.reason;
    }
    // What the relay and the consumer do with the events pending in the
    // outbox, without Kafka (the CLI test below goes through Kafka).
    int relay_and_consume() {
        int n = 0;
        for (const OutboxRow& row : due_outbox_rows(*m_conn, m_topic, system_micros() + k_hour, 1000)) {
            const SettleResult s = settle_payment(*m_conn, PaymentEvent::parse(row.payload), 90);
            EXPECT_NE(s.settlement, Settlement::rejected) << s.reason;
            exec(fmt::format("UPDATE {} SET {} = 1 WHERE {} = {}", q("outbox"), q("status"), q("id"), p(1)),
                 {Value::integer(row.id)});
            ++n;
        }
        return n;
    }

    // A window around now, read as if an hour had passed: every payment is
    // past the grace period and every pending outbox row an hour old.
    // Small batches, so the merge crosses batch ends and re-reads in several
    // batches.
    ReconcileOptions options(FixMode fix = FixMode::report, DryRun dry_run = DryRun::no) const {
        ReconcileOptions o;
        const std::int64_t now = system_micros();
        o.from_micros = now - k_hour;
        o.to_micros = now + k_hour;
        o.clock = &m_an_hour_ahead;
        o.topic = m_topic;
        o.fix = fix;
        o.dry_run = dry_run;
        o.batch_size = 3;
        o.recheck_batch = 2;
        return o;
    }
    Findings run(const ReconcileOptions& o, const ConnectionFactory& connect = {}) {
        Findings r;
        r.report = reconcile(connect ? connect : ConnectionFactory([this] { return m_db.connect(); }), o,
                             [&](const Mismatch& m) { r.found.push_back(m); });
        return r;
    }

    void drop_unique_booking_index() {
        exec(GetParam() == Engine::mysql ? "ALTER TABLE account_activities DROP INDEX uk_biz_account"
                                         : "DROP INDEX account_activities_uk_biz_account");
    }

    ScratchDatabase m_db;
    std::unique_ptr<Connection> m_conn;
    std::string m_topic;
    RewardService m_rewards;
    mutable AnHourAhead m_an_hour_ahead;
};

INSTANTIATE_TEST_SUITE_P(, Reconcile, ::testing::Values(Engine::mysql, Engine::postgres),
                         [](const auto& info) { return std::string(engine_label(info.param)); });

// Every category, one reward each, between clean rewards in every state.
struct Planted {
    std::int64_t clean_paid, clean_failed, clean_unpaid;
    std::int64_t paid_not_success, lost_success, lost_failed, failed_not_failed, no_ledger, partial_ledger,
        ledger_unpaid, reward_amount, ledger_amount, duplicate, misdirected, no_payment, two_payments, orphan_payment,
        orphan_entries, bad_status, in_flight;
    std::int64_t dead_outbox;
};

TEST_P(Reconcile, EveryPlantedCategoryIsFoundWithItsIdsAndNothingElse) {
    drop_unique_booking_index();  // as a careless migration might have
    Planted planted{};
    auto reward = [&] { return create(); };
    auto where_reward = [&](const std::string& table, const std::string& column) {
        return fmt::format("{} WHERE {} = {}", q(table), q(column), p(1));
    };

    CreatedReward r = reward();
    settle(r, PaymentOutcome::success);
    planted.clean_paid = r.reward_id;
    r = reward();
    settle(r, PaymentOutcome::failed);
    planted.clean_failed = r.reward_id;
    planted.clean_unpaid = reward().reward_id;

    // The reward was marked paid, the payment never succeeded.
    r = reward();
    planted.paid_not_success = r.reward_id;
    set_status("rewards", r.reward_id, 1);
    // Relayed, then lost before the consumer settled it.
    r = reward();
    planted.lost_success = r.reward_id;
    relay_only(r, PaymentOutcome::success);
    // A failure event deleted before it was relayed.
    r = reward();
    planted.lost_failed = r.reward_id;
    m_rewards.payment_callback(r.trade_no, PaymentOutcome::failed);
    exec(fmt::format("DELETE FROM {}", where_reward("outbox", "msg_key")), {Value::text(r.biz_trade_no)});
    // Failed while the payment is pending.
    r = reward();
    planted.failed_not_failed = r.reward_id;
    set_status("payments", r.payment_id, 1);
    set_status("rewards", r.reward_id, 2);
    // Marked paid without a booking.
    r = reward();
    planted.no_ledger = r.reward_id;
    relay_only(r, PaymentOutcome::success);
    set_status("rewards", r.reward_id, 1);
    // Only the author's share booked.
    r = reward();
    planted.partial_ledger = r.reward_id;
    relay_only(r, PaymentOutcome::success);
    set_status("rewards", r.reward_id, 1);
    Ledger(*m_conn).book({"reward", r.reward_id, {{{k_author, AccountType::user}, 900}}});
    // Booked though nobody paid.
    r = reward();
    planted.ledger_unpaid = r.reward_id;
    Ledger(*m_conn).book(reward_booking(r.reward_id, k_author, 1000, 90));
    // The reward's amount changed after payment.
    r = reward();
    settle(r, PaymentOutcome::success);
    planted.reward_amount = r.reward_id;
    exec(fmt::format("UPDATE {} SET {} = 1001 WHERE {} = {}", q("rewards"), q("amount"), q("id"), p(1)),
         {Value::integer(r.reward_id)});
    // The platform's entry is off by 5.
    r = reward();
    settle(r, PaymentOutcome::success);
    planted.ledger_amount = r.reward_id;
    exec(fmt::format("UPDATE {} SET {} = 105 WHERE {} = {} AND {} = 0", q("account_activities"), q("amount"),
                     q("biz_id"), p(1), q("uid")),
         {Value::integer(r.reward_id)});
    // Booked twice (the unique index is gone).
    r = reward();
    settle(r, PaymentOutcome::success);
    planted.duplicate = r.reward_id;
    Ledger(*m_conn).book(reward_booking(r.reward_id, k_author, 1000, 90));
    // The author's share went to someone else.
    r = reward();
    settle(r, PaymentOutcome::success);
    planted.misdirected = r.reward_id;
    exec(fmt::format("UPDATE {} SET {} = 77 WHERE {} = {} AND {} = {}", q("account_activities"), q("uid"), q("biz_id"),
                     p(1), q("uid"), p(2)),
         {Value::integer(r.reward_id), Value::integer(k_author)});
    // No payment.
    r = reward();
    planted.no_payment = r.reward_id;
    exec(fmt::format("DELETE FROM {}", where_reward("payments", "id")), {Value::integer(r.payment_id)});
    // Two payments for one reward.
    r = reward();
    planted.two_payments = r.reward_id;
    exec(fmt::format("INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}, {}) VALUES ({}, 'T-extra', "
                     "'reward-extra', 'reward', {}, 1000, 0, {}, {})",
                     q("payments"), q("id"), q("trade_no"), q("biz_trade_no"), q("biz"), q("biz_id"), q("amount"),
                     q("status"), q("ctime"), q("utime"), p(1), p(2), p(3), p(4)),
         {Value::integer(IdGenerator::global().next()), Value::integer(r.reward_id),
          Value::datetime_micros(system_micros()), Value::datetime_micros(system_micros())});
    // The reward is gone; its payment is not.
    r = reward();
    planted.orphan_payment = r.reward_id;
    exec(fmt::format("DELETE FROM {}", where_reward("rewards", "id")), {Value::integer(r.reward_id)});
    // Reward and payment gone; the booking is not.
    r = reward();
    settle(r, PaymentOutcome::success);
    planted.orphan_entries = r.reward_id;
    exec(fmt::format("DELETE FROM {}", where_reward("rewards", "id")), {Value::integer(r.reward_id)});
    exec(fmt::format("DELETE FROM {}", where_reward("payments", "id")), {Value::integer(r.payment_id)});
    // A payment status nobody knows.
    r = reward();
    planted.bad_status = r.reward_id;
    set_status("payments", r.payment_id, 7);
    // Paid an hour ago (as the run sees it), event still in the outbox: in
    // flight, not lost -- but pending far too long.
    r = reward();
    planted.in_flight = r.reward_id;
    const std::int64_t pending_row = m_rewards.payment_callback(r.trade_no, PaymentOutcome::success).outbox_id;
    // A dead outbox row.
    {
        Transaction tx(*m_conn);
        planted.dead_outbox = enqueue_outbox(*m_conn, {m_topic, "reward-1", "{}"}, system_micros());
        tx.commit();
    }
    exec(fmt::format("UPDATE {} SET {} = 2, {} = 10, {} = 'broker unreachable' WHERE {} = {}", q("outbox"), q("status"),
                     q("attempts"), q("last_error"), q("id"), p(1)),
         {Value::integer(planted.dead_outbox)});

    const Findings run = this->run(options());
    SCOPED_TRACE(run.list());
    auto one = [&](Category c, std::int64_t reward_id, Resolution resolution) -> const Mismatch* {
        auto found = run.of(c, reward_id);
        EXPECT_EQ(found.size(), 1u) << category_name(c) << " for reward " << reward_id;
        if (found.empty()) return nullptr;
        EXPECT_EQ(found[0]->resolution, resolution) << category_name(c);
        return found[0];
    };
    using C = Category;
    using R = Resolution;
    one(C::reward_paid_payment_not_success, planted.paid_not_success, R::needs_human);
    const Mismatch* lost = one(C::payment_success_reward_not_paid, planted.lost_success, R::repairable);
    one(C::payment_failed_reward_not_failed, planted.lost_failed, R::repairable);
    one(C::reward_failed_payment_not_failed, planted.failed_not_failed, R::needs_human);
    one(C::payment_success_ledger_missing, planted.no_ledger, R::repairable);
    const Mismatch* partial = one(C::payment_success_ledger_missing, planted.partial_ledger, R::repairable);
    one(C::ledger_without_success_payment, planted.ledger_unpaid, R::needs_human);
    one(C::amount_mismatch_reward_payment, planted.reward_amount, R::needs_human);
    one(C::amount_mismatch_ledger_payment, planted.ledger_amount, R::needs_human);
    const Mismatch* dup = one(C::duplicate_booking, planted.duplicate, R::needs_human);
    one(C::ledger_unexpected_account, planted.misdirected, R::needs_human);
    one(C::reward_without_payment, planted.no_payment, R::needs_human);
    one(C::duplicate_payment, planted.two_payments, R::needs_human);
    one(C::orphan_payment, planted.orphan_payment, R::needs_human);
    const Mismatch* orphans = one(C::orphan_ledger_entries, planted.orphan_entries, R::needs_human);
    one(C::invalid_status, planted.bad_status, R::needs_human);
    const Mismatch* dead = one(C::outbox_dead, 0, R::needs_human);
    const Mismatch* stuck = one(C::outbox_pending_too_long, 0, R::needs_human);

    // The ids that come with them.
    if (lost != nullptr) {
        EXPECT_NE(lost->trade_no, "");
        EXPECT_NE(lost->payment_id, 0);
    }
    if (partial != nullptr) {
        EXPECT_EQ(partial->entry_ids.size(), 1u);
    }
    if (dup != nullptr) {
        EXPECT_EQ(dup->entry_ids.size(), 4u);
    }
    if (orphans != nullptr) {
        EXPECT_EQ(orphans->entry_ids.size(), 2u);
    }
    if (dead != nullptr) {
        EXPECT_EQ(dead->outbox_id, planted.dead_outbox);
        EXPECT_NE(dead->detail.find("broker unreachable"), std::string::npos) << dead->detail;
    }
    if (stuck != nullptr) {
        EXPECT_EQ(stuck->outbox_id, pending_row);
        EXPECT_EQ(stuck->reward_id, planted.in_flight);
    }
    // Nothing about the clean rewards, nor the one in flight; nothing else.
    for (std::int64_t clean : {planted.clean_paid, planted.clean_failed, planted.clean_unpaid, planted.in_flight}) {
        for (const Mismatch& m : run.found) {
            if (m.category != C::outbox_pending_too_long) {
                EXPECT_NE(m.reward_id, clean) << category_name(m.category);
            }
        }
    }
    EXPECT_EQ(run.found.size(), 18u);
    EXPECT_EQ(run.report.mismatches, 18u);
    EXPECT_EQ(run.report.repairable, 4u);
    EXPECT_EQ(run.report.needs_human, 14u);
    EXPECT_EQ(run.report.in_flight, 1u);
    EXPECT_EQ(run.report.count(C::payment_success_ledger_missing), 2u);
    // 20 rewards were made, two of them deleted; every payment and entry in
    // the window was read.
    EXPECT_EQ(run.report.rewards, 18u);
    EXPECT_EQ(run.report.payments, static_cast<std::uint64_t>(count("payments")));
    EXPECT_EQ(run.report.entries, static_cast<std::uint64_t>(count("account_activities")));
    EXPECT_EQ(run.report.rechecked, 17u);  // every reward but the clean ones
}

TEST_P(Reconcile, FixRepairsLostEventsAndMissingBookingsAndTheRestStaysForAHuman) {
    const CreatedReward clean = create();
    settle(clean, PaymentOutcome::success);
    const CreatedReward lost = create(1001);
    relay_only(lost, PaymentOutcome::success);
    const CreatedReward lost_failure = create();
    relay_only(lost_failure, PaymentOutcome::failed);
    const CreatedReward unbooked = create(1001);
    relay_only(unbooked, PaymentOutcome::success);
    set_status("rewards", unbooked.reward_id, 1);
    const CreatedReward half = create();
    relay_only(half, PaymentOutcome::success);
    set_status("rewards", half.reward_id, 1);
    Ledger(*m_conn).book({"reward", half.reward_id, {{AccountRef::platform(), 100}}});
    const CreatedReward human = create();
    set_status("rewards", human.reward_id, 1);

    // --dry-run: says what it would do, writes nothing.
    const std::int64_t outbox_before = count("outbox");
    const std::int64_t entries_before = count("account_activities");
    const Findings preview = run(options(FixMode::repair, DryRun::yes));
    SCOPED_TRACE(preview.list());
    EXPECT_EQ(preview.report.mismatches, 5u);
    EXPECT_EQ(preview.report.would_repair, 4u);
    EXPECT_EQ(preview.report.needs_human, 1u);
    EXPECT_EQ(count("outbox"), outbox_before);
    EXPECT_EQ(count("account_activities"), entries_before);
    for (const Mismatch& m : preview.found) {
        if (m.resolution == Resolution::would_repair) {
            EXPECT_TRUE(m.action.starts_with("would ")) << m.action;
        }
    }

    // --fix.
    const Findings fixed = run(options(FixMode::repair));
    SCOPED_TRACE(fixed.list());
    EXPECT_EQ(fixed.report.repaired, 4u);
    EXPECT_EQ(fixed.report.needs_human, 1u);
    ASSERT_EQ(fixed.of(Category::reward_paid_payment_not_success, human.reward_id).size(), 1u);
    // The bookings are complete at once: 90/10 of 1001 is 900 + 101.
    EXPECT_EQ(entries(unbooked.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 101}, {k_author, 900}}));
    EXPECT_EQ(entries(half.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 100}, {k_author, 900}}));
    // The lost events are in the outbox again, pending, as the callback wrote them.
    auto due = due_outbox_rows(*m_conn, m_topic, system_micros() + k_hour, 100);
    ASSERT_EQ(due.size(), 2u);
    const PaymentEvent republished = PaymentEvent::parse(due[0].payload);
    EXPECT_EQ(republished.biz_trade_no, lost.biz_trade_no);
    EXPECT_EQ(republished.trade_no, lost.trade_no);
    EXPECT_EQ(republished.status, PaymentOutcome::success);
    EXPECT_EQ(republished.amount, 1001);
    EXPECT_EQ(PaymentEvent::parse(due[1].payload).status, PaymentOutcome::failed);

    // Until the relay runs they are in flight: a second --fix re-publishes nothing.
    ReconcileOptions soon = options(FixMode::repair);
    soon.pending_older_than = 2h;  // pending an hour (as it sees it) is not too long here
    const Findings again = run(soon);
    EXPECT_EQ(again.report.repaired, 0u) << again.list();
    EXPECT_EQ(again.report.in_flight, 2u);
    EXPECT_EQ(again.report.mismatches, 1u) << again.list();
    EXPECT_EQ(count("outbox"), outbox_before + 2);

    // The relay and the consumer settle them; then only the human's is left.
    EXPECT_EQ(relay_and_consume(), 2);
    EXPECT_EQ(reward_status(lost.reward_id), 1);
    EXPECT_EQ(reward_status(lost_failure.reward_id), 2);
    EXPECT_EQ(entries(lost.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 101}, {k_author, 900}}));
    const Findings after = run(options());
    SCOPED_TRACE(after.list());
    ASSERT_EQ(after.found.size(), 1u);
    EXPECT_EQ(after.found[0].category, Category::reward_paid_payment_not_success);
    EXPECT_EQ(after.found[0].reward_id, human.reward_id);
    EXPECT_TRUE(ledger_check(*m_conn).empty()) << "balances moved with the booked entries";
}

TEST_P(Reconcile, FixBooksOnlyWhatIsMissingEvenWithoutTheUniqueIndex) {
    drop_unique_booking_index();
    const CreatedReward half = create();
    relay_only(half, PaymentOutcome::success);
    set_status("rewards", half.reward_id, 1);
    Ledger(*m_conn).book({"reward", half.reward_id, {{{k_author, AccountType::user}, 900}}});
    EXPECT_EQ(run(options(FixMode::repair)).report.repaired, 1u);
    EXPECT_EQ(count("account_activities"), 2);
    const Findings after = run(options(FixMode::repair));
    EXPECT_EQ(after.report.mismatches, 0u) << after.list();
    EXPECT_EQ(count("account_activities"), 2);
    EXPECT_TRUE(ledger_check(*m_conn).empty());
}

TEST_P(Reconcile, TheWindowPicksRewardsByTheTimeInTheirIds) {
    const std::int64_t from = 1'780'000'000'000'000;  // 2026-05-28 20:26:40 UTC
    const std::int64_t to = from + 24 * k_hour;
    auto made_at = [&](std::int64_t micros) {
        testing::ManualClock clock(micros);
        IdGenerator ids(5, clock);
        RewardService service(*m_conn, RewardOptions{m_topic}, ids, clock);
        const CreatedReward r = service.create_reward({7, k_author, "article", 1, 500});
        // Broken, so a run that reads it reports it.
        exec(fmt::format("DELETE FROM {} WHERE {} = {}", q("payments"), q("id"), p(1)), {Value::integer(r.payment_id)});
        return r.reward_id;
    };
    const std::int64_t before = made_at(from - 1000);
    const std::int64_t first = made_at(from);
    const std::int64_t last = made_at(to - 1000);
    const std::int64_t after = made_at(to);

    ReconcileOptions o = options();
    o.from_micros = from;
    o.to_micros = to;
    const Findings run = this->run(o);
    SCOPED_TRACE(run.list());
    std::vector<std::int64_t> reported;
    for (const Mismatch& m : run.found) reported.push_back(m.reward_id);
    EXPECT_EQ(reported, (std::vector<std::int64_t>{first, last}));
    EXPECT_EQ(run.report.rewards, 2u);
    EXPECT_LT(before, run.report.reward_ids.first);
    EXPECT_GE(after, run.report.reward_ids.end);
}

// The streams saw a lost event; by the time it is re-read the consumer has
// settled it: nothing is reported.
TEST_P(Reconcile, ARewardSettledWhileTheStreamsRunIsNotReported) {
    const CreatedReward r = create();
    relay_only(r, PaymentOutcome::success);
    bool settled = false;
    auto settle_before_reread = [&](std::string_view sql) {
        // The re-read starts with the outbox query on the work connection.
        if (!settled && sql.find("msg_key") != std::string_view::npos && sql.find(" IN ") != std::string_view::npos) {
            settled = true;
            settle_payment(*m_conn, {r.biz_trade_no, r.trade_no, PaymentOutcome::success, 1000}, 90);
        }
    };
    const Findings run = this->run(
        options(), [&] { return std::make_unique<testing::ConnectionWrapper>(m_db.connect(), settle_before_reread); });
    EXPECT_TRUE(settled);
    EXPECT_EQ(run.report.rechecked, 1u);
    EXPECT_EQ(run.report.mismatches, 0u) << run.list();
}

TEST_P(Reconcile, AFailingStreamIsAnErrorNamingIt) {
    for (int i = 0; i < 10; ++i) settle(create(), PaymentOutcome::success);
    auto fail_payments = [&](std::string_view sql) {
        if (sql.find("payments") != std::string_view::npos && sql.find(">=") != std::string_view::npos)
            throw Error(Code::connection, "lost connection to the server (injected)", Temporary::yes);
    };
    try {
        run(options(), [&] { return std::make_unique<testing::ConnectionWrapper>(m_db.connect(), fail_payments); });
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_NE(std::string(e.what()).find("reading payments"), std::string::npos) << e.what();
    }
}

// ---- The whole CLI ----------------------------------------------------------

class CliReconcile : public Reconcile {
protected:
    std::vector<std::string> args(std::vector<std::string> extra, bool json_output = true) {
        std::vector<std::string> a;
        if (json_output) a = {"--output", "json"};
        for (const char* s : {"ops", "reconcile", "--dsn"}) a.emplace_back(s);
        a.push_back(m_db.url());
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    // The mismatch lines of a JSON run (every line but the summary).
    static std::vector<json> mismatch_lines(const CommandResult& r) {
        std::vector<json> out;
        std::size_t start = 0;
        while (start < r.out.size()) {
            std::size_t end = r.out.find('\n', start);
            if (end == std::string::npos) end = r.out.size();
            json line = json::parse(r.out.substr(start, end - start));
            if (line.contains("category")) out.push_back(std::move(line));
            start = end + 1;
        }
        return out;
    }
};

INSTANTIATE_TEST_SUITE_P(, CliReconcile, ::testing::Values(Engine::mysql, Engine::postgres),
                         [](const auto& info) { return std::string(engine_label(info.param)); });

TEST_P(CliReconcile, FindsFixesAndIsCleanAfterTheRelayAndTheConsumer) {
    const CreatedReward clean = create();
    settle(clean, PaymentOutcome::success);
    const CreatedReward lost = create();
    relay_only(lost, PaymentOutcome::success);
    const CreatedReward unbooked = create();
    relay_only(unbooked, PaymentOutcome::success);
    set_status("rewards", unbooked.reward_id, 1);
    ScratchDir dir("clirec");
    const std::string metrics = dir.file("reconcile.prom");
    // Payments made a moment ago are in flight by default; --grace 0s counts them.
    const std::vector<std::string> window{"--from", "1h", "--grace", "0s", "--topic", m_topic};
    auto with = [&](std::vector<std::string> more) {
        std::vector<std::string> a = window;
        a.insert(a.end(), more.begin(), more.end());
        return a;
    };

    CommandResult found = webookctl(args(window));
    ASSERT_EQ(found.exit_code, 1) << describe(found);
    std::vector<json> lines = mismatch_lines(found);
    ASSERT_EQ(lines.size(), 2u) << found.out;
    EXPECT_EQ(lines[0].at("category"), "payment_success_reward_not_paid");
    EXPECT_EQ(lines[0].at("reward_id"), lost.reward_id);
    EXPECT_EQ(lines[0].at("trade_no"), lost.trade_no);
    EXPECT_EQ(lines[0].at("resolution"), "repairable");
    EXPECT_EQ(lines[1].at("category"), "payment_success_ledger_missing");
    EXPECT_EQ(lines[1].at("reward_id"), unbooked.reward_id);
    json summary = last_json(found);
    EXPECT_EQ(summary.at("clean"), false);
    EXPECT_EQ(summary.at("mismatches"), 2);
    EXPECT_EQ(summary.at("rewards"), 3);
    EXPECT_EQ(summary.at("categories").at("payment_success_ledger_missing"), 1);
    EXPECT_EQ(summary.at("categories").size(), k_category_count);
    EXPECT_EQ(summary.at("fix"), "off");

    const std::int64_t outbox_before = count("outbox");
    CommandResult dry = webookctl(args(with({"--fix", "--dry-run"})));
    ASSERT_EQ(dry.exit_code, 1) << describe(dry);
    EXPECT_EQ(last_json(dry).at("would_repair"), 2);
    EXPECT_EQ(count("outbox"), outbox_before);
    EXPECT_EQ(count("account_activities"), 2);

    CommandResult fixed = webookctl(args(with({"--fix", "--metrics-file", metrics})));
    ASSERT_EQ(fixed.exit_code, 1) << describe(fixed);
    summary = last_json(fixed);
    EXPECT_EQ(summary.at("repaired"), 2);
    EXPECT_EQ(summary.at("fix"), "on");
    for (const json& line : mismatch_lines(fixed)) EXPECT_EQ(line.at("resolution"), "repaired") << line.dump();
    const std::string prom = testing::read_file(metrics);
    EXPECT_NE(prom.find("webookctl_reconcile_mismatches{category=\"payment_success_reward_not_paid\"} 1"),
              std::string::npos)
        << prom;
    EXPECT_NE(prom.find("webookctl_reconcile_mismatches{category=\"outbox_dead\"} 0"), std::string::npos) << prom;
    EXPECT_NE(prom.find("webookctl_reconcile_repaired 2"), std::string::npos) << prom;
    EXPECT_EQ(entries(unbooked.reward_id), (std::map<std::int64_t, std::int64_t>{{0, 100}, {k_author, 900}}));

    // The real relay and consumer, through Kafka.
    const std::string kafka = "kafka://" + testing::kafka_bootstrap() + "/" + m_topic;
    CommandResult relay =
        webookctl({"--output", "json", "ops", "outbox", "relay", "--dsn", m_db.url(), "--to", kafka, "--until-idle"});
    ASSERT_EQ(relay.exit_code, 0) << describe(relay);
    EXPECT_EQ(last_json(relay).at("sent"), 1);
    CommandResult consumed =
        webookctl({"--output", "json", "ops", "payments", "consume", "--dsn", m_db.url(), "--from", kafka, "--group",
                   testing::unique_name("g"), "--until-idle", "--session-timeout", "3s", "--batch-wait", "500ms"});
    ASSERT_EQ(consumed.exit_code, 0) << describe(consumed);
    EXPECT_EQ(last_json(consumed).at("paid"), 1);

    CommandResult clean_json = webookctl(args(window));
    ASSERT_EQ(clean_json.exit_code, 0) << describe(clean_json);
    EXPECT_EQ(last_json(clean_json).at("clean"), true);
    EXPECT_EQ(clean_json.out.find('\n'), clean_json.out.size() - 1) << "only the summary line";
    CommandResult clean_text = webookctl(args(window, false));
    ASSERT_EQ(clean_text.exit_code, 0) << describe(clean_text);
    EXPECT_NE(clean_text.out.find("clean:"), std::string::npos) << clean_text.out;
    EXPECT_EQ(webookctl({"ops", "ledger", "check", "--dsn", m_db.url()}).exit_code, 0);
}

TEST_P(CliReconcile, TextOutputNamesTheCategoryTheIdsAndWhatToDo) {
    const CreatedReward r = create();
    set_status("rewards", r.reward_id, 1);
    CommandResult found = webookctl(args({"--from", "2020-01-01"}, false));
    ASSERT_EQ(found.exit_code, 1) << describe(found);
    EXPECT_NE(found.out.find(fmt::format("reward_paid_payment_not_success reward {} payment {} ({})", r.reward_id,
                                         r.payment_id, r.trade_no)),
              std::string::npos)
        << found.out;
    EXPECT_NE(found.out.find("needs_human"), std::string::npos) << found.out;
    EXPECT_NE(found.out.find("1 mismatches: reward_paid_payment_not_success 1"), std::string::npos) << found.out;
}

TEST_P(CliReconcile, BadInputGetsOneErrorLineAndWritesNothing) {
    settle(create(), PaymentOutcome::success);
    const CreatedReward lost = create();
    relay_only(lost, PaymentOutcome::success);
    const std::int64_t outbox = count("outbox");
    const std::int64_t entries = count("account_activities");

    expect_one_error(webookctl(args({"--from", "2026-11-02", "--to", "2026-11-01", "--fix"})), 2,
                     "must be before --to");
    expect_one_error(webookctl(args({"--from", "2026-13-45 00:00:00", "--fix"})), 2,
                     "--from '2026-13-45 00:00:00' is not a UTC time");
    expect_one_error(webookctl(args({"--from", "yesterday", "--fix"})), 2, "--from 'yesterday'");
    expect_one_error(webookctl(args({"--from", "1h", "--to", "soon", "--fix"})), 2, "--to 'soon'");
    expect_one_error(webookctl(args({"--fix"})), 2, "--from is required");
    expect_one_error(webookctl(args({"--from", "1h", "--dry-run"})), 2, "--fix");
    expect_one_error(webookctl(args({"--from", "1h", "--grace", "5", "--fix"})), 2, "--grace '5' needs a unit");
    expect_one_error(webookctl(args({"--from", "1h", "--split", "120", "--fix"})), 2, "--split");

    // An unreachable server: one line, exit 3, and the password never shown.
    const std::string secret = "pw-Sekr1t-9";
    const std::string unreachable = GetParam() == Engine::mysql ? "mysql://webook:" + secret + "@127.0.0.1:1/webook"
                                                                : "postgres://webook:" + secret + "@127.0.0.1:1/webook";
    CommandResult down = webookctl({"ops", "reconcile", "--dsn", unreachable, "--from", "1h"});
    expect_one_error(down, 3, "127.0.0.1:1");
    CommandResult bad_and_secret = webookctl({"ops", "reconcile", "--dsn", unreachable, "--from", "whenever"});
    expect_one_error(bad_and_secret, 2, "--from 'whenever'");
    for (const CommandResult* r : {&down, &bad_and_secret}) {
        EXPECT_EQ(r->out.find(secret), std::string::npos) << describe(*r);
        EXPECT_EQ(r->err.find(secret), std::string::npos) << describe(*r);
    }
    EXPECT_EQ(count("outbox"), outbox);
    EXPECT_EQ(count("account_activities"), entries);
}

}  // namespace
}  // namespace webook
