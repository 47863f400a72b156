#include "platform/reconcile.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/progress.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "core/migration/prefetch.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/platform_tx.h"
#include "platform/rewards.h"

namespace webook {
namespace {

using platform_detail::in_transaction;

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

constexpr std::int64_t k_status_init = static_cast<std::int64_t>(RewardStatus::init);
constexpr std::int64_t k_status_paid = static_cast<std::int64_t>(RewardStatus::paid);
constexpr std::int64_t k_status_failed = static_cast<std::int64_t>(RewardStatus::failed);
constexpr std::int64_t k_pay_init = static_cast<std::int64_t>(PaymentStatus::init);
constexpr std::int64_t k_pay_pending = static_cast<std::int64_t>(PaymentStatus::pending);
constexpr std::int64_t k_pay_success = static_cast<std::int64_t>(PaymentStatus::success);
constexpr std::int64_t k_pay_failed = static_cast<std::int64_t>(PaymentStatus::failed);
// A reward's booking: the author's entry and the platform's (reward_booking()).
constexpr std::size_t k_booking_entries = 2;

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

}  // namespace

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

namespace {

// ---- Reading ----------------------------------------------------------------

// One streamed query as batches; the query starts on the first next(), on
// whichever thread reads (the Prefetcher's), so the three start at once.
class StreamSource final : public BatchSource {
public:
    StreamSource(Connection& conn, std::string what, std::string sql, std::size_t batch_rows)
        : m_conn(conn), m_what(std::move(what)), m_sql(std::move(sql)), m_batch_rows(batch_rows) {}

    bool next(std::vector<Row>& out) override {
        return with_context(m_what, [&] {
            if (!m_cursor) m_cursor = m_conn.stream(m_sql);
            return m_cursor->next_batch(out, m_batch_rows);
        });
    }

private:
    Connection& m_conn;
    std::string m_what;
    std::string m_sql;
    std::size_t m_batch_rows;
    std::unique_ptr<RowCursor> m_cursor;
};

// The rows of a source one at a time, keyed by their first column.
class KeyedRows {
public:
    explicit KeyedRows(BatchSource& source) : m_source(source) {}

    bool has() {
        while (m_pos >= m_rows.size() && !m_done) {
            m_pos = 0;
            if (!m_source.next(m_rows)) m_done = true;
        }
        return m_pos < m_rows.size();
    }
    // Only after has() returned true.
    std::int64_t key() const { return m_rows[m_pos][0].as_int(); }
    Row& row() { return m_rows[m_pos]; }
    void advance() { ++m_pos; }

private:
    BatchSource& m_source;
    std::vector<Row> m_rows;
    std::size_t m_pos = 0;
    bool m_done = false;
};

std::string id_list(const Dialect& d, std::size_t count, int first = 1) {
    return d.placeholders(first, static_cast<int>(count));
}

// Column lists shared by the stream pass and the re-read: the same columns
// in the same order, read by the same functions below.
std::string reward_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}", d.quote("id"), d.quote("target_uid"), d.quote("amount"), d.quote("status"));
}
std::string payment_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}, {}, {}", d.quote("biz_id"), d.quote("id"), d.quote("trade_no"),
                       d.quote("amount"), d.quote("status"), d.quote("utime"));
}
std::string entry_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}, {}", d.quote("biz_id"), d.quote("id"), d.quote("account_id"), d.quote("uid"),
                       d.quote("amount"));
}

RewardRecord reward_of(const Row& r) {
    return {r[1].as_int(), r[2].as_int(), r[3].as_int()};
}
PaymentRecord payment_of(Row& r) {
    return {r[1].as_int(), std::string(r[2].as_string()), r[3].as_int(), r[4].as_int(), r[5].micros()};
}
EntryRecord entry_of(const Row& r) {
    return {r[1].as_int(), r[2].as_int(), r[3].as_int(), r[4].as_int()};
}

}  // namespace

// The bounds are integers we computed and 'reward' a constant, so they are
// written into the text, and the queries stream without parameters.
RangeQueries range_queries(const Dialect& d, const IdRange& range) {
    const std::string biz = fmt::format("{} = '{}'", d.quote("biz"), k_reward_biz);
    auto in_range = [&](std::string_view column) {
        return fmt::format("{0} >= {1} AND {0} < {2}", d.quote(column), range.first, range.end);
    };
    return {fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}", reward_columns(d), d.quote("rewards"), in_range("id"),
                        d.quote("id")),
            fmt::format("SELECT {} FROM {} WHERE {} AND {} ORDER BY {}", payment_columns(d), d.quote("payments"), biz,
                        in_range("biz_id"), d.quote("biz_id")),
            fmt::format("SELECT {} FROM {} WHERE {} AND {} ORDER BY {}", entry_columns(d),
                        d.quote("account_activities"), biz, in_range("biz_id"), d.quote("biz_id"))};
}

namespace {

// A stream waits while the merge works through keys the other tables have
// and it has not; MariaDB/MySQL drop a client that has not read for
// net_write_timeout (60 s by default). Streams here may wait that long.
void allow_long_waits(Connection& conn) {
    if (auto setup = conn.dialect().long_stream_session(); !setup.empty()) conn.execute(setup);
}

// ---- Repairs ------------------------------------------------------------------

struct RepairOutcome {
    Resolution resolution = Resolution::skipped;
    std::string action;
};

RepairOutcome skipped(std::string why) {
    return {Resolution::skipped, std::move(why)};
}

// Re-reads and repairs one reward, each repair in a transaction of its own
// that locks the reward row first (the ledger's lock order, step 1) and
// re-checks what the repair relies on.
class Repairer {
public:
    Repairer(Connection& conn, const ReconcileOptions& options, IdGenerator& ids)
        : m_conn(conn), m_options(options), m_ids(ids) {}

    RepairOutcome apply(const Mismatch& m, const RewardRows& rows) {
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

private:
    // Portable statements: with --fix during a migration the repairs run
    // through the double-write connection (ReconcileOptions::repair_connection).
    std::optional<RewardRecord> lock_reward(std::int64_t reward_id) {
        auto row = m_conn.query_one(PortableSql{[](const Dialect& d) {
                                                    return fmt::format("SELECT {} FROM {} WHERE {} = {}{}",
                                                                       reward_columns(d), d.quote("rewards"),
                                                                       d.quote("id"), d.placeholder(1), d.for_update());
                                                },
                                                {}},
                                    std::vector<Value>{Value::integer(reward_id)});
        if (!row) return std::nullopt;
        return reward_of(*row);
    }

    std::vector<PaymentRecord> payments_of(std::int64_t reward_id) {
        std::vector<PaymentRecord> out;
        for (Row& r :
             m_conn.query(PortableSql{[](const Dialect& d) {
                                          return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} ORDER BY {}",
                                                             payment_columns(d), d.quote("payments"), d.quote("biz"),
                                                             d.placeholder(1), d.quote("biz_id"), d.placeholder(2),
                                                             d.quote("id"));
                                      },
                                      {}},
                          std::vector<Value>{Value::text(std::string(k_reward_biz)), Value::integer(reward_id)}))
            out.push_back(payment_of(r));
        return out;
    }

    std::vector<EntryRecord> entries_of(std::int64_t reward_id) {
        std::vector<EntryRecord> out;
        for (const Row& r :
             m_conn.query(PortableSql{[](const Dialect& d) {
                                          return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} ORDER BY {}",
                                                             entry_columns(d), d.quote("account_activities"),
                                                             d.quote("biz"), d.placeholder(1), d.quote("biz_id"),
                                                             d.placeholder(2), d.quote("id"));
                                      },
                                      {}},
                          std::vector<Value>{Value::text(std::string(k_reward_biz)), Value::integer(reward_id)}))
            out.push_back(entry_of(r));
        return out;
    }

    std::optional<std::int64_t> pending_event(std::int64_t reward_id) {
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

    RepairOutcome republish(std::int64_t reward_id, PaymentOutcome outcome) {
        const std::int64_t wanted = outcome == PaymentOutcome::success ? k_pay_success : k_pay_failed;
        return in_transaction(m_conn, [&]() -> RepairOutcome {
            auto reward = lock_reward(reward_id);
            if (!reward) return skipped("the reward no longer exists");
            if (reward->status != k_status_init)
                return skipped(
                    fmt::format("the reward is {} now: settled meanwhile", reward_status_text(reward->status)));
            std::optional<PaymentRecord> pay;
            for (PaymentRecord& p : payments_of(reward_id))
                if (p.status == wanted && !pay) pay = std::move(p);
            if (!pay) return skipped(fmt::format("the payment is no longer {}", payment_status_text(wanted)));
            if (pay->amount != reward->amount) return {Resolution::needs_human, "the amounts differ now"};
            if (auto id = pending_event(reward_id))
                return skipped(fmt::format("an event is pending already (outbox row {})", *id));
            const PaymentEvent event{biz_trade_no_for(reward_id), pay->trade_no, outcome, pay->amount};
            const std::int64_t outbox_id = enqueue_outbox(
                m_conn, {m_options.topic, event.biz_trade_no, event.to_json()}, m_options.clock->wall_micros(), m_ids);
            return {Resolution::repaired,
                    fmt::format("re-published the {} event as outbox row {} (topic {}): the relay "
                                "and the payment consumer settle it",
                                outcome_name(outcome), outbox_id, m_options.topic)};
        });
    }

    RepairOutcome book(std::int64_t reward_id, const RewardRecord& seen) {
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
                what += fmt::format("{}{} to {}", what.empty() ? "" : " and ", e.amount,
                                    e.account.uid == k_platform_uid ? std::string("the platform")
                                                                    : fmt::format("user {}", e.account.uid));
            return {Resolution::repaired, fmt::format("booked {} missing entries ({}; split {}/{})", r.written, what,
                                                      m_options.split_percent, 100 - m_options.split_percent)};
        });
    }

    Connection& m_conn;
    const ReconcileOptions& m_options;
    IdGenerator& m_ids;
};

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

// ---- The run --------------------------------------------------------------------

class Reconciler {
public:
    Reconciler(const ConnectionFactory& connect, const ReconcileOptions& options, const MismatchFn& on_mismatch)
        : m_connect(connect),
          m_options(options),
          m_emit(on_mismatch),
          m_ids(options.ids != nullptr ? *options.ids : IdGenerator::global()) {}

    ReconcileReport run() {
        const auto started = std::chrono::steady_clock::now();
        m_report.reward_ids = reward_id_range(m_options.from_micros, m_options.to_micros);
        m_work = m_connect();
        log::get("reconcile")
            ->info("reconciling rewards made {} .. {} UTC (ids {} .. {}) in {}", format_datetime(m_options.from_micros),
                   format_datetime(m_options.to_micros), m_report.reward_ids.first, m_report.reward_ids.end - 1,
                   m_work->describe());
        stream_pass();
        check_outbox();
        m_report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return m_report;
    }

private:
    // One pass over the three streams, merged by reward id; suspicious
    // rewards are re-read in batches.
    void stream_pass() {
        std::vector<std::unique_ptr<Connection>> conns;
        for (int i = 0; i < 3; ++i) {
            conns.push_back(m_connect());
            allow_long_waits(*conns.back());
        }
        const RangeQueries q = range_queries(conns[0]->dialect(), m_report.reward_ids);
        const std::size_t batch = m_options.batch_size;
        StreamSource rewards_src(*conns[0], "reading rewards", q.rewards, batch);
        StreamSource payments_src(*conns[1], "reading payments", q.payments, batch);
        StreamSource entries_src(*conns[2], "reading account_activities", q.entries, batch);
        Prefetcher rewards_ahead(rewards_src), payments_ahead(payments_src), entries_ahead(entries_src);
        KeyedRows rewards(rewards_ahead), payments(payments_ahead), entries(entries_ahead);

        const RuleContext context{m_options.clock->wall_micros() - m_options.grace.count(), m_options.split_percent};
        RewardRows rows;
        std::uint64_t groups = 0;
        while (true) {
            std::int64_t key = std::numeric_limits<std::int64_t>::max();
            bool any = false;
            for (KeyedRows* s : {&rewards, &payments, &entries}) {
                if (s->has()) {
                    key = std::min(key, s->key());
                    any = true;
                }
            }
            if (!any) break;
            rows.clear(key);
            if (rewards.has() && rewards.key() == key) {
                rows.reward = reward_of(rewards.row());
                rewards.advance();
                ++m_report.rewards;
            }
            while (payments.has() && payments.key() == key) {
                rows.add_payment(payment_of(payments.row()));
                payments.advance();
                ++m_report.payments;
            }
            while (entries.has() && entries.key() == key) {
                rows.add_entry(entry_of(entries.row()));
                entries.advance();
                ++m_report.entries;
            }
            const Classification c = classify(rows, context);
            if (!c.mismatches.empty()) {
                m_suspects.push_back(key);
                if (m_suspects.size() >= m_options.recheck_batch) recheck();
            } else if (c.in_flight) {
                ++m_report.in_flight;
            }
            if (++groups % 4096 == 0) {
                check_interrupted();
                if (m_options.progress != nullptr)
                    m_options.progress->rows.store(m_report.rewards + m_report.payments + m_report.entries);
            }
        }
        recheck();
    }

    // Reads the suspects again on the work connection -- pending events,
    // rewards, payments, entries, in that order (see the header) -- and
    // reports what that shows, repairing it with --fix.
    void recheck() {
        if (m_suspects.empty()) return;
        check_interrupted();
        Connection& conn = *m_work;
        const Dialect& d = conn.dialect();
        const std::size_t n = m_suspects.size();
        std::vector<RewardRows> groups(n);
        for (std::size_t i = 0; i < n; ++i) groups[i].clear(m_suspects[i]);
        auto group_of = [&](std::int64_t id) -> RewardRows& {
            auto it = std::lower_bound(m_suspects.begin(), m_suspects.end(), id);
            if (it == m_suspects.end() || *it != id)
                throw Error(Code::internal, fmt::format("re-read an unasked reward id {}", id));
            return groups[static_cast<std::size_t>(it - m_suspects.begin())];
        };
        std::vector<Value> ids;
        std::vector<Value> keys{Value::integer(static_cast<std::int64_t>(OutboxStatus::pending)),
                                Value::text(m_options.topic)};
        for (std::int64_t id : m_suspects) {
            ids.push_back(Value::integer(id));
            keys.push_back(Value::text(biz_trade_no_for(id)));
        }
        std::vector<Value> biz_ids{Value::text(std::string(k_reward_biz))};
        biz_ids.insert(biz_ids.end(), ids.begin(), ids.end());

        with_context("re-reading suspicious rewards", [&] {
            for (const Row& r :
                 conn.query(fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} AND {} IN {}", d.quote("msg_key"),
                                        d.quote("outbox"), d.quote("status"), d.placeholder(1), d.quote("topic"),
                                        d.placeholder(2), d.quote("msg_key"), id_list(d, n, 3)),
                            keys))
                group_of(reward_id_of(r[0].as_string())).event_pending = true;
            for (const Row& r : conn.query(fmt::format("SELECT {} FROM {} WHERE {} IN {}", reward_columns(d),
                                                       d.quote("rewards"), d.quote("id"), id_list(d, n)),
                                           ids))
                group_of(r[0].as_int()).reward = reward_of(r);
            for (Row& r :
                 conn.query(fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} IN {} ORDER BY {}, {}",
                                        payment_columns(d), d.quote("payments"), d.quote("biz"), d.placeholder(1),
                                        d.quote("biz_id"), id_list(d, n, 2), d.quote("biz_id"), d.quote("id")),
                            biz_ids))
                group_of(r[0].as_int()).add_payment(payment_of(r));
            for (const Row& r : conn.query(
                     fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} IN {} ORDER BY {}, {}", entry_columns(d),
                                 d.quote("account_activities"), d.quote("biz"), d.placeholder(1), d.quote("biz_id"),
                                 id_list(d, n, 2), d.quote("biz_id"), d.quote("id")),
                     biz_ids))
                group_of(r[0].as_int()).add_entry(entry_of(r));
        });
        m_report.rechecked += n;

        const RuleContext context{m_options.clock->wall_micros() - m_options.grace.count(), m_options.split_percent};
        // Repairs on a connection of their own when one is given (the
        // double-write connection during a migration).
        if (m_options.repair_connection && !m_repair) m_repair = m_options.repair_connection();
        Repairer repairer(m_repair ? *m_repair : conn, m_options, m_ids);
        for (const RewardRows& rows : groups) {
            Classification c = classify(rows, context);
            if (c.in_flight) ++m_report.in_flight;
            for (Mismatch& m : c.mismatches) {
                if (m.fix != Fix::none) {
                    if (m_options.fix == FixMode::repair && m_options.dry_run == DryRun::yes) {
                        m.resolution = Resolution::would_repair;
                        m.action = preview_action(m, rows, m_options);
                    } else if (m_options.fix == FixMode::repair) {
                        RepairOutcome r = repairer.apply(m, rows);
                        m.resolution = r.resolution;
                        m.action = std::move(r.action);
                    }
                }
                report(m);
            }
        }
        m_suspects.clear();
    }

    // Dead rows, and rows pending longer than the threshold: two small
    // streams over the status index.
    void check_outbox() {
        check_interrupted();
        Connection& conn = *m_work;
        const Dialect& d = conn.dialect();
        const std::int64_t now = m_options.clock->wall_micros();
        const std::int64_t cutoff = now - m_options.pending_older_than.count();
        const std::string columns =
            fmt::format("{}, {}, {}, {}, {}, {}, {}", d.quote("id"), d.quote("topic"), d.quote("msg_key"),
                        d.quote("attempts"), d.quote("last_error"), d.quote("ctime"), d.quote("next_attempt_at"));
        auto scan = [&](Category category, const std::string& where) {
            auto cursor = conn.stream(fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}", columns, d.quote("outbox"),
                                                  where, d.quote("id")));
            std::vector<Row> batch;
            while (cursor->next_batch(batch, 1000)) {
                for (const Row& r : batch) {
                    Mismatch m;
                    m.category = category;
                    m.outbox_id = r[0].as_int();
                    const std::string key(r[2].as_string());
                    if (key.starts_with("reward-")) {
                        try {
                            m.reward_id = reward_id_of(key);
                        } catch (const Error&) {
                            // Another key shape: no reward to name.
                        }
                    }
                    const std::string last_error = r[4].is_null() ? std::string("none") : std::string(r[4].as_string());
                    if (category == Category::outbox_dead) {
                        m.detail = fmt::format(
                            "outbox row {} (topic {}, key {}) is dead after {} attempts; last "
                            "error: {}",
                            m.outbox_id, r[1].as_string(), key, r[3].as_int(), last_error);
                        m.action =
                            "fix what last_error says, then set the row's status back to 0 "
                            "(pending) for the relay to retry it, or delete it";
                    } else {
                        m.detail = fmt::format(
                            "outbox row {} (topic {}, key {}) pending since {} UTC ({} min), {} "
                            "attempts, next at {} UTC; last error: {}",
                            m.outbox_id, r[1].as_string(), key, format_datetime(r[5].micros()),
                            (now - r[5].micros()) / 60'000'000, r[3].as_int(), format_datetime(r[6].micros()),
                            last_error);
                        m.action =
                            "is the relay running? (webookctl ops outbox relay); is Kafka "
                            "reachable?";
                    }
                    report(m);
                }
            }
        };
        with_context("checking the outbox", [&] {
            scan(Category::outbox_dead,
                 fmt::format("{} = {}", d.quote("status"), static_cast<int>(OutboxStatus::dead)));
            scan(Category::outbox_pending_too_long,
                 fmt::format("{} = {} AND {} < '{}'", d.quote("status"), static_cast<int>(OutboxStatus::pending),
                             d.quote("ctime"), format_datetime(cutoff)));
        });
    }

    void report(const Mismatch& m) {
        ++m_report.by_category[static_cast<std::size_t>(m.category)];
        ++m_report.mismatches;
        switch (m.resolution) {
        case Resolution::needs_human: ++m_report.needs_human; break;
        case Resolution::repairable: ++m_report.repairable; break;
        case Resolution::would_repair: ++m_report.would_repair; break;
        case Resolution::repaired: ++m_report.repaired; break;
        case Resolution::skipped: ++m_report.skipped; break;
        }
        if (m_options.progress != nullptr) ++m_options.progress->findings;
        m_emit(m);
    }

    const ConnectionFactory& m_connect;
    const ReconcileOptions& m_options;
    const MismatchFn& m_emit;
    IdGenerator& m_ids;
    std::unique_ptr<Connection> m_work;    // re-reads, repairs, the outbox
    std::unique_ptr<Connection> m_repair;  // repairs, when options.repair_connection
    std::vector<std::int64_t> m_suspects;  // ascending
    ReconcileReport m_report;
};

}  // namespace

ReconcileReport reconcile(const ConnectionFactory& connect, const ReconcileOptions& options,
                          const MismatchFn& on_mismatch) {
    options.validate();
    return Reconciler(connect, options, on_mismatch).run();
}

}  // namespace webook
