#include "platform/payment_consumer.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/dialect.h"
#include "core/messaging/event_input.h"
#include "core/migration/event.h"
#include "core/migration/event_sink.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::in_transaction;

constexpr const char* k_rewards = "rewards";

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}

struct RewardRow {
    std::int64_t target_uid = 0;
    std::int64_t amount = 0;
    std::int64_t status = 0;  // RewardStatus, unchecked
    bool is(RewardStatus s) const { return status == static_cast<std::int64_t>(s); }
};

// SELECT target_uid, amount, status FROM rewards WHERE id = ? [FOR UPDATE]
std::optional<RewardRow> read_reward(Connection& conn, std::int64_t reward_id, bool lock) {
    PortableSql sql{[lock](const Dialect& d) {
                        return fmt::format("SELECT {}, {}, {} FROM {} WHERE {} = {}{}", d.quote("target_uid"),
                                           d.quote("amount"), d.quote("status"), d.quote(k_rewards), d.quote("id"),
                                           d.placeholder(1), lock ? d.for_update() : std::string_view());
                    },
                    fmt::format("{} id={}", k_rewards, reward_id)};
    auto row = conn.query_one(sql, std::vector<Value>{i64(reward_id)});
    if (!row) return std::nullopt;
    return RewardRow{(*row)[0].as_int(), (*row)[1].as_int(), (*row)[2].as_int()};
}

void set_reward_status(Connection& conn, std::int64_t reward_id, RewardStatus status, std::int64_t now) {
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format("UPDATE {} SET {} = {}, {} = {} WHERE {} = {}", d.quote(k_rewards),
                                           d.quote("status"), d.placeholder(1), d.quote("utime"), d.placeholder(2),
                                           d.quote("id"), d.placeholder(3));
                    },
                    fmt::format("{} id={}", k_rewards, reward_id)};
    conn.execute(sql, std::vector<Value>{i64(static_cast<std::int64_t>(status)), at(now), i64(reward_id)});
}

SettleResult rejected(std::string reason) {
    SettleResult r;
    r.settlement = Settlement::rejected;
    r.reason = std::move(reason);
    return r;
}

}  // namespace

std::unique_ptr<EventInput> open_payment_source(std::string_view url, const std::string& group,
                                                ConsumerOptions options) {
    if (!url.starts_with("kafka://"))
        throw Error(Code::usage, fmt::format("payment events come from kafka://host:port/topic, not '{}'", url));
    if (group.empty()) throw Error(Code::usage, "consuming payment events needs a consumer group (--group NAME)");
    return open_input(url, group, options);
}

Booking reward_booking(std::int64_t reward_id, std::int64_t author_uid, std::int64_t amount, int split_percent) {
    const std::int64_t author_share = amount * split_percent / 100;
    return Booking{std::string(k_reward_biz),
                   reward_id,
                   {{{author_uid, AccountType::user}, author_share}, {AccountRef::platform(), amount - author_share}}};
}

std::string_view settlement_name(Settlement s) {
    switch (s) {
    case Settlement::paid: return "paid";
    case Settlement::already_paid: return "already_paid";
    case Settlement::failed: return "failed";
    case Settlement::already_failed: return "already_failed";
    case Settlement::rejected: return "rejected";
    }
    return "unknown";
}

SettleResult settle_payment(Connection& conn, const PaymentEvent& event, int split_percent, IdGenerator& ids,
                            Clock& clock) {
    const std::int64_t reward_id = reward_id_of(event.biz_trade_no);
    // Who is credited, read without a lock: the accounts must exist before
    // the transaction (ledger.h, step 0).
    auto reward = read_reward(conn, reward_id, false);
    if (!reward) return rejected(fmt::format("reward {} does not exist", reward_id));
    if (reward->amount != event.amount)
        return rejected(fmt::format("the event's amount {} differs from reward {}'s amount {}", event.amount, reward_id,
                                    reward->amount));
    Ledger ledger(conn, ids, clock);
    std::vector<std::int64_t> account_ids;
    Booking booking;
    if (event.status == PaymentOutcome::success) {
        booking = reward_booking(reward_id, reward->target_uid, reward->amount, split_percent);
        booking.validate();
        account_ids = ledger.ensure_accounts({booking.entries[0].account, booking.entries[1].account});
    }
    const std::int64_t now = clock.wall_micros();
    return in_transaction(conn, [&]() -> SettleResult {
        // Step 1 of the lock order: the reward. Two deliveries of one event
        // queue up here.
        auto locked = read_reward(conn, reward_id, true);
        if (!locked) return rejected(fmt::format("reward {} does not exist", reward_id));
        if (locked->target_uid != reward->target_uid || locked->amount != reward->amount)
            throw Error(Code::internal,
                        fmt::format("reward {} changed its author or amount while settling", reward_id));
        if (locked->status < 0 || locked->status > 2)
            return rejected(fmt::format("reward {} has status {}, not 0..2", reward_id, locked->status));
        SettleResult r;
        if (event.status == PaymentOutcome::success) {
            if (locked->is(RewardStatus::failed))
                return rejected(fmt::format("reward {} is failed: a success event contradicts it", reward_id));
            r.booking = ledger.book_locked(booking, account_ids, now);
            if (locked->is(RewardStatus::init)) {
                set_reward_status(conn, reward_id, RewardStatus::paid, now);
                r.settlement = Settlement::paid;
            } else {
                r.settlement = Settlement::already_paid;
            }
            return r;
        }
        if (locked->is(RewardStatus::paid))
            return rejected(fmt::format("reward {} is paid: a failed event contradicts it", reward_id));
        if (locked->is(RewardStatus::init)) {
            set_reward_status(conn, reward_id, RewardStatus::failed, now);
            r.settlement = Settlement::failed;
        } else {
            r.settlement = Settlement::already_failed;
        }
        return r;
    });
}

SettleResult preview_settlement(Connection& conn, const PaymentEvent& event, int split_percent) {
    const std::int64_t reward_id = reward_id_of(event.biz_trade_no);
    auto reward = read_reward(conn, reward_id, false);
    if (!reward) return rejected(fmt::format("reward {} does not exist", reward_id));
    if (reward->amount != event.amount)
        return rejected(fmt::format("the event's amount {} differs from reward {}'s amount {}", event.amount, reward_id,
                                    reward->amount));
    if (reward->status < 0 || reward->status > 2)
        return rejected(fmt::format("reward {} has status {}, not 0..2", reward_id, reward->status));
    SettleResult r;
    if (event.status == PaymentOutcome::failed) {
        if (reward->is(RewardStatus::paid))
            return rejected(fmt::format("reward {} is paid: a failed event contradicts it", reward_id));
        r.settlement = reward->is(RewardStatus::init) ? Settlement::failed : Settlement::already_failed;
        return r;
    }
    if (reward->is(RewardStatus::failed))
        return rejected(fmt::format("reward {} is failed: a success event contradicts it", reward_id));
    r.settlement = reward->is(RewardStatus::init) ? Settlement::paid : Settlement::already_paid;
    // Entries already booked under (reward, id), by account owner.
    PortableSql booked{[](const Dialect& d) {
                           return fmt::format(
                               "SELECT COUNT(*) FROM {} e JOIN {} a ON a.{} = e.{} WHERE e.{} = {} AND "
                               "e.{} = {} AND a.{} = {} AND a.{} = {}",
                               d.quote("account_activities"), d.quote("accounts"), d.quote("id"), d.quote("account_id"),
                               d.quote("biz"), d.placeholder(1), d.quote("biz_id"), d.placeholder(2), d.quote("uid"),
                               d.placeholder(3), d.quote("type"), d.placeholder(4));
                       },
                       fmt::format("account_activities reward {}", reward_id)};
    for (const LedgerEntry& e : reward_booking(reward_id, reward->target_uid, reward->amount, split_percent).entries) {
        auto row = conn.query_one(
            booked, std::vector<Value>{Value::text(std::string(k_reward_biz)), i64(reward_id), i64(e.account.uid),
                                       i64(static_cast<std::int64_t>(e.account.type))});
        if (row && (*row)[0].as_int() > 0)
            ++r.booking.existing;
        else
            ++r.booking.written;
    }
    return r;
}

void PaymentConsumerOptions::validate() const {
    if (batch_size < 1 || batch_size > 10000)
        throw Error(Code::usage, fmt::format("--batch-size must be 1..10000, not {}", batch_size));
    if (split_percent < 0 || split_percent > 100)
        throw Error(Code::usage, fmt::format("--split must be 0..100 (the author's percent), not {}", split_percent));
    if (max_attempts < 1) throw Error(Code::usage, "--max-attempts must be at least 1");
    if (batch_wait.count() < 0 || backoff.count() < 0) throw Error(Code::usage, "waits must not be negative");
}

PaymentConsumer::PaymentConsumer(ConnectionFactory database, PaymentConsumerOptions options, EventSink* dead_letter,
                                 IdGenerator& ids, Clock& clock)
    : m_factory(std::move(database)), m_options(options), m_dead_letter(dead_letter), m_ids(ids), m_clock(clock) {
    m_options.validate();
}

Connection& PaymentConsumer::connection() {
    if (!m_conn) m_conn = m_factory();
    return *m_conn;
}

void PaymentConsumer::dead_letter(const InputItem& item, const std::string& why) {
    ++m_report.dead_letters;
    write_dead_letter(m_dead_letter, item, why, "payments");
}

SettleResult PaymentConsumer::settle_with_retries(const PaymentEvent& event) {
    const RetryPolicy policy{
        .attempts = m_options.max_attempts, .first_delay = m_options.backoff, .max_delay = m_options.backoff * 64};
    try {
        return retry_with_backoff(
            policy, m_clock,
            [&](int) { return settle_payment(connection(), event, m_options.split_percent, m_ids, m_clock); },
            [&](const Error& e, int attempt, std::chrono::microseconds pause) {
                ++m_report.retries;
                log::get("payments")
                    ->warn("settling {}: {} (attempt {} of {}; retrying in {} ms)", event.biz_trade_no, e.what(),
                           attempt, m_options.max_attempts, pause.count() / 1000);
                // A lost connection's transaction may or may not have
                // committed: replaying it on a fresh connection is harmless.
                if (e.code() == Code::connection) m_conn.reset();
            });
    } catch (const Error& e) {
        throw e.context(fmt::format("settling {}", event.biz_trade_no));
    }
}

void PaymentConsumer::process(EventInput& source, const std::vector<InputItem>& items) {
    ++m_report.batches;
    m_report.events += items.size();
    const bool preview = m_options.dry_run == DryRun::yes;
    for (const auto& item : items) {
        PaymentEvent event;
        try {
            event = PaymentEvent::parse(item.payload);
        } catch (const Error& e) {
            if (preview) {
                ++m_report.dead_letters;
                show_preview(item.origin, nullptr, rejected(e.what()));
            } else {
                dead_letter(item, e.what());
            }
            continue;
        }
        if (preview) {
            SettleResult r = preview_settlement(connection(), event, m_options.split_percent);
            count(r);
            show_preview(item.origin, &event, r);
            continue;
        }
        SettleResult r = settle_with_retries(event);
        if (r.settlement == Settlement::rejected) {
            dead_letter(item, r.reason);
            continue;
        }
        count(r);
        log::get("payments")->debug("{} from {}: {}", event.biz_trade_no, item.origin, settlement_name(r.settlement));
    }
    if (preview) return;  // nothing written: nothing to commit
    // Dead letters are durable before the offsets that skip them are committed.
    if (m_dead_letter != nullptr) m_dead_letter->flush();
    source.commit(items);
}

void PaymentConsumer::count(const SettleResult& r) {
    switch (r.settlement) {
    case Settlement::paid: ++m_report.paid; break;
    case Settlement::failed: ++m_report.failed; break;
    case Settlement::already_paid:
    case Settlement::already_failed: ++m_report.replays; break;
    case Settlement::rejected: ++m_report.dead_letters; break;
    }
}

void PaymentConsumer::show_preview(const std::string& origin, const PaymentEvent* event, const SettleResult& r) {
    if (m_preview) {
        m_preview(origin, event, r);
        return;
    }
    log::get("payments")
        ->info("dry run: {} from {}: {}{}", event ? event->biz_trade_no : "event", origin,
               settlement_name(r.settlement), r.reason.empty() ? "" : ": " + r.reason);
}

PaymentConsumerReport PaymentConsumer::run(EventInput& source) {
    log::get("payments")
        ->info("settling payment events from {} (split {}/{}){}", source.describe(), m_options.split_percent,
               100 - m_options.split_percent, m_options.dry_run == DryRun::yes ? " (dry run)" : "");
    for (;;) {
        check_interrupted();
        auto items = source.poll(m_options.batch_size, m_options.batch_wait);
        if (!items.empty()) process(source, items);
        if (m_progress) m_progress(m_report);
        if (m_options.until_idle == UntilIdle::yes && source.idle()) break;
    }
    return m_report;
}

}  // namespace webook
