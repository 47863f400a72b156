// The reconciliation rules (platform/reconcile.h classify) on hand-made rows of
// one reward, and the window -> reward id range mapping. The same rules
// against real tables, streamed and repaired: tests/integration/reconcile_test.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "core/base/error.h"
#include "platform/ids.h"
#include "platform/reconcile.h"
#include "tests/support/manual_clock.h"

namespace webook {
namespace {

constexpr std::int64_t k_now = 1'780'000'000'000'000;  // 2026-05-28, micros
constexpr std::int64_t k_author = 42;
constexpr std::int64_t k_reward = 1001;

RuleContext context() {
    return {k_now - 300'000'000, 90};  // grace 5 min
}

PaymentRecord payment(std::int64_t status, std::int64_t amount = 1000, std::int64_t utime = k_now - 3'600'000'000) {
    return {7, "T0001", amount, status, utime};
}

// A reward of 1000 cents to the author, paid, payment success, booked
// (by default 900/100).
RewardRows paid_reward(std::int64_t author_share = 900, std::int64_t platform_share = 100) {
    RewardRows rows;
    rows.clear(k_reward);
    rows.reward = RewardRecord{k_author, 1000, 1};
    rows.add_payment(payment(2));
    rows.add_entry({11, 501, k_author, author_share});
    rows.add_entry({12, 500, 0, platform_share});
    return rows;
}

std::vector<Category> categories(const Classification& c) {
    std::vector<Category> out;
    for (const Mismatch& m : c.mismatches) out.push_back(m.category);
    return out;
}

TEST(ReconcileRules, ConsistentRewardsInEveryStateAreClean) {
    EXPECT_TRUE(classify(paid_reward(), context()).mismatches.empty());

    RewardRows unpaid;
    unpaid.clear(k_reward);
    unpaid.reward = RewardRecord{k_author, 1000, 0};
    unpaid.add_payment(payment(0));
    EXPECT_TRUE(classify(unpaid, context()).mismatches.empty());
    unpaid.payments[0].status = 1;  // pending at the provider
    EXPECT_TRUE(classify(unpaid, context()).mismatches.empty());

    RewardRows failed;
    failed.clear(k_reward);
    failed.reward = RewardRecord{k_author, 1000, 2};
    failed.add_payment(payment(3));
    EXPECT_TRUE(classify(failed, context()).mismatches.empty());

    // Another split is not a mismatch once the booking is complete.
    EXPECT_TRUE(classify(paid_reward(800, 200), context()).mismatches.empty());
}

TEST(ReconcileRules, ALostEventIsRepairableUnlessStillInFlight) {
    RewardRows rows;
    rows.clear(k_reward);
    rows.reward = RewardRecord{k_author, 1000, 0};
    rows.add_payment(payment(2));
    Classification lost = classify(rows, context());
    ASSERT_EQ(categories(lost), std::vector{Category::payment_success_reward_not_paid});
    EXPECT_EQ(lost.mismatches[0].fix, Fix::republish_success);
    EXPECT_EQ(lost.mismatches[0].resolution, Resolution::repairable);
    EXPECT_EQ(lost.mismatches[0].trade_no, "T0001");
    EXPECT_EQ(lost.mismatches[0].payment_id, 7);
    EXPECT_FALSE(lost.in_flight);

    // Changed within the grace period: in flight.
    rows.payments[0].utime_micros = k_now - 60'000'000;
    Classification recent = classify(rows, context());
    EXPECT_TRUE(recent.mismatches.empty());
    EXPECT_TRUE(recent.in_flight);

    // Old, but its event is still pending in the outbox: in flight.
    rows.payments[0].utime_micros = k_now - 3'600'000'000;
    rows.event_pending = true;
    EXPECT_TRUE(classify(rows, context()).mismatches.empty());
    EXPECT_TRUE(classify(rows, context()).in_flight);

    // A lost failure event.
    rows.event_pending = false;
    rows.payments[0].status = 3;
    Classification failed = classify(rows, context());
    ASSERT_EQ(categories(failed), std::vector{Category::payment_failed_reward_not_failed});
    EXPECT_EQ(failed.mismatches[0].fix, Fix::republish_failed);

    // With different amounts the consumer would refuse the event: a human's.
    rows.payments[0] = payment(2, 999);
    Classification refused = classify(rows, context());
    ASSERT_EQ(categories(refused),
              (std::vector{Category::amount_mismatch_reward_payment, Category::payment_success_reward_not_paid}));
    EXPECT_EQ(refused.mismatches[1].fix, Fix::none);
    EXPECT_EQ(refused.mismatches[1].resolution, Resolution::needs_human);
}

TEST(ReconcileRules, StatusesThatContradictEachOtherNeedAHuman) {
    RewardRows rows;
    rows.clear(k_reward);
    rows.reward = RewardRecord{k_author, 1000, 1};  // paid
    rows.add_payment(payment(1));                   // pending
    EXPECT_EQ(categories(classify(rows, context())), std::vector{Category::reward_paid_payment_not_success});

    rows.reward->status = 2;  // failed, payment pending
    EXPECT_EQ(categories(classify(rows, context())), std::vector{Category::reward_failed_payment_not_failed});

    rows.payments[0].status = 2;  // failed reward, successful payment
    Classification c = classify(rows, context());
    ASSERT_EQ(categories(c), std::vector{Category::payment_success_reward_not_paid});
    EXPECT_EQ(c.mismatches[0].fix, Fix::none);

    rows.payments[0].status = 9;
    EXPECT_EQ(categories(classify(rows, context())), std::vector{Category::invalid_status});
}

TEST(ReconcileRules, MissingAndPartialBookingsAreBookedOnlyWhenTheyFitTheSplit) {
    RewardRows none = paid_reward();
    none.entries.clear();
    none.entry_count = 0;
    none.entry_sum = 0;
    Classification c = classify(none, context());
    ASSERT_EQ(categories(c), std::vector{Category::payment_success_ledger_missing});
    EXPECT_EQ(c.mismatches[0].fix, Fix::book_missing);

    RewardRows partial;
    partial.clear(k_reward);
    partial.reward = RewardRecord{k_author, 1000, 1};
    partial.add_payment(payment(2));
    partial.add_entry({11, 501, k_author, 900});
    c = classify(partial, context());
    ASSERT_EQ(categories(c), std::vector{Category::payment_success_ledger_missing});
    EXPECT_EQ(c.mismatches[0].fix, Fix::book_missing);
    EXPECT_EQ(c.mismatches[0].entry_ids, std::vector<std::int64_t>{11});

    // Booked 80/20 by someone: --split 90 cannot complete it.
    partial.entries[0].amount = 800;
    c = classify(partial, context());
    ASSERT_EQ(categories(c), std::vector{Category::payment_success_ledger_missing});
    EXPECT_EQ(c.mismatches[0].fix, Fix::none);
    EXPECT_EQ(classify(partial, RuleContext{context().settled_before, 80}).mismatches[0].fix, Fix::book_missing);
}

TEST(ReconcileRules, DuplicateMisdirectedAndWrongSumBookingsAreFound) {
    RewardRows twice = paid_reward();
    twice.add_entry({13, 501, k_author, 900});  // the author again (a lost unique index)
    Classification c = classify(twice, context());
    ASSERT_EQ(categories(c), std::vector{Category::duplicate_booking});
    EXPECT_EQ(c.mismatches[0].entry_ids, (std::vector<std::int64_t>{11, 12, 13}));

    // Two entries, one account twice.
    RewardRows same_account;
    same_account.clear(k_reward);
    same_account.reward = RewardRecord{k_author, 1000, 1};
    same_account.add_payment(payment(2));
    same_account.add_entry({11, 501, k_author, 500});
    same_account.add_entry({12, 501, k_author, 500});
    EXPECT_EQ(categories(classify(same_account, context())), std::vector{Category::duplicate_booking});

    RewardRows misdirected = paid_reward();
    misdirected.entries[0].uid = 77;
    EXPECT_EQ(categories(classify(misdirected, context())), std::vector{Category::ledger_unexpected_account});

    EXPECT_EQ(categories(classify(paid_reward(900, 105), context())),
              std::vector{Category::amount_mismatch_ledger_payment});

    RewardRows unpaid_booking;
    unpaid_booking.clear(k_reward);
    unpaid_booking.reward = RewardRecord{k_author, 1000, 0};
    unpaid_booking.add_payment(payment(0));
    unpaid_booking.add_entry({11, 501, k_author, 900});
    EXPECT_EQ(categories(classify(unpaid_booking, context())), std::vector{Category::ledger_without_success_payment});
}

TEST(ReconcileRules, RowsWithoutTheirRewardOrPaymentAreOrphansOrMissing) {
    RewardRows orphans;
    orphans.clear(k_reward);
    orphans.add_payment(payment(2));
    orphans.add_entry({11, 501, k_author, 900});
    EXPECT_EQ(categories(classify(orphans, context())),
              (std::vector{Category::orphan_payment, Category::orphan_ledger_entries}));

    RewardRows no_payment;
    no_payment.clear(k_reward);
    no_payment.reward = RewardRecord{k_author, 1000, 0};
    EXPECT_EQ(categories(classify(no_payment, context())), std::vector{Category::reward_without_payment});

    RewardRows two_payments = paid_reward();
    two_payments.add_payment({8, "T0002", 1000, 0, k_now});
    EXPECT_EQ(categories(classify(two_payments, context())), std::vector{Category::duplicate_payment});
}

TEST(ReconcileRules, OnlyTheFirstEntriesAreKeptButAllAreCountedAndSummed) {
    RewardRows many = paid_reward();
    for (int i = 0; i < 200; ++i) many.add_entry({100 + i, 501, k_author, 1});
    EXPECT_EQ(many.entries.size(), RewardRows::k_kept);
    EXPECT_EQ(many.entry_count, 202u);
    EXPECT_EQ(many.entry_sum, 1200);
    Classification c = classify(many, context());
    ASSERT_EQ(categories(c), std::vector{Category::duplicate_booking});
    EXPECT_EQ(c.mismatches[0].entry_ids.size(), RewardRows::k_kept);
}

TEST(ReconcileWindow, MapsTimesToSnowflakeIdRanges) {
    const std::int64_t from = 1'780'000'000'000'000;  // a whole millisecond
    const std::int64_t to = from + 3'600'000'000;
    testing::ManualClock c_from(from), c_before(from - 1000), c_to(to), c_inside(to - 1);
    IdGenerator at_from(3, c_from);
    IdGenerator just_before(3, c_before);
    IdGenerator at_to(0, c_to);
    IdGenerator last_inside(1023, c_inside);
    const IdRange r = reward_id_range(from, to);
    const std::int64_t first = at_from.next();
    EXPECT_GE(first, r.first);
    EXPECT_LT(just_before.next(), r.first);
    EXPECT_GE(at_to.next(), r.end);
    EXPECT_LT(last_inside.next(), r.end);
    EXPECT_EQ(r.first, (from / 1000 - IdGenerator::k_epoch_millis) << 22);

    // A fraction of a millisecond rounds up: ids carry whole milliseconds.
    EXPECT_EQ(reward_id_range(from + 1, to).first, r.first + (std::int64_t{1} << 22));
    // Before 2020 (and the seeder's ids 1..N, which decode to 2020-01-01): from id 0.
    EXPECT_EQ(reward_id_range(0, to).first, 0);
    EXPECT_EQ(reward_id_range(IdGenerator::k_epoch_millis * 1000, to).first, 0);
}

TEST(ReconcileOptions, RefusesAnEmptyOrBackwardWindowAndBadNumbers) {
    ReconcileOptions o;
    o.from_micros = k_now;
    o.to_micros = k_now;
    EXPECT_THROW(o.validate(), Error);
    o.to_micros = k_now - 1;
    EXPECT_THROW(o.validate(), Error);
    o.to_micros = k_now + 1;
    EXPECT_NO_THROW(o.validate());
    o.split_percent = 101;
    EXPECT_THROW(o.validate(), Error);
    o.split_percent = 90;
    o.batch_size = 0;
    EXPECT_THROW(o.validate(), Error);
}

}  // namespace
}  // namespace webook
