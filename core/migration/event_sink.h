// Where inconsistency events (and dead letters) go.
//
//   kafka://host:port[,host:port]/topic   idempotent producer, acks=all, keyed
//                                         by row key; close() waits for every
//                                         delivery and throws if any failed
//   file://path.jsonl                     appended, one JSON object per line
//   -                                     stdout
//
// open_sink() checks the destination before anything is written (the file can
// be opened for append; the brokers answer), so a bad sink fails a command
// before it touches a database. Not thread-safe: one writer. The destructor
// releases the sink without waiting: call flush() to know the events landed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace webook {

struct InconsistencyEvent;
struct InputItem;  // core/messaging/event_input.h

class EventSink {
public:
    virtual ~EventSink() = default;
    // Queues one line (a JSON object) under a message key.
    virtual void write(std::string_view key, std::string_view line) = 0;
    void write(const InconsistencyEvent& event);
    // Makes everything written so far durable (file) or delivered (Kafka);
    // throws Error if any of it was not. May be called repeatedly.
    virtual void flush() = 0;
    virtual std::string describe() const = 0;
    std::uint64_t written() const { return m_written; }

protected:
    std::uint64_t m_written = 0;
};

// Throws Error(Code::usage) for an unknown scheme, Error(Code::config) for an
// unwritable file, Error(Code::connection) for unreachable brokers.
std::unique_ptr<EventSink> open_sink(std::string_view url);

// The one dead-letter writer, for every consumer: an input item that cannot
// be processed goes to `sink` as {"error", "origin", "payload", "at"} keyed
// by its origin (a payload that is not UTF-8 is replaced, not dropped), and
// a warning naming the origin is logged under `component`; without a sink
// (null) the whole item is logged as an error instead.
void write_dead_letter(EventSink* sink, const InputItem& item, std::string_view why, std::string_view component);

}  // namespace webook
