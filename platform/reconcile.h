// Reconciliation of rewards, payments and the ledger over a time window
// (README.md "ops reconcile"; `webookctl ops reconcile`).
//
// What is compared. A reward (`rewards`, id = a snowflake made when it was
// created) has one payment (`payments` with biz "reward", biz_id = the reward
// id) and, once paid, one booking in the ledger (`account_activities` with
// biz "reward", biz_id = the reward id): the author's share and the
// platform's share, which add up to the amount. The window [from, to) is
// mapped to a range of reward ids through the snowflake layout (platform/ids.h:
// an id's top bits are the milliseconds it was made at), so all three tables
// are read by an index range on the same key:
//   rewards             WHERE id IN range                            ORDER BY id
//   payments            WHERE biz = 'reward' AND biz_id IN range     ORDER BY biz_id
//   account_activities  WHERE biz = 'reward' AND biz_id IN range     ORDER BY biz_id
// (the primary key; idx_biz; uk_biz_account).
// Each query is streamed on a connection of its own (a MySQL connection runs
// nothing else while a result streams), read ahead by a thread of its own in
// bounded batches, and the three are merged in one pass by reward id: memory
// holds a few batches and one reward's rows, whatever the window's size.
// Ids made before the snowflake layout (the seeder's 1..N) fall at
// 2020-01-01 00:00:00 UTC, so a window from then covers them.
//
// Categories (Category below), each reported with the ids concerned:
//   reward_paid_payment_not_success   the reward is paid, its payment is not successful
//   payment_success_reward_not_paid   a successful payment, its reward not paid: the
//                                     payment event was lost              [fix: re-publish]
//   payment_failed_reward_not_failed  a failed payment, its reward still init: the
//                                     event was lost                      [fix: re-publish]
//   reward_failed_payment_not_failed  the reward is failed, its payment init or pending
//   payment_success_ledger_missing    paid and successful, but the booking is absent
//                                     or incomplete                       [fix: book the rest]
//   ledger_without_success_payment    ledger entries, but no successful payment
//   amount_mismatch_reward_payment    reward amount != payment amount
//   amount_mismatch_ledger_payment    sum of the booking's entries != payment amount
//   duplicate_booking                 more entries than the booking makes (2), or one
//                                     account or user booked twice (a lost unique index)
//   ledger_unexpected_account         an entry for neither the author nor the platform
//   reward_without_payment            a reward with no payment row
//   duplicate_payment                 more than one payment for one reward
//   orphan_payment                    a payment (biz "reward") whose reward does not exist
//   orphan_ledger_entries             entries (biz "reward") whose reward does not exist
//   invalid_status                    a status value outside the known ones
//   outbox_dead                       an outbox row the relay gave up on
//   outbox_pending_too_long           an outbox row pending longer than the threshold
// The outbox checks cover the whole outbox, not only the window: a dead row
// stays a problem until a human resolves it, however old it is.
//
// In flight is not a mismatch. A payment that became final less than `grace`
// ago, or whose event is still pending in the outbox, is on its way through
// the relay and the consumer: it is counted as in flight, not reported.
// Because the three streams are read at different moments, a reward settled
// while they run could look torn (its entries read before the booking, the
// reward after it). So every reward the stream pass finds suspicious is read
// again, in batches, before anything is reported -- its pending outbox event
// first, then the reward, then its payments and entries. The platform
// finishes a reward in the opposite order (payment and event, relay, then
// booking and reward in one transaction), so what is read later can only be
// further along: a paid reward is never seen with an unfinished payment or a
// missing booking because of timing, and an event relayed in between is not
// taken for a lost one. Only what this re-read shows is reported.
//
// What --fix does (FixMode::repair), and why it is safe:
//   * A lost payment event (payment final, reward still init, nothing pending
//     in the outbox): a PaymentEvent for the payment is enqueued in the outbox
//     (platform/outbox.h), in a transaction that first locks the reward row and
//     re-checks all of that. The relay publishes it and the payment consumer
//     settles it like any other: exactly once (platform/ledger.h), so even a
//     duplicate of an event that was merely slow changes nothing.
//   * A missing booking (reward paid, payment successful, the booking absent or
//     partial, and the entries present match the booking --split makes): the
//     missing entries are booked with the ledger's own protocol (ledger.h:
//     reward row locked, accounts locked in id order, entries INSERT-ignored
//     on the unique (biz, biz_id, account_id), balances moved with them).
//     Under the reward's lock the entries are read again and only those not
//     there are written, so a concurrent consumer or a second reconcile books
//     nothing twice -- even where that unique index was lost.
// Everything else needs a human (whose money is right is a business
// decision) and is reported as such. FixMode::repair with DryRun::yes (--fix --dry-run) reports
// what --fix would do and writes nothing.
//
// Thread safety: reconcile() uses its own connections and threads; call it
// from one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/switches.h"
#include "core/db/db.h"
#include "platform/ids.h"

namespace webook {

class Dialect;
struct ProgressCounter;

enum class Category {
    reward_paid_payment_not_success,
    payment_success_reward_not_paid,
    payment_failed_reward_not_failed,
    reward_failed_payment_not_failed,
    payment_success_ledger_missing,
    ledger_without_success_payment,
    amount_mismatch_reward_payment,
    amount_mismatch_ledger_payment,
    duplicate_booking,
    ledger_unexpected_account,
    reward_without_payment,
    duplicate_payment,
    orphan_payment,
    orphan_ledger_entries,
    invalid_status,
    outbox_dead,
    outbox_pending_too_long,
};
inline constexpr std::size_t k_category_count = 17;

std::string_view category_name(Category c);  // e.g. "payment_success_reward_not_paid"
// Every category, in declaration order.
const std::array<Category, k_category_count>& all_categories();

// What --fix does about a mismatch.
enum class Fix {
    none,               // needs a human
    republish_success,  // enqueue the payment's success event again
    republish_failed,   // enqueue the payment's failed event again
    book_missing,       // book the missing ledger entries
};

// What happened to a mismatch in this run.
enum class Resolution {
    needs_human,   // nothing --fix can do (Mismatch::action says why)
    repairable,    // --fix would repair it (this run reports only)
    would_repair,  // --fix --dry-run: what would be done is in action
    repaired,      // repaired in this run (action says how)
    skipped,       // --fix found the rows changed when it locked them: nothing done (action says how)
};
std::string_view resolution_name(Resolution r);  // "needs_human", "repairable", ...

struct Mismatch {
    Category category = Category::invalid_status;
    std::int64_t reward_id = 0;           // 0 for outbox rows
    std::int64_t payment_id = 0;          // the payment concerned, 0 when none
    std::string trade_no;                 // its trade number
    std::vector<std::int64_t> entry_ids;  // the ledger entries concerned (at most 64)
    std::int64_t outbox_id = 0;           // outbox categories
    std::string detail;                   // what was seen, for people
    Fix fix = Fix::none;
    Resolution resolution = Resolution::needs_human;
    std::string action;  // what was or would be done, or why it needs a human
};

// -- The rows of one reward, and the rules (pure; unit-tested) --------------

struct RewardRecord {
    std::int64_t target_uid = 0;  // the author
    std::int64_t amount = 0;      // cents
    std::int64_t status = 0;      // RewardStatus
};
struct PaymentRecord {
    std::int64_t id = 0;
    std::string trade_no;
    std::int64_t amount = 0;
    std::int64_t status = 0;        // PaymentStatus
    std::int64_t utime_micros = 0;  // when it last changed
};
struct EntryRecord {
    std::int64_t id = 0;
    std::int64_t account_id = 0;
    std::int64_t uid = 0;  // 0: the platform
    std::int64_t amount = 0;
};

// Everything the three tables (and the outbox) hold for one reward id.
struct RewardRows {
    // At most this many payments and entries are kept; the rest only counted.
    static constexpr std::size_t k_kept = 64;

    std::int64_t reward_id = 0;
    std::optional<RewardRecord> reward;  // empty: no reward row
    std::vector<PaymentRecord> payments;
    std::size_t payment_count = 0;
    std::vector<EntryRecord> entries;
    std::size_t entry_count = 0;
    std::int64_t entry_sum = 0;  // of every entry, kept or not
    bool event_pending = false;  // an event for it is pending in the outbox

    void clear(std::int64_t id);
    void add_payment(PaymentRecord p);
    void add_entry(const EntryRecord& e);
};

struct RuleContext {
    // Payments that changed at or after this time (micros) are in flight.
    std::int64_t settled_before = 0;
    int split_percent = 90;  // the booking --fix makes, and partial bookings are checked against
};

struct Classification {
    std::vector<Mismatch> mismatches;  // with fix set; resolution needs_human or repairable
    bool in_flight = false;            // on its way through relay and consumer: not reported
};

Classification classify(const RewardRows& rows, const RuleContext& context);

// -- The window ------------------------------------------------------------

// The reward ids made in [from, to) (micros since the epoch, UTC): [first, end).
// Times before 2020-01-01 map to id 0.
struct IdRange {
    std::int64_t first = 0;
    std::int64_t end = 0;
};
IdRange reward_id_range(std::int64_t from_micros, std::int64_t to_micros);

// The three range queries of the stream pass, as run (for benchmarks that
// read the same rows without reconciling them).
struct RangeQueries {
    std::string rewards;
    std::string payments;
    std::string entries;
};
RangeQueries range_queries(const Dialect& dialect, const IdRange& range);

// -- The run -----------------------------------------------------------------

enum class FixMode {
    report,  // report only (default)
    repair,  // --fix (with DryRun::yes: report what it would do, write nothing)
};

struct ReconcileOptions {
    std::int64_t from_micros = 0;                              // required: the window's start (UTC micros), inclusive
    std::int64_t to_micros = 0;                                // required: its end, exclusive; > from_micros
    std::chrono::microseconds grace{std::chrono::minutes(5)};  // in-flight margin; default: 5m
    std::chrono::microseconds pending_older_than{
        std::chrono::minutes(10)};         // outbox rows pending longer are reported; default: 10m
    int split_percent = 90;                // the author's share --fix books; default: 90 (0..100)
    FixMode fix = FixMode::report;         // default: report
    DryRun dry_run = DryRun::no;           // with FixMode::repair: yes = say what it would do, write nothing
    std::string topic = "payment_events";  // outbox topic of re-published events; default
    std::size_t batch_size = 5000;         // rows per streamed batch; default: 5000
    std::size_t recheck_batch = 500;       // suspicious rewards re-read at once; default: 500
    Clock* clock = &Clock::real();         // "now" (wall time), for grace and the outbox threshold
    IdGenerator* ids = nullptr;            // for --fix's rows; default: IdGenerator::global()
    ProgressCounter* progress = nullptr;   // rows read and mismatches, for a progress line
    // Where --fix writes: default: none, the reconciliation's own connection.
    // During a migration: the double-write connection, while `connect`
    // reads the authoritative side.
    ConnectionFactory repair_connection;

    // Throws Error(Code::usage) naming the first problem.
    void validate() const;
};

struct ReconcileReport {
    IdRange reward_ids;
    std::uint64_t rewards = 0;  // rows read by the stream pass
    std::uint64_t payments = 0;
    std::uint64_t entries = 0;
    std::uint64_t rechecked = 0;  // rewards read again before reporting
    std::array<std::uint64_t, k_category_count> by_category{};
    std::uint64_t mismatches = 0;
    std::uint64_t needs_human = 0;
    std::uint64_t repairable = 0;
    std::uint64_t would_repair = 0;
    std::uint64_t repaired = 0;
    std::uint64_t skipped = 0;
    std::uint64_t in_flight = 0;  // rewards on their way: not reported
    double seconds = 0;

    std::uint64_t count(Category c) const { return by_category[static_cast<std::size_t>(c)]; }
};

// Called once per mismatch, as soon as it is known (and repaired, with
// --fix): the caller prints it. Never holds them all.
using MismatchFn = std::function<void(const Mismatch&)>;

// Runs the reconciliation. `connect` opens the webook database four times:
// three streams, and one for re-reads, repairs and the outbox check. Throws
// Error: Code::usage for bad options, connection/server errors as they come,
// Code::interrupted on SIGINT/SIGTERM between batches (mismatches reported
// so far stay reported; each repair is its own transaction).
ReconcileReport reconcile(const ConnectionFactory& connect, const ReconcileOptions& options,
                          const MismatchFn& on_mismatch);

}  // namespace webook
