// The payment consumer: reads payment events (rewards.h PaymentEvent) from
// Kafka in a consumer group and settles each reward.
//
//   success  in one transaction: the reward row locked (FOR UPDATE), the
//            ledger booked -- author share and platform share (split, default
//            90/10; the author gets floor(amount * split / 100), the platform
//            the rest) under (biz "reward", biz_id = reward id) -- and the
//            reward marked paid
//   failed   the reward marked failed
//
// Exactly once: the booking is idempotent by the ledger's unique index (see
// ledger.h), so a redelivered or re-published event books nothing twice and
// moves no balance; the reward row lock serialises two deliveries of one
// event. Offsets are committed only after the batch's transactions committed
// (and its dead letters were flushed): a consumer that dies mid-batch gets
// the events again, and replaying them is harmless. For the same reason a
// lost connection is retried like a deadlock: whether the commit landed does
// not matter.
//
// Events that cannot be applied go to the dead-letter sink (--dead-letter;
// core/migration/event_sink.h URL forms) with the reason, and consumption goes on:
// malformed JSON or fields, a biz_trade_no that names no reward, an amount
// that differs from the reward's, a status contradicting the reward's final
// state (success for a failed reward, or failed for a paid one).
//
// DryRun::yes (--dry-run) reports what each event would do and
// writes nothing: no rows, no dead letters, no offsets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/db.h"
#include "core/messaging/event_input.h"
#include "core/messaging/kafka.h"
#include "core/migration/config.h"
#include "core/migration/throttle.h"
#include "platform/ids.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/rewards.h"

namespace webook {

class EventSink;

// kafka://host:port[,host:port]/topic read in consumer group `group`.
// Throws Error(Code::usage) for another scheme or an empty group,
// Error(Code::config) for a malformed URL, Error(Code::connection) when no
// broker answers.
// (open_input, refusing any other scheme: payment events are a topic.)
std::unique_ptr<EventInput> open_payment_source(std::string_view url, const std::string& group,
                                                ConsumerOptions options = {});

// The ledger booking of a paid reward.
Booking reward_booking(std::int64_t reward_id, std::int64_t author_uid, std::int64_t amount, int split_percent);

enum class Settlement {
    paid,            // the reward became paid and the ledger was booked
    already_paid,    // a replay: nothing changed (missing entries, if any, were booked)
    failed,          // the reward became failed
    already_failed,  // a replay
    rejected,        // not applicable: see reason; nothing written
};
std::string_view settlement_name(Settlement s);

struct SettleResult {
    Settlement settlement = Settlement::rejected;
    std::string reason;  // why rejected
    BookingResult booking;
};

// Applies one event in one transaction (accounts created before it). Throws
// Error for database failures (temporary ones are worth a retry: the
// transaction was rolled back or, for a lost connection, replaying is
// harmless).
SettleResult settle_payment(Connection& conn, const PaymentEvent& event, int split_percent,
                            IdGenerator& ids = IdGenerator::global(), Clock& clock = Clock::real());

// What settle_payment would do, from the rows as they are now; writes and
// locks nothing (for --dry-run). booking.written counts the entries it would
// insert.
SettleResult preview_settlement(Connection& conn, const PaymentEvent& event, int split_percent);

// What the consumer does with each event.
// Called for each event with DryRun::yes: where it came from, the
// event when it parsed (null otherwise), and what settling it would do.
using PreviewFn = std::function<void(const std::string& origin, const PaymentEvent* event, const SettleResult& r)>;

struct PaymentConsumerOptions {
    std::size_t batch_size = 100;                // events per batch; default: 100
    std::chrono::milliseconds batch_wait{1000};  // wait for a batch to fill; default: 1 s
    int split_percent = 90;                      // the author's share; default: 90 (0..100)
    UntilIdle until_idle = UntilIdle::no;        // default: run until signalled
    int max_attempts = 8;                        // per event, temporary database errors; default: 8
    std::chrono::milliseconds backoff{100};      // first retry delay, doubled each time; default: 100 ms
    DryRun dry_run = DryRun::no;                 // yes: report what settling would do; write nothing

    // Throws Error(Code::usage).
    void validate() const;
};

struct PaymentConsumerReport {
    std::uint64_t events = 0;
    std::uint64_t paid = 0;     // rewards paid and booked
    std::uint64_t failed = 0;   // rewards marked failed
    std::uint64_t replays = 0;  // events already applied before
    std::uint64_t dead_letters = 0;
    std::uint64_t batches = 0;
    std::uint64_t retries = 0;  // transactions retried after temporary errors
};

class PaymentConsumer {
public:
    // `dead_letter` may be null: dead letters are then logged at error level.
    PaymentConsumer(ConnectionFactory database, PaymentConsumerOptions options, EventSink* dead_letter,
                    IdGenerator& ids = IdGenerator::global(), Clock& clock = Clock::real());

    // Consumes until options.until_idle says so. Throws Error(Code::interrupted)
    // when signalled, after committing the batch in hand; a database error
    // that retries did not cure stops it (nothing of the batch committed).
    PaymentConsumerReport run(EventInput& source);
    // The counts so far (after run() threw: up to its last committed batch).
    const PaymentConsumerReport& report() const { return m_report; }

    // Receives the previews with DryRun::yes (default: logged).
    void set_preview_printer(PreviewFn fn) { m_preview = std::move(fn); }
    // Called with the counts so far after every poll (a metrics file's
    // writer: cheap, and it may throw).
    void set_progress_observer(std::function<void(const PaymentConsumerReport&)> fn) { m_progress = std::move(fn); }

private:
    void process(EventInput& source, const std::vector<InputItem>& items);
    SettleResult settle_with_retries(const PaymentEvent& event);
    void dead_letter(const InputItem& item, const std::string& why);
    void count(const SettleResult& r);
    void show_preview(const std::string& origin, const PaymentEvent* event, const SettleResult& r);
    Connection& connection();

    ConnectionFactory m_factory;
    std::unique_ptr<Connection> m_conn;
    PaymentConsumerOptions m_options;
    EventSink* m_dead_letter;
    IdGenerator& m_ids;
    Clock& m_clock;  // wall time for the ledger, pauses between retries
    PreviewFn m_preview;
    std::function<void(const PaymentConsumerReport&)> m_progress;
    PaymentConsumerReport m_report;
};

}  // namespace webook
