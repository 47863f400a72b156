#include "platform/outbox.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::with_retries;

constexpr const char* k_outbox = "outbox";
constexpr std::size_t k_max_error_bytes = 500;  // last_error is VARCHAR(512)

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}
Value status_value(OutboxStatus s) {
    return Value::integer(static_cast<std::int64_t>(s));
}

// `text` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string text, std::size_t max) {
    if (text.size() <= max) return text;
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    text.resize(end);
    return text;
}

// A failed attempt on one row: a retry later, or dead.
void record_failure(Connection& conn, const OutboxRow& row, const std::string& error, const RelayOptions& options,
                    std::int64_t now, RelayReport& report) {
    const int attempts = row.attempts + 1;
    const bool dead = attempts >= options.max_attempts;
    const auto delay = std::chrono::duration_cast<std::chrono::microseconds>(options.delay_after(attempts));
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format(
                            "UPDATE {} SET {} = {}, {} = {}, {} = {}, {} = {}, {} = {} "
                            "WHERE {} = {} AND {} = {}",
                            d.quote(k_outbox), d.quote("attempts"), d.placeholder(1), d.quote("status"),
                            d.placeholder(2), d.quote("next_attempt_at"), d.placeholder(3), d.quote("last_error"),
                            d.placeholder(4), d.quote("utime"), d.placeholder(5), d.quote("id"), d.placeholder(6),
                            d.quote("status"), d.placeholder(7));
                    },
                    fmt::format("{} id={}", k_outbox, row.id)};
    const std::vector<Value> params{i64(attempts),
                                    status_value(dead ? OutboxStatus::dead : OutboxStatus::pending),
                                    at(dead ? now : now + delay.count()),
                                    Value::text(truncate_utf8(error, k_max_error_bytes)),
                                    at(now),
                                    i64(row.id),
                                    status_value(OutboxStatus::pending)};
    with_retries([&] { return conn.execute(sql, params); });
    const auto* logger = log::get("outbox");
    if (dead) {
        ++report.dead;
        logger->error("outbox row {} (key {}) is dead after {} attempts: {}", row.id, row.key, attempts, error);
    } else {
        ++report.retried;
        logger->warn("outbox row {} (key {}): attempt {} of {} failed, next in {} ms: {}", row.id, row.key, attempts,
                     options.max_attempts, options.delay_after(attempts).count(), error);
    }
}

void mark_sent(Connection& conn, const std::vector<const OutboxRow*>& rows, std::int64_t now) {
    if (rows.empty()) return;
    const int n = static_cast<int>(rows.size());
    PortableSql sql{[n](const Dialect& d) {
                        std::string ids;
                        for (int i = 0; i < n; ++i) ids += (i ? ", " : "") + d.placeholder(i + 4);
                        return fmt::format(
                            "UPDATE {0} SET {1} = {2}, {3} = {3} + 1, {4} = {5} "
                            "WHERE {6} = {7} AND {8} IN ({9})",
                            d.quote(k_outbox), d.quote("status"), d.placeholder(1), d.quote("attempts"),
                            d.quote("utime"), d.placeholder(2), d.quote("status"), d.placeholder(3), d.quote("id"),
                            ids);
                    },
                    fmt::format("{} {} rows from id {}", k_outbox, n, rows.front()->id)};
    std::vector<Value> params{status_value(OutboxStatus::sent), at(now), status_value(OutboxStatus::pending)};
    for (const OutboxRow* r : rows) params.push_back(i64(r->id));
    with_retries([&] { return conn.execute(sql, params); });
}

// Steps 1-3 of the protocol for one batch.
void relay_batch(Connection& conn, EventProducer& producer, const std::vector<OutboxRow>& rows,
                 const RelayOptions& options, Clock& clock, RelayReport& report) {
    std::vector<const OutboxRow*> queued;                           // handed to the producer
    std::vector<std::pair<const OutboxRow*, std::string>> refused;  // too large: no retry can help
    std::size_t next = 0;                                           // rows before it were handed over or refused
    // Database errors are not caught here: they propagate, leaving rows pending.
    auto record_refused = [&] {
        for (const auto& [row, why] : refused) {
            RelayOptions at_once = options;
            at_once.max_attempts = row->attempts + 1;
            record_failure(conn, *row, why, at_once, clock.wall_micros(), report);
        }
    };
    try {
        for (; next < rows.size(); ++next) {
            const OutboxRow& row = rows[next];
            try {
                producer.send(row.key, row.payload);
                queued.push_back(&row);
            } catch (const Error& e) {
                if (e.code() != Code::data) throw;
                refused.emplace_back(&row, e.what());
            }
        }
        producer.flush(options.flush_timeout);
    } catch (const Error& e) {
        if (e.code() == Code::interrupted) throw;
        // Drain what is still queued, so that the next batch's flush()
        // reports on the next batch only.
        try {
            producer.flush(options.flush_timeout);
        } catch (const Error&) {
        }
        report.last_error = e.what();
        // The batch failed: the rows handed over, and those never handed over
        // because send() gave up (a queue full for the delivery timeout).
        const std::int64_t now = clock.wall_micros();
        for (const OutboxRow* row : queued) record_failure(conn, *row, e.what(), options, now, report);
        for (std::size_t i = next; i < rows.size(); ++i) record_failure(conn, rows[i], e.what(), options, now, report);
        record_refused();
        return;
    }
    record_refused();
    // Acknowledged by the brokers: only now are they sent.
    mark_sent(conn, queued, clock.wall_micros());
    report.sent += queued.size();
}

}  // namespace

void RelayOptions::validate() const {
    if (batch_size < 1 || batch_size > 10000)
        throw Error(Code::usage, fmt::format("--batch-size must be 1..10000, not {}", batch_size));
    if (max_attempts < 1)
        throw Error(Code::usage, fmt::format("--max-attempts must be at least 1, not {}", max_attempts));
    if (backoff.count() < 0 || max_backoff < backoff)
        throw Error(Code::usage, "the retry backoff must not be negative nor above the longest backoff");
    if (flush_timeout.count() <= 0) throw Error(Code::usage, "the flush timeout must be positive");
}

std::chrono::milliseconds RelayOptions::delay_after(int attempts) const {
    // The same schedule as every in-process retry; stored, so without jitter.
    const RetryPolicy policy{.attempts = max_attempts, .first_delay = backoff, .max_delay = max_backoff};
    return std::chrono::duration_cast<std::chrono::milliseconds>(policy.delay_before(attempts + 1));
}

std::int64_t enqueue_outbox(Connection& conn, const OutboxMessage& message, std::int64_t now, IdGenerator& ids) {
    const std::int64_t id = ids.next();
    PortableSql sql{[](const Dialect& d) {
                        const std::vector<std::string> columns{"id",     "topic",    "msg_key",         "payload",
                                                               "status", "attempts", "next_attempt_at", "last_error",
                                                               "ctime",  "utime"};
                        return fmt::format("INSERT INTO {} ({}) VALUES {}", d.quote(k_outbox), d.quote_list(columns),
                                           d.placeholders(1, static_cast<int>(columns.size())));
                    },
                    fmt::format("{} key={}", k_outbox, message.key)};
    conn.execute(sql, std::vector<Value>{i64(id), Value::text(message.topic), Value::text(message.key),
                                         Value::text(message.payload), status_value(OutboxStatus::pending), i64(0),
                                         at(now), Value(), at(now), at(now)});
    return id;
}

std::vector<OutboxRow> due_outbox_rows(Connection& conn, const std::string& topic, std::int64_t now,
                                       std::size_t limit) {
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format(
                            "SELECT {}, {}, {}, {}, {}, {} FROM {} WHERE {} = {} AND {} <= {} AND {} = {} "
                            "ORDER BY {}, {} LIMIT {}",
                            d.quote("id"), d.quote("topic"), d.quote("msg_key"), d.quote("payload"),
                            d.quote("attempts"), d.quote("next_attempt_at"), d.quote(k_outbox), d.quote("status"),
                            d.placeholder(1), d.quote("next_attempt_at"), d.placeholder(2), d.quote("topic"),
                            d.placeholder(3), d.quote("next_attempt_at"), d.quote("id"), d.placeholder(4));
                    },
                    fmt::format("{} topic={}", k_outbox, topic)};
    std::vector<OutboxRow> rows;
    const std::vector<Value> params{status_value(OutboxStatus::pending), at(now), Value::text(topic),
                                    i64(static_cast<std::int64_t>(limit))};
    for (const Row& r : with_retries([&] { return conn.query(sql, params); })) {
        rows.push_back({r[0].as_int(), std::string(r[1].as_string()), std::string(r[2].as_string()),
                        std::string(r[3].as_string()), static_cast<int>(r[4].as_int()), r[5].micros()});
    }
    return rows;
}

RelayPreview preview_relay(Connection& conn, const std::string& topic, const RelayOptions& options, Clock& clock) {
    options.validate();
    RelayPreview p;
    p.due = due_outbox_rows(conn, topic, clock.wall_micros(), options.batch_size);
    p.more = p.due.size() == options.batch_size;
    return p;
}

RelayReport relay_outbox(Connection& conn, EventProducer& producer, const RelayOptions& options, Clock& clock) {
    options.validate();
    const auto* logger = log::get("outbox");
    logger->info("relaying outbox rows of topic {} from {} to {}", producer.topic(), conn.describe(),
                 producer.brokers());
    RelayReport report;
    for (;;) {
        check_interrupted();
        std::vector<OutboxRow> rows = due_outbox_rows(conn, producer.topic(), clock.wall_micros(), options.batch_size);
        if (rows.empty()) {
            if (options.on_progress) options.on_progress(report);
            if (options.until_idle == UntilIdle::yes) break;
            clock.sleep_for(std::chrono::duration_cast<std::chrono::microseconds>(options.idle_wait));
            continue;
        }
        ++report.batches;
        relay_batch(conn, producer, rows, options, clock, report);
        if (options.on_progress) options.on_progress(report);
        logger->debug("batch {}: {} rows; {} sent so far", report.batches, rows.size(), report.sent);
    }
    return report;
}

}  // namespace webook
