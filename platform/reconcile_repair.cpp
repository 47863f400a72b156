// The repairs of `ops reconcile --fix`: one reward re-checked under its row lock,
// then its payment event re-published or its missing ledger entries booked.
#include "platform/reconcile_repair.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/platform_tx.h"
#include "platform/reconcile_internal.h"

namespace webook::reconcile_detail {
namespace {

using platform_detail::in_transaction;

RepairOutcome skipped(std::string why) {
    return {Resolution::skipped, std::move(why)};
}

}  // namespace

RepairOutcome Repairer::apply(const Mismatch& m, const RewardRows& rows) {
    return with_context(fmt::format("repairing reward {} ({})", m.reward_id, category_name(m.category)), [&] {
        switch (m.fix) {
        case Fix::republish_success: return republish(m.reward_id, PaymentOutcome::success);
        case Fix::republish_failed: return republish(m.reward_id, PaymentOutcome::failed);
        case Fix::book_missing: return book(m.reward_id, *rows.reward);
        case Fix::none: break;
        }
        return RepairOutcome{Resolution::needs_human, m.action};
    });
}

// Portable statements: with --fix during a migration the repairs run
// through the double-write connection (ReconcileOptions::repair_connection).
std::optional<RewardRecord> Repairer::lock_reward(std::int64_t reward_id) {
    auto row = m_conn.query_one(PortableSql{[](const Dialect& d) {
                                                return fmt::format("SELECT {} FROM {} WHERE {} = {}{}",
                                                                   reward_columns(d), d.quote("rewards"), d.quote("id"),
                                                                   d.placeholder(1), d.for_update());
                                            },
                                            {}},
                                std::vector<Value>{Value::integer(reward_id)});
    if (!row) return std::nullopt;
    return reward_of(*row);
}

std::vector<PaymentRecord> Repairer::payments_of(std::int64_t reward_id) {
    std::vector<PaymentRecord> out;
    for (Row& r : m_conn.query(
             PortableSql{[](const Dialect& d) {
                             return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} ORDER BY {}",
                                                payment_columns(d), d.quote("payments"), d.quote("biz"),
                                                d.placeholder(1), d.quote("biz_id"), d.placeholder(2), d.quote("id"));
                         },
                         {}},
             std::vector<Value>{Value::text(std::string(k_reward_biz)), Value::integer(reward_id)}))
        out.push_back(payment_of(r));
    return out;
}

std::vector<EntryRecord> Repairer::entries_of(std::int64_t reward_id) {
    std::vector<EntryRecord> out;
    for (const Row& r : m_conn.query(
             PortableSql{[](const Dialect& d) {
                             return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} ORDER BY {}",
                                                entry_columns(d), d.quote("account_activities"), d.quote("biz"),
                                                d.placeholder(1), d.quote("biz_id"), d.placeholder(2), d.quote("id"));
                         },
                         {}},
             std::vector<Value>{Value::text(std::string(k_reward_biz)), Value::integer(reward_id)}))
        out.push_back(entry_of(r));
    return out;
}

std::optional<std::int64_t> Repairer::pending_event(std::int64_t reward_id) {
    auto row = m_conn.query_one(
        PortableSql{[](const Dialect& d) {
                        return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} AND {} = {}", d.quote("id"),
                                           d.quote("outbox"), d.quote("status"), d.placeholder(1), d.quote("topic"),
                                           d.placeholder(2), d.quote("msg_key"), d.placeholder(3));
                    },
                    {}},
        std::vector<Value>{Value::integer(static_cast<std::int64_t>(OutboxStatus::pending)),
                           Value::text(m_options.topic), Value::text(biz_trade_no_for(reward_id))});
    if (!row) return std::nullopt;
    return (*row)[0].as_int();
}

RepairOutcome Repairer::republish(std::int64_t reward_id, PaymentOutcome outcome) {
    const std::int64_t wanted = outcome == PaymentOutcome::success ? k_pay_success : k_pay_failed;
    return in_transaction(m_conn, [&]() -> RepairOutcome {
        auto reward = lock_reward(reward_id);
        if (!reward) return skipped("the reward no longer exists");
        if (reward->status != k_status_init)
            return skipped(fmt::format("the reward is {} now: settled meanwhile", reward_status_text(reward->status)));
        std::optional<PaymentRecord> pay;
        for (PaymentRecord& p : payments_of(reward_id))
            if (p.status == wanted && !pay) pay = std::move(p);
        if (!pay) return skipped(fmt::format("the payment is no longer {}", payment_status_text(wanted)));
        if (pay->amount != reward->amount) return {Resolution::needs_human, "the amounts differ now"};
        if (auto id = pending_event(reward_id))
            return skipped(fmt::format("an event is pending already (outbox row {})", *id));
        const PaymentEvent event{biz_trade_no_for(reward_id), pay->trade_no, outcome, pay->amount};
        const std::int64_t outbox_id = enqueue_outbox(m_conn, {m_options.topic, event.biz_trade_no, event.to_json()},
                                                      m_options.clock->wall_micros(), m_ids);
        return {Resolution::repaired, fmt::format("re-published the {} event as outbox row {} (topic {}): the relay "
                                                  "and the payment consumer settle it",
                                                  outcome_name(outcome), outbox_id, m_options.topic)};
    });
}

RepairOutcome Repairer::book(std::int64_t reward_id, const RewardRecord& seen) {
    const Booking booking = reward_booking(reward_id, seen.target_uid, seen.amount, m_options.split_percent);
    booking.validate();
    Ledger ledger(m_conn, m_ids, *m_options.clock);
    // Step 0 of the ledger's protocol: the accounts exist before the transaction.
    const std::vector<std::int64_t> account_ids =
        ledger.ensure_accounts({booking.entries[0].account, booking.entries[1].account});
    return in_transaction(m_conn, [&]() -> RepairOutcome {
        auto reward = lock_reward(reward_id);
        if (!reward || reward->status != k_status_paid || reward->target_uid != seen.target_uid ||
            reward->amount != seen.amount)
            return skipped("the reward changed meanwhile");
        bool paid = false;
        for (const PaymentRecord& p : payments_of(reward_id))
            paid = paid || (p.status == k_pay_success && p.amount == reward->amount);
        if (!paid) return skipped("the payment is no longer successful with the reward's amount");
        const std::vector<EntryRecord> present = entries_of(reward_id);
        if (!part_of_booking(present, booking))
            return {Resolution::needs_human, fmt::format("the entries changed meanwhile and are not part of the "
                                                         "booking: {}",
                                                         describe_entries(present))};
        // Only the entries not there yet: with the unique index lost, an
        // INSERT-ignore of the others would book them twice.
        Booking rest{booking.biz, booking.biz_id, {}};
        std::vector<std::int64_t> rest_accounts;
        for (std::size_t i = 0; i < booking.entries.size(); ++i) {
            const auto uid = booking.entries[i].account.uid;
            if (std::none_of(present.begin(), present.end(), [&](const EntryRecord& e) { return e.uid == uid; })) {
                rest.entries.push_back(booking.entries[i]);
                rest_accounts.push_back(account_ids[i]);
            }
        }
        if (rest.entries.empty()) return skipped("booked meanwhile");
        const BookingResult r = ledger.book_locked(rest, rest_accounts, m_options.clock->wall_micros());
        std::string what;
        for (const LedgerEntry& e : rest.entries)
            what += fmt::format(
                "{}{} to {}", what.empty() ? "" : " and ", e.amount,
                e.account.uid == k_platform_uid ? std::string("the platform") : fmt::format("user {}", e.account.uid));
        return {Resolution::repaired, fmt::format("booked {} missing entries ({}; split {}/{})", r.written, what,
                                                  m_options.split_percent, 100 - m_options.split_percent)};
    });
}

std::string preview_action(const Mismatch& m, const RewardRows& rows, const ReconcileOptions& options) {
    if (m.fix == Fix::book_missing) {
        const RewardRecord& r = *rows.reward;
        const Booking b = reward_booking(rows.reward_id, r.target_uid, r.amount, options.split_percent);
        std::string what;
        for (const LedgerEntry& e : b.entries)
            if (std::none_of(rows.entries.begin(), rows.entries.end(),
                             [&](const EntryRecord& x) { return x.uid == e.account.uid; }))
                what += fmt::format("{}{} to {}", what.empty() ? "" : " and ", e.amount,
                                    e.account.uid == k_platform_uid ? std::string("the platform")
                                                                    : fmt::format("user {}", e.account.uid));
        return fmt::format("would book {} (split {}/{})", what, options.split_percent, 100 - options.split_percent);
    }
    return fmt::format("would {} to topic {}", fix_verb(m.fix), options.topic);
}

}  // namespace webook::reconcile_detail
