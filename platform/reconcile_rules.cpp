// The rules of the reconciliation (reconcile.h), pure: the names, one reward's
// rows and their classification, the window's reward id range and the options'
// checks. Unit-tested by tests/unit/reconcile_rules_test.cpp.
#include "platform/reconcile.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/messaging/kafka.h"
#include "platform/ledger.h"
#include "platform/payment_consumer.h"
#include "platform/reconcile_internal.h"
#include "platform/rewards.h"

namespace webook {
namespace {

using reconcile_detail::describe_entries;
using reconcile_detail::fix_verb;
using reconcile_detail::k_pay_failed;
using reconcile_detail::k_pay_init;
using reconcile_detail::k_pay_success;
using reconcile_detail::k_status_failed;
using reconcile_detail::k_status_init;
using reconcile_detail::k_status_paid;
using reconcile_detail::part_of_booking;
using reconcile_detail::payment_status_text;
using reconcile_detail::reward_status_text;

constexpr std::array<std::string_view, k_category_count> k_category_names{
    "reward_paid_payment_not_success",
    "payment_success_reward_not_paid",
    "payment_failed_reward_not_failed",
    "reward_failed_payment_not_failed",
    "payment_success_ledger_missing",
    "ledger_without_success_payment",
    "amount_mismatch_reward_payment",
    "amount_mismatch_ledger_payment",
    "duplicate_booking",
    "ledger_unexpected_account",
    "reward_without_payment",
    "duplicate_payment",
    "orphan_payment",
    "orphan_ledger_entries",
    "invalid_status",
    "outbox_dead",
    "outbox_pending_too_long",
};
static_assert(static_cast<std::size_t>(Category::outbox_pending_too_long) + 1 == k_category_count);

// A reward's booking: the author's entry and the platform's (reward_booking()).
constexpr std::size_t k_booking_entries = 2;

std::vector<std::int64_t> entry_ids(const RewardRows& rows) {
    std::vector<std::int64_t> ids;
    ids.reserve(rows.entries.size());
    for (const EntryRecord& e : rows.entries) ids.push_back(e.id);
    return ids;
}

// The expected amount of a booking entry for `uid`, or nothing when the
// booking has no entry for that user.
std::optional<std::int64_t> booked_share(const Booking& booking, std::int64_t uid) {
    for (const LedgerEntry& e : booking.entries)
        if (e.account.uid == uid) return e.amount;
    return std::nullopt;
}

}  // namespace

namespace reconcile_detail {

std::string reward_status_text(std::int64_t s) {
    if (s < k_status_init || s > k_status_failed) return fmt::format("status {}", s);
    return std::string(reward_status_name(static_cast<RewardStatus>(s)));
}

std::string payment_status_text(std::int64_t s) {
    if (s < k_pay_init || s > k_pay_failed) return fmt::format("status {}", s);
    return std::string(payment_status_name(static_cast<PaymentStatus>(s)));
}

std::string_view fix_verb(Fix f) {
    switch (f) {
    case Fix::republish_success: return "re-publish the payment's success event";
    case Fix::republish_failed: return "re-publish the payment's failed event";
    case Fix::book_missing: return "book the missing ledger entries";
    case Fix::none: break;
    }
    return "nothing";
}

// True when every entry is one the booking makes, with its amount.
bool part_of_booking(const std::vector<EntryRecord>& entries, const Booking& booking) {
    return std::all_of(entries.begin(), entries.end(),
                       [&](const EntryRecord& e) { return booked_share(booking, e.uid) == e.amount; });
}

std::string describe_entries(const std::vector<EntryRecord>& entries) {
    std::string out;
    for (const EntryRecord& e : entries)
        out +=
            fmt::format("{}{} to {} (account {}, entry {})", out.empty() ? "" : ", ", e.amount,
                        e.uid == k_platform_uid ? "the platform" : fmt::format("user {}", e.uid), e.account_id, e.id);
    return out;
}

}  // namespace reconcile_detail

std::string_view category_name(Category c) {
    return k_category_names.at(static_cast<std::size_t>(c));
}

const std::array<Category, k_category_count>& all_categories() {
    static const std::array<Category, k_category_count> all = [] {
        std::array<Category, k_category_count> a{};
        for (std::size_t i = 0; i < k_category_count; ++i) a[i] = static_cast<Category>(i);
        return a;
    }();
    return all;
}

std::string_view resolution_name(Resolution r) {
    switch (r) {
    case Resolution::needs_human: return "needs_human";
    case Resolution::repairable: return "repairable";
    case Resolution::would_repair: return "would_repair";
    case Resolution::repaired: return "repaired";
    case Resolution::skipped: return "skipped";
    }
    return "unknown";
}

// ---- The rules ------------------------------------------------------------

void RewardRows::clear(std::int64_t id) {
    reward_id = id;
    reward.reset();
    payments.clear();
    payment_count = 0;
    entries.clear();
    entry_count = 0;
    entry_sum = 0;
    event_pending = false;
}

void RewardRows::add_payment(PaymentRecord p) {
    ++payment_count;
    if (payments.size() < k_kept) payments.push_back(std::move(p));
}

void RewardRows::add_entry(const EntryRecord& e) {
    ++entry_count;
    entry_sum += e.amount;
    if (entries.size() < k_kept) entries.push_back(e);
}

Classification classify(const RewardRows& rows, const RuleContext& context) {
    Classification out;
    auto add = [&](Category c, std::string detail) -> Mismatch& {
        Mismatch m;
        m.category = c;
        m.reward_id = rows.reward_id;
        m.detail = std::move(detail);
        out.mismatches.push_back(std::move(m));
        return out.mismatches.back();
    };
    auto with_payment = [](Mismatch& m, const PaymentRecord* p) -> Mismatch& {
        if (p != nullptr) {
            m.payment_id = p->id;
            m.trade_no = p->trade_no;
        }
        return m;
    };
    auto human = [](Mismatch& m, std::string why) {
        m.fix = Fix::none;
        m.resolution = Resolution::needs_human;
        m.action = std::move(why);
    };
    auto repairable = [](Mismatch& m, Fix fix) {
        m.fix = fix;
        m.resolution = Resolution::repairable;
        m.action = fmt::format("--fix would {}", fix_verb(fix));
    };

    // No reward row: whatever points at it is an orphan.
    if (!rows.reward) {
        if (rows.payment_count > 0) {
            Mismatch& m =
                with_payment(add(Category::orphan_payment,
                                 fmt::format("{} payment(s) with biz reward and biz_id {}, but no such reward",
                                             rows.payment_count, rows.reward_id)),
                             &rows.payments.front());
            human(m, "find where the payment came from; there is no reward to settle");
        }
        if (rows.entry_count > 0) {
            Mismatch& m =
                add(Category::orphan_ledger_entries,
                    fmt::format("{} ledger entries summing to {} for reward {}, "
                                "which does not exist: {}",
                                rows.entry_count, rows.entry_sum, rows.reward_id, describe_entries(rows.entries)));
            m.entry_ids = entry_ids(rows);
            human(m, "money was booked for no reward: reverse the entries or restore the reward");
        }
        return out;
    }

    const RewardRecord& reward = *rows.reward;
    // The payment: the successful one if there is one, else the first.
    const PaymentRecord* pay = nullptr;
    for (const PaymentRecord& p : rows.payments)
        if (p.status == k_pay_success && pay == nullptr) pay = &p;
    if (pay == nullptr && !rows.payments.empty()) pay = &rows.payments.front();
    const bool success = pay != nullptr && pay->status == k_pay_success;
    const bool amounts_agree = pay != nullptr && pay->amount == reward.amount;

    if (rows.payment_count > 1) {
        std::string trades;
        for (const PaymentRecord& p : rows.payments)
            trades += fmt::format("{}{} ({}, {})", trades.empty() ? "" : ", ", p.trade_no,
                                  payment_status_text(p.status), p.amount);
        Mismatch& m = with_payment(
            add(Category::duplicate_payment, fmt::format("{} payments for one reward: {}", rows.payment_count, trades)),
            pay);
        human(m, "a reward has exactly one payment: refund or void the extra ones");
    }
    if (pay == nullptr) {
        human(add(Category::reward_without_payment,
                  fmt::format("reward {} of {} cents for user {} has no payment", reward_status_text(reward.status),
                              reward.amount, reward.target_uid)),
              "rewards are created with their payment in one transaction: find out how this one "
              "was not");
    }
    const bool statuses_known = reward.status >= k_status_init && reward.status <= k_status_failed &&
                                (pay == nullptr || (pay->status >= k_pay_init && pay->status <= k_pay_failed));
    if (!statuses_known) {
        human(with_payment(add(Category::invalid_status,
                               fmt::format("reward status {}, payment status {}", reward.status,
                                           pay != nullptr ? fmt::format("{}", pay->status) : std::string("(none)"))),
                           pay),
              "rewards are 0 init, 1 paid, 2 failed; payments 0 init, 1 pending, 2 success, 3 "
              "failed");
    }
    if (pay != nullptr && !amounts_agree) {
        human(with_payment(add(Category::amount_mismatch_reward_payment,
                               fmt::format("reward amount {} but payment amount {}", reward.amount, pay->amount)),
                           pay),
              "decide which amount is right; the payment consumer refuses the event meanwhile");
    }

    // Do the reward's and the payment's states agree?
    if (statuses_known && pay != nullptr) {
        const bool final_payment = pay->status == k_pay_success || pay->status == k_pay_failed;
        if (reward.status == k_status_paid && !success) {
            human(with_payment(add(Category::reward_paid_payment_not_success,
                                   fmt::format("reward paid, its payment {}", payment_status_text(pay->status))),
                               pay),
                  "the reward was paid out without a successful payment: check with the payment "
                  "provider");
        } else if (reward.status == k_status_init && final_payment) {
            if (rows.event_pending || pay->utime_micros >= context.settled_before) {
                out.in_flight = true;  // relay and consumer are still on it
            } else {
                const bool succeeded = pay->status == k_pay_success;
                Mismatch& m =
                    with_payment(add(succeeded ? Category::payment_success_reward_not_paid
                                               : Category::payment_failed_reward_not_failed,
                                     fmt::format("payment {} since {} UTC, reward still init, no event pending: "
                                                 "the payment event was lost",
                                                 payment_status_text(pay->status), format_datetime(pay->utime_micros))),
                                 pay);
                if (amounts_agree)
                    repairable(m, succeeded ? Fix::republish_success : Fix::republish_failed);
                else
                    human(m, "the amounts differ: the payment consumer would refuse the event");
            }
        } else if (reward.status == k_status_failed && success) {
            human(with_payment(
                      add(Category::payment_success_reward_not_paid, "payment success, but the reward is failed"), pay),
                  "the consumer refuses a success event for a failed reward: refund the payment "
                  "or pay the reward by hand");
        } else if (reward.status == k_status_failed && !final_payment) {
            human(with_payment(add(Category::reward_failed_payment_not_failed,
                                   fmt::format("reward failed, its payment {}", payment_status_text(pay->status))),
                               pay),
                  "only a failed payment fails a reward: check with the payment provider");
        }
    }

    // The ledger.
    if (rows.entry_count == 0) {
        if (success && reward.status == k_status_paid) {
            Mismatch& m = with_payment(
                add(Category::payment_success_ledger_missing, "reward paid, payment success, but no ledger entries"),
                pay);
            if (amounts_agree)
                repairable(m, Fix::book_missing);
            else
                human(m, "the amounts differ: decide which one to book");
        }
        return out;
    }
    if (!success) {
        Mismatch& m = with_payment(
            add(Category::ledger_without_success_payment,
                fmt::format(
                    "{} ledger entries summing to {}, but {}: {}", rows.entry_count, rows.entry_sum,
                    pay == nullptr ? std::string("no payment") : "the payment is " + payment_status_text(pay->status),
                    describe_entries(rows.entries))),
            pay);
        m.entry_ids = entry_ids(rows);
        human(m, "money was booked without being paid: reverse the entries");
        return out;
    }

    // A successful payment with entries: are they the one booking it makes?
    bool duplicate = rows.entry_count > k_booking_entries;
    bool unexpected = false;
    for (std::size_t i = 0; i < rows.entries.size(); ++i) {
        const EntryRecord& e = rows.entries[i];
        if (e.uid != reward.target_uid && e.uid != k_platform_uid) unexpected = true;
        for (std::size_t j = i + 1; j < rows.entries.size(); ++j)
            if (rows.entries[j].account_id == e.account_id || rows.entries[j].uid == e.uid) duplicate = true;
    }
    if (duplicate) {
        Mismatch& m = with_payment(add(Category::duplicate_booking,
                                       fmt::format("{} ledger entries summing to {} where the booking makes one per "
                                                   "account ({} in all) summing to {}: {}",
                                                   rows.entry_count, rows.entry_sum, k_booking_entries, pay->amount,
                                                   describe_entries(rows.entries))),
                                   pay);
        m.entry_ids = entry_ids(rows);
        human(m,
              "reverse the extra entries (and their balance moves); check that "
              "account_activities still has its unique index (biz, biz_id, account_id)");
    }
    if (unexpected) {
        Mismatch& m = with_payment(add(Category::ledger_unexpected_account,
                                       fmt::format("entries for someone other than the author (user {}) and the "
                                                   "platform: {}",
                                                   reward.target_uid, describe_entries(rows.entries))),
                                   pay);
        m.entry_ids = entry_ids(rows);
        human(m, "reverse the misdirected entries and book the author");
    }
    if (duplicate || unexpected) return out;

    if (rows.entry_count < k_booking_entries) {
        if (reward.status == k_status_paid) {
            const Booking expected =
                reward_booking(rows.reward_id, reward.target_uid, reward.amount, context.split_percent);
            Mismatch& m =
                with_payment(add(Category::payment_success_ledger_missing,
                                 fmt::format("reward paid, payment success, but only {} of the booking's {} "
                                             "entries: {}",
                                             rows.entry_count, k_booking_entries, describe_entries(rows.entries))),
                             pay);
            m.entry_ids = entry_ids(rows);
            if (!amounts_agree)
                human(m, "the amounts differ: decide which one to book");
            else if (!part_of_booking(rows.entries, expected))
                human(m, fmt::format("the entry present is not part of a {}/{} booking: book the "
                                     "rest by hand (or pass the --split it was booked with)",
                                     context.split_percent, 100 - context.split_percent));
            else
                repairable(m, Fix::book_missing);
        }
        return out;
    }
    if (rows.entry_sum != pay->amount) {
        Mismatch& m = with_payment(add(Category::amount_mismatch_ledger_payment,
                                       fmt::format("ledger entries sum to {} but the payment is {}: {}", rows.entry_sum,
                                                   pay->amount, describe_entries(rows.entries))),
                                   pay);
        m.entry_ids = entry_ids(rows);
        human(m, "correct the booking by hand (a reversing entry and a new one)");
    }
    return out;
}

IdRange reward_id_range(std::int64_t from_micros, std::int64_t to_micros) {
    static constexpr int k_shift = IdGenerator::k_worker_bits + IdGenerator::k_sequence_bits;
    static constexpr std::int64_t k_max_millis = std::numeric_limits<std::int64_t>::max() >> k_shift;
    auto first_id_at = [](std::int64_t micros) -> std::int64_t {
        // Rounded up to the millisecond: ids of [from, to) are those made at
        // ceil(from) .. ceil(to) - 1 ms, as ids carry whole milliseconds.
        std::int64_t millis = micros / 1000 + (micros % 1000 > 0 ? 1 : 0);
        millis -= IdGenerator::k_epoch_millis;
        millis = std::clamp<std::int64_t>(millis, 0, k_max_millis);
        return millis << k_shift;
    };
    return {first_id_at(from_micros), first_id_at(to_micros)};
}

void ReconcileOptions::validate() const {
    if (to_micros <= from_micros)
        throw Error(Code::usage, fmt::format("--from ({} UTC) must be before --to ({} UTC)",
                                             format_datetime(from_micros), format_datetime(to_micros)));
    if (grace.count() < 0) throw Error(Code::usage, "--grace must not be negative");
    if (pending_older_than.count() <= 0) throw Error(Code::usage, "--pending-older-than must be positive");
    if (split_percent < 0 || split_percent > 100)
        throw Error(Code::usage, fmt::format("--split must be 0..100 (the author's percent), not {}", split_percent));
    if (batch_size == 0) throw Error(Code::usage, "--batch-size must be positive");
    if (recheck_batch == 0) throw Error(Code::usage, "the re-check batch must be positive");
    validate_topic_name(topic);
    if (dry_run == DryRun::yes && fix != FixMode::repair)
        throw Error(Code::usage, "--dry-run previews --fix: pass both (without --fix nothing is written anyway)");
}

}  // namespace webook
