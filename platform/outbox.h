// The transactional outbox: messages a transaction means to publish are
// written as rows of `outbox` in that same transaction, so "the state
// changed" and "the message will be sent" commit or roll back together (the
// local message table of the reward homework). A relay publishes them later.
//
// Relay protocol, per batch of due rows (status pending, next_attempt_at <=
// now, oldest first, only the rows of the producer's topic):
//   1. send every row to Kafka (key: msg_key, so one payment's events stay in
//      one partition, in order);
//   2. flush(): wait until the brokers acknowledged every one;
//   3. only then mark the rows sent (status 1) in one UPDATE.
// A relay that dies between 2 and 3 leaves the rows pending: they are
// published again by the next run. Delivery is therefore at-least-once and
// consumers must be idempotent (the payment consumer is: see ledger.h).
// When 1 or 2 fails, the whole batch counts as failed (flush() does not say
// which messages landed; the ones that did are re-sent, harmlessly): each
// row's attempts go up by one, last_error records why, and next_attempt_at
// moves out by exponential backoff (backoff * 2^(attempts-1), capped). A row
// that failed max_attempts times becomes dead (status 2): it stays in the
// table for `ops reconcile` to report and a human to resolve. A message the
// brokers refuse as too large is dead at once: retrying cannot help.
//
// Several relays over one outbox are safe but wasteful: both may publish a
// row (duplicates, harmless); run one per outbox.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/migration/config.h"
#include "core/migration/throttle.h"
#include "platform/ids.h"

namespace webook {

class Connection;
class EventProducer;

// `outbox.status`.
enum class OutboxStatus : std::int16_t { pending = 0, sent = 1, dead = 2 };

struct OutboxMessage {
    std::string topic;    // required: the Kafka topic
    std::string key;      // the message key (<= 128 bytes)
    std::string payload;  // the message (JSON)
};

// Writes `message` as a pending row due at `now`, inside the caller's open
// transaction. Returns the row id.
std::int64_t enqueue_outbox(Connection& conn, const OutboxMessage& message, std::int64_t now,
                            IdGenerator& ids = IdGenerator::global());

struct RelayReport;

struct RelayOptions {
    std::size_t batch_size = 500;                     // rows per batch; default: 500
    int max_attempts = 10;                            // then dead; default: 10
    std::chrono::milliseconds backoff{1000};          // first retry delay; default: 1 s
    std::chrono::milliseconds max_backoff{600'000};   // longest retry delay; default: 10 min
    std::chrono::milliseconds flush_timeout{30'000};  // for one batch's deliveries; default: 30 s
    std::chrono::milliseconds idle_wait{1000};        // UntilIdle::no: poll interval; default: 1 s
    // yes: stop once no row is due (rows waiting for a retry are not due);
    // no: run until SIGINT/SIGTERM, polling every idle_wait. default: yes
    UntilIdle until_idle = UntilIdle::yes;
    // Called with the counts so far after every batch and every idle poll
    // (a metrics file's writer: cheap, and it may throw). Default: none.
    std::function<void(const RelayReport&)> on_progress;

    // Throws Error(Code::usage).
    void validate() const;
    // The delay before the next try after `attempts` failures (>= 1).
    std::chrono::milliseconds delay_after(int attempts) const;
};

struct RelayReport {
    std::uint64_t sent = 0;     // rows published and marked sent
    std::uint64_t retried = 0;  // failed attempts that scheduled a retry
    std::uint64_t dead = 0;     // rows that became dead in this run
    std::uint64_t batches = 0;
    std::string last_error;  // of the last failed batch, "" when none
};

// A pending row, for --dry-run listings.
struct OutboxRow {
    std::int64_t id = 0;
    std::string topic;
    std::string key;
    std::string payload;
    int attempts = 0;
    std::int64_t next_attempt_at = 0;  // micros since the epoch, UTC
};

// Up to `limit` rows of `topic` due at `now`, oldest first.
std::vector<OutboxRow> due_outbox_rows(Connection& conn, const std::string& topic, std::int64_t now, std::size_t limit);

// What a relay run would publish first (--dry-run): the first batch of rows
// of `topic` due now, in the order the relay takes them; `more` when the
// batch is full (more rows may be due after it). Reads only.
struct RelayPreview {
    std::vector<OutboxRow> due;
    bool more = false;
};
RelayPreview preview_relay(Connection& conn, const std::string& topic, const RelayOptions& options,
                           Clock& clock = Clock::real());

// Relays the due rows of producer.topic() until options.until_idle says so.
// Database errors propagate (rows stay pending: re-sent by the next run);
// Kafka errors are recorded on the rows as above and the relay goes on.
// Throws Error(Code::interrupted) when signalled (after marking the batch in
// hand).
RelayReport relay_outbox(Connection& conn, EventProducer& producer, const RelayOptions& options,
                         Clock& clock = Clock::real());

}  // namespace webook
